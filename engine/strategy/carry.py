"""Funding carry sizing: how much long spot / short perp to hold, from trailing funding.

While perp funding is positive, longs pay shorts every hour; holding long spot and an equal short perp is
delta neutral and collects it. The decision uses a trailing mean (e.g. 7 days of the venue's fundingHistory,
read by execution/carry.py) so one spiky hour does not open a position, and two thresholds (enter at `entry_funding`, leave below
`exit_funding` < entry) so a rate hovering around one threshold does not churn the position (hysteresis).
Spot quantity always equals −perp quantity, rounded to the coarser lot of the two legs.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.strategy.rounding import round_size


@dataclass(frozen=True, slots=True)
class CarryParams:
    target_notional: float  # USD per leg at full size
    entry_funding: float  # trailing-mean hourly rate at/above which an inactive carry starts
    exit_funding: float  # trailing-mean hourly rate below which an active carry is unwound
    full_funding: float | None = None  # rate at which size reaches target (linear from exit); None = all-in
    rebalance_band: float = 0.1  # keep the current qty while the new one is within this fraction of it

    def __post_init__(self) -> None:
        if self.target_notional < 0:
            raise ValueError(f"CarryParams.target_notional must be >= 0, got {self.target_notional}")
        if not self.exit_funding < self.entry_funding:
            raise ValueError(f"CarryParams: exit_funding ({self.exit_funding}) must be below entry_funding "
                             f"({self.entry_funding}) for hysteresis")
        if self.full_funding is not None and not self.full_funding >= self.entry_funding:
            raise ValueError(f"CarryParams.full_funding ({self.full_funding}) must be >= entry_funding")
        if not 0 <= self.rebalance_band < 1:
            raise ValueError(f"CarryParams.rebalance_band must be in [0, 1), got {self.rebalance_band}")

    @classmethod
    def from_config(cls, carry: object, **overrides: object) -> "CarryParams":
        """From the `[carry]` config section (duck-typed)."""
        values = dict(target_notional=carry.target_notional_usd, entry_funding=carry.entry_threshold,
                      exit_funding=carry.exit_threshold)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class CarryTarget:
    spot_qty: Decimal  # >= 0 (long spot)
    perp_qty: Decimal  # <= 0 (short perp), always == -spot_qty
    active: bool
    strength: float  # 0..1 share of target_notional wanted (feeds the quoting carry bias)
    reason: str

    @classmethod
    def flat(cls, reason: str = "no carry") -> "CarryTarget":
        return cls(Decimal(0), Decimal(0), False, 0.0, reason)


def carry_wanted(funding_mean, active: bool, entry, exit_) -> bool:
    """The carry's hysteresis, the one rule both the engine and `hlmm backtest carry` follow: an inactive carry
    opens once the trailing mean reaches `entry`; an active one stays open until the mean falls below `exit_`.
    Works on floats and Decimals alike (the carry backtest keeps exact sums)."""
    return not funding_mean < exit_ if active else funding_mean >= entry


def carry_target(funding_mean: float | None, params: CarryParams, current: CarryTarget | None, mid: float,
                 sz_decimals: int) -> CarryTarget:
    """Next carry target. `current` is the previous decision (its `active` flag carries the hysteresis);
    `sz_decimals` is the smaller of the spot and perp lot decimals so both legs can hold the same size."""
    cur = current or CarryTarget.flat()
    if funding_mean is None:
        # no trustworthy funding history: never open on it, never dump an existing position on it either
        return CarryTarget(cur.spot_qty, cur.perp_qty, cur.active, cur.strength,
                           "funding mean unavailable: holding")
    if not carry_wanted(funding_mean, cur.active, params.entry_funding, params.exit_funding):
        if not cur.active:
            return CarryTarget.flat(f"funding {funding_mean:.3g} below entry {params.entry_funding:.3g}")
        return CarryTarget.flat(f"funding {funding_mean:.3g} below exit {params.exit_funding:.3g}: unwind")
    if mid <= 0:
        raise ValueError(f"carry_target: mid must be > 0, got {mid}")

    # decimal arithmetic: 0.00003 − 0.00001 over 0.00004 must be exactly one half, or a lot is lost to floor
    if params.full_funding is None:
        share = Decimal(1)
    else:
        exit_ = _dec(params.exit_funding)
        share = max(Decimal(0), min(Decimal(1), (_dec(funding_mean) - exit_) / (_dec(params.full_funding) - exit_)))
    strength = float(share)
    qty = round_size(_dec(params.target_notional) * share / _dec(mid), sz_decimals)
    if qty <= 0:
        return CarryTarget.flat("target size rounds to zero")
    if cur.active and cur.spot_qty > 0 and abs(qty - cur.spot_qty) <= _dec(params.rebalance_band) * cur.spot_qty:
        return CarryTarget(cur.spot_qty, cur.perp_qty, True, strength, "within rebalance band: holding size")
    verb = "resize" if cur.active else "enter"
    return CarryTarget(qty, -qty, True, strength, f"{verb}: funding {funding_mean:.3g}, strength {strength:.2f}")


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))
