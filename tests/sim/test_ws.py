"""WebSocket conformance: the SDK's own WebsocketManager and a raw client against `hlmm sim`."""
from __future__ import annotations

import json
import threading
import time

import pytest
from eth_account import Account
from hyperliquid.info import Info
from hyperliquid.utils.signing import (get_timestamp_ms, order_request_to_order_wire, order_wires_to_order_action,
                                       sign_l1_action)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.sim.helpers import exchange, mid, round_px, size_for, statuses, wait_for


class Inbox:
    """Collects SDK callback messages from the WS thread."""

    def __init__(self) -> None:
        self.msgs: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, msg: dict) -> None:
        with self.lock:
            self.msgs.append(msg)

    def where(self, pred) -> list[dict]:
        with self.lock:
            return [m for m in self.msgs if pred(m)]


@pytest.fixture
def ws_info(sim_server):
    inf = Info(sim_server.url, skip_ws=False)
    wait_for(lambda: inf.ws_manager.ws_ready, what="SDK websocket to open")
    yield inf
    inf.disconnect_websocket()


def ws_url(sim) -> str:
    return "ws" + sim.url[len("http"):] + "/ws"


def recv_json(ws, timeout: float = 5.0) -> dict:
    while True:
        text = ws.recv(timeout=timeout)
        if text.startswith("{"):
            return json.loads(text)


def recv_until(ws, pred, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = recv_json(ws, timeout=max(0.1, deadline - time.monotonic()))
        if pred(msg):
            return msg


def test_fills_and_order_updates_reach_user_subscriptions(sim_server, fresh_account, ws_info):
    address, key = fresh_account
    fills, events, orders = Inbox(), Inbox(), Inbox()
    ws_info.subscribe({"type": "userFills", "user": address}, fills)
    ws_info.subscribe({"type": "userEvents", "user": address}, events)
    ws_info.subscribe({"type": "orderUpdates", "user": address}, orders)
    first = wait_for(lambda: fills.where(lambda m: True), what="userFills snapshot")[0]
    assert first["data"]["isSnapshot"] is True and first["data"]["fills"] == []
    assert first["data"]["user"] == address.lower()

    m = mid(ws_info, "HYPE")
    filled = statuses(exchange(sim_server, key).order("HYPE", True, 1.0, round_px(m * 1.01, "HYPE"),
                                                      {"limit": {"tif": "Ioc"}}))[0]["filled"]
    live = wait_for(lambda: fills.where(lambda m: not m["data"].get("isSnapshot")), what="userFills event")
    assert live[0]["data"]["fills"][0]["oid"] == filled["oid"]
    ev = wait_for(lambda: events.where(lambda m: "fills" in m["data"]), what="userEvents fills")
    assert ev[0]["channel"] == "user" and ev[0]["data"]["fills"][0]["coin"] == "HYPE"
    upd = wait_for(lambda: orders.where(lambda m: any(u["status"] == "filled" for u in m["data"])),
                   what="orderUpdates filled")
    assert upd[0]["data"][-1]["order"]["oid"] == filled["oid"]


def test_market_channels_via_sdk(sim_server, fresh_account, ws_info):
    _, key = fresh_account
    books, trades, bbos, candles, mids, ctxs, spot_ctxs = (Inbox() for _ in range(7))
    ws_info.subscribe({"type": "l2Book", "coin": "BTC"}, books)
    ws_info.subscribe({"type": "trades", "coin": "SOL"}, trades)
    ws_info.subscribe({"type": "bbo", "coin": "HYPE/USDC"}, bbos)        # SDK rewrites to "@1"
    ws_info.subscribe({"type": "candle", "coin": "SOL", "interval": "1m"}, candles)
    ws_info.subscribe({"type": "allMids"}, mids)
    ws_info.subscribe({"type": "activeAssetCtx", "coin": "ETH"}, ctxs)
    ws_info.subscribe({"type": "activeAssetCtx", "coin": "HYPE/USDC"}, spot_ctxs)

    book = wait_for(lambda: books.where(lambda m: True), what="l2Book")[0]["data"]
    assert book["coin"] == "BTC" and len(book["levels"][0]) == 20 and len(book["levels"][1]) == 20
    m = mid(ws_info, "SOL")
    statuses(exchange(sim_server, key).order("SOL", False, size_for(20, m, "SOL"), round_px(m * 0.99, "SOL"),
                                             {"limit": {"tif": "Ioc"}}))
    t = wait_for(lambda: trades.where(lambda m: True), what="trades")[0]["data"][0]
    assert t["coin"] == "SOL" and t["side"] in ("A", "B") and len(t["users"]) == 2 and isinstance(t["tid"], int)
    b = wait_for(lambda: bbos.where(lambda m: True), what="bbo")[0]["data"]
    assert b["coin"] == "@1" and float(b["bbo"][0]["px"]) < float(b["bbo"][1]["px"])
    c = wait_for(lambda: candles.where(lambda m: True), what="candle")[0]["data"]
    assert isinstance(c, dict) and c["s"] == "SOL" and c["i"] == "1m"
    mm = wait_for(lambda: mids.where(lambda m: True), what="allMids")[0]["data"]["mids"]
    assert {"BTC", "@1", "PURR/USDC"} <= set(mm)
    ctx = wait_for(lambda: ctxs.where(lambda m: True), what="activeAssetCtx")[0]
    assert ctx["channel"] == "activeAssetCtx" and ctx["data"]["coin"] == "ETH" and "funding" in ctx["data"]["ctx"]
    sctx = wait_for(lambda: spot_ctxs.where(lambda m: True), what="activeSpotAssetCtx")[0]
    assert sctx["channel"] == "activeSpotAssetCtx" and sctx["data"]["coin"] == "@1"
    # the book keeps coming, at least 0.5 s apart, without being asked again
    wait_for(lambda: len(books.where(lambda m: True)) >= 2, timeout=15, what="second l2Book push")


def test_raw_protocol_ping_errors_and_only_subscribed_channels(sim_server):
    with connect(ws_url(sim_server)) as ws:
        ws.send(json.dumps({"method": "ping"}))
        assert recv_json(ws) == {"channel": "pong"}
        sub = {"type": "l2Book", "coin": "ETH"}
        ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
        assert recv_json(ws) == {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}
        ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
        err = recv_until(ws, lambda m: m["channel"] == "error")
        assert err["data"].startswith("Already subscribed")
        ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "NOPE"}}))
        err = recv_until(ws, lambda m: m["channel"] == "error")
        assert err["data"].startswith("Invalid subscription")
        ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "bogus"}}))
        assert recv_until(ws, lambda m: m["channel"] == "error")["data"].startswith("Invalid subscription")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # only what we subscribed to arrives
            try:
                msg = recv_json(ws, timeout=0.5)
            except TimeoutError:
                continue
            assert msg["channel"] in ("l2Book", "error", "subscriptionResponse"), msg
            if msg["channel"] == "l2Book":
                assert msg["data"]["coin"] == "ETH"
        ws.send(json.dumps({"method": "unsubscribe", "subscription": sub}))
        resp = recv_until(ws, lambda m: m["channel"] == "subscriptionResponse")
        assert resp["data"]["method"] == "unsubscribe"


