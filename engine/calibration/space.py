"""The declared search space: which `[strategy]` keys a calibration may change, and within what bounds.

Each name is a `[strategy]` key of engine/config (so a trial is the config plus these overrides, checked by the
config model like a file's values). Bounds are deliberately inside the config's own ranges: they are what is
worth searching on liquid Hyperliquid books (the example's 24.5 bp spread is 100-250x the touch on BTC, ETH, SOL),
not what is legal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str          # the [strategy] key
    low: float
    high: float
    kind: str = "float"  # "float" | "int"
    log: bool = False    # searched (and its steps measured) on a log scale: spreads and sizes span decades
    why: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int"):
            raise ValueError(f"search space {self.name}: kind must be 'float' or 'int', got {self.kind!r}")
        if not self.low < self.high:
            raise ValueError(f"search space {self.name}: low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"search space {self.name}: a log dimension needs low > 0, got {self.low}")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def position(self, value: float) -> float:
        """Where `value` lies on the dimension's scale, 0 at `low` and 1 at `high` (may fall outside)."""
        if self.log:
            return (math.log(max(value, 1e-300)) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)


SPACE: tuple[Dimension, ...] = (
    Dimension("base_spread", 0.00001, 0.003, log=True, why="full spread floor, fraction of mid (0.1 bp .. 30 bp)"),
    # the ATR floor (half-spread >= atr_multiplier x ATR%) can hide base_spread entirely: searched with it
    Dimension("atr_multiplier", 0.0, 1.0, why="volatility floor of the half-spread"),
    Dimension("gamma", 0.001, 1.0, log=True, why="A-S risk aversion: inventory skew strength"),
    Dimension("horizon_bars", 0.0, 20.0, why="A-S horizon T - t in ATR bars"),
    Dimension("levels", 1, 5, kind="int", why="orders per side"),
    Dimension("level_spacing_bps", 0.5, 20.0, log=True, why="extra distance per level"),
    Dimension("requote_tolerance_bps", 0.0, 5.0, why="how far a resting order may drift before it is moved"),
    Dimension("order_size_usd", 20.0, 500.0, log=True, why="level-0 order notional"),
)


def by_name(space: tuple[Dimension, ...] = SPACE) -> dict[str, Dimension]:
    return {d.name: d for d in space}


def current_params(strategy: Any, space: tuple[Dimension, ...] = SPACE) -> dict[str, float]:
    """The searched keys' values in a `[strategy]` section (duck-typed: no config import here)."""
    return {d.name: (int if d.kind == "int" else float)(getattr(strategy, d.name)) for d in space}


def check_params(params: Mapping[str, Any], space: tuple[Dimension, ...] = SPACE) -> dict[str, float]:
    """`params` checked against the space: every key declared, every value a number within its bounds.
    Raises ValueError naming each bad key."""
    dims = by_name(space)
    problems = []
    out: dict[str, float] = {}
    for key, value in params.items():
        dim = dims.get(key)
        if dim is None:
            problems.append(f"{key}: not in the search space ({', '.join(dims)})")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{key}: needs a number, got {value!r}")
        elif dim.kind == "int" and value != int(value):
            problems.append(f"{key}: needs a whole number, got {value!r}")
        elif not dim.contains(value):
            problems.append(f"{key}: {value!r} outside [{dim.low}, {dim.high}]")
        else:
            out[key] = int(value) if dim.kind == "int" else float(value)
    if problems:
        raise ValueError("calibration params: " + "; ".join(problems))
    return out
