"""The objective of a trial: net P&L after fees, minus a penalty on inventory risk and one on adverse selection
(what the mid did against each fill afterwards: its markout), from what the backtest reports.

A trial that does not fill makes no market: it scores a fixed shortfall below zero instead of a P&L of 0, so the
search cannot "win" by quoting out of reach of every trade (the example config's 24.5 bp does exactly that on the
BTC archive hour). The adoption guard compares the same scores, so current params that never fill are beaten by
any candidate that fills and loses less than the shortfall.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

MARKOUT_MS = 10_000  # the horizon the penalty uses (the engine's live markouts are 0/1/10/60 s)


@dataclass(frozen=True, slots=True)
class Weights:
    inventory: float = 0.001   # USD per USD of time-averaged |inventory|: carrying risk the P&L did not show
    adverse: float = 0.5       # share of the adverse post-fill move (USD) charged again on top of the P&L
    min_fills: int = 1         # below this the trial made no market
    no_fill_usd: float = 5.0   # score of a trial with no fills: -no_fill_usd (pro rata below min_fills)

    def __post_init__(self) -> None:
        bad = [k for k in ("inventory", "adverse", "no_fill_usd") if getattr(self, k) < 0]
        if self.min_fills < 0:
            bad.append("min_fills")
        if bad:
            raise ValueError(f"objective weights: {', '.join(bad)} must be >= 0")


@dataclass(frozen=True, slots=True)
class TrialMetrics:
    pnl_usd: float             # net of fees (the attribution's total)
    fees_usd: float            # the fee part of it (negative = paid)
    fills: int
    maker_ratio: float
    volume_usd: float
    mean_abs_inventory_usd: float
    end_inventory_usd: float
    max_drawdown_usd: float
    markout_bp: float | None   # mean MARKOUT_MS markout of our fills, bp, + = the mid moved our way
    adverse_usd: float         # sum of the adverse (negative) MARKOUT_MS markouts, as a positive USD figure

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: getattr(self, k) for k in self.__slots__}


def score(m: TrialMetrics, w: Weights = Weights()) -> float:
    """Higher is better."""
    if m.fills < w.min_fills:
        return -w.no_fill_usd * (1 - m.fills / w.min_fills) if w.min_fills else 0.0
    return m.pnl_usd - w.inventory * m.mean_abs_inventory_usd - w.adverse * m.adverse_usd


def mids_at(times: Sequence[int], mid_t: Sequence[int], mids: Sequence[float]) -> list[float | None]:
    """The mid as of each time (the last mid at or before it; None before the first). Both time lists ascend."""
    out: list[float | None] = []
    j, last = 0, None
    for t in times:
        while j < len(mid_t) and mid_t[j] <= t:
            last = mids[j]
            j += 1
        out.append(last)
    return out


def markouts(fills: Sequence[tuple[int, int, float, float]], mid_t: Sequence[int], mids: Sequence[float],
             horizon_ms: int = MARKOUT_MS) -> tuple[float | None, float]:
    """(mean markout in bp, adverse USD) of fills (t_ms, side +1 bought / -1 sold, px, sz), time-ordered.

    A fill's markout is side x (mid horizon_ms later - px): what the position it opened was worth a little later.
    Fills whose horizon runs past the last mid are measured at the last mid (the window's end)."""
    if not fills:
        return None, 0.0
    later = mids_at([t + horizon_ms for t, _, _, _ in fills], mid_t, mids)
    bps, adverse = [], 0.0
    for (_, side, px, sz), mid in zip(fills, later):
        if mid is None or px <= 0:
            continue
        move = side * (mid - px)
        bps.append(move / px * 10_000)
        adverse += max(0.0, -move * sz)
    return (sum(bps) / len(bps) if bps else None), adverse


def mean_abs_exposure(sample_t: Sequence[int], net: Sequence[float], mid_t: Sequence[int],
                      mids: Sequence[float]) -> float:
    """Time-weighted mean |net inventory| in USD over equity-curve samples (each held until the next)."""
    if len(sample_t) < 2:
        return 0.0
    px = mids_at(sample_t, mid_t, mids)
    total = area = 0.0
    for i in range(len(sample_t) - 1):
        dt = sample_t[i + 1] - sample_t[i]
        if dt <= 0 or px[i] is None:
            continue
        area += abs(net[i]) * px[i] * dt
        total += dt
    return area / total if total else 0.0


def rank_importance(rows: Sequence[tuple[dict[str, float], float]], names: Sequence[str]) -> list[tuple[str, float]]:
    """Each parameter's |Spearman rank correlation| with the score over finished trials, most important first.
    Cheap and deterministic (few trials; no model to fit); ties keep `names` order."""
    out = []
    scores = [s for _, s in rows]
    for name in names:
        xs = [p.get(name) for p, _ in rows]
        if len(rows) < 3 or any(x is None for x in xs):
            out.append((name, 0.0))
            continue
        out.append((name, abs(_spearman(xs, scores))))  # type: ignore[arg-type]
    return sorted(out, key=lambda kv: -kv[1])


def _ranks(xs: Sequence[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    rx, ry = _ranks(xs), _ranks(ys)
    n = len(rx)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx > 0 and vy > 0 else 0.0
