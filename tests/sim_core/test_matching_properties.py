"""Property tests of the matching engine: random order streams from several users.

Invariants after every step: no crossed book at rest; USDC and tokens conserved (fees land in
the fee account); no negative spot balances or holds above balances; every trade has exactly two
fills (same tid/px/sz/time, opposite sides, one taker); reduce-only orders never grow or flip a
position.
"""
from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.accounts import FEE_ACCOUNT, ZERO

from .helpers import make_venue

USERS = [f"0x{i:040x}" for i in range(1, 5)]
PERP_USDC, SPOT_USDC, HYPE, PURR = Decimal(1_000_000), Decimal(100_000), Decimal(1000), Decimal(100_000)
# coin -> (asset, price grid start, step, count, size choices)
MARKETS = {
    "SOL": (2, Decimal("178"), Decimal("0.5"), 9, ["0.06", "0.5", "1", "2.37", "4"]),
    "BTC": (0, Decimal("99950"), Decimal("10"), 9, ["0.0002", "0.001", "0.0123", "0.05"]),
    "@1": (10001, Decimal("29.6"), Decimal("0.1"), 9, ["0.34", "1", "2.5", "7"]),
    "PURR/USDC": (10000, Decimal("0.196"), Decimal("0.001"), 9, ["60", "100", "333", "900"]),
}

order_op = st.tuples(
    st.just("order"), st.sampled_from(range(len(USERS))), st.sampled_from(sorted(MARKETS)), st.booleans(),
    st.integers(2, 6), st.integers(0, 3), st.sampled_from(["Gtc", "Gtc", "Ioc", "Alo"]), st.booleans())
cancel_op = st.tuples(st.just("cancel"), st.sampled_from(range(len(USERS))), st.integers(0, 50))
modify_op = st.tuples(st.just("modify"), st.sampled_from(range(len(USERS))), st.integers(0, 50), st.integers(0, 8))
ops = st.lists(st.one_of(order_op, order_op, order_op, order_op, cancel_op, modify_op), min_size=20, max_size=80)


def _px(coin: str, i: int) -> str:
    _, start, step, _, _ = MARKETS[coin]
    return format((start + step * i).normalize(), "f")


def _positions(core, coin):
    return {a: (core.users[a].positions[coin].szi if coin in core.users[a].positions else ZERO) for a in USERS}


def check_invariants(v, ro_oids: set[int], fills_seen: int) -> int:
    core = v.core
    for coin, book in core.books.items():
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask, f"crossed book {coin}: {bid} >= {ask}"
        for is_buy in (True, False):
            for px, total, n in book.levels(is_buy):
                live = [o for o in book.live_orders() if o.px == px and o.is_buy == is_buy]
                assert n == len(live) > 0 and total == sum(o.sz for o in live) > 0
    users = list(core.users.values())
    # perp USDC: balances + fees - open cost basis is conserved; positions net to zero per coin
    perp = sum((u.perp_usdc - sum((p.cost for p in u.positions.values()), ZERO) for u in users), ZERO)
    assert perp == PERP_USDC * len(USERS)
    for m in core.u.perps:
        assert sum((u.positions[m.coin].szi for u in users if m.coin in u.positions), ZERO) == 0
    totals = {0: SPOT_USDC * len(USERS), 1: PURR * len(USERS), 2: HYPE * len(USERS)}
    for token, total in totals.items():
        assert sum((u.spot.get(token, ZERO) for u in users), ZERO) == total
    for a in USERS:
        u = core.users[a]
        assert u.perp_usdc >= 0
        for token in totals:
            assert u.spot.get(token, ZERO) >= 0 and u.hold.get(token, ZERO) >= 0
            assert u.spot.get(token, ZERO) >= u.hold.get(token, ZERO)
    assert core.users[FEE_ACCOUNT].perp_usdc >= 0
    # every trade: exactly two fills that agree
    by_tid: dict[int, list[dict]] = {}
    for u in users:
        for f in u.fills:
            by_tid.setdefault(f["tid"], []).append(f)
    for tid, pair in by_tid.items():
        assert len(pair) == 2, pair
        a, b = pair
        assert (a["px"], a["sz"], a["time"], a["hash"], a["coin"]) == (b["px"], b["sz"], b["time"], b["hash"], b["coin"])
        assert {a["side"], b["side"]} == {"A", "B"} and {a["crossed"], b["crossed"]} == {True, False}
    # reduce-only fills never increase |position| nor flip it
    n = 0
    for u in users:
        for f in u.fills:
            n += 1
            if f["oid"] in ro_oids:
                start = Decimal(f["startPosition"])
                end = start + (Decimal(f["sz"]) if f["side"] == "B" else -Decimal(f["sz"]))
                assert abs(end) < abs(start) and (end == 0 or (end > 0) == (start > 0)), f
    return n


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_order_streams_keep_the_invariants(stream):
    run_stream(stream)


