import pandas as pd
import pytest

from engine.market.book import BBO, L2Book
from engine.market.candles import Candle
from engine.market.state import CoinVol, leg_state
from engine.market.vol import WilderATR


def book(bids, asks, received=1_000):
    lv = lambda side: [{"px": str(p), "sz": str(s), "n": 1} for p, s in side]  # noqa: E731
    return L2Book.from_wire({"coin": "HYPE", "time": 1, "levels": [lv(bids), lv(asks)]}, received)


def test_leg_state_gates_bad_books():
    good = book([(40.0, 1)], [(40.02, 1)])
    s = leg_state("HYPE", "perp", 2, good, now_ms=1_500, max_age_ms=1_000, inventory=3.0)
    assert s is not None and s.mid == pytest.approx(40.01) and (s.best_bid, s.best_ask) == (40.0, 40.02) and s.inventory == 3.0
    assert leg_state("HYPE", "perp", 2, good, 2_001, 1_000, 0.0) is None  # stale
    assert leg_state("HYPE", "perp", 2, book([(40.02, 1)], [(40.0, 1)]), 1_500, 1_000, 0.0) is None  # crossed
    assert leg_state("HYPE", "perp", 2, book([(40.0, 0)], [(40.02, 1)]), 1_500, 1_000, 0.0) is None  # zero
    assert leg_state("HYPE", "perp", 2, book([(40.0, 1)], []), 1_500, 1_000, 0.0) is None  # one-sided
    assert leg_state("HYPE", "perp", 2, None, 1_500, 1_000, 0.0) is None
    bbo = BBO("HYPE", (40.0, 1.0), (40.02, 2.0), 1, 1_000)
    assert leg_state("HYPE", "perp", 2, bbo, 1_500, 1_000, 0.0).mid == pytest.approx(40.01)


def test_coin_vol_from_real_candles_matches_direct_atr(shared_data):
    df = pd.read_csv(shared_data / "hl-hype-candles-funthere/HYPE_PERP_5m.csv").iloc[:300]
    bars = [Candle(i * 300_000, 300_000, o, h, lo, c) for i, (o, h, lo, c)
            in enumerate(zip(df["open"], df["high"], df["low"], df["close"]))]
    v = CoinVol(interval_ms=300_000)
    assert v.warm_up(bars) == 300
    ref = WilderATR(14)
    for b in bars:
        ref.update(b.high, b.low, b.close)
    assert v.atr.value == ref.value and v.sigma is not None and v.sigma > 0
    # feeding the same bars through the candle channel closes each one when the next arrives
    v2 = CoinVol(interval_ms=300_000)
    assert sum(v2.on_candle(b) for b in bars) == 299


def test_coin_vol_from_prices():
    v = CoinVol(interval_ms=1_000, atr_period=2, min_bars=1)
    for t, px in [(0, 10.0), (500, 11.0), (1_000, 10.5), (1_700, 9.5), (2_000, 10.0), (3_000, 10.0)]:
        v.on_price(t, px)
    assert v.bars == 3 and v.atr.ready and v.atr_pct(10.0) > 0
