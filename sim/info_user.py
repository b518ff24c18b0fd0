"""/info queries about one user: clearinghouse states, orders, fills, funding, limits, role."""
from __future__ import annotations

import re
from decimal import Decimal

from . import isolated
from .accounts import User
from .core import Core
from .numbers import ZERO, dec_str, scaled_str
from .triggers import frontend_fields

Q8 = Decimal("1e-8")

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}").fullmatch  # "0x" and 40 hex digits, ASCII only


def is_address(x) -> bool:
    return isinstance(x, str) and _ADDRESS(x) is not None


def _q(d: Decimal) -> str:
    """Results of a division (entry price, margin at leverage, ROE) are shown at 8 decimals;
    sums and products of exact state are printed exactly, so they agree with fills/funding rows."""
    return dec_str(d.quantize(Q8))


_x = dec_str


def _int_arg(body: dict, key: str, default):
    v = body.get(key)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool):
        from .info import BadQuery
        raise BadQuery(key)
    return v


def _empty_summary() -> dict:
    return {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0", "totalMarginUsed": "0.0"}


def liquidation_px(u: User, core: Core, coin: str, marks: dict) -> Decimal | None:
    """Mark price of `coin` at which the cross account value equals the cross maintenance margin, other marks held
    fixed; an isolated position's own liquidation price."""
    pos = u.positions[coin]
    m = core.u.by_coin[coin]
    if pos.iso is not None:
        return isolated.liquidation_px(pos, m)
    cross = [(c, p) for c, p in u.positions.items() if c != coin and p.szi and p.iso is None]
    others_upnl = sum((p.szi * marks[c] - p.cost for c, p in cross), ZERO)
    others_maint = sum((abs(p.szi) * marks[c] / (2 * core.u.by_coin[c].max_leverage) for c, p in cross), ZERO)
    k = others_maint + pos.cost - u.perp_usdc - others_upnl
    denom = pos.szi - abs(pos.szi) / (2 * m.max_leverage)
    if not denom:
        return None
    px = k / denom
    return px if px > 0 else None


def _summary(value: Decimal, ntl: Decimal, signed_ntl: Decimal, margin: Decimal) -> dict:
    return {"accountValue": _x(value), "totalNtlPos": _x(ntl), "totalRawUsd": _x(value - signed_ntl),
            "totalMarginUsed": _q(margin)}


def clearinghouse_state(core: Core, user: str, body: dict) -> dict:
    u = core.users.get(user)
    now = core.clock.now_ms()
    if u is None:
        return {"assetPositions": [], "marginSummary": _empty_summary(), "crossMarginSummary": _empty_summary(),
                "crossMaintenanceMarginUsed": "0.0", "withdrawable": "0.0", "time": now}
    marks = core.marks()
    rows = []
    tot = {"ntl": ZERO, "signed": ZERO, "margin": ZERO}  # every position (marginSummary)
    crs = {"ntl": ZERO, "signed": ZERO, "margin": ZERO}  # cross positions only (crossMarginSummary)
    for coin, p in u.positions.items():
        if not p.szi:
            continue
        m = core.u.by_coin[coin]
        lev = u.lev(m)
        value = abs(p.szi) * marks[coin]
        upnl = p.szi * marks[coin] - p.cost
        if p.iso is None:
            margin = value / lev
            lev_d = {"type": "cross", "value": lev}
            for acc in (tot, crs):
                acc["ntl"] += value
                acc["signed"] += p.szi * marks[coin]
                acc["margin"] += margin
        else:  # an isolated position's margin used is its own equity
            margin = p.iso + upnl
            lev_d = {"type": "isolated", "value": lev, "rawUsd": _x(p.iso - p.cost)}
            tot["ntl"] += value
            tot["signed"] += p.szi * marks[coin]
            tot["margin"] += margin
        liq = liquidation_px(u, core, coin, marks)
        rows.append({"type": "oneWay", "position": {
            "coin": coin, "szi": dec_str(p.szi), "leverage": lev_d, "entryPx": _q(p.entry_px()),
            "positionValue": _x(value), "unrealizedPnl": _x(upnl),
            "returnOnEquity": _q(upnl * lev / abs(p.cost)) if p.cost else "0.0",
            "liquidationPx": _q(liq) if liq is not None else None, "marginUsed": _q(margin),
            "maxLeverage": m.max_leverage,
            "cumFunding": {"allTime": _x(p.fund_all), "sinceOpen": _x(p.fund_open),
                           "sinceChange": _x(p.fund_change)}}})
    return {"assetPositions": rows,
            "marginSummary": _summary(u.account_value(marks), tot["ntl"], tot["signed"], tot["margin"]),
            "crossMarginSummary": _summary(u.cross_value(marks), crs["ntl"], crs["signed"], crs["margin"]),
            "crossMaintenanceMarginUsed": _q(u.maintenance(core.u.by_coin, marks)),
            "withdrawable": _q(u.withdrawable(core.u.by_coin, core.u.by_asset, marks)), "time": now}


def spot_state(core: Core, user: str, body: dict) -> dict:
    u = core.users.get(user)
    if u is None:
        return {"balances": []}
    out = []
    for t in core.u.tokens:
        total = u.spot.get(t.index, ZERO)
        hold = u.hold.get(t.index, ZERO)
        if total or hold:
            out.append({"coin": t.name, "token": t.index, "total": dec_str(total), "hold": dec_str(hold),
                        "entryNtl": dec_str(u.spot_entry.get(t.index, ZERO))})
    return {"balances": out}


def frontend_order(core: Core, o, sz: int | None = None) -> dict:
    m = o.market
    t = o.trig
    shown = o.sz if sz is None else sz
    if t is not None and t.position and not t.fired:
        shown = 0  # a position TP/SL has no size of its own: it closes whatever the position is
    d = {"coin": m.coin, "side": "B" if o.is_buy else "A", "limitPx": scaled_str(o.px, m.px_decimals),
         "sz": scaled_str(shown, m.sz_decimals), "oid": o.oid, "timestamp": o.ts}
    f = frontend_fields(o)
    d["triggerCondition"], d["isTrigger"], d["triggerPx"] = f["triggerCondition"], f["isTrigger"], f["triggerPx"]
    d["children"] = [frontend_order(core, c) for c in core.users[o.user].waiting.get(o.oid, ())]
    d["isPositionTpsl"], d["reduceOnly"], d["orderType"] = f["isPositionTpsl"], o.reduce_only, f["orderType"]
    d["origSz"] = scaled_str(o.orig_sz, m.sz_decimals)
    d["tif"], d["cloid"] = f["tif"], o.cloid
    return d


def _open(core: Core, user: str, frontend: bool) -> list[dict]:
    u = core.users.get(user)
    if u is None:
        return []
    orders = sorted(u.orders.values(), key=lambda o: o.oid, reverse=True)
    return [frontend_order(core, o) if frontend else core.order_wire(o) for o in orders]


def order_status(core: Core, user: str, body: dict) -> dict:
    u = core.users.get(user)
    ref = body.get("oid")
    if u is None or ref is None:
        return {"status": "unknownOid"}
    oid = (u.cloids.get(ref) or u.cloids.get(ref.lower())) if isinstance(ref, str) else ref
    o = u.records.get(oid) if oid is not None else None
    if o is None:
        return {"status": "unknownOid"}
    return {"status": "order", "order": {"order": frontend_order(core, o), "status": o.status,
                                         "statusTimestamp": o.status_ts}}


def historical_orders(core: Core, user: str, body: dict) -> list[dict]:
    """One row per status change, newest first, at most 2000 (an order that rested and was then cancelled
    shows as `canceled` and as `open`, like on the live venue). Read from the venue's status log, which holds
    every change with the order's size at that moment; trigger details come from the order's record."""
    u = core.users.get(user)
    if u is None:
        return []
    out = []
    by_asset = core.u.by_asset
    for row in reversed(core.order_log):
        if row[0] != user:
            continue
        _, asset, oid, is_buy, px, sz, orig, ts, cloid, ro, status, status_ts = row
        m = by_asset[asset]
        o = u.records.get(oid) or u.orders.get(oid)
        f = frontend_fields(o) if o is not None else {"triggerCondition": "N/A", "isTrigger": False,
                                                      "triggerPx": "0.0", "isPositionTpsl": False,
                                                      "orderType": "Limit", "tif": None}
        order = {"coin": m.coin, "side": "B" if is_buy else "A", "limitPx": scaled_str(px, m.px_decimals),
                 "sz": scaled_str(sz, m.sz_decimals), "oid": oid, "timestamp": ts,
                 "triggerCondition": f["triggerCondition"], "isTrigger": f["isTrigger"], "triggerPx": f["triggerPx"],
                 "children": [], "isPositionTpsl": f["isPositionTpsl"], "reduceOnly": ro,
                 "orderType": f["orderType"], "origSz": scaled_str(orig, m.sz_decimals), "tif": f["tif"],
                 "cloid": cloid}
        out.append({"order": order, "status": status, "statusTimestamp": status_ts})
        if len(out) >= HISTORY_ROWS:
            break
    return out


HISTORY_ROWS = 2000


def user_fills(core: Core, user: str, body: dict) -> list[dict]:
    u = core.users.get(user)
    return list(reversed(u.fills[-2000:])) if u else []


def user_fills_by_time(core: Core, user: str, body: dict) -> list[dict]:
    u = core.users.get(user)
    if u is None:
        return []
    start, end = _int_arg(body, "startTime", 0), _int_arg(body, "endTime", 2**63)
    return [f for f in u.fills if start <= f["time"] <= end][:2000]


def _by_time(rows: list[dict], body: dict, cap: int = 500) -> list[dict]:
    start, end = _int_arg(body, "startTime", 0), _int_arg(body, "endTime", 2**63)
    return [r for r in rows if start <= r["time"] <= end][:cap]


def user_funding(core: Core, user: str, body: dict) -> list[dict]:
    u = core.users.get(user)
    return _by_time(u.fundings, body) if u else []


def ledger_updates(core: Core, user: str, body: dict) -> list[dict]:
    u = core.users.get(user)
    return _by_time(u.ledger, body) if u else []


def rate_limit(core: Core, user: str, body: dict) -> dict:
    u = core.users.get(user)
    vlm = u.cum_vlm if u else ZERO
    return {"cumVlm": dec_str(vlm.quantize(Decimal("0.01"))), "nRequestsUsed": u.n_requests if u else 0,
            "nRequestsCap": 10_000 + int(vlm), "nRequestsSurplus": 0}


def user_role(core: Core, user: str, body: dict) -> dict:
    agent = core.agents.get(user)
    if agent is not None:
        return {"role": "agent", "data": {"user": agent[0]}}
    if user in core.users and core.users[user].master is not None:
        return {"role": "subAccount", "data": {"master": core.users[user].master}}
    if user in core.users and not core.users[user].system:
        return {"role": "user"}
    return {"role": "missing"}


def extra_agents(core: Core, user: str, body: dict) -> list[dict]:
    return [{"name": v[1], "address": a, "validUntil": v[2]} for a, v in core.agents.items()
            if v[0] == user and v[1]]


def user_fees(core: Core, user: str, body: dict) -> dict:
    return {"dailyUserVlm": [], "feeSchedule": {"cross": "0.00045", "add": "0.00015", "spotCross": "0.0007",
                                                "spotAdd": "0.0004", "tiers": {"vip": [], "mm": []}},
            "userCrossRate": "0.00045", "userAddRate": "0.00015", "userSpotCrossRate": "0.0007",
            "userSpotAddRate": "0.0004", "activeReferralDiscount": "0.0"}


USER_QUERIES = {
    "clearinghouseState": clearinghouse_state, "spotClearinghouseState": spot_state,
    "openOrders": lambda core, user, body: _open(core, user, False),
    "frontendOpenOrders": lambda core, user, body: _open(core, user, True),
    "orderStatus": order_status, "historicalOrders": historical_orders, "userFills": user_fills,
    "userFillsByTime": user_fills_by_time, "userFunding": user_funding,
    "userNonFundingLedgerUpdates": ledger_updates, "userRateLimit": rate_limit, "userRole": user_role,
    "extraAgents": extra_agents, "userFees": user_fees,
}