def _random_op(rnd: random.Random):
    kind = rnd.random()
    user = rnd.randrange(len(USERS))
    if kind < 0.7:
        return ("order", user, rnd.choice(sorted(MARKETS)), rnd.random() < 0.5, rnd.randint(2, 6), rnd.randint(0, 3),
                rnd.choice(["Gtc", "Gtc", "Ioc", "Alo"]), rnd.random() < 0.3)
    if kind < 0.85:
        return ("cancel", user, rnd.randint(0, 50))
    if kind < 0.95:
        return ("modify", user, rnd.randint(0, 50), rnd.randint(2, 6))
    return ("oracle", user, rnd.choice(["SOL", "BTC"]), rnd.randint(0, 8))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_long_seeded_streams_keep_the_invariants(seed):
    """Long busy streams (hypothesis' own lists stay short and shrink-friendly; these trade a lot)."""
    rnd = random.Random(seed)
    fills = run_stream([_random_op(rnd) for _ in range(300)])
    assert fills > 20  # the stream really traded


def run_stream(stream) -> int:
    v = make_venue()
    for a in USERS:
        v.fund_perp(a, PERP_USDC)
        v.fund_spot(a, "USDC", SPOT_USDC)
        v.fund_spot(a, "HYPE", HYPE)
        v.fund_spot(a, "PURR", PURR)
    ro_oids: set[int] = set()
    fills = 0
    for op in stream:
        user = USERS[op[1]]
        u = v.core.users[user]
        if op[0] == "oracle":  # mark moves: margin checks and liquidation checks see a new price
            v.set_oracle(op[2], _px(op[2], op[3]))
        elif op[0] == "order":
            _, _, coin, is_buy, pi, si, tif, ro = op
            asset, _, _, _, sizes = MARKETS[coin]
            ro = ro and asset < 10000
            before = _positions(v.core, coin) if asset < 10000 else None
            w = {"a": asset, "b": is_buy, "p": _px(coin, pi), "s": sizes[si], "r": ro, "t": {"limit": {"tif": tif}}}
            status, out = v.exchange_as(user, {"type": "order", "orders": [w], "grouping": "na"})
            assert status == 200 and out["status"] == "ok", out
            (st_,) = out["response"]["data"]["statuses"]
            oid = (st_.get("resting") or st_.get("filled") or {}).get("oid")
            if ro and oid is not None:
                ro_oids.add(oid)
                after = _positions(v.core, coin)
                assert abs(after[user]) <= abs(before[user])
        elif op[0] == "cancel":
            orders = sorted(u.orders.values(), key=lambda o: o.oid)
            if orders:
                o = orders[op[2] % len(orders)]
                out = v.exchange_as(user, {"type": "cancel", "cancels": [{"a": o.market.asset, "o": o.oid}]})[1]
                assert out["response"]["data"]["statuses"] == ["success"]
        else:
            orders = sorted(u.orders.values(), key=lambda o: o.oid)
            if orders:
                o = orders[op[2] % len(orders)]
                coin = o.market.coin
                w = {"a": o.market.asset, "b": o.is_buy, "p": _px(coin, op[3]), "s": MARKETS[coin][4][0],
                     "r": o.reduce_only, "t": {"limit": {"tif": "Gtc"}}}
                out = v.exchange_as(user, {"type": "batchModify", "modifies": [{"oid": o.oid, "order": w}]})[1]
                assert out["status"] == "ok"
                st_ = out["response"]["data"]["statuses"][0]
                new = (st_.get("resting") or st_.get("filled") or {}).get("oid")
                if o.reduce_only and new is not None:
                    ro_oids.add(new)
        fills = check_invariants(v, ro_oids, fills)
    return fills


def test_streams_do_trade():
    """Guard against a vacuous property: a fixed crossing stream must produce fills."""
    v = make_venue()
    for a in USERS:
        v.fund_perp(a, PERP_USDC)
        v.fund_spot(a, "USDC", SPOT_USDC)
        v.fund_spot(a, "HYPE", HYPE)
        v.fund_spot(a, "PURR", PURR)
    w = {"a": 2, "b": False, "p": "180", "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    v.exchange_as(USERS[0], {"type": "order", "orders": [w], "grouping": "na"})
    v.exchange_as(USERS[1], {"type": "order", "orders": [dict(w, b=True)], "grouping": "na"})
    assert check_invariants(v, set(), 0) == 2
