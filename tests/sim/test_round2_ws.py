"""Account WS channels, l2Book order counts, historicalOrders rows and the scheduled cancel's timing, over real
sockets: the SDK's own subscriptions (webData2, activeAssetData) and raw frames for the channels SDK 0.24 does
not know (clearinghouseState, openOrders, notification, webData3, twapStates)."""
from __future__ import annotations

import json
import queue
import time
from decimal import Decimal

from hyperliquid.info import Info
from websockets.sync.client import connect

from tests.sim.helpers import exchange, info, round_px, statuses, wait_for

D = Decimal


class RawWs:
    """A bare /ws connection: subscribe, then read frames by channel."""

    def __init__(self, url: str):
        self.ws = connect("ws" + url[4:] + "/ws", open_timeout=5)
        assert self.ws.recv(timeout=5) == "Websocket connection established."
        self.kept: list[dict] = []  # frames read while looking for another one

    def sub(self, subscription: dict) -> None:
        self.ws.send(json.dumps({"method": "subscribe", "subscription": subscription}))

    def next(self, channel: str, timeout: float = 5.0, where=lambda data: True) -> dict:
        for i, msg in enumerate(self.kept):
            if msg.get("channel") == channel and where(msg["data"]):
                return self.kept.pop(i)["data"]
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if msg.get("channel") == "error":
                raise AssertionError(msg)
            if msg.get("channel") == channel and where(msg["data"]):
                return msg["data"]
            self.kept.append(msg)

    def close(self) -> None:
        self.ws.close()


