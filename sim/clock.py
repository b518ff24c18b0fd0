"""Simulated clock of the local venue.

The venue never reads wall time directly: everything (nonce windows, funding hours, scheduled
cancels, fill timestamps) goes through one `SimClock`, so a backtest can freeze it (speed 0) and
step it, while a live-like server lets it run at `speed` x wall time.
"""
from __future__ import annotations

import time


class SimClock:
    def __init__(self, start_ms: int | None = None, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, got {speed}")
        self._base_ms = float(start_ms if start_ms is not None else time.time() * 1000.0)
        self._base_wall = time.monotonic()
        self._speed = float(speed)

    def now_ms(self) -> int:
        if self._speed == 0.0:
            return int(self._base_ms)
        return int(self._base_ms + (time.monotonic() - self._base_wall) * 1000.0 * self._speed)

    def _rebase(self) -> None:
        # fold the elapsed simulated time into the base so speed changes never jump the clock
        self._base_ms = float(self.now_ms())
        self._base_wall = time.monotonic()

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"advance_ms must be >= 0 (the clock never goes back), got {ms}")
        self._rebase()
        self._base_ms += ms

    def set_speed(self, x: float) -> None:
        if x < 0:
            raise ValueError(f"clock speed must be >= 0, got {x}")
        self._rebase()
        self._speed = float(x)

    @property
    def speed(self) -> float:
        return self._speed
