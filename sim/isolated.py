"""Isolated margin (protocol notes §7; GitBook trading/margining and liquidations).

`updateLeverage` with `isCross: false` makes the asset isolated for the user. A fill that opens or grows an
isolated position moves `size x price / leverage` from the cross USDC into the position's own margin
(`Position.iso`); a fill that reduces it gives the same share of that margin back (the closed PnL goes to the
cross USDC, as for any fill). Funding of an isolated position is paid from its margin. The position's equity is
`iso + unrealized PnL`: it is liquidated on its own when that falls below its maintenance margin, and a loss
never reaches the cross account beyond the margin set aside. `updateIsolatedMargin` adds or removes margin.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from .accounts import ZERO, Position, User
from .core import Core
from .markets import Market
from .replies import BadRequest, is_int, ok, refuse

USDC_MICRO = Decimal("0.000001")  # margin moves in whole micro-USDC, like the venue's integer ntli
NO_POSITION = "No open isolated position on this asset."
ADD_TOO_MUCH = "Insufficient margin to add to the isolated position."
REMOVE_TOO_MUCH = ("Cannot remove that much isolated margin: what stays must cover the initial margin and 10% of "
                   "the position value.")


def on_fill(u: User, pos: Position, lev: int, start: Decimal, sz: Decimal, px: Decimal, is_buy: bool) -> None:
    """Move margin between the cross USDC and an isolated position after a fill (apply_perp_fill has run)."""
    iso = pos.iso or ZERO
    held = abs(start)
    closed = min(sz, held) if start and (start > 0) != is_buy else ZERO
    if closed:
        back = iso if closed == held else (iso * closed / held).quantize(USDC_MICRO, ROUND_DOWN)
        iso -= back
        u.perp_usdc += back
    opened = sz - closed
    if opened:
        add = (opened * px / lev).quantize(USDC_MICRO, ROUND_CEILING)
        u.perp_usdc -= add
        iso += add
    if pos.szi:
        pos.iso = iso
    else:
        pos.iso = None
        u.perp_usdc += iso  # nothing is left in it after a full close, save rounding crumbs


def equity(pos: Position, mark: Decimal) -> Decimal:
    return pos.iso + pos.szi * mark - pos.cost


def maintenance(pos: Position, m: Market, mark: Decimal) -> Decimal:
    return abs(pos.szi) * mark / (2 * m.max_leverage)


def liquidation_px(pos: Position, m: Market) -> Decimal | None:
    """Mark at which iso + szi x P - cost = |szi| x P / (2 x maxLeverage)."""
    denom = pos.szi - abs(pos.szi) / (2 * m.max_leverage)
    if not denom:
        return None
    px = (pos.cost - pos.iso) / denom
    return px if px > 0 else None


def underwater(core: Core, u: User) -> list[str]:
    """Coins of the user's isolated positions whose equity is below their maintenance margin."""
    marks = core.marks()
    return [c for c, p in u.positions.items() if p.szi and p.iso is not None
            and equity(p, marks[c]) < maintenance(p, core.u.by_coin[c], marks[c])]


def update_isolated_margin(core: Core, u: User, action: dict, now: int, opts) -> dict:
    asset, ntli = action.get("asset"), action.get("ntli")
    if not is_int(asset) or not is_int(ntli) or not isinstance(action.get("isBuy"), bool):
        raise BadRequest("updateIsolatedMargin")
    m = core.u.by_asset.get(asset)
    if m is None or m.is_spot:
        return refuse(f"Unknown asset. asset={asset}")
    pos = u.positions.get(m.coin)
    if pos is None or not pos.szi or pos.iso is None:
        return refuse(NO_POSITION)
    amount = Decimal(ntli).scaleb(-6)
    marks = core.marks()
    if amount > 0:
        if u.free_margin(core.u.by_coin, core.u.by_asset, marks) < amount:
            return refuse(ADD_TOO_MUCH)
    elif amount < 0:
        mark = marks[m.coin]
        value = abs(pos.szi) * mark
        keep = max(value / u.lev(m), value / 10)
        if equity(pos, mark) + amount < keep:
            return refuse(REMOVE_TOO_MUCH)
    u.perp_usdc -= amount
    pos.iso += amount
    return ok("default")


def leverage_fits(u: User, m: Market, lev: int, marks: dict) -> bool:
    """A new leverage on an open isolated position: its equity must still cover the initial margin."""
    pos = u.positions.get(m.coin)
    if pos is None or not pos.szi or pos.iso is None:
        return True
    mark = marks[m.coin]
    return equity(pos, mark) >= abs(pos.szi) * mark / lev
