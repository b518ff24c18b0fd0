"""`hlmm bench` harness: named figures, each measured with a reference in the same run.

A room adds figures by writing `engine/bench/<room>.py` with functions decorated by
`@figure(...)`. Each function returns a list of `Result`s (one benchmark may yield several
figures, e.g. p50 and p99 from one sample). The module list below is the registry; a module
that is missing or fails to import is reported, never silently skipped.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

# modules that define figures; each room appends its own
BENCH_MODULES = [
    "engine.bench.signing",
    "engine.bench.feed",
    "engine.bench.venue",
    "engine.bench.engine",
    "engine.bench.backtest",
    "engine.bench.strategy",
    "engine.bench.matching",
    "engine.bench.scale_out",
    "engine.bench.calibration",
]


@dataclasses.dataclass(frozen=True)
class Result:
    name: str
    value: float
    unit: str
    reference: str | None = None  # what the figure is compared against in the same run
    reference_value: float | None = None
    goal: str | None = None  # the goal, printed beside the figure (never asserted)

    @property
    def ratio(self) -> float | None:
        """reference_value / value: > 1 means we beat the reference (for lower-is-better units)."""
        if self.reference_value is None or not self.value:
            return None
        return self.reference_value / self.value

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "reference": self.reference,
            "reference_value": self.reference_value,
            "ratio": self.ratio,
            "goal": self.goal,
        }


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One measurement run; `names` are the figure names it yields (for --only)."""
    key: str
    names: tuple[str, ...]
    run: Callable[[], list[Result]]


_REGISTRY: dict[str, Benchmark] = {}


def figure(key: str, names: tuple[str, ...]):
    """Register a benchmark function under `key` yielding the figures `names`."""
    def deco(fn: Callable[[], list[Result]]):
        _REGISTRY[key] = Benchmark(key=key, names=tuple(names), run=fn)
        return fn
    return deco


def load_all() -> tuple[dict[str, Benchmark], dict[str, str]]:
    """Import every bench module; return the registry and {module: error} for those that failed."""
    errors: dict[str, str] = {}
    for mod in BENCH_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                errors[mod] = "not built yet"
            else:
                errors[mod] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # report, never hide
            errors[mod] = f"{type(exc).__name__}: {exc}"
    return dict(_REGISTRY), errors


def select(registry: dict[str, Benchmark], only: list[str] | None) -> list[Benchmark]:
    """Benchmarks whose key or any figure name is in `only` (all when `only` is empty)."""
    if not only:
        return list(registry.values())
    wanted = set(only)
    chosen = [b for b in registry.values() if b.key in wanted or wanted.intersection(b.names)]
    known = set(registry) | {n for b in registry.values() for n in b.names}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"unknown benchmark name(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return chosen
