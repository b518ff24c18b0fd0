"""snapshot()/restore(): the venue's full state as a JSON-able dict (Decimals as strings).

Orders are stored once by oid (open orders and retained order records refer to them); books are rebuilt by re-adding live orders in arrival order (`seq`), which
restores time priority. Derived tallies (holds, order margin) are recomputed.
"""
from __future__ import annotations

from decimal import Decimal

from .accounts import Position, User
from .book import Order
from .clock import SimClock
from .core import Core
from .markets import Universe
from .triggers import Trigger

VERSION = 2


def _order_row(o: Order) -> list:
    return [o.oid, o.user, o.market.asset, o.is_buy, o.px, o.sz, o.orig_sz, o.ts, o.cloid, o.reduce_only,
            o.tif, o.seq, o.live, None if o.hold is None else str(o.hold), o.status, o.status_ts,
            None if o.builder is None else [o.builder[0], str(o.builder[1])],
            None if o.trig is None else o.trig.to_json()]


def _user_row(u: User) -> dict:
    return {
        "address": u.address, "perp_usdc": str(u.perp_usdc),
        "positions": {c: [str(p.szi), str(p.cost), str(p.fund_all), str(p.fund_open), str(p.fund_change),
                          None if p.iso is None else str(p.iso)] for c, p in u.positions.items()},
        "leverage": {str(a): v for a, v in u.leverage.items()},
        "spot": {str(t): str(v) for t, v in u.spot.items()},
        "open": list(u.orders), "cum_vlm": str(u.cum_vlm), "n_requests": u.n_requests,
        "budget_last_pass": u.budget_last_pass, "deposited": u.deposited, "system": u.system,
        "master": u.master,
        "sched": [u.sched_cancel, u.sched_day, u.sched_count], "fills": u.fills, "fundings": u.fundings,
        "ledger": u.ledger, "records": list(u.records), "cloids": u.cloids,
        "spot_entry": {str(t): str(v) for t, v in u.spot_entry.items()}, "builder_max": u.builder_max,
        "waiting": {str(p): [o.oid for o in kids] for p, kids in u.waiting.items()},
        "builder_rewards": str(u.builder_rewards), "inflow": str(u.inflow),
    }


def dump(core: Core) -> dict:
    orders: dict[int, Order] = {}
    for u in core.users.values():
        orders.update(u.orders)
        orders.update(u.records)
        for kids in u.waiting.values():
            orders.update((o.oid, o) for o in kids)
    return {
        "version": VERSION, "seed": core.seed, "time": core.clock.now_ms(),
        "counters": {"next_oid": core.next_oid, "seq": core.seq, "tid_count": core.tid_count,
                     "tx_count": core.tx_count, "tx_hash": core.tx_hash, "last_sample_ms": core.last_sample_ms,
                     "next_funding_ms": core.next_funding_ms},
        "oracle": {c: str(v) for c, v in core.oracle.items()},
        "funding_override": {c: str(v) for c, v in core.funding_override.items()},
        "last_px": {c: str(v) for c, v in core.last_px.items()},
        "orders": [_order_row(o) for o in sorted(orders.values(), key=lambda o: o.oid)],
        "users": [_user_row(u) for u in core.users.values()],
        "order_log": [list(row) for row in core.order_log],
        "agents": core.agents, "nonces": core.nonces, "scheduled": sorted(core.scheduled),
        "candles": core.candles.to_json(), "funding_history": core.funding_history,
        "premium_samples": {c: [str(x) for x in v] for c, v in core.premium_samples.items()},
    }


