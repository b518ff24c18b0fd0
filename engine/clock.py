"""The clock seam: every time-dependent decision takes a `Clock`, never reads the system clock itself.

Live trading passes `WallClock`; backtests and tests pass `SimulatedClock` (or the venue's own `SimClock`, which
has the same `now_ms` shape). Because strategy, risk and market state only ever ask `clock.now_ms()` — or are
handed `now_ms` explicitly — the same code produces the same decisions in a replay as it did live.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current time in integer UTC milliseconds (the venue's wire unit)."""

    def now_ms(self) -> int: ...


def ms_to_datetime(ms: int) -> datetime:
    """UTC-aware datetime for a wire timestamp (the house rule: times are tz-aware in Python)."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class WallClock:
    """Real time. Integer ns arithmetic avoids the float rounding of `time.time() * 1000`."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now(self) -> datetime:
        return ms_to_datetime(self.now_ms())


class SimulatedClock:
    """Manually driven time for backtests and tests: it moves only when told to, and never backwards.

    Refusing to go backwards matters: staleness checks and TTL caches assume monotonic time, and a replay
    that rewinds would silently make stale data look fresh.
    """

    __slots__ = ("_now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        if not isinstance(start_ms, int) or start_ms < 0:
            raise ValueError(f"start_ms must be a non-negative int of milliseconds, got {start_ms!r}")
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def now(self) -> datetime:
        return ms_to_datetime(self._now_ms)

    def set(self, ms: int) -> None:
        """Jump to an absolute time (e.g. the timestamp of the next replayed event)."""
        if ms < self._now_ms:
            raise ValueError(f"SimulatedClock cannot go backwards: now={self._now_ms} ms, requested {ms} ms")
        self._now_ms = int(ms)

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"SimulatedClock.advance needs ms >= 0, got {ms}")
        self._now_ms += int(ms)
