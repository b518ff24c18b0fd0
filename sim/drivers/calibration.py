"""Figures the synthetic market is calibrated with, measured from the real data in ../shared/data.

The constants are what `measure()` printed on 2026-11-24 (pandas 3.1, numpy 2.4); the test
tests/sim/test_calibration.py re-measures them from the data and fails if they drift, so the
numbers below can never silently stop describing the files named beside them.

Conventions: volatility = stdev of log returns of bar closes; funding = Hyperliquid hourly rate;
premium = the `premium` column of fundingHistory (hourly average of the 5 s premium samples);
basis = perp close / spot close - 1 on aligned 5-minute bars.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

# --- volatility (per hour unless named otherwise) ---------------------------------------------
# hl-hype-candles-funthere/HYPE_PERP_1h.csv: 5,000 hourly log returns, 2025-08-04 → 2026-02-28
HYPE_VOL_1H = 0.011481
# hl-hype-candles-funthere/HYPE_PERP_5m.csv: 5-minute log returns, 2026-02-11 → 02-28 (per 5 min)
HYPE_VOL_5M = 0.0028188
# hl-btc-1h-candles-funding-mozanaydin/hyperliquid_BTC_1h.csv: 4,320 hourly returns, 2025-12 → 2026-06
BTC_VOL_1H = 0.0049010
# funding-multivenue-zushen-2025-2026/funding_binance.parquet, ETHUSDT 8h mark prices (no HL ETH
# candles in the data): 8-hour stdev 0.018207 → per hour / sqrt(8)
ETH_VOL_1H = 0.0064372
# hl-sol-funding-basisfeasibility/sol_daily_candles.json: 409 daily returns → per hour / sqrt(24)
SOL_VOL_1H = 0.0092335

# --- funding and premium (hourly) -------------------------------------------------------------
# hl-hype-funding-candles-2025-subthedev/hype_funding.csv: 4,320 hours 2025-02-20 → 2025-08-19
HYPE_FUNDING_MEAN = 2.5023e-05
HYPE_FUNDING_STD = 3.5485e-05
HYPE_PREMIUM_MEAN = 3.2323e-04
HYPE_PREMIUM_STD = 5.4875e-04
HYPE_PREMIUM_AUTOCORR_1H = 0.7742
# hl-funding-btc-eth-2023-2026/funding_history_btc_eth.csv, last year (>= 2025-02-09): 8,782 hours
BTC_FUNDING_MEAN = 1.0881e-05
BTC_FUNDING_STD = 1.3070e-05
BTC_PREMIUM_MEAN = -9.7267e-05
BTC_PREMIUM_STD = 4.0780e-04
BTC_PREMIUM_AUTOCORR_1H = 0.9628
ETH_FUNDING_MEAN = 8.9569e-06
ETH_FUNDING_STD = 1.4957e-05
ETH_PREMIUM_MEAN = -1.5782e-04
ETH_PREMIUM_STD = 4.2224e-04
ETH_PREMIUM_AUTOCORR_1H = 0.9732
# hl-sol-funding-basisfeasibility/sol_funding_history.json: 9,807 hours 2024-12-31 → 2026-02-13
SOL_FUNDING_MEAN = 4.7664e-06
SOL_FUNDING_STD = 3.3225e-05
SOL_PREMIUM_MEAN = -2.2142e-04
SOL_PREMIUM_STD = 4.8731e-04
SOL_PREMIUM_AUTOCORR_1H = 0.8887

# --- HYPE spot-perp basis ---------------------------------------------------------------------
# hl-hype-candles-funthere/HYPE_PERP_5m.csv vs HYPE_SPOT_USDC_5m.csv: 5,011 aligned 5m bars
BASIS_MEAN = -3.6116e-04
BASIS_STD = 4.8055e-04
BASIS_AUTOCORR_5M = 0.5727

# --- starting prices: last closes in the same files --------------------------------------------
START_PX = {"BTC": 62205.0, "ETH": 2400.0, "SOL": 79.874, "HYPE": 27.881, "PURR/USDC": 0.2}
# ETH and PURR have no candles in the data: ETH uses a round price, PURR the protocol notes' example.


@dataclass(frozen=True)
class MarketCalibration:
    """What the synthetic path needs per perp coin."""
    vol_1h: float
    premium_mean: float
    premium_std: float
    premium_autocorr_1h: float


PERPS = {
    "BTC": MarketCalibration(BTC_VOL_1H, BTC_PREMIUM_MEAN, BTC_PREMIUM_STD, BTC_PREMIUM_AUTOCORR_1H),
    "ETH": MarketCalibration(ETH_VOL_1H, ETH_PREMIUM_MEAN, ETH_PREMIUM_STD, ETH_PREMIUM_AUTOCORR_1H),
    "SOL": MarketCalibration(SOL_VOL_1H, SOL_PREMIUM_MEAN, SOL_PREMIUM_STD, SOL_PREMIUM_AUTOCORR_1H),
    "HYPE": MarketCalibration(HYPE_VOL_1H, HYPE_PREMIUM_MEAN, HYPE_PREMIUM_STD, HYPE_PREMIUM_AUTOCORR_1H),
}
# PURR has no data; it walks with HYPE's volatility (both are HL-native tokens).
PURR_VOL_1H = HYPE_VOL_1H


def funding_from_premium(premium: float) -> float:
    """Hourly rate Hyperliquid derives from an (hourly average) premium: 8h formula / 8, 4 %/h cap."""
    eight_h = premium + min(max(0.0001 - premium, -0.0005), 0.0005)
    return max(min(eight_h / 8.0, 0.04), -0.04)


def measure(data: Path) -> dict[str, float]:
    """Recompute every figure above from the files (pandas); keys are the constant names."""
    import numpy as np
    import pandas as pd

    def vol(closes) -> float:
        return float(np.log(pd.Series(closes, dtype=float)).diff().dropna().std())

    out: dict[str, float] = {}
    hype_1h = pd.read_csv(data / "hl-hype-candles-funthere/HYPE_PERP_1h.csv")
    out["HYPE_VOL_1H"] = vol(hype_1h.close)
    perp_5m = pd.read_csv(data / "hl-hype-candles-funthere/HYPE_PERP_5m.csv")
    out["HYPE_VOL_5M"] = vol(perp_5m.close)
    btc_1h = pd.read_csv(data / "hl-btc-1h-candles-funding-mozanaydin/hyperliquid_BTC_1h.csv")
    out["BTC_VOL_1H"] = vol(btc_1h.close)
    binance = pd.read_parquet(data / "funding-multivenue-zushen-2025-2026/funding_binance.parquet",
                              columns=["venue_symbol", "settlement_ts", "interval_hours", "mark_price"])
    eth = binance[(binance.venue_symbol == "ETHUSDT") & (binance.interval_hours == 8)].sort_values("settlement_ts")
    out["ETH_VOL_1H"] = vol(eth.mark_price) / math.sqrt(8)
    sol_candles = json.loads((data / "hl-sol-funding-basisfeasibility/sol_daily_candles.json").read_text())
    out["SOL_VOL_1H"] = vol([c["c"] for c in sol_candles]) / math.sqrt(24)

    hype_f = pd.read_csv(data / "hl-hype-funding-candles-2025-subthedev/hype_funding.csv")
    out.update(HYPE_FUNDING_MEAN=float(hype_f.fundingRate.mean()), HYPE_FUNDING_STD=float(hype_f.fundingRate.std()),
               HYPE_PREMIUM_MEAN=float(hype_f.premium.mean()), HYPE_PREMIUM_STD=float(hype_f.premium.std()),
               HYPE_PREMIUM_AUTOCORR_1H=float(hype_f.premium.autocorr(1)))
    be = pd.read_csv(data / "hl-funding-btc-eth-2023-2026/funding_history_btc_eth.csv")
    be = be[pd.to_datetime(be.timestamp, format="ISO8601") >= pd.Timestamp("2025-02-09", tz="UTC")]
    for sym, rows in be.groupby("symbol"):
        out[f"{sym}_FUNDING_MEAN"] = float(rows.funding_rate.mean())
        out[f"{sym}_FUNDING_STD"] = float(rows.funding_rate.std())
        out[f"{sym}_PREMIUM_MEAN"] = float(rows.premium.mean())
        out[f"{sym}_PREMIUM_STD"] = float(rows.premium.std())
        out[f"{sym}_PREMIUM_AUTOCORR_1H"] = float(rows.premium.autocorr(1))
    sol_f = pd.DataFrame(json.loads((data / "hl-sol-funding-basisfeasibility/sol_funding_history.json").read_text()))
    rate, prem = sol_f.fundingRate.astype(float), sol_f.premium.astype(float)
    out.update(SOL_FUNDING_MEAN=float(rate.mean()), SOL_FUNDING_STD=float(rate.std()),
               SOL_PREMIUM_MEAN=float(prem.mean()), SOL_PREMIUM_STD=float(prem.std()),
               SOL_PREMIUM_AUTOCORR_1H=float(prem.autocorr(1)))

    spot_5m = pd.read_csv(data / "hl-hype-candles-funthere/HYPE_SPOT_USDC_5m.csv")
    both = perp_5m.merge(spot_5m, on="timestamp", suffixes=("_perp", "_spot"))
    basis = both.close_perp / both.close_spot - 1
    out.update(BASIS_MEAN=float(basis.mean()), BASIS_STD=float(basis.std()),
               BASIS_AUTOCORR_5M=float(basis.autocorr(1)))
    return out


if __name__ == "__main__":  # python -m sim.drivers.calibration ../shared/data
    import sys

    for name, value in measure(Path(sys.argv[1])).items():
        print(f"{name} = {value:.5g}")