def load(state: dict, clock: SimClock, subscribers: list, universe: Universe) -> Core:
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise ValueError(f"state.version: expected {VERSION}, got "
                         f"{state.get('version') if isinstance(state, dict) else type(state).__name__}")
    core = Core(clock, state["seed"], universe)
    core.events.subscribers = subscribers
    c = state["counters"]
    core.next_oid, core.seq, core.tid_count = c["next_oid"], c["seq"], c["tid_count"]
    core.tx_count, core.tx_hash = c["tx_count"], c["tx_hash"]
    core.last_sample_ms, core.next_funding_ms = c["last_sample_ms"], c["next_funding_ms"]
    core.oracle.update({k: Decimal(v) for k, v in state["oracle"].items()})
    core.funding_override = {k: Decimal(v) for k, v in state["funding_override"].items()}
    core.last_px = {k: Decimal(v) for k, v in state["last_px"].items()}
    orders: dict[int, Order] = {}
    for row in state["orders"]:
        oid, user, asset, is_buy, px, sz, orig, ts, cloid, ro, tif, seq, live, hold, status, status_ts = row[:16]
        builder, trig = (row[16:18] + [None, None])[:2]  # absent in states saved before builder codes / triggers
        o = Order(oid, user, core.u.by_asset[asset], is_buy, px, sz, orig, ts, cloid, ro, tif, seq)
        o.hold = None if hold is None else Decimal(hold)
        o.builder = None if builder is None else (builder[0], Decimal(builder[1]))
        o.trig = None if trig is None else Trigger.from_json(trig)
        o.status, o.status_ts = status, status_ts
        o.live = False
        orders[oid] = o
    core.users = {}
    for row in state["users"]:
        u = User(row["address"])
        u.perp_usdc = Decimal(row["perp_usdc"])
        for coin, vals in row["positions"].items():
            p = u.positions[coin] = Position()
            p.szi, p.cost, p.fund_all, p.fund_open, p.fund_change = map(Decimal, vals[:5])
            p.iso = Decimal(vals[5]) if len(vals) > 5 and vals[5] is not None else None
        u.leverage = {int(a): list(v) for a, v in row["leverage"].items()}
        u.spot = {int(t): Decimal(v) for t, v in row["spot"].items()}
        u.cum_vlm, u.n_requests = Decimal(row["cum_vlm"]), row["n_requests"]
        u.budget_last_pass, u.deposited, u.system = row["budget_last_pass"], row["deposited"], row["system"]
        u.master = row.get("master")  # absent in snapshots from before sub-accounts
        u.sched_cancel, u.sched_day, u.sched_count = row["sched"]
        u.fills, u.fundings, u.ledger = list(row["fills"]), list(row["fundings"]), list(row["ledger"])
        for oid in row["records"]:
            u.records[oid] = orders[oid]
        u.cloids = dict(row["cloids"])
        u.spot_entry = {int(t): Decimal(v) for t, v in row.get("spot_entry", {}).items()}
        u.builder_max = dict(row.get("builder_max", {}))
        u.builder_rewards = Decimal(row.get("builder_rewards", "0"))
        u.inflow = Decimal(row.get("inflow", "0"))
        u.waiting = {int(p): [orders[oid] for oid in kids] for p, kids in row.get("waiting", {}).items()}
        for oid in row["open"]:
            u.orders[oid] = orders[oid]
        core.users[u.address] = u
    core.fee, core.liquidator = core.user(core.fee.address), core.user(core.liquidator.address)
    live = []
    for u in core.users.values():
        for o in u.orders.values():
            if o.trig is not None and not o.trig.fired:  # untriggered: indexed, not booked, nothing reserved
                core.triggers.setdefault(o.market.coin, {})[o.oid] = o
                if o.reduce_only:
                    u.n_reduce_only += 1
            else:
                live.append(o)
    live.sort(key=lambda o: o.seq)
    for o in live:
        core.books[o.market.coin].add(o)
        # recomputes holds and order margin from the orders (a spot hold is always exactly
        # remaining size x limit price, so nothing is lost)
        core.reserve(core.users[o.user], o)
    core.order_log = [tuple(row) for row in state["order_log"]]
    core.agents = {k: list(v) for k, v in state["agents"].items()}
    core.nonces = {k: list(v) for k, v in state["nonces"].items()}
    core.scheduled = set(state["scheduled"])
    core.candles.load_json(state["candles"])
    core.funding_history = {k: list(v) for k, v in state["funding_history"].items()}
    core.premium_samples = {k: [Decimal(x) for x in v] for k, v in state["premium_samples"].items()}
    return core

