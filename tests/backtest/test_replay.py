"""L2 replay on the real BTC hour (official archive) and on the synthetic two-leg market.

Checks are recomputed independently from the replay's own outputs (fills.jsonl) and from the archive file
read here with the stdlib (gzip + json), not with engine.backtest.data.
"""
from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from engine.backtest.replay import Replay, ReplayConfig, merge_events
from engine.backtest.synthetic import synthetic_books, synthetic_funding
from engine.cli import app
from engine.strategy.carry import CarryParams

runner = CliRunner()
ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.lz4"
ARCHIVE_GZ = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.jsonl.gz"
FUND_T = 1704113100000  # 2024-01-01 12:45:00 UTC — inside the hour, so a position is open when it settles
FUND_RATE = "0.0005"
H = 3_600_000


@pytest.fixture(scope="module")
def archive_books(shared_data):
    """{exchange time: (best bid, best ask)} read with the stdlib."""
    out = {}
    with gzip.open(shared_data / ARCHIVE_GZ, "rt") as fh:
        for line in fh:
            d = json.loads(line)["raw"]["data"]
            out[d["time"]] = (float(d["levels"][0][0]["px"]), float(d["levels"][1][0]["px"]))
    return out


@pytest.fixture(scope="module")
def tight_config(tmp_path_factory):
    # a 2 bp spread so the quiet New-Year hour produces fills (the default 24.5 bp produces none)
    p = tmp_path_factory.mktemp("cfg") / "tight.toml"
    p.write_text("[strategy]\nbase_spread = 0.0002\natr_multiplier = 0.0\nrequote_tolerance_bps = 0.5\n")
    return p


