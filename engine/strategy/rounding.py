"""Hyperliquid tick/lot rules (protocol §7), applied in exact decimal arithmetic.

A price is valid when it is an integer, or when it has at most 5 significant figures AND at most
`MAX_DECIMALS - szDecimals` decimals (MAX_DECIMALS = 6 for perps, 8 for spot). Sizes have at most `szDecimals`
decimals. Orders must be worth at least $10 (perps) / 10 quote units (spot) at their limit price.

Why Decimal and not float: the venue rejects a price with one digit too many, and binary floats turn 0.1 into
0.1000000000000000055…; converting a float through `repr` (its shortest round-trip form) and then working in
Decimal means every output is exactly the string that will be signed. Rounding direction is chosen so that
rounding can only make a quote *less* aggressive: bids round down, asks round up, sizes round down.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
MAX_SIG_FIGS = 5
MIN_NOTIONAL = Decimal(10)

Direction = Literal["down", "up"]
Number = Decimal | float | int | str
# 10**-k for every decimal count a tick or lot can have: built once (Decimal(1).scaleb costs ~0.35 µs a call)
_INF = float("inf")
_QUANTUM = tuple(Decimal(1).scaleb(-k) for k in range(SPOT_MAX_DECIMALS + 1))


def to_decimal(x: Number) -> Decimal:
    """Exact decimal for an input; floats go through repr so 0.1 stays 0.1. Rejects NaN/inf by name."""
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, float):
        d = Decimal(repr(x))
    else:
        d = Decimal(x)
    if not d.is_finite():
        raise ValueError(f"price/size must be finite, got {x!r}")
    return d


def max_price_decimals(sz_decimals: int, is_spot: bool) -> int:
    if not 0 <= sz_decimals <= (SPOT_MAX_DECIMALS if is_spot else PERP_MAX_DECIMALS):
        raise ValueError(f"szDecimals out of range for {'spot' if is_spot else 'perp'}: {sz_decimals}")
    return (SPOT_MAX_DECIMALS if is_spot else PERP_MAX_DECIMALS) - sz_decimals


def _price_decimals_at(px: Decimal, max_decimals: int) -> int:
    """Decimals allowed for a price of this magnitude: 5 sig figs, capped by the venue maximum, never < 0
    (integers are always valid, so above 99,999 the tick is 1)."""
    # adjusted() is the exponent of the most significant digit: 1234.5 -> 3, 0.00123 -> -3
    return max(0, min(max_decimals, MAX_SIG_FIGS - 1 - px.adjusted()))


def price_tick(px: Number, sz_decimals: int, is_spot: bool) -> Decimal:
    """The price increment at this price level (it changes with magnitude)."""
    d = to_decimal(px)
    if d <= 0:
        raise ValueError(f"price must be > 0, got {px!r}")
    return _QUANTUM[_price_decimals_at(d, max_price_decimals(sz_decimals, is_spot))]


def round_price(px: Number, sz_decimals: int, is_spot: bool, direction: Direction) -> Decimal | None:
    """Nearest valid price in `direction` ("down" for bids, "up" for asks).

    Returns None when rounding down leaves nothing above zero (the caller drops that level rather than
    sending a zero price). Rounding up can only increase magnitude, and a coarser magnitude has a coarser
    allowed grid, so one quantize at the input's own magnitude always lands on a valid price.
    """
    if type(px) is float and 0.0 < px < _INF:  # the hot case (strategy floats), checks folded in
        d = Decimal(repr(px))
    else:
        d = to_decimal(px)
        if d <= 0:
            raise ValueError(f"price must be > 0, got {px!r}")
    decimals = max(0, min(max_price_decimals(sz_decimals, is_spot), MAX_SIG_FIGS - 1 - d.adjusted()))
    if direction == "down":
        out = d.quantize(_QUANTUM[decimals], rounding=ROUND_FLOOR)
        if out <= 0:
            return None
    else:  # rounding a positive number up stays positive
        out = d.quantize(_QUANTUM[decimals], rounding=ROUND_CEILING)
    return normalize(out)


def next_price_below(px: Number, sz_decimals: int, is_spot: bool) -> Decimal | None:
    """Largest valid price strictly below `px` (used to keep a post-only bid under the best ask)."""
    d = to_decimal(px)
    below = d - price_tick(d, sz_decimals, is_spot)
    if below <= 0:
        return None
    return round_price(below, sz_decimals, is_spot, "down")


def next_price_above(px: Number, sz_decimals: int, is_spot: bool) -> Decimal:
    """Smallest valid price strictly above `px` (keeps a post-only ask over the best bid)."""
    d = to_decimal(px)
    out = round_price(d + price_tick(d, sz_decimals, is_spot), sz_decimals, is_spot, "up")
    assert out is not None  # rounding up a positive number cannot reach zero
    return out


def is_valid_price(px: Number, sz_decimals: int, is_spot: bool) -> bool:
    d = to_decimal(px)
    if d <= 0:
        return False
    d = normalize(d)
    if d == d.to_integral_value():
        return True
    decimals = -d.as_tuple().exponent
    sig = len(d.as_tuple().digits)
    return decimals <= max_price_decimals(sz_decimals, is_spot) and sig <= MAX_SIG_FIGS


def round_size(sz: Number, sz_decimals: int) -> Decimal:
    """Floor to the lot: never send more than was decided."""
    d = to_decimal(sz)
    if d < 0:
        raise ValueError(f"size must be >= 0, got {sz!r}")
    quantum = _QUANTUM[sz_decimals] if 0 <= sz_decimals <= SPOT_MAX_DECIMALS else Decimal(1).scaleb(-sz_decimals)
    return normalize(d.quantize(quantum, rounding=ROUND_FLOOR))


def is_valid_size(sz: Number, sz_decimals: int) -> bool:
    d = normalize(to_decimal(sz))
    return d > 0 and max(0, -d.as_tuple().exponent) <= sz_decimals


def min_size_for_notional(px: Decimal, sz_decimals: int, min_notional: Decimal = MIN_NOTIONAL) -> Decimal:
    """Smallest lot-valid size whose notional at `px` is >= the venue minimum (ceil, so bumping never
    undershoots)."""
    if px <= 0:
        raise ValueError(f"price must be > 0, got {px}")
    return normalize((min_notional / px).quantize(Decimal(1).scaleb(-sz_decimals), rounding=ROUND_CEILING))


def meets_min_notional(px: Decimal, sz: Decimal, min_notional: Decimal = MIN_NOTIONAL) -> bool:
    return px * sz >= min_notional


def normalize(d: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent form for integers (Decimal('1E+2') -> 100)."""
    n = d.normalize()
    # exponent > 0 exactly when the scientific string has "E+" (str() is ~8x cheaper than as_tuple())
    if "E+" in str(n):
        n = n.quantize(Decimal(1))
    return n


def to_wire(d: Decimal) -> str:
    """The string that is signed and sent: plain notation, trailing zeros stripped (protocol §7)."""
    s = format(normalize(d), "f")
    return "0" if s in ("-0", "") else s
