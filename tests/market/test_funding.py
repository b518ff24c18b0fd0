import pandas as pd
import pytest

from engine.market.book import MarketDataError
from engine.market.funding import HOUR_MS, AssetCtx, FundingTracker, TrailingMean


def test_trailing_mean_window_and_eviction():
    m = TrailingMean(window_ms=3 * HOUR_MS, bucket_ms=HOUR_MS)
    for h, rate in enumerate([1e-5, 2e-5, 3e-5, 4e-5]):
        m.add(h * HOUR_MS, rate)
    assert m.mean() == pytest.approx(2.5e-5)  # the first hour is still partly inside at t = 3 h
    assert m.mean(now_ms=4 * HOUR_MS + 1) == pytest.approx(3e-5)  # hour 0 has fully left
    assert m.mean(now_ms=100 * HOUR_MS) is None
    m.add(0, 1.0)  # older than the last sample: ignored
    assert m.count == 0


def test_trailing_mean_matches_pandas_rolling_on_real_funding(shared_data):
    df = pd.read_csv(shared_data / "hl-btc-1h-candles-funding-mozanaydin/hyperliquid_BTC_funding.csv",
                     parse_dates=["timestamp"])
    ts = df["timestamp"].map(lambda t: int(t.timestamp() * 1000))
    window = 7 * 24 * HOUR_MS
    m = TrailingMean(window, HOUR_MS)
    got = []
    for t, r in zip(ts, df["funding_rate"]):
        m.add(int(t), repr(float(r)))
        got.append(m.mean())
    # hourly samples, window of 7 days; a bucket leaves once it is fully older than the window → 169 rows
    rolling = df.set_index("timestamp")["funding_rate"].rolling("169h", closed="right").mean().to_numpy()
    assert len(got) > 1000
    assert got == pytest.approx(list(rolling), rel=1e-9, abs=1e-15)


def test_tracker_ctx_and_history():
    tr = FundingTracker("HYPE", window_ms=24 * HOUR_MS)
    n = tr.on_history([{"coin": "HYPE", "fundingRate": "0.0000125", "premium": "-0.0001", "time": 0},
                       {"coin": "HYPE", "fundingRate": "0.0000375", "premium": "0.0001", "time": HOUR_MS}])
    assert n == 2 and tr.funding_mean(HOUR_MS) == pytest.approx(2.5e-5)
    assert tr.funding_mean(HOUR_MS, min_coverage_ms=24 * HOUR_MS) is None  # 2 h of a 24 h window
    ctx = AssetCtx.from_wire("HYPE", {"funding": "0.00005", "premium": "0.0002", "oraclePx": "40.1",
                                      "markPx": "40.12", "midPx": None, "openInterest": "1000"}, 2 * HOUR_MS)
    tr.on_ctx(ctx)
    assert tr.oracle_px(2 * HOUR_MS + 10, 5_000) == 40.1 and tr.oracle_px(2 * HOUR_MS + 10_000, 5_000) is None
    assert tr.funding_mean(2 * HOUR_MS) == pytest.approx((1.25e-5 + 3.75e-5 + 5e-5) / 3)


def test_bad_ctx_and_history_name_field():
    with pytest.raises(MarketDataError, match=r"assetCtx\[HYPE\].oraclePx"):
        AssetCtx.from_wire("HYPE", {"funding": "0", "markPx": "1", "openInterest": "0"}, 0)
    tr = FundingTracker("HYPE")
    with pytest.raises(MarketDataError, match=r"fundingHistory\[1\].fundingRate"):
        tr.on_history([{"fundingRate": "0.1", "time": 0}, {"fundingRate": "x", "time": 1}])
    assert tr.funding.count == 0  # nothing half-done


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5_000), st.integers(-10**6, 10**6)), min_size=1, max_size=60))
def test_trailing_mean_equals_brute_force(steps):
    window, bucket = 2_000, 250
    m = TrailingMean(window, bucket)
    seen = []
    t = 0
    for dt, units in steps:
        t += dt
        rate = units / 10**9
        m.add(t, rate)
        seen.append((t, rate))
        # brute force: samples whose bucket has not fully left the window
        inside = [r for ts, r in seen if ts - ts % bucket + bucket > t - window]
        assert m.mean() == pytest.approx(sum(inside) / len(inside), rel=1e-12, abs=1e-18)
