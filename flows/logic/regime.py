"""Volatility regime: candles → ATR% and realized vol → regime → spread multiplier and pause flag.

Thresholds (defaults, for 15-minute candles; calibrated around the design's base ATR of 0.245 % for HYPE):

| regime   | ATR% of price (14 bars) | realized vol, annualized | spread multiplier | pause |
|----------|-------------------------|--------------------------|-------------------|-------|
| calm     | < 0.15 %                | < 40 %                   | 0.8               | no    |
| normal   | < 0.40 %                | < 90 %                   | 1.0               | no    |
| stressed | < 1.00 %                | < 180 %                  | 1.6               | no    |
| extreme  | ≥ 1.00 %                | ≥ 180 %                  | 2.5               | yes   |

Each measure picks its own regime; the **worse** of the two wins (either signal alone is reason to widen).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.numbers import dec

REGIMES = ("calm", "normal", "stressed", "extreme")
YEAR_MS = 365 * 24 * 3600 * 1000


@dataclasses.dataclass(frozen=True)
class RegimeThresholds:
    # upper bounds (exclusive) of calm, normal, stressed; anything above the last is extreme
    atr_pct: tuple[float, float, float] = (0.0015, 0.0040, 0.0100)
    realized_vol: tuple[float, float, float] = (0.40, 0.90, 1.80)
    spread_multiplier: tuple[float, float, float, float] = (0.8, 1.0, 1.6, 2.5)

    def __post_init__(self) -> None:
        for name in ("atr_pct", "realized_vol"):
            v = getattr(self, name)
            if len(v) != 3 or any(x <= 0 for x in v) or list(v) != sorted(v):
                raise ValueError(f"thresholds.{name}: need 3 increasing positive bounds, got {v}")
        if len(self.spread_multiplier) != 4 or any(x <= 0 for x in self.spread_multiplier):
            raise ValueError(f"thresholds.spread_multiplier: need 4 positive values, got {self.spread_multiplier}")


@dataclasses.dataclass(frozen=True)
class Bar:
    t: int  # open time, ms
    o: float
    h: float
    l: float  # noqa: E741 (candle field name)
    c: float


@dataclasses.dataclass(frozen=True)
class RegimeDecision:
    regime: str
    spread_multiplier: float
    pause: bool
    atr_pct: float
    realized_vol: float
    reason: str

    def as_params(self) -> dict[str, Any]:
        """The params row the engine reads (floats are fine here: multipliers, not money)."""
        return {"regime": self.regime, "spread_multiplier": self.spread_multiplier, "pause": self.pause,
                "atr_pct": round(self.atr_pct, 8), "realized_vol": round(self.realized_vol, 6)}


def parse_candles(rows: Sequence[Mapping[str, Any]], field: str = "candles") -> list[Bar]:
    """candleSnapshot rows → bars sorted by time; rejects rows with missing/invalid OHLC or h < l."""
    bars = []
    for i, r in enumerate(rows):
        f = f"{field}[{i}]"
        if not isinstance(r, Mapping) or "t" not in r:
            raise ValueError(f"{f}: not a candle (need t,o,h,l,c)")
        b = Bar(int(r["t"]), *(float(dec(r.get(k), f"{f}.{k}")) for k in ("o", "h", "l", "c")))
        if b.h < b.l or min(b.o, b.h, b.l, b.c) <= 0:
            raise ValueError(f"{f}: inconsistent candle (h<l or non-positive price)")
        bars.append(b)
    bars.sort(key=lambda b: b.t)
    return bars


def atr_pct(bars: Sequence[Bar], period: int = 14) -> float:
    """Wilder's ATR over the last ``period`` true ranges, as a fraction of the last close."""
    if period < 1:
        raise ValueError(f"period: must be >= 1, got {period}")
    if len(bars) < period + 1:
        raise ValueError(f"candles: need at least {period + 1} bars for ATR({period}), got {len(bars)}")
    trs = [max(b.h - b.l, abs(b.h - prev.c), abs(b.l - prev.c)) for prev, b in zip(bars, bars[1:])]
    atr = sum(trs[:period]) / period
    for tr in trs[period:]:
        atr = (atr * (period - 1) + tr) / period
    return atr / bars[-1].c


def realized_vol(bars: Sequence[Bar], interval_ms: int) -> float:
    """Annualized standard deviation of close-to-close log returns."""
    if len(bars) < 3:
        raise ValueError(f"candles: need at least 3 bars for realized vol, got {len(bars)}")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms: must be > 0, got {interval_ms}")
    rets = [math.log(b.c / a.c) for a, b in zip(bars, bars[1:])]
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    return math.sqrt(var * YEAR_MS / interval_ms)


def _level(value: float, bounds: Sequence[float]) -> int:
    for i, b in enumerate(bounds):
        if value < b:
            return i
    return len(bounds)


def classify_regime(atr_fraction: float, rv_annual: float,
                    thresholds: RegimeThresholds = RegimeThresholds()) -> RegimeDecision:
    if not (math.isfinite(atr_fraction) and atr_fraction >= 0):
        raise ValueError(f"atr_pct: must be a finite number >= 0, got {atr_fraction}")
    if not (math.isfinite(rv_annual) and rv_annual >= 0):
        raise ValueError(f"realized_vol: must be a finite number >= 0, got {rv_annual}")
    a = _level(atr_fraction, thresholds.atr_pct)
    v = _level(rv_annual, thresholds.realized_vol)
    lvl = max(a, v)
    driver = "ATR" if a >= v else "realized vol"
    reason = (f"ATR {atr_fraction:.4%} → {REGIMES[a]}, realized vol {rv_annual:.1%} → {REGIMES[v]}; "
              f"{REGIMES[lvl]} by {driver}")
    return RegimeDecision(REGIMES[lvl], thresholds.spread_multiplier[lvl], REGIMES[lvl] == "extreme",
                          atr_fraction, rv_annual, reason)


def regime_from_candles(rows: Sequence[Mapping[str, Any]], interval_ms: int, period: int = 14,
                        thresholds: RegimeThresholds = RegimeThresholds()) -> RegimeDecision:
    bars = parse_candles(rows)
    return classify_regime(atr_pct(bars, period), realized_vol(bars, interval_ms), thresholds)
