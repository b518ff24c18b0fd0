"""Placing, activating and firing TP/SL trigger orders (the model is described in sim/triggers.py).

`place_group` answers an order action whose grouping is `normalTpsl` / `positionTpsl` or that holds a
trigger order; `check` fires every trigger whose condition the mark price meets (called after
actions that placed triggers, on every oracle change and by `tick()`).
"""
from __future__ import annotations

from . import rules
from .book import Order
from .core import Core
from .matching import place
from .replies import BadRequest, ok
from .numbers import dec_str
from .triggers import ORDER_TYPES, Trigger, fires_above, market_px

GROUPINGS = ("na", "normalTpsl", "positionTpsl")
SPOT_TRIGGERS = "Trigger orders are not supported on spot markets by this venue."
TPSL_SHAPE = "TP/SL grouping needs one take-profit and/or one stop-loss trigger order on the same asset."


def _trigger_spec(w: dict) -> tuple[bool, str, str]:
    t = w["t"]["trigger"]
    tpsl = t.get("tpsl")
    if tpsl not in ("tp", "sl"):
        raise BadRequest("tpsl")
    return t["isMarket"], tpsl, t["triggerPx"]


def _new_trigger(core: Core, u, m, w: dict, now: int, parsed, builder, group=None, position=False,
                 check_position=True):
    """Validate one trigger wire and build its Order (not yet open). Returns (order, None) or (None, status)."""
    a = m.asset
    if m.is_spot:
        return None, rules.err(SPOT_TRIGGERS, a)
    is_market, tpsl, trig_text = _trigger_spec(w)
    trig_px, e = rules.parse_price(m, trig_text)
    if e:
        return None, rules.err(rules.BAD_TRIGGER_PX, a)
    if parsed is None:
        px, e = rules.parse_price(m, w["p"])
        if e:
            return None, rules.err(e, a)
    else:
        px = parsed[1]
    if position and w["s"] in ("0", "0.0"):
        sz = 0  # a position TP/SL closes whatever the position is when it fires
    else:
        sz, e = rules.parse_size(m, w["s"])
        if e:
            return None, rules.err(e, a)
    is_buy, ro = w["b"], w["r"]
    if (position or check_position) and ro:
        pos = u.positions.get(m.coin)
        if pos is None or not pos.szi or (pos.szi > 0) == is_buy:
            return None, rules.err(rules.REDUCE_ONLY, a)
    if not ro and rules.below_min_notional(m, trig_px, sz):
        return None, rules.err(rules.MIN_NTL, a)
    if len(u.orders) >= rules.MAX_OPEN_ORDERS:
        return None, rules.err(rules.TOO_MANY_OPEN.format(cap=rules.MAX_OPEN_ORDERS), a)
    o = Order(core.new_oid(), u.address, m, is_buy, px, sz, sz, now, w.get("c"), ro,
              "FrontendMarket" if is_market else "Gtc", 0)
    o.trig = Trigger(trig_px, is_market, tpsl, fires_above(tpsl, is_buy), group, position)
    if builder is not None:
        o.builder = builder[:2]
    return o, None


def open_trigger(core: Core, u, o: Order, now: int) -> None:
    """An untriggered trigger order becomes an open order of its user."""
    u.orders[o.oid] = o
    if o.reduce_only:
        u.n_reduce_only += 1
    core.triggers.setdefault(o.market.coin, {})[o.oid] = o
    core.set_status(o, "open", now, u)


def place_trigger(core: Core, u, m, w: dict, now: int, parsed, builder) -> dict:
    """A standalone trigger order (grouping "na", or the new order of a modify)."""
    o, err = _new_trigger(core, u, m, w, now, parsed, builder)
    if err:
        return _recorded(core, u, m, w, now, err)
    open_trigger(core, u, o, now)
    out = {"oid": o.oid}
    if o.cloid:
        out["cloid"] = o.cloid
    return {"resting": out}


def _recorded(core: Core, u, m, w, now, err: dict) -> dict:
    """A refused trigger order keeps a record when its refusal has an order status (like a refused limit)."""
    text = err["error"].rsplit(" asset=", 1)[0]
    status = rules.REJECT_STATUS.get(text)
    if status:
        o = Order(core.new_oid(), u.address, m, w["b"], 0, 0, 0, now, w.get("c"), w["r"], "Gtc", 0)
        u.record(o, status, now)
        core.log_status(o, status, now)
    return err


def place_group(core: Core, u, orders: list, grouping, builder, now: int, place_wire) -> dict:
    if grouping not in GROUPINGS:
        raise BadRequest("grouping")
    if grouping == "na":
        out = ok("order", [place_wire(core, u, w, now, builder=builder) for w in orders])
    elif grouping == "positionTpsl":
        out = _position_tpsl(core, u, orders, builder, now)
    else:
        out = _normal_tpsl(core, u, orders, builder, now, place_wire)
    check(core, now)
    return out


def _tpsl_kids_ok(kids: list, asset: int) -> bool:
    if not kids or len(kids) > 2 or any("trigger" not in w["t"] or w["a"] != asset for w in kids):
        return False
    kinds = [w["t"]["trigger"].get("tpsl") for w in kids]
    return len(set(kinds)) == len(kinds)


