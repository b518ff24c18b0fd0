"""`hlmm backtest --mode engine` (the default): the live Engine and the local venue in one process on simulated time.

Checks are rebuilt here from independent sources: the archive file read with the stdlib, the fill log, and the
engine's own SQLite ledger (written by its ledger-writer thread, read here with sqlite3). Same-seed determinism is
checked for both modes in test_replay.py.
"""
from __future__ import annotations

import gzip
import json
import sqlite3

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.backtest.test_replay import two_leg_recordings

runner = CliRunner()
ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.lz4"
ARCHIVE_GZ = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.jsonl.gz"
TIGHT = "[strategy]\nbase_spread = 0.0002\natr_multiplier = 0.0\nrequote_tolerance_bps = 0.5\n"


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
    fills = [json.loads(l) for l in (out / "fills.jsonl").read_text().splitlines()]
    return res, fills, out


def test_the_engine_quotes_and_fills_through_the_venue(btc_engine_run):
    res, fills, out = btc_engine_run
    assert res["mode"] == "engine" and res["events"] == 5587
    eng = res["engine"]
    # the live loop ran: it saw every snapshot, re-quoted, and its executor sent order actions to the venue
    assert eng["engine_book_events"] == 5587 and eng["exec_orders_sent"] > 100 and eng["engine_requotes"] > 1000
    assert res["orders"]["open"] > 100 and res["orders"]["canceled"] > 0  # statuses recorded by the venue
    assert res["fills"] == len(fills) > 5 and res["maker_ratio"] == 1.0 and res["queue_fills"] >= res["fills"] / 2
    assert eng["engine_fill_events"] == res["fills"]  # every venue fill reached the engine through its feed
    # the engine's ledger writer recorded the same fills the venue booked (same oids, prices, sizes, fees)
    with sqlite3.connect(out / "ledger.db") as db:
        rows = db.execute("select oid, side, px, sz, fee, crossed from fills").fetchall()
    got = sorted((oid, side, float(px), float(sz), float(fee), bool(crossed)) for oid, side, px, sz, fee, crossed in rows)
    want = sorted((f["oid"], f["side"], f["px"], f["sz"], f["fee"], not f["maker"]) for f in fills)
    assert got == want


def test_attribution_sums_to_the_venue_equity_change(btc_engine_run, archive):
    res, fills, out = btc_engine_run
    attr = res["pnl_attribution"]
    assert set(attr) == {"spread", "fees", "funding", "basis", "inventory"}
    assert sum(attr.values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    # equity_change_usd is the venue's account value change: the attribution accounts for all of it
    assert res["pnl_total_usd"] == pytest.approx(res["equity_change_usd"], abs=1e-6)
    # and it equals cash + position at the archive's last mid, rebuilt from the fill log
    cash = sum((-1 if f["side"] == "B" else 1) * f["px"] * f["sz"] - f["fee"] for f in fills)
    pos = sum((1 if f["side"] == "B" else -1) * f["sz"] for f in fills)
    bids, asks = archive[max(archive)]
    last_mid = (bids[0][0] + asks[0][0]) / 2
    assert res["pnl_total_usd"] == pytest.approx(cash + pos * last_mid, abs=1e-6)
    assert res["final_inventory"]["perp"] == pytest.approx(pos, abs=1e-12)
    assert res["balances"]["perp_position"].get("BTC", 0.0) == pytest.approx(pos, abs=1e-12)
    # the configured maker fee (1.5 bp) is what the venue charged
    assert attr["fees"] == pytest.approx(-res["volume_usd"] * 1.5e-4, abs=1e-6)
    assert (out / "equity.png").stat().st_size > 1000 and (out / "results.json").exists()


def test_no_fill_at_a_price_the_book_never_reached(btc_engine_run, archive):
    """Risk-averse queue, no trades: an order fills only on a snapshot whose opposite side reached its price,
    i.e. never before the volume ahead of it could have traded."""
    _, fills, _ = btc_engine_run
    for f in fills:
        bids, asks = archive[f["t"]]  # every fill happens on an archive snapshot
        if f["side"] == "B":
            assert asks[0][0] <= f["px"], f
            reached = sum(s for p, s in asks if p <= f["px"])
        else:
            assert bids[0][0] >= f["px"], f
            reached = sum(s for p, s in bids if p >= f["px"])
        assert f["sz"] <= reached + 1e-9, f  # never more than the crossing size shown
        assert f["maker"]


def test_two_legs_carry_funding_and_hedge_through_the_engine(tmp_path):
    """Spot + perp recordings with positive funding history: the engine's carry enters (long spot, short perp)
    with taker orders against the copied book, the venue settles hourly funding to the short perp, and the
    attribution equals the venue's equity change."""
    out = tmp_path / "out"
    res = run_cli(*two_leg_recordings(tmp_path), "--no-cache", "--out", out)
    inv, attr = res["final_inventory"], res["pnl_attribution"]
    assert inv["spot"] > 0 > inv["perp"] and abs(inv["net"]) * 30 < 25  # hedged within the default $25 band
    assert attr["funding"] > 0 and res["funding_usd"] == pytest.approx(attr["funding"], abs=1e-12)
    assert res["missing_funding_hours"] == 0
    assert sum(attr.values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    assert res["pnl_total_usd"] == pytest.approx(res["equity_change_usd"], abs=1e-6)
    taker = [json.loads(l) for l in (out / "fills.jsonl").read_text().splitlines() if not json.loads(l)["maker"]]
    assert {f["leg"] for f in taker} == {"spot", "perp"}
    with sqlite3.connect(out / "ledger.db") as db:
        carry = db.execute("select value from params where key = 'carry.HYPE' order by version desc").fetchone()
        paid = db.execute("select count(*) from funding_payments").fetchone()[0]
    assert json.loads(carry[0])["active"] is True  # the engine persisted its carry decision
    assert paid >= 1  # hourly settlements reached the engine's ledger through its feed


def test_bad_options_are_named(shared_data):
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--mode", "turbo", "--json"])
    assert res.exit_code == 2 and "--mode must be engine or fast" in res.output
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--queue", "fifo", "--json"])
    assert res.exit_code == 1 and "unknown queue model 'fifo'" in res.output
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--coin", "ETH", "--json"])
    assert res.exit_code == 1 and "no l2Book snapshots for coin 'ETH'" in res.output
