"""Liquidation, simplified: when a user's account value falls below maintenance margin (half the
initial margin at max leverage, valued at mark) every open perp order is cancelled
(`liquidatedCanceled`) and every position is transferred at the mark price to the venue's
backstop account (LIQUIDATOR), which also absorbs any negative balance left (bad debt).
No fee is charged. Checked by `tick()` and after every oracle change.
"""
from __future__ import annotations

from .accounts import ZERO, User, apply_perp_fill, fill_dir
from .core import Core
from .numbers import dec_str


def check_all(core: Core, now: int) -> list[str]:
    marks = core.marks()
    hit = []
    for u in list(core.users.values()):
        if u.system or not any(p.szi for p in u.positions.values()):
            continue
        if u.account_value(marks) < u.maintenance(core.u.by_coin, marks):
            liquidate(core, u, now)
            hit.append(u.address)
    return hit


def liquidate(core: Core, u: User, now: int) -> None:
    core.new_tx()
    h = core.tx_hash
    marks = core.marks()
    for o in [o for o in u.orders.values() if not o.market.is_spot]:
        core.cancel(o, "liquidatedCanceled", now)
    backstop = core.liquidator
    for coin, pos in list(u.positions.items()):
        if not pos.szi:
            continue
        m = core.u.by_coin[coin]
        mark = marks[coin]
        sz = abs(pos.szi)
        user_buys = pos.szi < 0
        tid = core.new_tid()
        for who, is_buy in ((u, user_buys), (backstop, not user_buys)):
            start, pnl = apply_perp_fill(who, coin, is_buy, sz, mark)
            fill = {"coin": coin, "px": dec_str(mark), "sz": dec_str(sz), "side": "B" if is_buy else "A",
                    "time": now, "startPosition": dec_str(start),
                    "dir": fill_dir(False, is_buy, start, who.positions[coin].szi), "closedPnl": dec_str(pnl),
                    "hash": h, "oid": 0, "crossed": who is u, "fee": "0.0", "tid": tid, "feeToken": "USDC",
                    "liquidation": {"liquidatedUser": u.address, "markPx": dec_str(mark), "method": "backstop"}}
            who.fills.append(fill)
            if core.events.subscribers:
                core.events.add("userFills", who.address, fill)
        core.events.notice("ctx", coin)
    if u.perp_usdc < ZERO:
        backstop.perp_usdc += u.perp_usdc
        u.perp_usdc = ZERO
