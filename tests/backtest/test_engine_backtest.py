"""`hlmm backtest`: the live Engine and the local venue in one process on simulated time — the only backtest.

Checks are rebuilt from independent sources: the archive read with the stdlib, the fill log the run writes,
and the engine's own SQLite ledger read with sqlite3.
"""
from __future__ import annotations

import gzip
import json
import sqlite3

import pytest
from typer.testing import CliRunner

from engine.backtest.synthetic import synthetic_books, synthetic_funding
from engine.cli import app

runner = CliRunner()
ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.lz4"
ARCHIVE_GZ = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.jsonl.gz"
TIGHT = "[strategy]\nbase_spread = 0.0002\natr_multiplier = 0.0\nrequote_tolerance_bps = 0.5\n"
H = 3_600_000


def run_cli(*args):
    res = runner.invoke(app, ["backtest", *map(str, args), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture(scope="module")
def archive(shared_data):
    """{exchange time: (bids, asks)} as [(px, sz)] lists, read with the stdlib."""
    out = {}
    with gzip.open(shared_data / ARCHIVE_GZ, "rt") as fh:
        for line in fh:
            d = json.loads(line)["raw"]["data"]
            out[d["time"]] = tuple([(float(l["px"]), float(l["sz"])) for l in side] for side in d["levels"])
    return out


@pytest.fixture(scope="module")
def tight_config(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tight.toml"
    p.write_text(TIGHT)  # a 2 bp spread: the quiet New-Year hour fills it (the default 24.5 bp never fills)
    return p


@pytest.fixture(scope="module")
def btc_engine_run(shared_data, tight_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("engine-btc")
    res = run_cli("--l2", shared_data / ARCHIVE, "--config", tight_config, "--out", out)
    fills = [json.loads(line) for line in (out / "fills.jsonl").read_text().splitlines()]
    return res, fills, out


def test_the_engine_quotes_and_fills_through_the_venue(btc_engine_run):
    res, fills, out = btc_engine_run
    assert res["events"] == 5587 and res["book_events"] == 5587
    c = res["counters"]
    # the live engine ran: it saw every snapshot, decided, and its executor sent order actions to the venue
    assert c["engine_book_events"] == 5586 and c["exec_orders_sent"] > 100 and c["engine_requotes"] > 100
    assert res["orders"]["open"] > 100 and res["orders"]["canceled"] > 0  # statuses recorded by the venue
    assert res["fills"] == len(fills) > 5 and res["maker_ratio"] == 1.0 and res["queue_fills"] >= res["fills"] / 2
    assert c["engine_fill_events"] == res["fills"]  # every venue fill reached the engine through its feed
    # the engine's ledger writer recorded exactly the fills the venue booked (same tids, oids, prices, fees)
    with sqlite3.connect(out / "ledger.db") as db:
        rows = db.execute("select tid, oid, side, px, sz, fee, crossed from fills").fetchall()
        statuses = dict(db.execute("select status, count(*) from orders group by status").fetchall())
    got = sorted((tid, oid, side, float(px), float(sz), float(fee), bool(crossed))
                 for tid, oid, side, px, sz, fee, crossed in rows)
    want = sorted((f["tid"], f["oid"], f["side"], float(f["px"]), float(f["sz"]), float(f["fee"]), f["crossed"])
                  for f in fills)
    assert got == want
    # and its orders table ends the run with the venue's final word for every order it sent
    assert set(statuses) <= {"filled", "canceled", "badAloPxRejected"}, statuses
    assert statuses.get("filled", 0) >= 1 and statuses["canceled"] > 100


def test_attribution_is_the_reports_and_sums_to_the_venue_equity_change(btc_engine_run, archive):
    res, fills, out = btc_engine_run
    attr = res["pnl_attribution"]
    assert set(attr) == {"spread_capture", "hedge_slippage", "fees", "funding", "inventory_mtm"}
    assert sum(attr.values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    # the venue's own accounting disagrees with the parts by nothing
    assert res["unexplained_usd"] == 0.0 and res["pnl_total_usd"] == pytest.approx(res["equity_change_usd"], abs=1e-9)
    # and the total equals cash + position at the archive's last mid, rebuilt from the fill log
    cash = sum((-1 if f["side"] == "B" else 1) * float(f["px"]) * float(f["sz"]) - float(f["fee"]) for f in fills)
    pos = sum((1 if f["side"] == "B" else -1) * float(f["sz"]) for f in fills)
    bids, asks = archive[max(archive)]
    last_mid = (bids[0][0] + asks[0][0]) / 2
    assert res["pnl_total_usd"] == pytest.approx(cash + pos * last_mid, abs=1e-6)
    assert res["final_inventory"]["perp"] == pytest.approx(pos, abs=1e-12)
    assert res["balances"]["perp_position"].get("BTC", 0.0) == pytest.approx(pos, abs=1e-12)
    assert attr["fees"] == pytest.approx(-res["volume_usd"] * 1.5e-4, abs=1e-6)  # the configured maker fee
    assert (out / "equity.png").stat().st_size > 1000 and (out / "results.json").exists()


def test_no_fill_at_a_price_the_book_never_reached(btc_engine_run, archive):
    """No trades in the archive: an order fills only on a snapshot whose opposite side reached its price, and
    never for more than the size shown there."""
    _, fills, _ = btc_engine_run
    for f in fills:
        bids, asks = archive[f["time"]]
        px, sz = float(f["px"]), float(f["sz"])
        if f["side"] == "B":
            assert asks[0][0] <= px, f
            reached = sum(s for p, s in asks if p <= px)
        else:
            assert bids[0][0] >= px, f
            reached = sum(s for p, s in bids if p >= px)
        assert sz <= reached + 1e-9 and not f["crossed"], f


def test_same_seed_same_result(shared_data, tight_config):
    """Two runs with the same inputs and seed make the same decisions to the last fill and order."""
    args = ("--l2", shared_data / ARCHIVE, "--config", tight_config, "--queue", "probabilistic", "--seed", "7",
            "--latency-jitter", "0.4")
    a, b = run_cli(*args), run_cli(*args)
    for r in (a, b):
        phases = r["wall_phases_s"]  # the stop's ledger writes (the whole run's orders here) are part of stop_s
        assert 0 < phases["stop_ledger_s"] <= phases["stop_s"], phases
        for k in ("wall_s", "events_per_s", "wall_phases_s"):
            r.pop(k)
    assert a == b and a["fills"] > 0


def two_leg_recordings(tmp_path) -> tuple:
    """Write synthetic spot + perp recordings and a funding CSV; return the CLI arguments that replay them."""
    start = 1_750_000_000_000
    perp, spot = synthetic_books(start, 2 * H, seed=9, vol_bp=1.0, spacing_ms=3000)

    def write(path, books):
        with gzip.open(path, "wt") as fh:
            for b in books:
                lv = lambda a: [{"px": repr(px), "sz": repr(sz), "n": 1} for px, sz in a.tolist()]  # noqa: E731
                fh.write(json.dumps({"t": b.t_ms + 3, "channel": "l2Book", "data": {
                    "coin": b.coin, "time": b.t_ms, "levels": [lv(b.bids), lv(b.asks)]}}) + "\n")

    write(tmp_path / "perp.jsonl.gz", perp)
    write(tmp_path / "spot.jsonl.gz", spot)
    rows = synthetic_funding(start - 200 * H, 202 * H, seed=9, base=0.00003, p_switch=0.0)
    (tmp_path / "f.csv").write_text("coin,fundingRate,premium,time\n" + "".join(
        f"HYPE,{r.rate},0,{r.time_ms}\n" for r in rows))
    return "--l2", tmp_path / "perp.jsonl.gz", "--spot-l2", tmp_path / "spot.jsonl.gz", "--funding", tmp_path / "f.csv"


def test_two_legs_carry_funding_and_hedge_through_the_engine(tmp_path):
    """Spot + perp recordings with positive funding history: the engine's carry enters (long spot, short perp)
    with taker orders against the replayed book, the venue settles hourly funding to the short perp, and the
    attribution equals the venue's equity change."""
    out = tmp_path / "out"
    res = run_cli(*two_leg_recordings(tmp_path), "--no-cache", "--out", out)
    inv, attr = res["final_inventory"], res["pnl_attribution"]
    assert inv["spot"] > 0 > inv["perp"] and abs(inv["net"]) * 30 < 60  # hedged within the default $50 band
    assert attr["funding"] > 0 and res["funding_usd"] == pytest.approx(attr["funding"], abs=1e-12)
    assert res["missing_funding_hours"] == 0 and res["unexplained_usd"] == 0.0
    assert sum(attr.values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    taker = [f for f in map(json.loads, (out / "fills.jsonl").read_text().splitlines()) if f["crossed"]]
    assert {f["coin"] for f in taker} == {"HYPE", "@107"}
    with sqlite3.connect(out / "ledger.db") as db:
        carry = db.execute("select value from params where key = 'carry.HYPE' order by version desc").fetchone()
        paid = db.execute("select count(*) from funding_payments").fetchone()[0]
    assert json.loads(carry[0])["active"] is True  # the engine persisted its carry decision
    assert paid >= 1  # hourly settlements reached the engine's ledger through its feed


def test_nothing_filled_says_why_and_the_summary_reads(shared_data):
    """The default 24.5 bp quotes on the quiet BTC hour fill nothing: the result says why in one line, next to
    the book's own half-spread, and the text summary prints the table other backtesters print."""
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE)])
    assert res.exit_code == 0, res.output
    for label in ("P&L total", "spread capture", "fees", "max drawdown", "fills", "orders placed", "time"):
        assert label in res.output
    assert "no fills: our quotes rested a median" in res.output and "median half-spread" in res.output
    r = run_cli("--l2", shared_data / ARCHIVE)
    assert r["fills"] == 0 and r["median_quote_distance_bp"] > 10 * r["median_book_half_spread_bp"]


def test_bad_options_are_named(shared_data):
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--queue", "fifo", "--json"])
    assert res.exit_code == 1 and "unknown queue model 'fifo'" in res.output
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--coin", "ETH", "--json"])
    assert res.exit_code == 1 and "no l2Book snapshots for coin 'ETH'" in res.output
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--fees-bp", "1,2,3"])
    assert res.exit_code == 2 and "--fees-bp needs four numbers" in res.output
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--perp-usdc", "-1", "--json"])
    assert res.exit_code == 1 and "start_perp_usdc must be >= 0" in res.output
