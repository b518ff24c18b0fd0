"""ATR (Wilder) and EWMA vol against independent vectorised pandas computations on real Hyperliquid candles."""
import math

import numpy as np
import pandas as pd
import pytest

from engine.market.vol import EwmaVol, WilderATR

FILES = ["hl-hype-candles-funthere/HYPE_PERP_1h.csv", "hl-hype-candles-funthere/HYPE_SPOT_USDC_5m.csv",
         "hl-btc-1h-candles-funding-mozanaydin/hyperliquid_BTC_1h_2026-05-10.csv"]


def pandas_wilder_atr(df: pd.DataFrame, n: int) -> pd.Series:
    prev = df["close"].shift(1)
    tr = pd.concat([df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()],
                   axis=1).max(axis=1)  # skipna: the first bar has no previous close → high − low
    seeded = tr.copy()
    seeded.iloc[: n - 1] = np.nan
    seeded.iloc[n - 1] = tr.iloc[:n].mean()
    return seeded.ewm(alpha=1 / n, adjust=False, ignore_na=True).mean()


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("n", [3, 14])
def test_wilder_atr_matches_pandas_on_real_candles(shared_data, name, n):
    df = pd.read_csv(shared_data / name)
    assert len(df) > 1000
    expected = pandas_wilder_atr(df, n)
    atr = WilderATR(n)
    got = [atr.update(h, lo, c) for h, lo, c in zip(df["high"], df["low"], df["close"])]
    assert got[: n - 1] == [None] * (n - 1)
    np.testing.assert_allclose(np.array(got[n - 1:], dtype=float), expected.iloc[n - 1:].to_numpy(), rtol=1e-9)
    assert atr.pct() == pytest.approx(expected.iloc[-1] / df["close"].iloc[-1])


@pytest.mark.parametrize("name", FILES)
def test_ewma_vol_matches_pandas_on_real_candles(shared_data, name):
    df = pd.read_csv(shared_data / name)
    lam = 0.94
    r2 = np.log(df["close"]).diff() ** 2
    expected = np.sqrt(r2.ewm(alpha=1 - lam, adjust=False, ignore_na=True).mean())
    vol = EwmaVol(lam=lam, min_bars=1)
    got = [vol.update(c) for c in df["close"]]
    assert got[0] is None
    np.testing.assert_allclose(np.array(got[1:], dtype=float), expected.iloc[1:].to_numpy(), rtol=1e-9)


def test_ewma_warmup_and_halflife():
    v = EwmaVol.from_halflife(10, min_bars=3)
    assert v.lam == pytest.approx(0.5 ** 0.1)
    for c in (100, 101, 100):
        v.update(c)
    assert v.sigma is None and not v.ready
    v.update(101)
    assert v.ready and v.sigma > 0
    assert v.sigma_scaled(4) == pytest.approx(2 * v.sigma)


def test_atr_rejects_inconsistent_bar():
    with pytest.raises(ValueError, match="inconsistent bar"):
        WilderATR(3).update(high=1.0, low=2.0, close=1.5)


def test_atr_constant_range():
    atr = WilderATR(5)
    for _ in range(50):
        atr.update(101.0, 99.0, 100.0)
    assert atr.value == pytest.approx(2.0) and math.isclose(atr.pct(100.0), 0.02)
