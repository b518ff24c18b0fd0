import pandas as pd
import pytest

from engine.market.book import MarketDataError
from engine.market.candles import Candle, CandleBuilder, CandleFeed

M = 60_000


def test_builder_ohlc_and_close_on_boundary():
    b = CandleBuilder(M)
    assert b.on_price(0, 10.0, 1) == [] and b.on_price(10_000, 12.0, 2) == [] and b.on_price(59_999, 9.0) == []
    b.on_price(30_000, 11.0)
    closed = b.on_price(60_000, 11.5)
    assert closed == [Candle(0, M, 10.0, 12.0, 9.0, 11.0, 3.0, 4)]
    assert b.current.open == 11.5


def test_builder_fills_gaps_with_flat_bars():
    b = CandleBuilder(M)
    b.on_price(0, 10.0)
    closed = b.on_price(3 * M + 5, 12.0)
    assert [c.start_ms for c in closed] == [0, M, 2 * M]
    assert closed[1].open == closed[1].high == closed[1].low == closed[1].close == 10.0
    assert CandleBuilder(M, fill_gaps=False).on_price(0, 1.0) == []


def test_builder_ignores_prices_of_closed_bars():
    b = CandleBuilder(M)
    b.on_price(M, 10.0)
    assert b.on_price(5, 99.0) == [] and b.current.high == 10.0


def test_builder_reproduces_real_5m_bars_from_1h_resample(shared_data):
    # feeding each real 5m bar's o/h/l/c as four prices rebuilds the hourly bars pandas resamples
    df = pd.read_csv(shared_data / "hl-hype-candles-funthere/HYPE_PERP_5m.csv", parse_dates=["timestamp"])
    df = df.iloc[:600]
    ts = df["timestamp"].map(lambda t: int(t.timestamp() * 1000)).to_numpy()
    b = CandleBuilder(3_600_000, fill_gaps=False)
    bars = []
    for t, o, h, lo, c in zip(ts, df["open"], df["high"], df["low"], df["close"]):
        for k, px in enumerate((o, h, lo, c)):
            bars += b.on_price(int(t) + k, px)
    hourly = df.set_index("timestamp").resample("1h").agg({"open": "first", "high": "max", "low": "min",
                                                            "close": "last"}).dropna()
    expected = hourly.iloc[: len(bars)]  # both start with the same partial first hour
    assert len(bars) >= 40
    for bar, (start, row) in zip(bars, expected.iterrows()):
        assert bar.start_ms == int(start.tz_localize("UTC").timestamp() * 1000)
        assert (bar.open, bar.high, bar.low, bar.close) == (row["open"], row["high"], row["low"], row["close"])


def test_feed_closes_bar_when_next_starts():
    f = CandleFeed()
    wire = {"t": 0, "T": M - 1, "s": "HYPE", "i": "1m", "o": "10", "c": "11", "h": "12", "l": "9", "v": "5", "n": 3}
    c0 = Candle.from_wire(wire)
    assert f.on_candle(c0) == [] and f.on_candle(Candle.from_wire({**wire, "c": "11.5"})) == []
    nxt = Candle.from_wire({**wire, "t": M, "o": "11.5", "c": "11.5", "h": "11.5", "l": "11.5"})
    assert f.on_candle(nxt) == [Candle(0, M, 10.0, 12.0, 9.0, 11.5, 5.0, 3)]


def test_bad_candle_names_field():
    with pytest.raises(MarketDataError, match=r"candle\.h"):
        Candle.from_wire({"t": 0, "i": "1m", "o": "1", "c": "1", "h": "x", "l": "1"})
    with pytest.raises(MarketDataError, match=r"candle\.i"):
        Candle.from_wire({"t": 0, "i": "7m", "o": "1", "c": "1", "h": "1", "l": "1"})
