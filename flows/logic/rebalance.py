"""Rebalance plan for the funding carry (pure): where the USDC should sit and what each leg must trade.

Target state for a carry of notional N on one coin (long spot, short perp, same size):
- spot base quantity  Q = N / spot_px, floored to the spot lot; perp szi = −Q rounded to the perp lot;
- of all USDC (spot USDC + perp account value, after the leg trades at their reference prices), the fraction
  ``spot_usdc_fraction`` sits on spot, the rest backs the perp margin.

Leg trades are Ioc limits bounded by ``max_slippage_bps`` from the reference price (buys floored, sells
ceiled to the tick so rounding never widens the bound). A leg whose notional is below the venue minimum
($10) is skipped. The USDC transfer is sequenced so each step is fundable: when USDC moves to spot it goes
first (the spot buy needs it), when it moves to perp it goes last (after the spot sale freed it).
"""
from __future__ import annotations

import dataclasses
from decimal import ROUND_DOWN, Decimal

from engine.strategy.rounding import MIN_NOTIONAL, round_price, round_size, to_wire
from engine.numbers import dec, positive

CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class CarryState:
    spot_usdc: Decimal          # spot USDC balance (total)
    spot_base: Decimal          # spot base-token balance (e.g. HYPE)
    perp_account_value: Decimal
    perp_szi: Decimal           # signed perp position (short carry < 0)
    spot_px: Decimal            # reference price of the spot pair (mid)
    perp_px: Decimal            # reference price of the perp (mid/mark)


@dataclasses.dataclass(frozen=True)
class LegTrade:
    leg: str                    # "spot" | "perp"
    coin: str                   # venue coin name ("@1", "HYPE")
    is_buy: bool
    size: Decimal
    limit_px: Decimal           # Ioc limit: reference ± bounded slippage, on the tick
    reference_px: Decimal

    @property
    def notional(self) -> Decimal:
        return self.size * self.reference_px

    def describe(self) -> str:
        bound = "≤" if self.is_buy else "≥"
        return (f"{self.leg} {'BUY' if self.is_buy else 'SELL'} {to_wire(self.size)} {self.coin} "
                f"Ioc @ {bound}{to_wire(self.limit_px)} (ref {to_wire(self.reference_px)})")


@dataclasses.dataclass(frozen=True)
class Transfer:
    amount: Decimal             # USDC, > 0, cents
    to_perp: bool               # usdClassTransfer.toPerp

    def describe(self) -> str:
        return f"transfer {to_wire(self.amount)} USDC {'spot → perp' if self.to_perp else 'perp → spot'}"


@dataclasses.dataclass(frozen=True)
class RebalancePlan:
    target_spot_base: Decimal
    target_perp_szi: Decimal
    transfer: Transfer | None
    transfer_first: bool        # True: transfer before the trades (USDC moving to spot)
    trades: tuple[LegTrade, ...]
    skipped: tuple[str, ...]    # why a leg or transfer was left out
    spot_usdc_after: Decimal    # projected at reference prices
    perp_usdc_after: Decimal

    @property
    def is_noop(self) -> bool:
        return self.transfer is None and not self.trades

    def steps(self) -> list[str]:
        t = [self.transfer.describe()] if self.transfer else []
        legs = [x.describe() for x in self.trades]
        return t + legs if self.transfer_first else legs + t


