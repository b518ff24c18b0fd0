"""Volatility estimators updated in O(1) per closed bar: Wilder's ATR and EWMA realized volatility.

Both feed quoting: ATR% sets the half-spread floor above the base spread, realized vol (σ) sets the
inventory skew. O(1) state (a few floats) matters because they run on the hot path and in backtests over
months of bars; no window of history is kept.
"""
from __future__ import annotations

import math


class WilderATR:
    """Average True Range with Wilder smoothing.

    TR_t = max(high − low, |high − close_{t−1}|, |low − close_{t−1}|); on the very first bar there is no
    previous close, so TR = high − low. The first ATR is the simple mean of the first `period` TRs (ready
    after `period` bars); afterwards ATR_t = (ATR_{t−1}·(period − 1) + TR_t) / period, i.e. an EMA with
    α = 1/period. `value` is None until ready so no one quotes on a half-warmed estimate.
    """

    __slots__ = ("period", "_prev_close", "_count", "_seed_sum", "_atr", "_last_close")

    def __init__(self, period: int = 14) -> None:
        if period < 1:
            raise ValueError(f"ATR period must be >= 1, got {period}")
        self.period = period
        self._prev_close: float | None = None
        self._count = 0
        self._seed_sum = 0.0
        self._atr: float | None = None
        self._last_close: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        if not (high >= low > 0) or not (low <= close <= high):
            raise ValueError(f"inconsistent bar: high={high} low={low} close={close}")
        pc = self._prev_close
        tr = high - low if pc is None else max(high - low, abs(high - pc), abs(low - pc))
        self._prev_close = close
        self._last_close = close
        self._count += 1
        if self._atr is None:
            self._seed_sum += tr
            if self._count == self.period:
                self._atr = self._seed_sum / self.period
        else:
            self._atr = (self._atr * (self.period - 1) + tr) / self.period
        return self._atr

    @property
    def value(self) -> float | None:
        return self._atr

    @property
    def ready(self) -> bool:
        return self._atr is not None

    def pct(self, price: float | None = None) -> float | None:
        """ATR as a fraction of `price` (default: the last close) — the unit the spread rule uses."""
        ref = price if price is not None else self._last_close
        if self._atr is None or not ref:
            return None
        return self._atr / ref


class EwmaVol:
    """RiskMetrics-style realized volatility of close-to-close log returns.

    var_t = λ·var_{t−1} + (1 − λ)·r_t², seeded with the first squared return. `sigma` is the per-bar standard
    deviation as a fraction of price. Ready after `min_bars` returns so the first few noisy returns do not
    drive the skew.
    """

    __slots__ = ("lam", "min_bars", "_prev_close", "_var", "_n")

    def __init__(self, lam: float = 0.94, min_bars: int = 10) -> None:
        if not 0 < lam < 1:
            raise ValueError(f"EWMA lambda must be in (0, 1), got {lam}")
        self.lam = lam
        self.min_bars = min_bars
        self._prev_close: float | None = None
        self._var: float | None = None
        self._n = 0

    @classmethod
    def from_halflife(cls, halflife_bars: float, min_bars: int = 10) -> "EwmaVol":
        return cls(lam=0.5 ** (1.0 / halflife_bars), min_bars=min_bars)

    def update(self, close: float) -> float | None:
        if close <= 0:
            raise ValueError(f"close must be > 0, got {close}")
        pc = self._prev_close
        self._prev_close = close
        if pc is None:
            return self.sigma
        r = math.log(close / pc)
        self._n += 1
        self._var = r * r if self._var is None else self.lam * self._var + (1 - self.lam) * r * r
        return self.sigma

    @property
    def variance(self) -> float | None:
        return self._var if self._n >= self.min_bars else None

    @property
    def sigma(self) -> float | None:
        v = self.variance
        return None if v is None else math.sqrt(v)

    @property
    def ready(self) -> bool:
        return self._n >= self.min_bars

    def sigma_scaled(self, bars: float) -> float | None:
        """σ over `bars` bars (square-root-of-time), e.g. to annualize or match a quoting horizon."""
        s = self.sigma
        return None if s is None else s * math.sqrt(bars)
