"""Issue #13 on the in-process venue (actions signed with the SDK's own functions), where a test can move the mark:
trigger orders fire only when the mark crosses, a normalTpsl child opens when its resting parent is filled by
another user, isolated positions keep their losses to their own margin, and snapshot/restore carries all of it."""
from __future__ import annotations

from decimal import Decimal

from .helpers import funded, make_venue, wire

HYPE = 3
D = Decimal


def _trig(is_buy: bool, px: str, trigger: str, tpsl: str, sz: str = "10", market: bool = True, ro: bool = True):
    return {"a": HYPE, "b": is_buy, "p": px, "s": sz, "r": ro,
            "t": {"trigger": {"isMarket": market, "triggerPx": trigger, "tpsl": tpsl}}}


def _liquid(v, maker):
    """Resting liquidity around 30 so fired market orders have something to trade against."""
    maker.statuses(*[wire(HYPE, True, str(px), "100") for px in ("29", "27", "25")],
                   *[wire(HYPE, False, str(px), "100") for px in ("31", "33")])


def test_a_stop_fires_only_when_the_mark_crosses_it():
    v = make_venue()
    a, mm = funded(v), funded(v)
    _liquid(v, mm)
    a.statuses(wire(HYPE, True, "31", "10", tif="Ioc"))  # long 10 at 31
    (st,) = a.statuses(_trig(False, "26", "28", "sl"))
    oid = st["resting"]["oid"]
    before = a.info("clearinghouseState")["withdrawable"]
    v.set_oracle("HYPE", "28.01")
    assert a.info("orderStatus", oid=oid)["order"]["status"] == "open"  # not yet: 28.01 > 28
    assert a.info("clearinghouseState")["withdrawable"] != before  # (the mark moved the account)
    v.set_oracle("HYPE", "28")
    statuses = [e["status"] for e in v.order_events() if e["order"]["oid"] == oid]
    assert statuses == ["open", "triggered", "filled"]
    fill = a.info("userFills")[0]
    assert (fill["oid"], fill["px"], fill["dir"]) == (oid, "29.0", "Close Long")  # market: sold into the 29 bid


def test_a_limit_take_profit_rests_at_its_own_price_once_triggered():
    v = make_venue()
    a, mm = funded(v), funded(v)
    _liquid(v, mm)
    a.statuses(wire(HYPE, True, "31", "10", tif="Ioc"))
    oid = a.statuses(_trig(False, "34", "32", "tp", market=False))[0]["resting"]["oid"]
    assert all(lv["px"] != "34.0" for lv in a.info("l2Book", coin="HYPE")["levels"][1])  # not in the book yet
    v.set_oracle("HYPE", "32.5")
    front = a.info("frontendOpenOrders")
    assert [(o["oid"], o["limitPx"], o["orderType"]) for o in front] == [(oid, "34.0", "Take Profit Limit")]
    assert any(lv["px"] == "34.0" for lv in a.info("l2Book", coin="HYPE")["levels"][1])  # now it rests


def test_a_normal_tpsl_child_opens_when_its_parent_fills_as_maker():
    v = make_venue()
    a, b = funded(v), funded(v)
    out = a.order(wire(HYPE, True, "29.5", "10"), _trig(False, "25", "27", "sl"), grouping="normalTpsl")
    assert out["response"]["data"]["statuses"][1] == "waitingForFill"
    assert len(a.info("openOrders")) == 1
    b.statuses(wire(HYPE, False, "29.5", "10", tif="Ioc"))  # fills the parent completely
    (child,) = a.info("frontendOpenOrders")
    assert (child["orderType"], child["triggerCondition"], child["sz"]) == ("Stop Market", "Price below 27", "10.0")


def test_an_isolated_loss_stops_at_its_margin_and_spares_the_cross_account():
    v = make_venue()
    a, mm = funded(v), funded(v)
    _liquid(v, mm)
    assert a.post_l1({"type": "updateLeverage", "asset": HYPE, "isCross": False, "leverage": 5})[1]["status"] == "ok"
    a.statuses(wire(HYPE, True, "31", "100", tif="Ioc"))  # 100 @ 31, isolated at 5x: 620 USDC of margin
    st = a.info("clearinghouseState")
    pos = st["assetPositions"][0]["position"]
    assert pos["leverage"] == {"type": "isolated", "value": 5, "rawUsd": "-2480.0"}  # 620 - 3100 cost
    assert D(st["marginSummary"]["accountValue"]) - D(st["crossMarginSummary"]["accountValue"]) == D(pos["marginUsed"])
    cross_before = D(st["crossMarginSummary"]["accountValue"])
    assert a.post_l1({"type": "updateIsolatedMargin", "asset": HYPE, "isBuy": True, "ntli": 80_000_000})[1] == {
        "status": "ok", "response": {"type": "default"}}
    st = a.info("clearinghouseState")
    assert D(st["crossMarginSummary"]["accountValue"]) == cross_before - 80
    liq = D(st["assetPositions"][0]["position"]["liquidationPx"])
    assert D("25.26") < liq < D("25.27")  # (3100 - 700) / (100 - 100/20) = 25.26...: 700 margin, 10x max
    too_much = a.post_l1({"type": "updateIsolatedMargin", "asset": HYPE, "isBuy": True, "ntli": -600_000_000})[1]
    assert too_much["status"] == "err"
    v.set_oracle("HYPE", "20")  # far below the liquidation price
    st = a.info("clearinghouseState")
    assert st["assetPositions"] == []
    assert a.info("userFills")[0]["dir"] == "Liquidated Isolated Long"
    assert D(st["crossMarginSummary"]["accountValue"]) == cross_before - 80  # lost: the 700 margin, no more


def test_snapshot_restore_keeps_triggers_children_and_isolated_margin():
    v = make_venue()
    a, mm = funded(v), funded(v)
    _liquid(v, mm)
    a.post_l1({"type": "updateLeverage", "asset": HYPE, "isCross": False, "leverage": 5})
    a.statuses(wire(HYPE, True, "31", "10", tif="Ioc"))
    a.statuses(_trig(False, "26", "28", "sl"))
    a.order(wire(HYPE, True, "28.5", "5"), _trig(False, "25", "26", "sl", sz="5"), grouping="normalTpsl")
    before = (a.info("frontendOpenOrders"), a.info("clearinghouseState")["assetPositions"],
              a.info("historicalOrders"))
    w = make_venue()
    w.restore(v.snapshot())
    a.venue = w
    assert (a.info("frontendOpenOrders"), a.info("clearinghouseState")["assetPositions"],
            a.info("historicalOrders")) == before
    w.set_oracle("HYPE", "27.5")
    assert [o["orderType"] for o in a.info("frontendOpenOrders")] == ["Limit"]  # the stop fired after restore