def plan_rebalance(state: CarryState, target_carry_notional, spot_usdc_fraction, *, spot_coin: str,
                   perp_coin: str, spot_sz_decimals: int, perp_sz_decimals: int, max_slippage_bps=50,
                   min_transfer_usdc=Decimal(1), min_perp_margin_fraction=Decimal("0.2")) -> RebalancePlan:
    """See the module docstring. Raises ValueError naming the parameter for bad input or an unfundable plan."""
    n = dec(target_carry_notional, "target_carry_notional")
    if n < 0:
        raise ValueError(f"target_carry_notional: must be >= 0, got {target_carry_notional!r}")
    frac = dec(spot_usdc_fraction, "spot_usdc_fraction")
    if not (0 <= frac <= 1):
        raise ValueError(f"spot_usdc_fraction: must be in [0, 1], got {spot_usdc_fraction!r}")
    slip = dec(max_slippage_bps, "max_slippage_bps")
    if not (0 < slip <= 500):
        raise ValueError(f"max_slippage_bps: must be in (0, 500], got {max_slippage_bps!r}")
    spot_px = positive(state.spot_px, "spot_px")
    perp_px = positive(state.perp_px, "perp_px")
    for name in ("spot_usdc", "spot_base", "perp_account_value"):
        if getattr(state, name) < 0:
            raise ValueError(f"{name}: negative balance {getattr(state, name)}")

    target_q = round_size(n / spot_px, spot_sz_decimals)
    target_szi = -round_size(target_q, perp_sz_decimals)
    skipped: list[str] = []
    trades: list[LegTrade] = []
    bound = slip / Decimal(10_000)

    def leg(name: str, coin: str, delta: Decimal, px: Decimal, sz_dec: int, is_spot: bool) -> Decimal:
        size = round_size(abs(delta), sz_dec)
        if size == 0 or size * px < MIN_NOTIONAL:
            if delta != 0:
                skipped.append(f"{name}: change {to_wire(delta)} {coin} is below the $10 minimum notional")
            return ZERO
        is_buy = delta > 0
        raw = px * (1 + bound) if is_buy else px * (1 - bound)
        limit = round_price(raw, sz_dec, is_spot, "down" if is_buy else "up")
        if limit is None:
            raise ValueError(f"{name}: price {px} too small for a limit price")
        trades.append(LegTrade(name, coin, is_buy, size, limit, px))
        return size if is_buy else -size

    spot_done = leg("spot", spot_coin, target_q - state.spot_base, spot_px, spot_sz_decimals, True)
    leg("perp", perp_coin, target_szi - state.perp_szi, perp_px, perp_sz_decimals, False)

    spot_usdc_after_trades = state.spot_usdc - spot_done * spot_px
    total = spot_usdc_after_trades + state.perp_account_value
    want_spot = (total * frac).quantize(CENT, rounding=ROUND_DOWN)
    move = want_spot - spot_usdc_after_trades            # > 0: perp → spot
    amount = abs(move).quantize(CENT, rounding=ROUND_DOWN)
    transfer = None
    if amount >= dec(min_transfer_usdc, "min_transfer_usdc"):
        transfer = Transfer(amount, to_perp=move < 0)
    elif amount > 0:
        skipped.append(f"transfer: {to_wire(amount)} USDC is below the minimum transfer {min_transfer_usdc}")
    signed = ZERO if transfer is None else (amount if not transfer.to_perp else -amount)
    spot_after = spot_usdc_after_trades + signed
    perp_after = state.perp_account_value - signed
    transfer_first = transfer is not None and not transfer.to_perp

    # fundability at the Ioc limit (worst case), not just at the reference price
    spot_buy = next((t for t in trades if t.leg == "spot" and t.is_buy), None)
    if spot_buy is not None:
        available = state.spot_usdc + (signed if transfer_first else ZERO)
        if spot_buy.size * spot_buy.limit_px > available:
            raise ValueError(f"spot_usdc_fraction: spot buy of {to_wire(spot_buy.size)} needs up to "
                             f"{spot_buy.size * spot_buy.limit_px:.2f} USDC on spot, only {available:.2f} there; "
                             "raise spot_usdc_fraction or lower target_carry_notional")
    need_margin = abs(target_szi) * perp_px * dec(min_perp_margin_fraction, "min_perp_margin_fraction")
    if perp_after < need_margin:
        raise ValueError(f"spot_usdc_fraction: leaves {perp_after:.2f} USDC on perp, below the "
                         f"{need_margin:.2f} margin a {to_wire(abs(target_szi))} short needs; lower spot_usdc_fraction")
    return RebalancePlan(target_q, target_szi, transfer, transfer_first, tuple(trades), tuple(skipped),
                         spot_after, perp_after)
