"""The chaos schedule: which fault happens when, drawn from a seed (pure: same settings, same plan).

A run keeps a background of server errors (5xx, some applied before the error: ambiguous) and 429s on the
whole time, drops the engine's WebSocket every 60–120 s (redrawn every few minutes), adds latency bursts of up
to 6 s, SIGKILLs the engine and restarts it once its quotes are gone, and engages then releases the kill
switch from the command line. Times are seconds from the start of the run.
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class ChaosSettings:
    minutes: float = 60.0
    seed: int = 0
    http_5xx_p: float = 0.05
    http_429_p: float = 0.01
    ws_drop_every_s: tuple[float, float] = (60.0, 120.0)
    bursts_per_hour: float = 24.0          # latency bursts
    burst_ms: tuple[int, int] = (1_500, 6_000)
    burst_s: tuple[float, float] = (5.0, 15.0)
    sigkills_per_hour: float = 2.0
    warmup_s: float = 20.0                 # faults start after the engine has quoted once
    quiet_end_s: float = 20.0              # the last seconds run without faults, so the stop is a clean one

    def __post_init__(self) -> None:
        checks = {
            "minutes": self.minutes > 0, "http_5xx_p": 0 <= self.http_5xx_p <= 1,
            "http_429_p": 0 <= self.http_429_p <= 1,
            "ws_drop_every_s": 0 < self.ws_drop_every_s[0] <= self.ws_drop_every_s[1],
            "bursts_per_hour": self.bursts_per_hour >= 0, "burst_ms": 0 <= self.burst_ms[0] <= self.burst_ms[1],
            "burst_s": 0 < self.burst_s[0] <= self.burst_s[1], "sigkills_per_hour": self.sigkills_per_hour >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"ChaosSettings: invalid {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")


@dataclass(frozen=True)
class Step:
    at_s: float
    kind: str  # "faults" (a PATCH of the venue's fault settings) | "sigkill" | "kill_switch" | "resume"
    faults: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        if self.kind == "faults":
            return ", ".join(f"{k}={v}" for k, v in self.faults)
        return self.kind


def _count(rate_per_hour: float, seconds: float, rng: random.Random) -> int:
    """Events in `seconds` at `rate_per_hour`: the whole part, plus one more with the fraction's chance."""
    expected = rate_per_hour * seconds / 3600
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def make_plan(s: ChaosSettings) -> list[Step]:
    rng = random.Random(s.seed)
    total = s.minutes * 60
    begin, end = s.warmup_s, max(s.warmup_s, total - s.quiet_end_s)
    span = end - begin
    steps = [Step(begin, "faults", (("http_5xx_p", s.http_5xx_p), ("http_429_p", s.http_429_p),
                                    ("ws_drop_every_s", round(rng.uniform(*s.ws_drop_every_s), 1))))]
    t = begin + 300
    while t < end:  # a new drop period every five minutes restarts the drop timer at a new rhythm
        steps.append(Step(t, "faults", (("ws_drop_every_s", round(rng.uniform(*s.ws_drop_every_s), 1)),)))
        t += 300
    # a short run still sees each kind of fault once
    bursts = max(_count(s.bursts_per_hour, span, rng), 1 if s.bursts_per_hour and span >= 30 else 0)
    for _ in range(bursts):
        at = rng.uniform(begin, end)
        length = rng.uniform(*s.burst_s)
        steps.append(Step(at, "faults", (("latency_ms", rng.randint(*s.burst_ms)),)))
        steps.append(Step(min(at + length, end), "faults", (("latency_ms", 0),)))
    kills = max(_count(s.sigkills_per_hour, span, rng), 1 if s.sigkills_per_hour and span >= 40 else 0)
    for i in range(kills):  # spread out: one in each equal slice of the run
        lo = begin + span * i / kills
        steps.append(Step(rng.uniform(lo, lo + span / kills * 0.6), "sigkill"))
    if span > 60:  # the kill switch engaged and released once, away from the kills' restarts
        at = rng.uniform(begin, end - 30)
        steps.append(Step(at, "kill_switch"))
        steps.append(Step(at + 20, "resume"))
    steps.append(Step(end, "faults", (("http_5xx_p", 0.0), ("http_429_p", 0.0), ("ws_drop_every_s", 0.0),
                                      ("latency_ms", 0))))
    steps.sort(key=lambda st: (st.at_s, st.kind))
    return steps
