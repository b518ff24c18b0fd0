"""Cancel, cancelByCloid and modify/batchModify, plus the wire-shape checks of batched actions.

Shape checks run over the whole batch before anything happens: one malformed element makes the
body undeserializable (422) with no side effects, as on the live venue.
"""
from __future__ import annotations

import re

from . import rules
from .accounts import User
from .core import Core

_CLOID = re.compile(r"0x[0-9a-fA-F]{32}\Z").match


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_cloid(x) -> bool:
    return isinstance(x, str) and _CLOID(x) is not None


def order_wire_shape(w) -> bool:
    if not isinstance(w, dict):
        return False
    try:
        a, b, p, s, r, t = w["a"], w["b"], w["p"], w["s"], w["r"], w["t"]
    except KeyError:
        return False
    if not (_is_int(a) and isinstance(b, bool) and isinstance(p, str) and isinstance(s, str)
            and isinstance(r, bool) and isinstance(t, dict) and len(t) == 1):
        return False
    c = w.get("c")
    if c is not None and not is_cloid(c):
        return False
    if "limit" in t:
        return isinstance(t["limit"], dict) and isinstance(t["limit"].get("tif"), str)
    trig = t.get("trigger")
    return isinstance(trig, dict) and isinstance(trig.get("isMarket"), bool) and isinstance(trig.get("triggerPx"), str)


def cancel_shape(c) -> bool:
    return isinstance(c, dict) and _is_int(c.get("a")) and _is_int(c.get("o"))


def cancel_by_cloid_shape(c) -> bool:
    return isinstance(c, dict) and _is_int(c.get("asset")) and is_cloid(c.get("cloid"))


def modify_shape(mod) -> bool:
    if not isinstance(mod, dict):
        return False
    oid = mod.get("oid")
    return (_is_int(oid) or is_cloid(oid)) and order_wire_shape(mod.get("order"))


SHAPES = {"order": order_wire_shape, "cancel": cancel_shape, "cancelByCloid": cancel_by_cloid_shape,
          "batchModify": modify_shape}


def _find(u: User, oid_or_cloid):
    if isinstance(oid_or_cloid, str):
        oid = u.cloids.get(oid_or_cloid.lower()) or u.cloids.get(oid_or_cloid)
        return u.orders.get(oid) if oid is not None else None
    return u.orders.get(oid_or_cloid)


def cancel_action(core: Core, u: User, action: dict, now: int) -> dict:
    statuses = []
    for c in action["cancels"]:
        o = u.orders.get(c["o"])
        if o is None or o.market.asset != c["a"]:
            statuses.append(rules.err(rules.CANCEL_MISSING, c["a"]))
            continue
        core.cancel(o, "canceled", now)
        statuses.append("success")
    return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}


def cancel_by_cloid_action(core: Core, u: User, action: dict, now: int) -> dict:
    statuses = []
    for c in action["cancels"]:
        o = _find(u, c["cloid"])
        if o is None or o.market.asset != c["asset"]:
            statuses.append(rules.err(rules.CANCEL_MISSING, c["asset"]))
            continue
        core.cancel(o, "canceled", now)
        statuses.append("success")
    return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}


def modify_action(core: Core, u: User, modifies: list, now: int, place_wire) -> dict:
    """Each modify cancels the resting order and places the new one (new oid, cloid kept).
    The new order's price/size are validated first so a bad modify leaves the original resting."""
    statuses = []
    for mod in modifies:
        w = mod["order"]
        old = _find(u, mod["oid"])
        if old is None:
            statuses.append(rules.err(rules.MODIFY_MISSING, w["a"]))
            continue
        m = core.u.by_asset.get(w["a"])
        if m is None or m is not old.market:
            statuses.append(rules.err(rules.UNKNOWN_ASSET, w["a"]))
            continue
        px, e = rules.parse_price(m, w["p"])
        if e is None:
            sz, e = rules.parse_size(m, w["s"])
        if e is not None:
            statuses.append(rules.err(e, w["a"]))
            continue
        core.cancel(old, "canceled", now)
        if w.get("c") is None and old.cloid:
            w = dict(w, c=old.cloid)
        statuses.append(place_wire(core, u, w, now, parsed=(m, px, sz)))  # checked once, here
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}
