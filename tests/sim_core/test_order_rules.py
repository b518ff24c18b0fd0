"""Exact per-order and whole-action reject strings, through signed /exchange bodies."""
from __future__ import annotations

from .helpers import funded, make_venue, wire

BTC, ETH, SOL, PURR, HYPE_SPOT = 0, 1, 2, 10000, 10001


def test_tick_lot_and_min_notional_strings():
    v = make_venue()
    t = funded(v)
    got = t.statuses(
        wire(ETH, True, "1234.56", "0.01"),  # 6 significant figures
        wire(ETH, True, "1234.5", "0.01"),  # ok: rests (12.345 USDC)
        wire(BTC, True, "12345.6", "0.001"),  # 6 sig figs
        wire(BTC, True, "123456", "0.001"),  # integers are always fine
        wire(SOL, True, "1.00001", "10"),  # 5 decimals > 6 - szDecimals(2)
        wire(ETH, True, "1000", "0.00001"),  # 5 decimals > szDecimals 4
        wire(ETH, True, "1000", "0.009"),  # $9 < $10
        wire(PURR, True, "0.2", "49"),  # 9.8 USDC < 10 USDC
    )
    assert got[0] == {"error": "Price must be divisible by tick size. asset=1"}
    assert "resting" in got[1]
    assert got[2] == {"error": "Price must be divisible by tick size. asset=0"}
    assert "resting" in got[3]
    assert got[4] == {"error": "Price must be divisible by tick size. asset=2"}
    assert got[5] == {"error": "Order has invalid size. asset=1"}
    assert got[6] == {"error": "Order must have minimum value of $10. asset=1"}
    assert got[7] == {"error": "Order must have minimum value of 10 USDC. asset=10000"}


def test_alo_would_cross_and_ioc_without_liquidity():
    v = make_venue()
    maker, taker = funded(v), funded(v)
    maker.statuses(wire(SOL, False, "181", "1"), wire(SOL, True, "179", "1"))
    got = taker.statuses(wire(SOL, True, "181", "1", tif="Alo"), wire(SOL, True, "170", "1", tif="Ioc"))
    assert got[0] == {"error": "Post only order would have immediately matched, bbo was 179.0@181.0. asset=2"}
    assert got[1] == {"error": "Order could not immediately match against any resting orders. asset=2"}
    # the Ioc that does match reports a fill; its unfilled rest is cancelled, never rests
    got = taker.statuses(wire(SOL, True, "182", "3", tif="Ioc"))
    assert got[0]["filled"]["totalSz"] == "1.0" and got[0]["filled"]["avgPx"] == "181.0"
    assert taker.info("openOrders") == []


def test_reduce_only_rejects_shrinks_and_never_flips():
    v = make_venue()
    a, b = funded(v), funded(v)
    assert a.statuses(wire(ETH, True, "3500", "1", reduce_only=True)) == [
        {"error": "Reduce only order would increase position. asset=1"}]
    b.statuses(wire(ETH, False, "3500", "1"))
    assert "filled" in a.statuses(wire(ETH, True, "3500", "1", tif="Ioc"))[0]
    # long 1: a reduce-only buy would increase
    assert a.statuses(wire(ETH, True, "3400", "1", reduce_only=True)) == [
        {"error": "Reduce only order would increase position. asset=1"}]
    # a reduce-only sell of 3 rests shrunk to the position (origSz keeps the request)
    rest = a.statuses(wire(ETH, False, "3600", "3", reduce_only=True))[0]["resting"]
    (oo,) = a.info("openOrders")
    assert (oo["oid"], oo["sz"], oo["origSz"], oo["reduceOnly"]) == (rest["oid"], "1.0", "3.0", True)
    # b buys through it with 2: only 1 fills against the reduce-only order, a ends flat, not short
    b.statuses(wire(ETH, True, "3600", "2", tif="Ioc"))
    pos = a.info("clearinghouseState")["assetPositions"]
    assert pos == []
    assert a.info("openOrders") == []


def test_reduce_only_below_min_notional_allowed_when_it_closes_everything():
    v = make_venue()
    a, b = funded(v), funded(v)
    b.statuses(wire(SOL, False, "180", "0.1"), wire(SOL, False, "180", "1"))  # 18 + 180 USDC
    a.statuses(wire(SOL, True, "180", "1.1", tif="Ioc"))
    # sell 0.05 ($9) reduce-only: partial close below $10 is still rejected
    assert a.statuses(wire(SOL, False, "180", "0.05", reduce_only=True)) == [
        {"error": "Order must have minimum value of $10. asset=2"}]
    a.statuses(wire(SOL, False, "200", "1.05", reduce_only=True))
    b.statuses(wire(SOL, True, "200", "1.05", tif="Ioc"))
    # 0.05 left ($9): a reduce-only order closing all of it is accepted
    got = a.statuses(wire(SOL, False, "180", "1", reduce_only=True))
    assert "resting" in got[0]
    assert a.info("openOrders")[0]["sz"] == "0.05"


