"""OHLC bars, built locally from trades/mids or taken from the venue's `candle` feed.

Volatility (ATR, realized vol) is computed per *closed* bar, so both sources end in the same event: "a bar
closed". Building locally lets the engine run on any price stream (the local venue, replays, a mid series);
the candle feed is cheaper when available. Either way, a bar is closed only when the first price of a later
interval arrives — a bar is never emitted half-built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from engine.market.book import MarketDataError, _num

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}


@dataclass(frozen=True, slots=True)
class Candle:
    start_ms: int  # bar open time (inclusive)
    interval_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    trades: int = 0

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.interval_ms

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "Candle":
        """Parse a venue candle `{t,T,s,i,o,c,h,l,v,n}` (WS `candle` push or candleSnapshot row)."""
        if not isinstance(data, Mapping):
            raise MarketDataError(f"candle: expected an object, got {type(data).__name__}")
        interval = data.get("i")
        if interval not in INTERVAL_MS:
            raise MarketDataError(f"candle.i: unknown interval {interval!r}")
        t = data.get("t")
        if not isinstance(t, int) or isinstance(t, bool):
            raise MarketDataError(f"candle.t: expected integer ms, got {t!r}")
        o, h, lo, c = (_num(data.get(k), f"candle.{k}") for k in ("o", "h", "l", "c"))
        if not (lo <= min(o, c) and h >= max(o, c) and lo > 0):
            raise MarketDataError(f"candle: inconsistent OHLC o={o} h={h} l={lo} c={c}")
        n = data.get("n", 0)
        return cls(t, INTERVAL_MS[interval], o, h, lo, c, _num(data.get("v", 0), "candle.v"),
                   int(n) if isinstance(n, int) else 0)


class CandleBuilder:
    """Aggregates a price stream into fixed-interval bars aligned to the epoch (as the venue aligns them).

    `fill_gaps`: intervals with no price become flat bars at the previous close, so a quiet market reads as
    low volatility instead of the next bar's move being attributed to one bar.
    """

    __slots__ = ("interval_ms", "fill_gaps", "_cur", "_last_ts")

    def __init__(self, interval_ms: int, fill_gaps: bool = True) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
        self.interval_ms = interval_ms
        self.fill_gaps = fill_gaps
        self._cur: list | None = None  # [start, o, h, l, c, v, n] — mutable while the bar is open
        self._last_ts = -1

    @property
    def current(self) -> Candle | None:
        """The still-open bar (for display; vol is never updated from it)."""
        if self._cur is None:
            return None
        s, o, h, lo, c, v, n = self._cur
        return Candle(s, self.interval_ms, o, h, lo, c, v, n)

    def on_price(self, ts_ms: int, px: float, size: float = 0.0) -> list[Candle]:
        """Add one trade/mid; returns the bars this price closed (usually none, one at a boundary, more after
        a gap). Out-of-order prices older than the open bar are ignored: the bar they belong to is gone."""
        if px <= 0:
            raise MarketDataError(f"price must be > 0, got {px}")
        start = ts_ms - ts_ms % self.interval_ms
        cur = self._cur
        if cur is None:
            self._cur = [start, px, px, px, px, size, 1]
            self._last_ts = ts_ms
            return []
        if start < cur[0]:
            return []
        self._last_ts = max(self._last_ts, ts_ms)
        if start == cur[0]:
            if px > cur[2]:
                cur[2] = px
            if px < cur[3]:
                cur[3] = px
            cur[4] = px
            cur[5] += size
            cur[6] += 1
            return []
        closed = [Candle(cur[0], self.interval_ms, cur[1], cur[2], cur[3], cur[4], cur[5], cur[6])]
        if self.fill_gaps:
            prev_close = cur[4]
            for s in range(cur[0] + self.interval_ms, start, self.interval_ms):
                closed.append(Candle(s, self.interval_ms, prev_close, prev_close, prev_close, prev_close))
        self._cur = [start, px, px, px, px, size, 1]
        return closed


class CandleFeed:
    """Turns the venue's repeated pushes of the *open* candle into closed bars: a bar is final when a push
    for a later bar arrives."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: Candle | None = None

    def on_candle(self, candle: Candle) -> list[Candle]:
        pending = self._pending
        if pending is None or candle.start_ms == pending.start_ms:
            self._pending = candle
            return []
        if candle.start_ms < pending.start_ms:
            return []  # late update of a bar already closed
        self._pending = candle
        return [pending]
