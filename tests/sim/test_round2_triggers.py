"""TP/SL trigger orders over real sockets with the unmodified SDK: resting untriggered with the venue's frontend
fields, normalTpsl children waiting for their parent, positionTpsl following the position, and firing on the
mark price (the synthetic market moves it, so the firing test uses a condition the mark already meets)."""
from __future__ import annotations

from decimal import Decimal

from tests.sim.helpers import exchange, info, round_px, statuses, wait_for

D = Decimal


def _mark(sim_server, coin: str = "HYPE") -> float:
    meta, ctxs = sim_server.info({"type": "metaAndAssetCtxs"})
    return float(next(c["markPx"] for a, c in zip(meta["universe"], ctxs) if a["name"] == coin))


def _long(ex, size: float = 2.0) -> None:
    assert "filled" in statuses(ex.market_open("HYPE", True, size))[0]


def _trigger(px: float, tpsl: str, is_market: bool = True) -> dict:
    return {"trigger": {"triggerPx": px, "isMarket": is_market, "tpsl": tpsl}}


def test_an_untriggered_stop_rests_with_the_venues_fields(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    _long(ex)
    stop = round_px(_mark(sim_server) * 0.7, "HYPE")
    resting = statuses(ex.order("HYPE", False, 2.0, stop, _trigger(stop, "sl"), reduce_only=True))[0]["resting"]
    oid = resting["oid"]
    fo = next(o for o in inf.frontend_open_orders(address) if o["oid"] == oid)
    shown = format(D(str(stop)).normalize(), "f")
    assert (fo["isTrigger"], fo["orderType"], fo["triggerCondition"], fo["tif"], fo["reduceOnly"]) == \
        (True, "Stop Market", f"Price below {shown}", None, True)
    assert D(fo["triggerPx"]) == D(str(stop)) and fo["children"] == [] and fo["isPositionTpsl"] is False
    assert oid in [o["oid"] for o in inf.open_orders(address)]
    st = inf.query_order_by_oid(address, oid)
    assert st["order"]["status"] == "open" and st["order"]["order"]["isTrigger"] is True
    limit_tp = round_px(_mark(sim_server) * 1.5, "HYPE")
    tp = statuses(ex.order("HYPE", False, 1.0, limit_tp, _trigger(limit_tp, "tp", False), reduce_only=True))[0]
    fo = next(o for o in inf.frontend_open_orders(address) if o["oid"] == tp["resting"]["oid"])
    assert fo["orderType"] == "Take Profit Limit" and fo["triggerCondition"].startswith("Price above ")
    assert statuses(ex.cancel("HYPE", oid)) == ["success"]
    assert inf.query_order_by_oid(address, oid)["order"]["status"] == "canceled"
    bad = statuses(ex.order("HYPE", False, 1.0, stop, {"trigger": {"triggerPx": -1.0, "isMarket": True,
                                                                   "tpsl": "sl"}}, reduce_only=True))
    assert bad == [{"error": "Invalid TP/SL price. asset=3"}]


def test_normal_tpsl_children_wait_for_their_parent(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    mark = _mark(sim_server)
    entry, tp, sl = (round_px(mark * f, "HYPE") for f in (0.95, 1.1, 0.85))
    orders = [
        {"coin": "HYPE", "is_buy": True, "sz": 1.0, "limit_px": entry, "order_type": {"limit": {"tif": "Gtc"}},
         "reduce_only": False},
        {"coin": "HYPE", "is_buy": False, "sz": 1.0, "limit_px": tp, "order_type": _trigger(tp, "tp"),
         "reduce_only": True},
        {"coin": "HYPE", "is_buy": False, "sz": 1.0, "limit_px": sl, "order_type": _trigger(sl, "sl"),
         "reduce_only": True},
    ]
    st = statuses(ex.bulk_orders(orders, grouping="normalTpsl"))
    assert "resting" in st[0] and st[1:] == ["waitingForFill", "waitingForFill"]
    parent = st[0]["resting"]["oid"]
    front = inf.frontend_open_orders(address)
    assert [o["oid"] for o in front] == [parent]  # the children are not open orders yet
    kids = front[0]["children"]
    assert [(k["orderType"], k["isTrigger"], k["reduceOnly"]) for k in kids] == [
        ("Take Profit Market", True, True), ("Stop Market", True, True)]
    statuses(ex.cancel("HYPE", parent))
    assert inf.frontend_open_orders(address) == []
    hist = {(h["order"]["oid"], h["status"]) for h in inf.historical_orders(address)}
    assert {(k["oid"], "canceled") for k in kids} <= hist  # they die with the parent


def test_position_tpsl_fires_on_the_mark_and_cancels_its_sibling(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    _long(ex)
    mark = _mark(sim_server)
    tp_px = round_px(mark * 0.8, "HYPE")  # "Price above" a level the mark is already above: it fires at once
    sl_px = round_px(mark * 0.5, "HYPE")
    orders = [{"coin": "HYPE", "is_buy": False, "sz": 0, "limit_px": tp_px, "order_type": _trigger(tp_px, "tp"),
               "reduce_only": True},
              {"coin": "HYPE", "is_buy": False, "sz": 0, "limit_px": sl_px, "order_type": _trigger(sl_px, "sl"),
               "reduce_only": True}]
    assert statuses(ex.bulk_orders(orders, grouping="positionTpsl")) == ["waitingForTrigger", "waitingForTrigger"]
    flat = wait_for(lambda: not [p for p in inf.user_state(address)["assetPositions"]
                                 if p["position"]["coin"] == "HYPE"], 5, what="the take-profit closing the long")
    assert flat
    rows = inf.historical_orders(address)
    tp_oid = next(h["order"]["oid"] for h in rows if h["status"] == "triggered")
    tp_rows = [h for h in rows if h["order"]["oid"] == tp_oid]
    assert [h["status"] for h in tp_rows] == ["filled", "triggered", "open"]  # one row per status, newest first
    assert tp_rows[-1]["order"]["isPositionTpsl"] is True and tp_rows[-1]["order"]["sz"] == "0.0"
    assert D(tp_rows[0]["order"]["origSz"]) == 0
    sibling = [h for h in rows if h["status"] == "siblingFilledCanceled"]
    assert len(sibling) == 1 and sibling[0]["order"]["orderType"] == "Stop Market"
    fill = next(f for f in inf.user_fills(address) if f["oid"] == tp_oid)
    assert (fill["dir"], fill["crossed"], D(fill["sz"])) == ("Close Long", True, D(2))
    assert inf.query_order_by_oid(address, tp_oid)["order"]["status"] == "filled"
