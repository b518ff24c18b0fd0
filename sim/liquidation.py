"""Liquidation, simplified: a cross account whose value falls below the maintenance margin of its cross positions
(half the initial margin at max leverage, valued at mark) has every open perp order cancelled
(`liquidatedCanceled`) and every cross position transferred at the mark price to the venue's backstop account
(LIQUIDATOR), which also absorbs any negative balance left (bad debt). An isolated position is liquidated on its
own when its equity (margin + PnL) falls below its maintenance margin: its orders are cancelled, it goes to the
backstop at mark, what is left of its margin returns to the cross USDC and a deficit is the backstop's — never
the cross account's. No fee is charged. Checked by `tick()` and after every oracle change.
"""
from __future__ import annotations

from . import isolated
from .accounts import ZERO, User, apply_perp_fill, fill_dir
from .core import Core
from .numbers import dec_str


def check_all(core: Core, now: int) -> list[str]:
    marks = core.marks()
    hit = []
    for u in list(core.users.values()):
        if u.system or not any(p.szi for p in u.positions.values()):
            continue
        for coin in isolated.underwater(core, u):
            liquidate_isolated(core, u, coin, now)
            hit.append(u.address)
        if any(p.szi and p.iso is None for p in u.positions.values()) and \
                u.cross_value(marks) < u.maintenance(core.u.by_coin, marks):
            liquidate(core, u, now)
            hit.append(u.address)
    return hit


def _to_backstop(core: Core, u: User, coin: str, h: str, now: int, iso_dir: bool) -> None:
    """Both sides of the transfer of `u`'s whole position in `coin` at mark to the backstop."""
    pos = u.positions[coin]
    mark = core.marks()[coin]
    sz = abs(pos.szi)
    user_buys = pos.szi < 0
    tid = core.new_tid()
    for who, is_buy in ((u, user_buys), (core.liquidator, not user_buys)):
        start, pnl = apply_perp_fill(who, coin, is_buy, sz, mark)
        direction = fill_dir(False, is_buy, start, who.positions[coin].szi)
        if iso_dir and who is u:
            direction = f"Liquidated Isolated {'Short' if user_buys else 'Long'}"
        fill = {"coin": coin, "px": dec_str(mark), "sz": dec_str(sz), "side": "B" if is_buy else "A",
                "time": now, "startPosition": dec_str(start), "dir": direction, "closedPnl": dec_str(pnl),
                "hash": h, "oid": 0, "crossed": who is u, "fee": "0.0", "tid": tid, "feeToken": "USDC",
                "liquidation": {"liquidatedUser": u.address, "markPx": dec_str(mark), "method": "backstop"}}
        who.fills.append(fill)
        if core.events.subscribers:
            core.events.add("userFills", who.address, fill)
    core.events.notice("ctx", coin)


def liquidate(core: Core, u: User, now: int) -> None:
    core.new_tx()
    core.notify(u.address, "Your cross positions were liquidated: account value fell below maintenance margin.")
    h = core.tx_hash
    for o in [o for o in u.orders.values() if not o.market.is_spot]:
        core.cancel(o, "liquidatedCanceled", now)
    for coin, pos in list(u.positions.items()):
        if pos.szi and pos.iso is None:
            _to_backstop(core, u, coin, h, now, False)
    if u.perp_usdc < ZERO:
        core.liquidator.perp_usdc += u.perp_usdc
        u.perp_usdc = ZERO


def liquidate_isolated(core: Core, u: User, coin: str, now: int) -> None:
    core.new_tx()
    core.notify(u.address, f"Your isolated {coin} position was liquidated: its margin fell below maintenance.")
    for o in [o for o in u.orders.values() if o.market.coin == coin]:
        core.cancel(o, "liquidatedCanceled", now)
    pos = u.positions[coin]
    margin = pos.iso
    before = u.perp_usdc
    _to_backstop(core, u, coin, core.tx_hash, now, True)
    pos.iso = None
    left = margin + (u.perp_usdc - before)  # the margin plus the position's (negative) closing PnL
    u.perp_usdc = before + max(left, ZERO)
    if left < ZERO:
        core.liquidator.perp_usdc += left
