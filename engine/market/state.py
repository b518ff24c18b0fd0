"""Glue between market state and the pure strategy: per-coin volatility from closed bars, and the single
place where "is this data good enough to quote on?" turns into a `LegState` or None.

Keeping that gate here (pure: `now_ms` is passed in) means live, paper and backtest refuse stale or broken
books in exactly the same way; the loop only has to call `leg_state(...)` and quote when it is not None.
"""
from __future__ import annotations

from typing import Iterable

from engine.market.book import BBO, L2Book
from engine.market.candles import Candle, CandleBuilder, CandleFeed
from engine.market.vol import EwmaVol, WilderATR
from engine.strategy.quotes import Leg, LegState


class CoinVol:
    """ATR and EWMA σ for one coin, fed by closed bars from either a price stream or the candle feed."""

    __slots__ = ("builder", "feed", "atr", "ewma", "bars")

    def __init__(self, interval_ms: int = 300_000, atr_period: int = 14, ewma_lambda: float = 0.94,
                 min_bars: int = 10) -> None:
        self.builder = CandleBuilder(interval_ms)
        self.feed = CandleFeed()
        self.atr = WilderATR(atr_period)
        self.ewma = EwmaVol(ewma_lambda, min_bars)
        self.bars = 0

    def _on_bar(self, bar: Candle) -> None:
        self.atr.update(bar.high, bar.low, bar.close)
        self.ewma.update(bar.close)
        self.bars += 1

    def on_price(self, ts_ms: int, px: float, size: float = 0.0) -> int:
        """Trade or mid; returns how many bars closed."""
        closed = self.builder.on_price(ts_ms, px, size)
        for bar in closed:
            self._on_bar(bar)
        return len(closed)

    def on_candle(self, candle: Candle) -> int:
        closed = self.feed.on_candle(candle)
        for bar in closed:
            self._on_bar(bar)
        return len(closed)

    def warm_up(self, bars: Iterable[Candle]) -> int:
        """Seed from history (candleSnapshot) so quoting starts with a real ATR instead of the floor only."""
        n = 0
        for bar in bars:
            self._on_bar(bar)
            n += 1
        return n

    def atr_pct(self, price: float) -> float | None:
        return self.atr.pct(price)

    @property
    def sigma(self) -> float | None:
        return self.ewma.sigma


def leg_state(coin: str, leg: Leg, sz_decimals: int, quote_src: L2Book | BBO | None, now_ms: int,
              max_age_ms: int, inventory: float, vol: CoinVol | None = None, carry_strength: float = 0.0,
              buy_capacity: float | None = None, sell_capacity: float | None = None) -> LegState | None:
    """A LegState for `quotes()`, or None when the book is missing, stale, crossed, one-sided or zero."""
    if quote_src is None or not quote_src.is_fresh(now_ms, max_age_ms):
        return None
    if isinstance(quote_src, L2Book):
        # a usable book is two-sided, uncrossed and has no zero level: its top is a valid BBO as it stands
        if not quote_src.is_usable:
            return None
        mid, bid, ask = quote_src.mid, quote_src.bids[0], quote_src.asks[0]
    else:
        mid, bid, ask = quote_src.mid, quote_src.bid, quote_src.ask
        if mid is None or bid is None or ask is None or bid[1] <= 0 or ask[1] <= 0:
            return None
    return LegState(coin, leg, sz_decimals, mid, inventory, None if vol is None else vol.atr_pct(mid),
                    None if vol is None else vol.sigma, bid[0], ask[0], carry_strength, buy_capacity,
                    sell_capacity)
