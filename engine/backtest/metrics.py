"""PnL attribution and summary statistics of a replay.

Attribution is accumulated step by step, never as a remainder, so "the parts sum to the equity change" is a
real check (tests compare it with cash + positions × mid):

* spread   — at each fill, signed qty × (leg mid − fill px): what the fill earned against the mark;
* fees     — minus every fee paid (maker and taker, both legs);
* funding  — hourly payments on the perp position (short receives when the rate is positive);
* inventory — net delta (spot + perp) × each move of the perp mid;
* basis    — spot qty × each move of (spot mid − perp mid): what a hedged carry gains or loses when the
             two legs' prices diverge. Zero in a one-leg replay.

Equity is sampled on the simulated clock (at most once per `sample_ms`) for drawdown and Sharpe.
"""
from __future__ import annotations

import math
from array import array


class Attribution:
    __slots__ = ("spread", "fees", "funding", "basis", "inventory")

    def __init__(self) -> None:
        self.spread = self.fees = self.funding = self.basis = self.inventory = 0.0

    @property
    def total(self) -> float:
        return self.spread + self.fees + self.funding + self.basis + self.inventory

    def as_dict(self) -> dict[str, float]:
        return {"spread": self.spread, "fees": self.fees, "funding": self.funding, "basis": self.basis,
                "inventory": self.inventory}


class EquityCurve:
    """Equity samples on the simulated clock (array-backed: a 30-day replay keeps millions of them)."""

    def __init__(self, sample_ms: int = 1000) -> None:
        self.sample_ms = sample_ms
        self.t = array("q")
        self.equity = array("d")
        self.net_delta = array("d")
        self.next_ms = -1

    def maybe_sample(self, t_ms: int, equity: float, net_delta: float) -> None:
        if t_ms >= self.next_ms:
            self.t.append(t_ms)
            self.equity.append(equity)
            self.net_delta.append(net_delta)
            self.next_ms = t_ms - t_ms % self.sample_ms + self.sample_ms

    def force(self, t_ms: int, equity: float, net_delta: float) -> None:
        self.t.append(t_ms)
        self.equity.append(equity)
        self.net_delta.append(net_delta)


def max_drawdown(equity: array | list[float]) -> float:
    """Largest peak-to-trough fall of the equity samples (USD, >= 0)."""
    peak = -math.inf
    worst = 0.0
    for e in equity:
        if e > peak:
            peak = e
        elif peak - e > worst:
            worst = peak - e
    return worst


def sharpe(t_ms: array | list[int], equity: array | list[float], bucket_ms: int = 60_000) -> float:
    """Annualised Sharpe of per-minute PnL (mean / std × √(minutes per year)); 0 with < 2 buckets or no std.

    PnL, not returns: the replay has no capital base of its own, and the ratio is the same for any
    constant capital.
    """
    if len(t_ms) < 2:
        return 0.0
    last_by_bucket: dict[int, float] = {}
    for t, e in zip(t_ms, equity):
        last_by_bucket[t // bucket_ms] = e
    keys = sorted(last_by_bucket)
    if len(keys) < 3:
        return 0.0
    # carry the last value across empty buckets so a quiet minute counts as a zero-PnL minute
    series = []
    prev = last_by_bucket[keys[0]]
    for k in range(keys[0], keys[-1] + 1):
        prev = last_by_bucket.get(k, prev)
        series.append(prev)
    diffs = [b - a for a, b in zip(series, series[1:])]
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    if var <= 0:
        return 0.0
    per_year = 365 * 24 * 3600 * 1000 / bucket_ms
    return mean / math.sqrt(var) * math.sqrt(per_year)
