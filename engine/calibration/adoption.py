"""Guarded adoption: new parameters go live only when they beat the current ones out of sample by a margin, and
no parameter moves further in one step than the guard allows. Otherwise nothing changes, and the reasons say why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from engine.calibration.space import SPACE, Dimension, by_name


@dataclass(frozen=True, slots=True)
class Guard:
    margin_usd: float = 0.5         # the candidate's out-of-sample score must beat the current one by this
    max_step_fraction: float = 0.5  # per parameter, at most this share of its search range (log range if log)

    def __post_init__(self) -> None:
        if self.margin_usd < 0:
            raise ValueError(f"margin_usd: must be >= 0, got {self.margin_usd}")
        if not 0 < self.max_step_fraction <= 1:
            raise ValueError(f"max_step_fraction: must be in (0, 1], got {self.max_step_fraction}")


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    current: float
    candidate: float
    fraction: float   # |move| as a share of the dimension's range
    ok: bool


@dataclass(frozen=True, slots=True)
class Decision:
    adopt: bool
    reasons: tuple[str, ...]
    steps: tuple[Step, ...] = field(default=())
    improvement_usd: float | None = None

    @property
    def summary(self) -> str:
        return ("adopt: " if self.adopt else "keep the current params: ") + "; ".join(self.reasons)


def steps(current: Mapping[str, float], candidate: Mapping[str, float], guard: Guard,
          space: tuple[Dimension, ...] = SPACE) -> tuple[Step, ...]:
    dims = by_name(space)
    out = []
    for name, new in candidate.items():
        dim = dims[name]
        old = current[name]
        frac = abs(dim.position(new) - dim.position(old))
        out.append(Step(name, old, new, frac, frac <= guard.max_step_fraction + 1e-12))
    return tuple(out)


def decide(current: Mapping[str, float], candidate: Mapping[str, float] | None, current_oos: float | None,
           candidate_oos: float | None, guard: Guard, space: tuple[Dimension, ...] = SPACE) -> Decision:
    """Adopt `candidate` only if its out-of-sample score beats `current_oos` by `guard.margin_usd` and every
    parameter's step is within `guard.max_step_fraction`; else keep the current params and say why."""
    if candidate is None or candidate_oos is None:
        return Decision(False, ("no candidate finished its trials",))
    if current_oos is None:
        return Decision(False, ("the current params have no out-of-sample result to compare with",))
    st = steps(current, candidate, guard, space)
    gain = candidate_oos - current_oos
    reasons = []
    if gain < guard.margin_usd:
        reasons.append(f"out of sample the candidate scores {candidate_oos:+.4f} vs {current_oos:+.4f} now: "
                       f"{gain:+.4f} USD, below the {guard.margin_usd:.4f} USD margin")
    too_far = [s for s in st if not s.ok]
    if too_far:
        reasons.append("steps beyond the guard's " + f"{guard.max_step_fraction:.0%} of range: " + ", ".join(
            f"{s.name} {s.current:g} -> {s.candidate:g} ({s.fraction:.0%})" for s in too_far))
    if reasons:
        return Decision(False, tuple(reasons), st, gain)
    if all(s.current == s.candidate for s in st):
        return Decision(False, ("the candidate is the current params",), st, gain)
    return Decision(True, (f"out of sample {candidate_oos:+.4f} vs {current_oos:+.4f} now (+{gain:.4f} USD >= "
                           f"{guard.margin_usd:.4f} margin); every step within {guard.max_step_fraction:.0%} "
                           "of its range",), st, gain)
