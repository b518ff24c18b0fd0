"""Swappable latency models for L2 replays: how long an order takes to reach the venue, and a snapshot us."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class LatencyModel(Protocol):
    def entry_ms(self) -> int:
        """Delay from our decision to the order (or cancel) being live at the venue."""

    def market_data_ms(self) -> int:
        """Delay from the exchange timestamp of a snapshot to our seeing it."""


@dataclass(frozen=True)
class ConstantLatency:
    entry: int = 50
    market_data: int = 0

    def __post_init__(self) -> None:
        if self.entry < 0 or self.market_data < 0:
            raise ValueError("latencies must be >= 0 ms")

    def entry_ms(self) -> int:
        return self.entry

    def market_data_ms(self) -> int:
        return self.market_data


class LogNormalLatency:
    """Seeded log-normal delays (heavy right tail, like real order round trips); medians in ms."""

    def __init__(self, entry_median: float = 50.0, md_median: float = 5.0, sigma: float = 0.5, seed: int = 0):
        if entry_median <= 0 or md_median <= 0 or sigma < 0:
            raise ValueError("latency medians must be > 0 ms and sigma >= 0")
        self.rng = random.Random(seed)
        self.entry_median, self.md_median, self.sigma = entry_median, md_median, sigma

    def entry_ms(self) -> int:
        return int(round(self.entry_median * self.rng.lognormvariate(0.0, self.sigma)))

    def market_data_ms(self) -> int:
        return int(round(self.md_median * self.rng.lognormvariate(0.0, self.sigma)))
