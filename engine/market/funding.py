"""Funding and premium state per perp: the latest asset context plus trailing means in O(1).

The carry decision needs "mean hourly funding over the last N days" on every tick. Asset contexts arrive every
few seconds, so samples are aggregated into time buckets (default 1 h, the funding period) with a running
sum: add and evict are O(1) amortized, memory is window/bucket entries, and the sum is kept in integer
units of 1e-12 so months of adds and evictions accumulate no float drift.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from engine.market.book import MarketDataError, _num

_SCALE = 10**12  # rates are quoted with at most ~10 decimals; 1e-12 units keep them exact as ints
HOUR_MS = 3_600_000


def _to_units(rate: float | str | Decimal) -> int:
    d = rate if isinstance(rate, Decimal) else Decimal(repr(rate) if isinstance(rate, float) else str(rate))
    return int((d * _SCALE).to_integral_value())


class TrailingMean:
    """Sample mean over a sliding time window, bucketed.

    Each bucket keeps (sum, count); the window mean is total sum / total count, i.e. every sample weighs the
    same (an hour with more context pushes counts more, which matches sampling a continuous rate). Feeding
    one settled rate per hour (fundingHistory) gives the plain mean of hourly rates.
    """

    __slots__ = ("window_ms", "bucket_ms", "_buckets", "_sum", "_count", "_last_ms")

    def __init__(self, window_ms: int, bucket_ms: int = HOUR_MS) -> None:
        if window_ms <= 0 or bucket_ms <= 0 or bucket_ms > window_ms:
            raise ValueError(f"need 0 < bucket_ms <= window_ms, got bucket={bucket_ms} window={window_ms}")
        self.window_ms = window_ms
        self.bucket_ms = bucket_ms
        self._buckets: deque[list[int]] = deque()  # [bucket_start, sum_units, count]
        self._sum = 0
        self._count = 0
        self._last_ms = -1

    def add(self, ts_ms: int, value: float | str | Decimal) -> None:
        """Samples must be non-decreasing in time; an older one is ignored (its bucket may be gone)."""
        if ts_ms < self._last_ms:
            return
        self._last_ms = ts_ms
        units = _to_units(value)
        start = ts_ms - ts_ms % self.bucket_ms
        if self._buckets and self._buckets[-1][0] == start:
            b = self._buckets[-1]
            b[1] += units
            b[2] += 1
        else:
            self._buckets.append([start, units, 1])
        self._sum += units
        self._count += 1
        self._evict(ts_ms)

    def _evict(self, now_ms: int) -> None:
        # a bucket is dropped once its whole span has left the window, so the mean covers between `window`
        # and `window + bucket` of samples (hourly settlements with a 7-day window: the last 169 of them)
        horizon = now_ms - self.window_ms
        while self._buckets and self._buckets[0][0] + self.bucket_ms <= horizon:
            _, s, n = self._buckets.popleft()
            self._sum -= s
            self._count -= n

    def mean(self, now_ms: int | None = None) -> float | None:
        if now_ms is not None:
            self._evict(now_ms)
        return None if self._count == 0 else self._sum / self._count / _SCALE

    def coverage_ms(self) -> int:
        """How much of the window is actually covered: the carry refuses to act on a 2-hour "7-day mean"."""
        if not self._buckets:
            return 0
        return self._buckets[-1][0] + self.bucket_ms - self._buckets[0][0]

    @property
    def count(self) -> int:
        return self._count


@dataclass(frozen=True, slots=True)
class AssetCtx:
    """The fields of a perp asset context the engine acts on (protocol §3 metaAndAssetCtxs / activeAssetCtx)."""

    coin: str
    funding: float  # current predicted hourly rate
    premium: float | None
    oracle_px: float
    mark_px: float
    mid_px: float | None
    open_interest: float
    received_ms: int

    @classmethod
    def from_wire(cls, coin: str, ctx: Mapping[str, Any], received_ms: int) -> "AssetCtx":
        if not isinstance(ctx, Mapping):
            raise MarketDataError(f"assetCtx[{coin}]: expected an object, got {type(ctx).__name__}")

        def opt(key: str) -> float | None:
            v = ctx.get(key)
            return None if v is None else _num(v, f"assetCtx[{coin}].{key}")

        def req(key: str) -> float:
            v = opt(key)
            if v is None:
                raise MarketDataError(f"assetCtx[{coin}].{key}: missing")
            return v

        oracle = req("oraclePx")
        if oracle <= 0:
            raise MarketDataError(f"assetCtx[{coin}].oraclePx: must be > 0, got {oracle}")
        return cls(coin, req("funding"), opt("premium"), oracle, req("markPx"), opt("midPx"),
                   req("openInterest"), received_ms)


class FundingTracker:
    """Latest context and trailing funding/premium means for one perp."""

    __slots__ = ("coin", "funding", "premium", "ctx")

    def __init__(self, coin: str, window_ms: int = 7 * 24 * HOUR_MS, bucket_ms: int = HOUR_MS) -> None:
        self.coin = coin
        self.funding = TrailingMean(window_ms, bucket_ms)
        self.premium = TrailingMean(window_ms, bucket_ms)
        self.ctx: AssetCtx | None = None

    def on_ctx(self, ctx: AssetCtx) -> None:
        if ctx.coin != self.coin:
            raise MarketDataError(f"assetCtx.coin: expected {self.coin}, got {ctx.coin}")
        self.ctx = ctx
        self.funding.add(ctx.received_ms, ctx.funding)
        if ctx.premium is not None:
            self.premium.add(ctx.received_ms, ctx.premium)

    def on_history(self, rows: list[Mapping[str, Any]]) -> int:
        """Warm up from `fundingHistory` rows ({coin, fundingRate, premium, time}); returns rows used.
        All rows are validated before any is added, so a bad reply changes nothing."""
        parsed = []
        for i, row in enumerate(rows):
            t = row.get("time") if isinstance(row, Mapping) else None
            if not isinstance(t, int):
                raise MarketDataError(f"fundingHistory[{i}].time: expected integer ms, got {t!r}")
            rate = row.get("fundingRate")
            _num(rate, f"fundingHistory[{i}].fundingRate")
            prem = row.get("premium")
            if prem is not None:
                _num(prem, f"fundingHistory[{i}].premium")
            parsed.append((t, rate, prem))
        parsed.sort(key=lambda r: r[0])
        for t, rate, prem in parsed:
            self.funding.add(t, rate)
            if prem is not None:
                self.premium.add(t, prem)
        return len(parsed)

    def funding_mean(self, now_ms: int, min_coverage_ms: int = 0) -> float | None:
        """Trailing mean hourly funding, or None if the window is not covered enough to trust."""
        m = self.funding.mean(now_ms)
        if m is None or self.funding.coverage_ms() < min_coverage_ms:
            return None
        return m

    def oracle_px(self, now_ms: int, max_age_ms: int) -> float | None:
        c = self.ctx
        if c is None or not 0 <= now_ms - c.received_ms <= max_age_ms:
            return None
        return c.oracle_px
