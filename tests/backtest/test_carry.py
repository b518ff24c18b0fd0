"""Carry backtest on real Hyperliquid funding vs an independent pandas computation (float64, vectorised
where the rules allow; the open/close state machine is a plain loop over numpy arrays).

The pandas side reads the files itself (read_csv / read_json), derives the 8 h → 1 h switch from the
timestamps, computes the trailing mean with a time-based rolling window and looks prices up with merge_asof,
so it shares no code with engine.backtest.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.cli import app

H = 3_600_000
SWITCH = pd.Timestamp("2023-06-08 00:30", tz="UTC").value // 1_000_000
FEE = (4.5 + 7.0) / 1e4
runner = CliRunner()


def read_funding(path, coin=None) -> pd.DataFrame:
    if path.suffix == ".json":
        df = pd.read_json(path, dtype={"fundingRate": str})
        out = pd.DataFrame({"t": df["time"].astype("int64"), "rate": df["fundingRate"].astype(float)})
    else:
        df = pd.read_csv(path)
        if "symbol" in df:
            df = df[df["symbol"] == coin]
            t = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601").astype("datetime64[ms, UTC]")
            out = pd.DataFrame({"t": t.astype("int64").to_numpy(), "rate": df["funding_rate"].to_numpy(float)})
        else:
            out = pd.DataFrame({"t": df["time"].astype("int64"), "rate": df["fundingRate"].astype(float)})
    out = out.sort_values("t").reset_index(drop=True)
    out["interval"] = np.where(out["t"] >= SWITCH, 1, 8)
    return out


def read_candle_opens(path) -> pd.DataFrame:
    df = pd.read_json(path) if path.suffix == ".json" else pd.read_csv(path)
    return pd.DataFrame({"t": df["t"].astype("int64"), "px": df["o"].astype(float)}).sort_values("t")


def pandas_carry(f: pd.DataFrame, notional, hold, entry=0.0, exit_=0.0, lookback=168, candles=None, band=0.05):
    if hold:
        funding = notional * f["rate"].sum()
        return {"funding": funding, "fees": 2 * notional * FEE, "entries": 1, "exits": 1,
                "hours": int(f["interval"].sum())}
    hour = (f["t"] // H) * H
    s = f.set_index(pd.to_datetime(hour, unit="ms"))[["rate", "interval"]]
    roll = s.rolling(f"{lookback}h", closed="right").sum()
    mean = (roll["rate"] / roll["interval"]).to_numpy()
    warm = ((hour - hour.iloc[0]) >= (lookback - 1) * H).to_numpy()
    if candles is not None:
        px = pd.merge_asof(f[["t"]], candles, on="t", direction="backward")["px"].to_numpy()
    else:
        px = np.ones(len(f))
    rate = f["rate"].to_numpy()
    funding = fees = 0.0
    entries = exits = 0
    size = 0.0
    is_open = False
    for i in range(len(f)):
        if is_open:
            funding += size * px[i] * rate[i]
        if not warm[i]:
            continue
        if is_open and mean[i] < exit_:
            fees += size * px[i] * FEE
            is_open, exits = False, exits + 1
        elif not is_open and mean[i] >= entry:
            size = notional / px[i]
            fees += notional * FEE
            is_open, entries = True, entries + 1
        elif is_open and candles is not None and abs(size * px[i] - notional) > band * notional:
            fees += abs(notional / px[i] - size) * px[i] * FEE
            size = notional / px[i]
    if is_open:
        fees += size * px[-1] * FEE
        exits += 1
    return {"funding": funding, "fees": fees, "entries": entries, "exits": exits, "hours": int(f["interval"].sum())}


def cli_carry(*args) -> dict:
    res = runner.invoke(app, ["backtest", "carry", *map(str, args), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def check(got: dict, want: dict, notional: float):
    assert got["hours"] == want["hours"]
    assert got["entries"] == want["entries"] and got["exits"] == want["exits"]
    assert got["funding_pnl_usd"] == pytest.approx(want["funding"], abs=1e-9)
    assert got["fees_usd"] == pytest.approx(want["fees"], abs=1e-9)
    net = want["funding"] - want["fees"]
    assert got["net_pnl_usd"] == pytest.approx(net, abs=1e-9)
    assert got["apr"] == pytest.approx(net / notional * 8760 / want["hours"], abs=1e-9)


CASES = [
    ("hl-funding-btc-eth-2023-2026/funding_history_btc_eth.csv", "BTC", None),
    ("hl-funding-btc-eth-2023-2026/funding_history_btc_eth.csv", "ETH", None),
    ("hl-hype-funding-candles-2025-subthedev/hype_funding.csv", None, "hl-hype-funding-candles-2025-subthedev/hype_candles_1h.csv"),
    ("hl-sol-funding-basisfeasibility/sol_funding_history.json", None, "hl-sol-funding-basisfeasibility/sol_daily_candles.json"),
]


@pytest.mark.parametrize("fund,coin,candles", CASES, ids=["BTC", "ETH", "HYPE", "SOL"])
def test_hold_matches_pandas(shared_data, fund, coin, candles):
    f = read_funding(shared_data / fund, coin)
    want = pandas_carry(f, 25_000.0, hold=True)
    args = ["--funding", shared_data / fund, "--notional", "25000", "--hold"] + (["--coin", coin] if coin else [])
    check(cli_carry(*args), want, 25_000.0)


@pytest.mark.parametrize("fund,coin,candles", CASES, ids=["BTC", "ETH", "HYPE", "SOL"])
@pytest.mark.parametrize("entry,exit_,lookback", [("0.000015", "0.000005", 168), ("0.00002", "0.0000125", 24)])
def test_entry_exit_matches_pandas(shared_data, fund, coin, candles, entry, exit_, lookback):
    f = read_funding(shared_data / fund, coin)
    args = ["--funding", shared_data / fund, "--notional", "10000", "--entry", entry, "--exit", exit_,
            "--lookback", lookback] + (["--coin", coin] if coin else [])
    want = pandas_carry(f, 10_000.0, False, float(entry), float(exit_), lookback)
    got = cli_carry(*args)
    check(got, want, 10_000.0)
    assert want["entries"] >= 1  # the rule actually traded on this data: the comparison is not vacuous
    if candles:  # prices from candles: sizes move, rebalances cost fees
        c = read_candle_opens(shared_data / candles)
        want_c = pandas_carry(f, 10_000.0, False, float(entry), float(exit_), lookback, candles=c)
        got_c = cli_carry(*args, "--candles", shared_data / candles)
        check(got_c, want_c, 10_000.0)


def test_eight_hourly_rows_weigh_eight_hours(shared_data):
    """Before 2023-06-08 a row pays an 8 h rate: it counts 8 hours in `hours` and in the trailing mean."""
    got = cli_carry("--funding", shared_data / CASES[0][0], "--coin", "BTC", "--hold")
    f = read_funding(shared_data / CASES[0][0], "BTC")
    assert (f["interval"] == 8).sum() == 82  # 2023-05-12 00:00 … 2023-06-08 00:00, three a day
    assert got["rows"] == len(f) and got["hours"] == len(f) + 82 * 7


def test_bad_funding_file_names_file_and_line(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("coin,fundingRate,premium,time\nBTC,0.0000125,0,1700000000000\nBTC,abc,0,1700003600000\n")
    res = runner.invoke(app, ["backtest", "carry", "--funding", str(p), "--json"])
    assert res.exit_code == 1
    assert f"{p}:3: field 'fundingRate' is not a number" in res.output


def test_exit_above_entry_is_refused(tmp_path):
    res = runner.invoke(app, ["backtest", "carry", "--funding", str(tmp_path / "x.csv"), "--entry", "0.00001",
                              "--exit", "0.00002"])
    assert res.exit_code == 2 and "exit" in res.output
