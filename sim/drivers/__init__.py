"""Pluggable market-data drivers: they make the venue's books move.

`make_driver("synthetic[:takers=RATE]" | "none" | "replay:PATH[,PATH...]" | "mirror:URL", venue=, clock=, seed=)`
returns an object with `async run()`, `wake()` (the clock jumped: catch up now) and `close()`. RATE is the
synthetic market's background taker intensity: system taker trades per market per simulated second
(`hlmm sim --taker-intensity`; the spec string is how the option reaches the driver through the server).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("sim.drivers")


class Driver:
    """Base: a loop that runs `step()` whenever the simulated clock passed the next step time."""

    step_ms = 1000

    def __init__(self, venue: Any, clock: Any):
        self.venue = venue
        self.clock = clock
        self._wake = asyncio.Event()
        self._closed = False

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def resync(self) -> None:
        """The venue state was replaced (restore): re-read which system orders rest."""

    def real_sleep_s(self) -> float:
        """Real seconds until the next step at the clock's current speed (frozen clock: poll slowly)."""
        speed = getattr(self.clock, "speed", None)
        speed = speed() if callable(speed) else speed
        if not speed:
            return 1.0
        return max(0.01, min(1.0, self.step_ms / 1000.0 / float(speed)))

    def poll(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def run(self) -> None:
        while not self._closed:
            try:
                self.poll()
            except Exception:
                log.exception("%s step failed", type(self).__name__)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.real_sleep_s())
            except asyncio.TimeoutError:
                pass


def make_driver(spec: str, *, venue: Any, clock: Any, seed: int = 0) -> Driver | None:
    if spec == "none":
        return None
    kind, _, arg = spec.partition(":")
    if kind == "synthetic":
        from sim.drivers.synthetic import SyntheticDriver, parse_takers
        return SyntheticDriver(venue, clock, seed=seed, taker_rate=parse_takers(arg))
    if kind == "replay" and arg:
        from sim.drivers.replay import ReplayDriver
        return ReplayDriver(venue, clock, paths=arg.split(","))
    if kind == "mirror" and arg:
        from sim.drivers.mirror import MirrorDriver
        return MirrorDriver(venue, clock, url=arg)
    raise ValueError(f"market must be synthetic[:takers=RATE], none, replay:PATH or mirror:URL, got {spec!r}")