def _position_tpsl(core: Core, u, orders: list, builder, now: int) -> dict:
    if not _tpsl_kids_ok(orders, orders[0]["a"] if orders else -1):
        return {"status": "err", "response": TPSL_SHAPE}
    m = core.u.by_asset.get(orders[0]["a"])
    if m is None:
        return ok("order", [rules.err(rules.UNKNOWN_ASSET, w["a"]) for w in orders])
    group = core.new_oid() if len(orders) == 2 else None
    statuses = []
    for w in orders:
        o, err = _new_trigger(core, u, m, w, now, None, builder, group=group, position=True)
        if err:
            statuses.append(_recorded(core, u, m, w, now, err))
            continue
        open_trigger(core, u, o, now)
        statuses.append("waitingForTrigger")
    return ok("order", statuses)


def _normal_tpsl(core: Core, u, orders: list, builder, now: int, place_wire) -> dict:
    parent, kids = (orders[0], orders[1:]) if orders else (None, [])
    if parent is None or "trigger" in parent["t"] or not _tpsl_kids_ok(kids, parent["a"]):
        return {"status": "err", "response": TPSL_SHAPE}
    m = core.u.by_asset.get(parent["a"])
    if m is None:
        return ok("order", [rules.err(rules.UNKNOWN_ASSET, w["a"]) for w in orders])
    built = []
    group = core.new_oid() if len(kids) == 2 else None
    for w in kids:  # checked before the parent trades: a bad child refuses nothing else
        o, err = _new_trigger(core, u, m, w, now, None, builder, group=group, check_position=False)
        built.append((o, err))
    first = place_wire(core, u, parent, now, builder=builder)
    statuses = [first]
    body = first.get("resting") or first.get("filled")
    poid = body["oid"] if body else None
    live = [o for o, err in built if o is not None]
    for o, err in built:
        statuses.append(err if err else ("waitingForFill" if poid is not None else rules.err(
            "Parent order was not placed.", m.asset)))
    if poid is None or not live:
        return ok("order", statuses)
    if "resting" in first:
        u.waiting[poid] = live  # activated when the parent fills (Core.retire -> activate_children)
    else:
        activate_children(core, u, live, now)
    return ok("order", statuses)


def activate_children(core: Core, u, kids: list, now: int) -> None:
    """The parent filled: its TP/SL children become open trigger orders."""
    for o in kids:
        open_trigger(core, u, o, now)


def drop_children(core: Core, u, kids: list, now: int) -> None:
    """The parent ended without filling: its children never open."""
    for o in kids:
        u.record(o, "canceled", now)
        core.log_status(o, "canceled", now)


def check(core: Core, now: int) -> int:
    """Fire every trigger order whose condition the mark price meets; returns how many fired."""
    if not any(core.triggers.values()):
        return 0
    marks = core.marks()
    n = 0
    for coin, pending in list(core.triggers.items()):  # a fill can open other users' TP/SL children meanwhile
        if not pending:
            continue
        m = core.u.by_coin[coin]
        mark = int(marks[coin].scaleb(m.px_decimals))
        for o in sorted((o for o in pending.values() if o.trig.hit(mark)), key=lambda o: o.oid):
            if o.oid in pending:  # a sibling fired first and cancelled it
                fire(core, o, now)
                n += 1
    return n


def fire(core: Core, o: Order, now: int) -> dict:
    """The trigger is met: record `triggered`, cancel the sibling, then trade under the same oid."""
    u = core.users[o.user]
    m, t = o.market, o.trig
    core.triggers[m.coin].pop(o.oid, None)
    u.orders.pop(o.oid, None)
    if o.reduce_only:
        u.n_reduce_only -= 1
    t.fired = True
    core.set_status(o, "triggered", now, u)
    core.notify(u.address, f"{ORDER_TYPES[(t.tpsl, t.is_market)]} order {o.oid} triggered: {m.coin} mark "
                           f"{dec_str(core.marks()[m.coin])}")
    if t.group is not None:
        for s in [s for s in u.orders.values() if s.trig is not None and s.trig.group == t.group]:
            core.cancel(s, "siblingFilledCanceled", now)
    pos = u.positions.get(m.coin)
    szi = pos.szi if pos is not None else 0
    held = int(abs(szi).scaleb(m.sz_decimals)) if szi else 0
    sz = held if t.position else o.sz
    if o.reduce_only:
        if not held or (szi > 0) == o.is_buy:
            core.set_status(o, "reduceOnlyCanceled", now, u)
            return {"error": rules.REDUCE_ONLY}
        sz = min(sz, held)
    px = market_px(m, core.marks()[m.coin], o.is_buy) if t.is_market else o.px
    core.new_tx()
    core.firing = o
    try:
        return place(core, u, m, o.is_buy, px, sz, "FrontendMarket" if t.is_market else "Gtc", o.reduce_only,
                     o.cloid, now, fired=o)
    finally:
        core.firing = None