def test_cancel_missing_and_batch_cap():
    v = make_venue()
    t = funded(v)
    assert t.cancel(BTC, 123) == {"status": "ok", "response": {"type": "cancel", "data": {"statuses": [
        {"error": "Order was never placed, already canceled, or filled. asset=0"}]}}}
    oid = t.statuses(wire(BTC, True, "90000", "0.001"))[0]["resting"]["oid"]
    assert t.cancel(BTC, oid)["response"]["data"]["statuses"] == ["success"]
    assert t.cancel(BTC, oid)["response"]["data"]["statuses"][0]["error"].endswith("asset=0")
    big = t.order(*[wire(BTC, True, "90000", "0.001")] * 201)
    assert big == {"status": "err", "response": "Signed action over weight limit of 200."}
    assert t.info("openOrders") == []


def test_insufficient_margin_and_spot_balance():
    v = make_venue()
    poor = funded(v, usdc=100, spot_usdc=20, hype=0)
    # 100 USDC at 20x buys at most 2000 USDC of BTC
    assert poor.statuses(wire(BTC, True, "100000", "0.03")) == [
        {"error": "Insufficient margin to place order. asset=0"}]
    assert "resting" in poor.statuses(wire(BTC, True, "90000", "0.02"))[0]
    assert poor.statuses(wire(HYPE_SPOT, False, "30", "1")) == [
        {"error": "Order has insufficient spot balance to trade asset=10001"}]
    # a spot buy pays its fee in the token it receives: price x size is the whole USDC hold
    assert "resting" in poor.statuses(wire(HYPE_SPOT, True, "10", "1"))[0]
    assert poor.statuses(wire(HYPE_SPOT, True, "10", "1.01")) == [
        {"error": "Order has insufficient spot balance to trade asset=10001"}]
    assert "resting" in poor.statuses(wire(HYPE_SPOT, True, "10", "1"))[0]  # exactly the last 10 USDC
    bal = {b["coin"]: b for b in poor.info("spotClearinghouseState")["balances"]}
    assert bal["USDC"]["total"] == "20.0" and bal["USDC"]["hold"] == "20.0"


def test_self_trade_cancels_the_resting_order_without_a_fill():
    v = make_venue()
    t = funded(v)
    rest = t.statuses(wire(SOL, False, "180", "1", cloid="0x" + "00" * 15 + "2a"))[0]["resting"]
    assert rest["cloid"] == "0x" + "00" * 15 + "2a"
    got = t.statuses(wire(SOL, True, "180", "1", tif="Ioc"))
    assert got == [{"error": "Order could not immediately match against any resting orders. asset=2"}]
    assert t.info("userFills") == []
    st = t.info("orderStatus", oid="0x" + "00" * 15 + "2a")
    assert st["status"] == "order" and st["order"]["status"] == "selfTradeCanceled"


def test_open_order_cap_and_cancel_by_cloid():
    v = make_venue()
    t = funded(v, usdc=10_000_000)
    for i in range(5):
        batch = [wire(SOL, True, f"{100 + i}", "0.1") for _ in range(200)]
        status, out = v.exchange_as(t.address, {"type": "order", "orders": batch, "grouping": "na"})
        assert all("resting" in s for s in out["response"]["data"]["statuses"])
    assert t.statuses(wire(SOL, True, "99", "0.2")) == [{"error": "Too many open orders (max 1000). asset=2"}]
    # an Ioc never rests, so it is still allowed at the cap
    assert t.statuses(wire(SOL, False, "180", "0.1", tif="Ioc"))[0]["error"].startswith("Order could not")
    cloid = "0x" + "cd" * 16
    (first, *_) = t.info("openOrders")
    assert t.cancel(SOL, first["oid"])["response"]["data"]["statuses"] == ["success"]
    assert "resting" in t.statuses(wire(SOL, True, "99", "0.2", cloid=cloid))[0]
    by_cloid = lambda asset: t.post_l1({"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": cloid}]})[1]
    assert by_cloid(BTC)["response"]["data"]["statuses"] == [
        {"error": "Order was never placed, already canceled, or filled. asset=0"}]
    assert by_cloid(SOL) == {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}
    assert t.info("orderStatus", oid=cloid)["order"]["status"] == "canceled"
