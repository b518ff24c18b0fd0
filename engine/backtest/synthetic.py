"""Seeded synthetic two-leg market for long replays (the benchmark's 30 days) and two-leg tests.

The shared real data has no aligned spot + perp L2 for the same hours, so long two-leg replays use this:
a perp mid following a Gaussian random walk (per-snapshot σ from `vol_bp`), a spot mid = perp mid × (1 + basis)
with a mean-reverting basis, 20-level books on a fixed tick with random sizes, one snapshot per leg every
`spacing_ms` (HL publishes ≈0.6 s), and hourly funding rows around the 0.00125 %/h baseline. Statistical
shape only — not calibrated for strategy research.
"""
from __future__ import annotations

import random
from typing import Iterator

import numpy as np

from engine.backtest.data import BookEvent
from engine.backtest.history import HOUR_MS, FundingRow


def synthetic_books(start_ms: int, duration_ms: int, seed: int = 0, mid0: float = 30.0, tick: float = 0.001,
                    spacing_ms: int = 600, vol_bp: float = 2.0, levels: int = 20,
                    spot: bool = True) -> tuple[Iterator[BookEvent], Iterator[BookEvent] | None]:
    """(perp books, spot books) iterators over the same time line; spot snapshots lag perp by spacing/2."""
    rng = np.random.default_rng(seed)
    n = duration_ms // spacing_ms
    steps = rng.normal(0.0, vol_bp * 1e-4, size=n)
    perp_mid = mid0 * np.exp(np.cumsum(steps))
    basis = np.empty(n)
    b = 0.0
    shocks = rng.normal(0.0, 0.5e-4, size=n)
    for i in range(n):  # AR(1) basis around −3 bp (the HYPE spot/perp median in the shared data)
        b = -3e-4 + 0.999 * (b + 3e-4) + shocks[i]
        basis[i] = b
    spot_mid = perp_mid * (1 + basis)
    steps_idx = np.arange(levels)[None, :]

    def gen(mids: np.ndarray, which: int, coin: str, lag: int) -> Iterator[BookEvent]:
        size_rng = np.random.default_rng([seed, which])  # per leg, drawn block by block: O(block) memory
        # prices as integer ticks, then one vectorised division per block: exact decimals like the wire's
        bid_ticks = np.floor(mids / tick - 0.5).astype(np.int64)
        ask_ticks = bid_ticks + 1 + (np.arange(n) % 3 == 0)
        scale = round(1 / tick)
        for lo in range(0, n, 4096):
            hi = min(n, lo + 4096)
            bid_px = (bid_ticks[lo:hi, None] - steps_idx) / scale
            ask_px = (ask_ticks[lo:hi, None] + steps_idx) / scale
            block = np.empty((hi - lo, 2, levels, 2))
            block[:, 0, :, 0] = bid_px
            block[:, 0, :, 1] = size_rng.gamma(2.0, 50.0, size=(hi - lo, levels))
            block[:, 1, :, 0] = ask_px
            block[:, 1, :, 1] = size_rng.gamma(2.0, 50.0, size=(hi - lo, levels))
            for j in range(hi - lo):
                yield BookEvent(start_ms + (lo + j) * spacing_ms + lag, coin, block[j, 0], block[j, 1])

    perp = gen(perp_mid, 0, "HYPE", 0)
    spot_it = gen(spot_mid, 1, "@107", spacing_ms // 2) if spot else None
    return perp, spot_it


def synthetic_funding(start_ms: int, duration_ms: int, seed: int = 0, base: float = 0.0000125,
                      p_switch: float = 0.02) -> list[FundingRow]:
    """Hourly funding rows: the 0.00125 %/h baseline most hours, occasional positive / negative spells."""
    rng = random.Random(seed)
    rows = []
    t = (start_ms // HOUR_MS + 1) * HOUR_MS
    from decimal import Decimal

    level = base
    while t <= start_ms + duration_ms:
        if rng.random() < p_switch:
            level = rng.choice([0.0000125, 0.00003, -0.00001, 0.00006])
        rate = level + rng.gauss(0.0, 0.000003)
        rows.append(FundingRow(t, "HYPE", Decimal(f"{rate:.10f}"), 1))
        t += HOUR_MS
    return rows