def test_account_channels_push_snapshots_and_changes(sim_server, fresh_account):
    address, key = fresh_account
    user = address.lower()
    ws = RawWs(sim_server.url)
    try:
        for kind in ("clearinghouseState", "spotState", "openOrders", "webData3", "twapStates", "notification"):
            ws.sub({"type": kind, "user": address})
            ack = ws.next("subscriptionResponse", where=lambda d, k=kind: d["subscription"]["type"] == k)
            assert ack["method"] == "subscribe"
        chs = ws.next("clearinghouseState")
        assert (chs["dex"], chs["user"]) == ("", user) and "marginSummary" in chs["clearinghouseState"]
        spot = ws.next("spotState")
        assert spot["user"] == user and {b["coin"] for b in spot["spotState"]["balances"]} == {"USDC", "HYPE"}
        assert ws.next("openOrders") == {"dex": "", "user": user, "orders": []}
        wd3 = ws.next("webData3")
        assert wd3["userState"]["user"] == user and wd3["perpDexStates"][0]["totalVaultEquity"] == "0.0"
        assert ws.next("twapStates") == {"dex": "", "user": user, "states": []}
        ex = exchange(sim_server, key)
        px = round_px(float(sim_server.info({"type": "allMids"})["ETH"]) * 0.9, "ETH")
        oid = statuses(ex.order("ETH", True, 0.01, px, {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
        pushed = ws.next("openOrders", where=lambda d: d["orders"])
        assert [(o["oid"], o["orderType"], o["isTrigger"]) for o in pushed["orders"]] == [(oid, "Limit", False)]
        # a TP that the mark already meets fires at once: the venue tells the user
        statuses(ex.market_open("ETH", True, 0.01))
        tp = round_px(float(sim_server.info({"type": "allMids"})["ETH"]) * 0.8, "ETH")
        statuses(ex.order("ETH", False, 0.01, tp, {"trigger": {"triggerPx": tp, "isMarket": True, "tpsl": "tp"}},
                          reduce_only=True))
        note = ws.next("notification")
        assert note["notification"].startswith("Take Profit Market order ") and "triggered" in note["notification"]
    finally:
        ws.close()
    bad = RawWs(sim_server.url)
    try:
        bad.sub({"type": "activeAssetData", "user": address, "coin": "@1"})  # perp only
        assert json.loads(bad.ws.recv(timeout=5))["data"].startswith("Invalid subscription")
    finally:
        bad.close()


def test_sdk_webdata2_and_active_asset_data_subscriptions(sim_server, fresh_account):
    address, key = fresh_account
    inf = Info(sim_server.url)  # with its websocket
    got: dict[str, queue.Queue] = {"webData2": queue.Queue(), "activeAssetData": queue.Queue()}
    try:
        inf.subscribe({"type": "webData2", "user": address}, lambda m: got["webData2"].put(m))
        inf.subscribe({"type": "activeAssetData", "user": address, "coin": "BTC"},
                      lambda m: got["activeAssetData"].put(m))
        wd = got["webData2"].get(timeout=5)["data"]
        assert wd["user"] == address.lower() and wd["openOrders"] == [] and len(wd["meta"]["universe"]) == 4
        aad = got["activeAssetData"].get(timeout=5)["data"]
        assert (aad["coin"], aad["user"], aad["leverage"]["type"]) == ("BTC", address.lower(), "cross")
        assert len(aad["maxTradeSzs"]) == 2 and D(aad["availableToTrade"][0]) > 0
        assert exchange(sim_server, key).update_leverage(3, "BTC", is_cross=False)["status"] == "ok"
        changed = wait_for(lambda: _drain_until(got["activeAssetData"], lambda d: d["leverage"]["type"] == "isolated"),
                           5, what="an activeAssetData push after the leverage change")
        assert changed["leverage"] == {"type": "isolated", "value": 3, "rawUsd": "0.0"}
    finally:
        inf.disconnect_websocket()


def _drain_until(q: queue.Queue, pred):
    while not q.empty():
        data = q.get_nowait()["data"]
        if pred(data):
            return data
    return None


def test_l2book_counts_orders_and_historical_orders_list_each_status(sim_server, fresh_account):
    address, key = fresh_account
    book = sim_server.info({"type": "l2Book", "coin": "BTC"})["levels"]
    counts = [lv["n"] for lv in book[0] + book[1]]
    assert max(counts) > 1  # the synthetic ladder's big levels stand for several makers' orders
    for lv in book[0]:
        assert lv["n"] == max(1, round(D(lv["px"]) * D(lv["sz"]) / 25_000))
    ex, inf = exchange(sim_server, key), info(sim_server)
    px = float(D(book[0][5]["px"]) - 3)  # between two ladder levels, out of the takers' reach: its own level
    oid = statuses(ex.order("BTC", True, 0.001, px, {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
    mine = [lv for lv in sim_server.info({"type": "l2Book", "coin": "BTC"})["levels"][0] if D(lv["px"]) == D(str(px))]
    assert mine and mine[0]["n"] == 1
    statuses(ex.cancel("BTC", oid))
    rows = [h for h in inf.historical_orders(address) if h["order"]["oid"] == oid]
    assert [h["status"] for h in rows] == ["canceled", "open"]  # one row per status, newest first


def test_a_scheduled_cancel_fires_at_its_time_on_an_idle_venue(sim_server, fresh_account):
    address, key = fresh_account
    ex = exchange(sim_server, key)
    px = round_px(float(sim_server.info({"type": "allMids"})["SOL"]) * 0.9, "SOL")
    oid = statuses(ex.order("SOL", True, 1.0, px, {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
    at = sim_server.admin("clock")["now"] + 5_200
    assert ex.schedule_cancel(at)["status"] == "ok"
    seen = []
    while True:  # every read is one answer with the venue's time and the open orders of that instant
        wd = sim_server.info({"type": "webData2", "user": address})
        seen.append((wd["serverTime"], [o["oid"] for o in wd["openOrders"]]))
        if wd["serverTime"] > at + 300:
            break
        time.sleep(0.01 if wd["serverTime"] > at - 400 else 0.2)
    assert all(oids == ([] if t >= at else [oid]) for t, oids in seen), [s for s in seen if abs(s[0] - at) < 300]
    rows = [h for h in info(sim_server).historical_orders(address) if h["order"]["oid"] == oid]
    assert (rows[0]["status"], rows[0]["statusTimestamp"]) == ("scheduledCancel", at)