def run_cli(*args):
    res = runner.invoke(app, ["backtest", "--mode", "fast", *map(str, args), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture(scope="module")
def btc_run(shared_data, tight_config, tmp_path_factory):
    d = tmp_path_factory.mktemp("btc")
    fund = d / "funding.csv"
    fund.write_text(f"coin,fundingRate,premium,time\nBTC,{FUND_RATE},0,{FUND_T}\n")
    out = d / "out"
    res = run_cli("--l2", shared_data / ARCHIVE, "--funding", fund, "--config", tight_config, "--out", out)
    fills = [json.loads(l) for l in (out / "fills.jsonl").read_text().splitlines()]
    return res, fills, out


def test_attribution_sums_to_the_equity_change(btc_run, archive_books):
    res, fills, out = btc_run
    assert res["events"] == 5587 + 1 and res["fills"] > 10
    attr = res["pnl_attribution"]
    assert set(attr) == {"spread", "fees", "funding", "basis", "inventory"}
    assert sum(attr.values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    # equity rebuilt here from the fills, the funding rule and the archive's last mid
    cash = sum((-1 if f["side"] == "B" else 1) * f["px"] * f["sz"] - f["fee"] for f in fills)
    pos = sum((1 if f["side"] == "B" else -1) * f["sz"] for f in fills)
    pos_at_funding = sum((1 if f["side"] == "B" else -1) * f["sz"] for f in fills if f["t"] <= FUND_T)
    before = max(t for t in archive_books if t <= FUND_T)
    mid_at_funding = sum(archive_books[before]) / 2
    funding = -pos_at_funding * mid_at_funding * float(FUND_RATE)
    assert pos_at_funding != 0  # the funding term is exercised
    assert attr["funding"] == pytest.approx(funding, abs=1e-9)
    last_mid = sum(archive_books[max(archive_books)]) / 2
    equity = cash + funding + pos * last_mid
    assert res["pnl_total_usd"] == pytest.approx(equity, abs=1e-6)
    assert res["final_inventory"]["perp"] == pytest.approx(pos, abs=1e-12)
    assert attr["fees"] == pytest.approx(-sum(f["fee"] for f in fills), abs=1e-9)
    assert attr["basis"] == 0.0  # one leg
    assert res["maker_ratio"] == 1.0 and res["volume_usd"] == pytest.approx(sum(f["px"] * f["sz"] for f in fills))
    assert res["max_drawdown_usd"] >= 0 and (out / "equity.png").stat().st_size > 1000
    assert (out / "attribution.png").exists() and json.loads((out / "results.json").read_text())["fills"] == res["fills"]


def test_no_fill_at_a_price_the_book_never_reached(btc_run, archive_books):
    """Risk-averse queue, no trades file: a bid fills only on a snapshot whose best ask is at/below it."""
    _, fills, _ = btc_run
    for f in fills:
        bid, ask = archive_books[f["t"]]  # every fill happens on a snapshot of the archive
        if f["side"] == "B":
            assert ask <= f["px"], f
        else:
            assert bid >= f["px"], f
        assert f["maker"]


def test_probabilistic_fills_are_reached_too(shared_data, tight_config, tmp_path, archive_books):
    run_cli("--l2", shared_data / ARCHIVE, "--config", tight_config, "--queue", "probabilistic", "--seed", "3",
            "--out", tmp_path)
    fills = [json.loads(l) for l in (tmp_path / "fills.jsonl").read_text().splitlines()]
    assert fills
    for f in fills:
        bid, ask = archive_books[f["t"]]
        if f["side"] == "B":  # crossed, or our level was consumed and the best bid moved below it
            assert ask <= f["px"] or bid < f["px"], f
        else:
            assert bid >= f["px"] or ask > f["px"], f


@pytest.mark.parametrize("mode", ["fast", "engine"])
def test_same_seed_same_results(mode, shared_data, tight_config, tmp_path):
    runs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        res = runner.invoke(app, ["backtest", "--mode", mode, "--l2", str(shared_data / ARCHIVE), "--config",
                                  str(tight_config), "--queue", "probabilistic", "--latency-ms", "80",
                                  "--latency-jitter", "0.6", "--seed", "11", "--out", str(out), "--json"])
        assert res.exit_code == 0, res.output
        res = json.loads(res.output)
        for k in ("events_per_s", "wall_s", "charts"):
            res.pop(k)
        runs.append((res, (out / "fills.jsonl").read_text()))
    assert runs[0] == runs[1]
    assert runs[0][0]["mode"] == mode and runs[0][0]["fills"] > 0


def test_bad_options_are_named(shared_data, tmp_path):
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--queue", "fifo", "--json"])
    assert res.exit_code == 1 and "unknown queue model 'fifo'" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "channel": "l2Book", "data": {"coin": "BTC", "time": 5, "levels": [[], []]}}\n'
                   '{"t": 2, "channel": "l2Book", "data": {"coin": "BTC", "time": 6, "levels": [[{"px": "x"}], []]}}\n')
    res = runner.invoke(app, ["backtest", "--l2", str(bad), "--json"])
    assert res.exit_code == 1 and f"{bad}:2:" in res.output


def test_two_leg_carry_attribution_and_hedge():
    """Synthetic spot + perp with positive funding: the carry opens (long spot, short perp), funding accrues to
    the short perp, basis moves are attributed, and the parts sum to cash + positions × mids."""
    start = 1_750_000_000_000
    perp, spot = synthetic_books(start, 3 * H, seed=4, vol_bp=0.6)
    funding = synthetic_funding(start - 48 * H, 51 * H, seed=4, base=0.00003, p_switch=0.0)
    cfg = ReplayConfig(coin="HYPE", sz_decimals=2, spot_coin="@107", spot_sz_decimals=2,
                       carry=CarryParams(target_notional=2000, entry_funding=0.0000125, exit_funding=0.0),
                       funding_lookback_hours=24)
    cfg.quote = type(cfg.quote)(base_spread=0.0004, atr_multiplier=0.0)
    r = Replay(cfg, funding=funding)
    res = r.run(merge_events({"perp": perp, "spot": spot}, None, funding))
    attr = res["pnl_attribution"]
    assert res["carry_qty"] > 0 and res["final_inventory"]["perp"] < 0 < res["final_inventory"]["spot"]
    assert attr["funding"] > 0 and attr["basis"] != 0
    equity = r.cash + sum(l.position * l.mid for l in r.legs.values())
    assert sum(attr.values()) == pytest.approx(equity, abs=1e-6)
    net_usd = abs(res["final_inventory"]["net"]) * r.legs["perp"].mid
    assert net_usd <= cfg.hedge.band_usd + 0.05 * 2000  # hedged back inside the band (+ one order in flight)
    # funding paid exactly on the perp position held at each settlement
    in_window = [f for f in funding if start <= f.time_ms <= res["end_ms"]]
    assert len(in_window) == 3
    assert res["maker_ratio"] < 1.0  # the carry and the hedges are takers


def test_cli_two_leg_replay_from_recordings(tmp_path):
    """Spot + perp recordings (the `hlmm record` line format) and a funding CSV through the CLI: the default
    carry opens on positive funding, and the attribution still sums to the total."""
    res = run_cli(*two_leg_recordings(tmp_path), "--no-cache")
    attr = res["pnl_attribution"]
    assert res["carry_qty"] > 0 and res["final_inventory"]["spot"] > 0 > res["final_inventory"]["perp"]
    assert attr["funding"] > 0 and attr["basis"] != 0
    assert sum(attr.values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    assert res["pnl_total_usd"] == pytest.approx(res["equity_change_usd"], abs=1e-6)


def test_cli_starting_balances_bound_the_spot_leg(tmp_path):
    """--spot-usdc / --spot-base: the spot leg never spends more USDC or sells more coin than it has (checked
    on the written fill log), and a starting coin balance still leaves attribution = equity change."""
    out = tmp_path / "out"
    res = run_cli(*two_leg_recordings(tmp_path), "--no-cache", "--spot-usdc", "600", "--spot-base", "5",
                  "--out", out)
    usdc, coin = 600.0, 5.0
    for line in (out / "fills.jsonl").read_text().splitlines():
        f = json.loads(line)
        if f["leg"] == "spot":
            signed = f["sz"] if f["side"] == "B" else -f["sz"]
            usdc -= signed * f["px"] + f["fee"]
            coin += signed
            assert usdc >= -1e-9 and coin >= -1e-9, f
    assert res["balances"]["spot_usdc"] == pytest.approx(usdc, abs=1e-6)
    assert res["final_inventory"]["spot"] == pytest.approx(coin, abs=1e-9)
    assert res["balances"]["balance_rejects"] + res["balances"]["taker_clipped"] > 0  # the budget did bind
    assert sum(res["pnl_attribution"].values()) == pytest.approx(res["pnl_total_usd"], abs=1e-9)
    assert res["pnl_total_usd"] == pytest.approx(res["equity_change_usd"], abs=1e-6)
    bad = runner.invoke(app, ["backtest", "--l2", str(tmp_path / "perp.jsonl.gz"), "--perp-usdc", "-1",
                              "--no-cache", "--json"])
    assert bad.exit_code == 1 and "start_perp_usdc must be >= 0" in bad.output


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


def test_fee_schedule_is_configurable(shared_data, tight_config):
    """A maker rebate (negative maker fee) turns the fee line into income: volume × 0.2 bp."""
    res = run_cli("--l2", shared_data / ARCHIVE, "--config", tight_config, "--fees-bp", "-0.2,4.5,4,7")
    assert res["fills"] > 0 and res["maker_ratio"] == 1.0
    assert res["pnl_attribution"]["fees"] == pytest.approx(res["volume_usd"] * 0.2e-4, abs=1e-9)
    bad = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--fees-bp", "1,2,3"])
    assert bad.exit_code == 2 and "--fees-bp needs four numbers" in bad.output


def test_wrong_coin_is_an_error_not_an_empty_result(shared_data):
    res = runner.invoke(app, ["backtest", "--l2", str(shared_data / ARCHIVE), "--coin", "ETH", "--json"])
    assert res.exit_code == 1 and "no l2Book snapshots for coin 'ETH'" in res.output
