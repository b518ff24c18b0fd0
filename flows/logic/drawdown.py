"""Drawdown of an equity curve against limits (pure)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from engine.numbers import dec


@dataclasses.dataclass(frozen=True)
class DrawdownReport:
    peak: Decimal                 # highest equity in the window
    peak_time: dt.datetime
    current: Decimal              # last equity
    drawdown_usd: Decimal         # peak − current (≥ 0)
    drawdown_pct: Decimal         # (peak − current) / peak
    max_drawdown_pct: Decimal     # worst peak-to-trough in the window
    breached: bool
    reason: str


def drawdown(curve: Sequence[tuple[dt.datetime, Decimal]], max_drawdown_pct: Decimal | float | str,
             max_drawdown_usd: Decimal | float | str | None = None) -> DrawdownReport:
    """Current drawdown from the running peak of ``curve`` (time-sorted or not) vs limits.

    Breached when the *current* drawdown exceeds either limit (a past trough that recovered does not trip it).
    """
    if not curve:
        raise ValueError("equity curve: empty; need at least one mark")
    limit_pct = dec(max_drawdown_pct, "max_drawdown_pct")
    if not (0 < limit_pct < 1):
        raise ValueError(f"max_drawdown_pct: must be in (0, 1), got {max_drawdown_pct!r}")
    limit_usd = None if max_drawdown_usd is None else dec(max_drawdown_usd, "max_drawdown_usd")
    if limit_usd is not None and limit_usd <= 0:
        raise ValueError(f"max_drawdown_usd: must be > 0, got {max_drawdown_usd!r}")
    points = sorted(((t, dec(e, f"equity[{t.isoformat()}]")) for t, e in curve), key=lambda p: p[0])
    peak_t, peak = points[0]
    worst = Decimal(0)
    for t, e in points:
        if e > peak:
            peak, peak_t = e, t
        if peak > 0:
            worst = max(worst, (peak - e) / peak)
    current = points[-1][1]
    if peak <= 0:
        raise ValueError(f"equity curve: peak equity {peak} is not positive")
    dd_usd = peak - current
    dd_pct = dd_usd / peak
    over_pct = dd_pct > limit_pct
    over_usd = limit_usd is not None and dd_usd > limit_usd
    if over_pct or over_usd:
        reason = (f"drawdown {dd_pct:.2%} (${dd_usd:,.2f}) from peak ${peak:,.2f} at {peak_t.isoformat()} "
                  f"exceeds limit {limit_pct:.2%}" + (f" / ${limit_usd:,.2f}" if limit_usd is not None else ""))
    else:
        reason = f"drawdown {dd_pct:.2%} (${dd_usd:,.2f}) within limit {limit_pct:.2%}"
    return DrawdownReport(peak, peak_t, current, dd_usd, dd_pct, worst, over_pct or over_usd, reason)
