"""snapshot/restore round trip, determinism, events, spot settlement, system orders."""
from __future__ import annotations

import json
from decimal import Decimal

from sim.accounts import FEE_ACCOUNT

from .helpers import funded, make_venue, wire


def _trade_some(v, a, b):
    a.statuses(wire(2, False, "181", "2"), wire(2, False, "182", "1", cloid="0x" + "01" * 16),
               wire(10001, False, "31", "3"))
    b.statuses(wire(2, True, "181.5", "1.5", tif="Ioc"), wire(10001, True, "31", "1", tif="Ioc"),
               wire(2, True, "170", "1"))


def test_snapshot_restore_round_trip_keeps_priority_and_balances():
    v = make_venue()
    a, b = funded(v), funded(v)
    _trade_some(v, a, b)
    c = funded(v)
    c.statuses(wire(2, False, "181", "0.5"))  # behind a's 0.5 left at 181
    state = json.loads(json.dumps(v.snapshot()))
    w = make_venue()
    w.restore(state)
    for body in ({"type": "l2Book", "coin": "SOL"}, {"type": "clearinghouseState", "user": a.address},
                 {"type": "spotClearinghouseState", "user": b.address}, {"type": "userFills", "user": b.address},
                 {"type": "openOrders", "user": a.address},
                 {"type": "orderStatus", "user": a.address, "oid": "0x" + "01" * 16}):
        assert w.info(body) == v.info(body), body
    assert w.snapshot() == state
    # time priority survives: a taker for 0.5 at 181 fills a (earlier), not c
    a.venue, b.venue, c.venue = w, w, w
    b.statuses(wire(2, True, "181", "0.5", tif="Ioc"))
    assert a.info("userFills")[0]["sz"] == "0.5" and c.info("userFills") == []
    # nonces survive too
    n = a.nonce()
    assert a.post_l1({"type": "noop"}, nonce=n)[1]["status"] == "ok"
    state2 = w.snapshot()
    x = make_venue()
    x.restore(state2)
    a.venue = x
    assert a.post_l1({"type": "noop"}, nonce=n)[1]["response"] == f"Invalid nonce: duplicate nonce {n}"


def test_same_seed_and_inputs_give_the_same_ids():
    def run():
        v = make_venue(seed=3)
        for addr in ("0x" + "0a" * 20, "0x" + "0b" * 20):
            v.fund_perp(addr, 100_000)
        v.exchange_as("0x" + "0a" * 20, {"type": "order", "orders": [wire(1, False, "3500", "1")], "grouping": "na"})
        v.exchange_as("0x" + "0b" * 20, {"type": "order", "orders": [wire(1, True, "3500", "1", "Ioc")],
                                         "grouping": "na"})
        return v.info({"type": "userFills", "user": "0x" + "0b" * 20})[1]
    first, second = run(), run()
    assert first == second and first[0]["tid"] and first[0]["hash"] != "0x" + "00" * 32


def test_events_are_delivered_after_each_call_with_ws_shapes():
    v = make_venue()
    a, b = funded(v), funded(v)
    seen = []
    v.subscribe(seen.append)
    oid = a.statuses(wire(2, False, "181", "2"))[0]["resting"]["oid"]
    assert [(e.channel, e.key) for e in seen] == [("orderUpdates", a.address), ("book", "SOL")]
    upd = seen[0].data[0]
    assert upd["status"] == "open" and upd["order"]["oid"] == oid and upd["order"]["sz"] == "2.0"
    seen.clear()
    b.statuses(wire(2, True, "181", "0.5", tif="Ioc"))
    chans = {(e.channel, e.key) for e in seen}
    assert {("trades", "SOL"), ("userFills", a.address), ("userFills", b.address), ("book", "SOL"),
            ("ctx", "SOL"), ("orderUpdates", b.address)} <= chans
    (trade,) = next(e.data for e in seen if e.channel == "trades")
    assert set(trade) == {"coin", "side", "px", "sz", "hash", "time", "tid", "users"}
    assert trade["users"] == [b.address, a.address] and trade["side"] == "B"
    seen.clear()
    a.cancel(2, oid)
    assert ("orderUpdates", a.address) in {(e.channel, e.key) for e in seen}
    assert next(e.data for e in seen if e.channel == "orderUpdates")[0]["status"] == "canceled"
    statuses = [(e["order"]["oid"], e["status"]) for e in v.order_events() if e["order"]["oid"] == oid]
    assert statuses == [(oid, "open"), (oid, "canceled")]


def test_spot_fees_are_paid_in_the_token_received():
    """A buy pays its fee in the base token, a sell in USDC; both land in the fee account, cut to the token's
    wei; the fill says which token; entryNtl is the USDC cost basis of what the buyer holds."""
    v = make_venue()
    a, b = funded(v, spot_usdc=1000, hype=10), funded(v, spot_usdc=1000, hype=0)
    a.statuses(wire(10001, False, "30", "2"))
    b.statuses(wire(10001, True, "30", "2", tif="Ioc"))
    bal = lambda t: {x["coin"]: (x["total"], x["hold"]) for x in t.info("spotClearinghouseState")["balances"]}
    assert bal(a) == {"USDC": ("1059.976", "0.0"), "HYPE": ("8.0", "0.0")}  # 60 - 0.04% maker, in USDC
    assert bal(b) == {"USDC": ("940.0", "0.0"), "HYPE": ("1.9986", "0.0")}  # 2 HYPE - 0.07% taker, in HYPE
    fee = v.core.users[FEE_ACCOUNT].spot
    assert (fee[0], fee[2]) == (Decimal("0.024"), Decimal("0.0014"))
    (fb,), (fa,) = b.info("userFills"), a.info("userFills")
    assert (fb["dir"], fb["fee"], fb["feeToken"]) == ("Buy", "0.0014", "HYPE")
    assert (fa["dir"], fa["fee"], fa["feeToken"]) == ("Sell", "0.024", "USDC")
    entry = {x["coin"]: x["entryNtl"] for x in b.info("spotClearinghouseState")["balances"]}
    assert entry == {"USDC": "0.0", "HYPE": "60.0"}
    # the fee is reckoned in USDC, cut to 8 decimals, converted and cut again: a live taker buy of 0.31 @107 at
    # 31.737 paid 0.00021699 HYPE, not 0.000217; twice the size here (the $10 minimum) shows the same cut
    a.statuses(wire(10001, False, "31.737", "0.62"))
    b.statuses(wire(10001, True, "31.737", "0.62", tif="Ioc"))
    assert b.info("userFills")[0]["fee"] == "0.00043399"


def test_system_orders_skip_balances_but_keep_market_rules():
    v = make_venue()
    mm = "0x" + "5e" * 20
    st = v.system_order(mm, "HYPE/USDC", False, "30.5", "100")
    assert "resting" in st
    assert v.system_order(mm, "SOL", True, "180.001", 1) == {
        "error": "Price must be divisible by tick size. asset=2"}
    oid = st["resting"]["oid"]
    t = funded(v)
    t.statuses(wire(10001, True, "30.5", "1", tif="Ioc"))
    assert v.system_cancel(mm, "@1", oid) is True
    assert v.system_cancel(mm, "@1", oid) is False
    assert v.info({"type": "l2Book", "coin": "@1"})[1]["levels"] == [[], []]
