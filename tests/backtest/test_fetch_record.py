"""`hlmm fetch` and `hlmm record` over real sockets.

* Paging and the weight budget are checked against a local HTTP history server that answers
  `fundingHistory` / `candleSnapshot` from the real SOL/HYPE files with the venue's page limits
  (500 / 5000 rows, startTime inclusive) — the output must equal the source rows exactly.
* Against the project's own venue (`sim_server` fixture, a real `hlmm sim` subprocess) when it is available:
  fetch from its /info and record its WS for a few seconds, then read the recording back with the loaders.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from decimal import Decimal

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from engine.backtest.data import iter_books, iter_recording
from engine.backtest.history import load_candles, load_funding
from engine.cli import app
from tests.fixtures.sim import start_sim

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def history_server(shared_data):
    funding = json.loads((shared_data / "hl-sol-funding-basisfeasibility/sol_funding_history.json").read_text())
    candles = json.loads((shared_data / "hl-sol-funding-basisfeasibility/sol_daily_candles.json").read_text())
    seen: list[dict] = []

    async def info(request: Request):
        body = await request.json()
        seen.append(body)
        if body.get("type") == "fundingHistory":
            start, end = body["startTime"], body.get("endTime") or 2**62
            rows = [r for r in funding if r["coin"] == body["coin"] and start <= r["time"] <= end]
            return JSONResponse(rows[:500])
        if body.get("type") == "candleSnapshot":
            req = body["req"]
            rows = [c for c in candles if c["s"] == req["coin"] and req["startTime"] <= c["t"] <= req["endTime"]]
            return JSONResponse(rows[:100])  # smaller pages than the venue's 5000, to exercise paging
        return JSONResponse(None, status_code=422)

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/info", info, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    yield type("H", (), {"url": f"http://127.0.0.1:{port}", "seen": seen, "funding": funding, "candles": candles})
    server.should_exit = True
    th.join(5)


def test_fetch_funding_pages_to_the_exact_source_rows(history_server, tmp_path, shared_data):
    out = tmp_path / "sol.csv"
    history_server.seen.clear()
    res = runner.invoke(app, ["fetch", "funding", "--coin", "SOL", "--start", "2024-12-31T00:00Z",
                              "--end", "2025-03-01T00:00Z", "--out", str(out), "--base-url", history_server.url, "-q"])
    assert res.exit_code == 0, res.output
    end = 1740787200000
    want = [r for r in history_server.funding if r["time"] <= end]
    got = load_funding(out)
    assert [(r.time_ms, r.rate) for r in got] == [(r["time"], Decimal(r["fundingRate"])) for r in want]
    starts = [b["startTime"] for b in history_server.seen]
    assert len(starts) >= 3  # more than 500 rows: several pages
    assert starts[1] == want[499]["time"] + 1  # paged by last time + 1
    # the JSON output is the API's own shape and reads back identically
    out_json = tmp_path / "sol.json.gz"
    res = runner.invoke(app, ["fetch", "funding", "--coin", "SOL", "--start", "1735603200000", "--end", str(end),
                              "--out", str(out_json), "--base-url", history_server.url, "-q"])
    assert res.exit_code == 0, res.output
    assert load_funding(out_json) == got


def test_fetch_candles_pages(history_server, tmp_path):
    out = tmp_path / "c.csv"
    res = runner.invoke(app, ["fetch", "candles", "--coin", "SOL", "--interval", "1d", "--start", "2024-12-01",
                              "--end", "2026-03-01", "--out", str(out), "--base-url", history_server.url, "-q"])
    assert res.exit_code == 0, res.output
    got = load_candles(out)
    assert [(c.open_ms, str(c.close)) for c in got] == [(c["t"], c["c"]) for c in history_server.candles]


def test_fetch_refuses_bad_window_and_bad_reply(history_server, tmp_path):
    res = runner.invoke(app, ["fetch", "funding", "--coin", "SOL", "--start", "2025-02-01", "--end", "2025-01-01",
                              "--out", str(tmp_path / "x.csv"), "--base-url", history_server.url])
    assert res.exit_code == 2 and "before --start" in res.output
    res = runner.invoke(app, ["fetch", "candles", "--coin", "SOL", "--interval", "7m", "--start", "2025-01-01",
                              "--end", "2025-01-02", "--out", str(tmp_path / "x.csv"), "--base-url", history_server.url])
    assert res.exit_code == 1 and "interval must be one of" in res.output
    assert not (tmp_path / "x.csv").exists()  # nothing half-written


async def test_paging_stays_within_the_ip_weight_budget(history_server):
    """Funding pages of 500 rows weigh 20 + 25: with a 100/min budget on simulated time the fetch must wait,
    and the weight spent never exceeds the bucket plus its refill over the (simulated) elapsed time."""
    from engine.backtest.fetcher import fetch_funding
    from engine.venue.limits import IpWeightBucket
    from engine.venue.rest import VenueRest

    now = [0]

    async def fake_sleep(s):  # simulated time: waiting for weight just moves the clock
        now[0] += int(s * 1000)

    bucket = IpWeightBucket(capacity=100, now_ms=lambda: now[0], sleep=fake_sleep)
    client = VenueRest(history_server.url, bucket=bucket)
    try:
        rows = await fetch_funding(client, "SOL", 0, 1740787200000)
    finally:
        await client.aclose()
    pages = client.stats["info"]
    assert len(rows) == len([r for r in history_server.funding if r["time"] <= 1740787200000])
    assert pages >= 3 and bucket.throttled > 0
    spent = 20 * pages + sum(len_ // 20 for len_ in [500] * (len(rows) // 500) + [len(rows) % 500])
    assert bucket.taken == spent
    assert spent <= 100 + now[0] * 100 / 60_000 + 45  # + the last request's post-paid surcharge


@pytest.fixture(scope="module")
def frozen_sim(tmp_path_factory):
    """Our own `hlmm sim` with a frozen clock (advancing the shared session venue would disturb other tests)."""
    sim = start_sim("--speed", "0", seed=3, log_dir=tmp_path_factory.mktemp("sim-frozen"))
    try:
        for _ in range(60):  # 600 hourly settlements (two 500-row pages), in steps so the market trades
            sim.admin("clock", {"advance_ms": 10 * 3_600_000})
        yield sim
    finally:
        sim.stop()


def test_fetch_funding_from_the_local_venue_pages_600_hours(frozen_sim, tmp_path):
    out = tmp_path / "btc.jsonl"
    now = frozen_sim.admin("clock")["now"]
    res = runner.invoke(app, ["fetch", "funding", "--coin", "BTC", "--start", "0", "--end", str(now),
                              "--out", str(out), "--base-url", frozen_sim.url, "-q"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    first_page = frozen_sim.info({"type": "fundingHistory", "coin": "BTC", "startTime": 0})
    assert len(first_page) == 500  # the venue caps a page: the fetch had to page
    assert len(rows) == 600 and rows[:500] == first_page
    assert all(b["time"] - a["time"] == 3_600_000 for a, b in zip(rows, rows[1:]))
    got = load_funding(out)
    assert [r.time_ms for r in got] == [r["time"] for r in rows]


def test_fetch_candles_from_the_local_venue(frozen_sim, tmp_path):
    out = tmp_path / "c.csv"
    now = frozen_sim.admin("clock")["now"]
    res = runner.invoke(app, ["fetch", "candles", "--coin", "BTC", "--interval", "1h", "--start", "0",
                              "--end", str(now), "--out", str(out), "--base-url", frozen_sim.url, "-q"])
    assert res.exit_code == 0, res.output
    direct = frozen_sim.info({"type": "candleSnapshot",
                              "req": {"coin": "BTC", "interval": "1h", "startTime": 0, "endTime": now}})
    assert len(direct) >= 2
    assert [(c.open_ms, str(c.close)) for c in load_candles(out)] == [(c["t"], c["c"]) for c in direct]


def test_record_from_the_local_venue_reads_back(sim_server, tmp_path):
    sim = sim_server
    res = runner.invoke(app, ["record", "--coins", "BTC,HYPE", "--out", str(tmp_path), "--base-url", sim.url,
                              "--duration", "3", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["reconnects"] == 0
    for coin, path in summary["files"].items():
        books = list(iter_books(path))
        assert books, f"no l2Book for {coin}"
        assert all(b.coin == coin for b in books)
        assert {m.channel for m in iter_recording(path)} >= {"l2Book", "bbo"}
        ts = [m.t_ms for m in iter_recording(path)]
        assert ts == sorted(ts)
    # the recording replays: books and trades of the same file through `hlmm backtest`
    btc = summary["files"]["BTC"]
    res = runner.invoke(app, ["backtest", "--l2", btc, "--trades", btc, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    n_trades = sum(len(m.data) for m in iter_recording(btc, {"trades"}))
    assert out["events"] == len(list(iter_books(btc))) + n_trades


def test_record_survives_dropped_connections(tmp_path):
    """A venue that closes every WebSocket each second: the recorder reconnects, resubscribes, marks the gaps
    and keeps recording books after them."""
    sim = start_sim(seed=5, log_dir=tmp_path)
    try:
        sim.admin("faults", {"ws_drop_every_s": 1.0})
        res = runner.invoke(app, ["record", "--coins", "ETH", "--out", str(tmp_path / "rec"), "--base-url", sim.url,
                                  "--duration", "4", "--json"])
    finally:
        sim.stop()
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["reconnects"] >= 1
    msgs = list(iter_recording(summary["files"]["ETH"]))
    assert msgs[0].channel == "recorder" and msgs[0].data["event"] == "start"  # each recorder process marks its start
    marks = [i for i, m in enumerate(msgs) if m.channel == "recorder" and m.data["event"] == "reconnect"]
    assert len(marks) == summary["reconnects"]
    assert any(m.channel == "l2Book" for m in msgs[marks[0]:])  # resubscribed: books after the first gap


def test_record_refuses_bad_settings_naming_what_is_wrong(tmp_path):
    res = runner.invoke(app, ["record"])
    assert res.exit_code == 2 and "give --coins and --out, or --config" in res.output
    bad = tmp_path / "hlmm.toml"
    bad.write_text("[recorder]\nrotate_minutes = 60\nretention_hours = 0.5\n")
    res = runner.invoke(app, ["record", "--config", str(bad)])
    assert res.exit_code == 2 and "recorder.retention_hours: 0.5 h is shorter than one file" in res.output
    res = runner.invoke(app, ["record", "--coins", "BTC", "--out", str(tmp_path), "--rotate-minutes", "10",
                              "--retention-hours", "0.1"])
    text = " ".join(res.output.replace("│", " ").split())  # typer's error box wraps the message
    assert res.exit_code == 2 and "retention (360 s) must be at least one rotation period (600 s)" in text