def test_ws_post_info_and_action(sim_server, fresh_account):
    address, key = fresh_account
    with connect(ws_url(sim_server)) as ws:
        ws.send(json.dumps({"method": "post", "id": 7, "request": {"type": "info",
                                                                    "payload": {"type": "l2Book", "coin": "SOL"}}}))
        resp = recv_until(ws, lambda m: m["channel"] == "post")
        assert resp["data"]["id"] == 7
        assert resp["data"]["response"]["type"] == "info"
        assert resp["data"]["response"]["payload"]["type"] == "l2Book"
        assert resp["data"]["response"]["payload"]["data"]["coin"] == "SOL"

        m = float(sim_server.info({"type": "allMids", "dex": ""})["SOL"])
        wire = order_request_to_order_wire({"coin": "SOL", "is_buy": True, "sz": 1.0, "limit_px": round_px(m * 0.95, "SOL"),
                                            "order_type": {"limit": {"tif": "Gtc"}}, "reduce_only": False}, 2)
        action = order_wires_to_order_action([wire])
        nonce = get_timestamp_ms()
        sig = sign_l1_action(Account.from_key(key), action, None, nonce, None, False)
        ws.send(json.dumps({"method": "post", "id": 8, "request": {"type": "action", "payload": {
            "action": action, "nonce": nonce, "signature": sig, "vaultAddress": None}}}))
        resp = recv_until(ws, lambda m: m["channel"] == "post")
        assert resp["data"]["id"] == 8 and resp["data"]["response"]["type"] == "action"
        payload = resp["data"]["response"]["payload"]
        assert payload["status"] == "ok" and "resting" in payload["response"]["data"]["statuses"][0]
    assert len(sim_server.info({"type": "openOrders", "user": address, "dex": ""})) == 1


def test_idle_connection_is_closed(sim_server):
    sim_server.admin("limits", {"ws_idle_timeout_s": 0.5})
    try:
        # a client that keeps talking stays connected well past the idle limit
        with connect(ws_url(sim_server)) as ws:
            for _ in range(8):
                ws.send(json.dumps({"method": "ping"}))
                assert recv_until(ws, lambda m: m["channel"] == "pong")
                time.sleep(0.2)
        # a silent one is closed by the server
        with connect(ws_url(sim_server)) as ws:
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                while time.monotonic() - started < 10:
                    ws.recv(timeout=10)
    finally:
        sim_server.admin("limits", {})
    assert sim_server.admin("limits")["ws_idle_timeout_s"] == 60.0
