"""Feed: decoding, heartbeat/staleness, malformed frames, and against `hlmm sim`: every channel, forced
disconnects with resync (no fill missed vs the venue's userFills), posts over the socket."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest
import websockets

from engine.venue import wire
from engine.venue.decode import (AllMids, Bbo, DecodeError, OrderUpdates, Pong, PostReply, SubscriptionAck,
                                 Trades, UserEvent, UserFills, UserFundings, decode)
from engine.venue.feed import Feed, Resync, ws_url_for
from engine.venue.types import Candle, L2Book
from tests.venue.conftest import make_rest

FILL = {"coin": "ETH", "px": "1891.4", "sz": "0.02", "side": "B", "time": 1681222254710, "startPosition": "0.0",
        "dir": "Open Long", "closedPnl": "0.0", "hash": "0xa1", "oid": 90542681, "crossed": True, "fee": "0.01",
        "feeToken": "USDC", "tid": 118906512037719}


def test_decode_every_channel():
    book = decode(orjson.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": 1754450974231, "levels": [
        [{"px": "113377.0", "sz": "7.6699", "n": 17}], [{"px": "113397.0", "sz": "0.11543", "n": 3}]]}}))
    assert book == L2Book("BTC", 1754450974231, ((113377.0, 7.6699, 17),), ((113397.0, 0.11543, 3),))
    bbo = decode(b'{"channel":"bbo","data":{"coin":"ETH","time":5,"bbo":[null,{"px":"2","sz":"1","n":1}]}}')
    assert bbo == Bbo("ETH", 5, None, (2.0, 1.0, 1))
    tr = decode(orjson.dumps({"channel": "trades", "data": [{"coin": "SOL", "side": "A", "px": "150.1", "sz": "2",
                                                              "hash": "0x0", "time": 9, "tid": 7,
                                                              "users": ["0xa", "0xb"]}]}))
    assert isinstance(tr, Trades) and tr.coin == "SOL" and tr.trades[0].px == 150.1
    c = decode(orjson.dumps({"channel": "candle", "data": {"t": 1, "T": 2, "s": "BTC", "i": "1m", "o": "1", "c": "2",
                                                           "h": "3", "l": "0.5", "v": "10", "n": 4}}))
    assert c == Candle(1, 2, "BTC", "1m", 1.0, 3.0, 0.5, 2.0, 10.0, 4)
    ou = decode(orjson.dumps({"channel": "orderUpdates", "data": [{"order": {
        "coin": "ETH", "side": "A", "limitPx": "2826.0", "sz": "0.0", "oid": 1, "timestamp": 2, "origSz": "0.1",
        "cloid": "0x" + "0" * 32}, "status": "filled", "statusTimestamp": 3}]}))
    assert isinstance(ou, OrderUpdates) and ou.updates[0].status == "filled"
    assert ou.updates[0].order.orig_sz == Decimal("0.1")
    uf = decode(orjson.dumps({"channel": "userFills", "data": {"isSnapshot": True, "user": "0xu", "fills": [FILL]}}))
    assert isinstance(uf, UserFills) and uf.is_snapshot and uf.fills[0].tid == FILL["tid"]
    fu = decode(orjson.dumps({"channel": "userFundings", "data": {"user": "0xu", "fundings": [
        {"time": 1, "coin": "ETH", "usdc": "-3.6", "szi": "49.1", "fundingRate": "0.0000417"}]}}))
    assert isinstance(fu, UserFundings) and not fu.is_snapshot and fu.fundings[0].usdc == Decimal("-3.6")
    ue = decode(orjson.dumps({"channel": "user", "data": {"fills": [FILL]}}))
    assert isinstance(ue, UserEvent) and ue.fills[0].oid == FILL["oid"]
    assert decode(orjson.dumps({"channel": "user", "data": {"nonUserCancel": [{"coin": "ETH", "oid": 5}]}})
                  ).non_user_cancel == ({"coin": "ETH", "oid": 5},)
    assert isinstance(decode('{"channel":"allMids","data":{"mids":{"BTC":"1.5"}}}'), AllMids)
    assert isinstance(decode('{"channel":"pong"}'), Pong)
    assert isinstance(decode('{"channel":"subscriptionResponse","data":{"method":"subscribe",'
                             '"subscription":{"type":"trades","coin":"SOL"}}}'), SubscriptionAck)
    pr = decode('{"channel":"post","data":{"id":3,"response":{"type":"action","payload":{"status":"ok"}}}}')
    assert pr == PostReply(3, "action", {"status": "ok"})
    assert decode("Websocket connection established.") is None


@pytest.mark.parametrize("frame", [
    b"not json", b"[1,2]", b'{"data":1}', b'{"channel":"l2Book","data":{"coin":"X"}}',
    b'{"channel":"l2Book","data":{"coin":"X","time":1,"levels":[[{"px":"abc","sz":"1","n":1}],[]]}}',
    b'{"channel":"userFills","data":{"user":"0x","fills":[{"coin":"ETH"}]}}',
    b'{"channel":"user","data":{"mystery":1}}', b'{"channel":"bbo","data":{"coin":"X","time":1,"bbo":[]}}',
    b'{"channel":"userFundings","data":{"user":"0x","fundings":[{"time":1,"coin":"E","usdc":"abc","szi":"1",'
    b'"fundingRate":"0"}]}}',
])
def test_malformed_frames_raise_decode_error(frame):
    with pytest.raises(DecodeError):
        decode(frame)


def test_ws_url_rule_matches_sdk():
    assert ws_url_for("https://api.hyperliquid.xyz") == "wss://api.hyperliquid.xyz/ws"
    assert ws_url_for("http://127.0.0.1:3001") == "ws://127.0.0.1:3001/ws"


async def test_malformed_frames_counted_heartbeat_and_stale_reconnect():
    """A real local WS server that sends garbage, then a book, then goes silent: the feed counts the
    garbage, delivers the book, pings, and replaces the silent connection (with a Resync)."""
    received: list[str] = []
    conns = 0

    async def handler(ws):
        nonlocal conns
        conns += 1
        await ws.send("Websocket connection established.")
        for junk in ("{oops", '{"channel":"l2Book","data":{}}', "[]"):
            await ws.send(junk)
        await ws.send(orjson.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": 1, "levels": [[], []]}}
                                   ).decode())
        try:
            async for msg in ws:  # silent from here on; record what the client sends
                received.append(msg)
        except websockets.ConnectionClosed:
            pass

    events: list = []
    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        feed = Feed(f"ws://127.0.0.1:{port}/ws", events.append, ping_interval_s=0.1, stale_after_s=0.35,
                    backoff_base_s=0.01, backoff_max_s=0.02)
        feed.subscribe({"type": "l2Book", "coin": "BTC"})
        feed.start()
        for _ in range(200):
            if conns >= 2 and sum(isinstance(e, Resync) for e in events) >= 2:
                break
            await asyncio.sleep(0.02)
        await feed.close()
    assert feed.stats["malformed"] >= 3
    assert any(isinstance(e, L2Book) for e in events)
    assert feed.stats["pings"] >= 2 and '{"method":"ping"}' in received
    assert '{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC"}}' in received
    assert feed.stats["reconnects"] >= 1
    assert [e.reason for e in events if isinstance(e, Resync)][:2] == ["connect", "reconnect"]


async def test_consumer_exception_never_kills_the_feed(sim):
    n = {"calls": 0}

    def bad(ev):
        n["calls"] += 1
        raise RuntimeError("consumer bug")

    feed = Feed(sim.url, bad)
    feed.subscribe({"type": "l2Book", "coin": "ETH"})
    feed.start()
    await feed.wait_connected(10)
    for _ in range(100):
        if feed.stats["handler_errors"] >= 3:
            break
        await asyncio.sleep(0.05)
    assert feed.connected
    await feed.close()
    assert feed.stats["handler_errors"] >= 3


async def test_all_channels_from_sim_and_posts(sim, fresh_account, tmp_path):
    addr, key = fresh_account
    user = addr.lower()
    events: list = []
    feed = Feed(sim.url, events.append)
    for sub in ({"type": "l2Book", "coin": "ETH"}, {"type": "bbo", "coin": "ETH"},
                {"type": "trades", "coin": "ETH"}, {"type": "candle", "coin": "ETH", "interval": "1m"},
                {"type": "orderUpdates", "user": user}, {"type": "userFills", "user": user},
                {"type": "userFundings", "user": user}, {"type": "userEvents", "user": user}):
        feed.subscribe(sub)
    feed.start()
    await feed.wait_connected(10)
    async with make_rest(sim, key, tmp_path) as rest:
        book = await rest.l2_book("ETH")
        res = await rest.place_orders([wire.order_wire(1, True, round(book.asks[0][0] * 1.02, 1), 0.01, tif="Ioc")])
        assert res.statuses[0].kind == "filled"
        # posts over the socket: info, and a signed action (noop)
        data = await feed.post_info({"type": "l2Book", "coin": "ETH"})
        assert data["coin"] == "ETH"
        env = rest.signer.envelope(wire.noop_action(), rest.nonces.next())
        assert (await feed.post_action(env))["status"] == "ok"

    def have(t, pred=lambda e: True):
        return any(isinstance(e, t) and pred(e) for e in events)

    for _ in range(100):
        if (have(L2Book) and have(Bbo) and have(Trades) and have(Candle) and have(OrderUpdates)
                and have(UserFills, lambda e: not e.is_snapshot) and have(UserEvent, lambda e: bool(e.fills))):
            break
        await asyncio.sleep(0.05)
    await feed.close()
    assert have(L2Book, lambda e: e.coin == "ETH") and have(Bbo) and have(Candle) and have(Trades)
    assert have(UserFills, lambda e: e.is_snapshot) and have(UserFundings, lambda e: e.is_snapshot)
    fill_tids = {f.tid for e in events if isinstance(e, UserFills) for f in e.fills}
    assert len(fill_tids) == 1
    assert have(UserEvent, lambda e: {f.tid for f in e.fills} == fill_tids)
    assert have(OrderUpdates, lambda e: any(u.order.cloid == res.statuses[0].cloid for u in e.updates))
    assert isinstance(events[0], Resync) and feed.stats["malformed"] == 0


async def test_forced_disconnects_resync_and_no_fill_missed(sim, fresh_account, tmp_path):
    addr, key = fresh_account
    user = addr.lower()
    from_ws: set[int] = set()
    from_resync: set[int] = set()
    resyncs: list[Resync] = []
    tasks: list[asyncio.Task] = []

    async with make_rest(sim, key, tmp_path) as rest:
        async def snapshot():
            from_resync.update(f.tid for f in await rest.user_fills())

        def on_event(ev):
            if isinstance(ev, Resync):
                resyncs.append(ev)
                tasks.append(asyncio.get_running_loop().create_task(snapshot()))
            elif isinstance(ev, UserFills):
                from_ws.update(f.tid for f in ev.fills)

        feed = Feed(sim.url, on_event, backoff_base_s=0.05, backoff_max_s=0.2)
        feed.subscribe({"type": "userFills", "user": user})
        feed.start()
        await feed.wait_connected(10)
        sim.admin("faults", {"ws_drop_every_s": 0.6})
        book = await rest.l2_book("ETH")
        for i in range(40):  # fills keep happening while the socket is dropped and re-established
            side = i % 2 == 0
            px = round(book.asks[0][0] * 1.05, 1) if side else round(book.bids[0][0] * 0.95, 1)
            r = await rest.place_orders([wire.order_wire(1, side, px, 0.01, tif="Ioc")])
            assert r.statuses[0].kind == "filled", r
            await asyncio.sleep(0.08)
        sim.admin("faults", {})
        venue_tids = {f.tid for f in await rest.user_fills()}
        for _ in range(60):  # let the last pushes arrive over the socket (no extra REST snapshot here)
            if venue_tids <= (from_ws | from_resync):
                break
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        await feed.close()
    print("ws", len(from_ws), "resync", len(from_resync), "only-resync", len(from_resync - from_ws), feed.stats)
    assert len(venue_tids) >= 40
    assert feed.stats["reconnects"] >= 3 and len(resyncs) == feed.stats["connects"]
    assert venue_tids == from_ws | from_resync, "a fill was missed across a gap"
    assert feed.stats["malformed"] == 0


async def test_ws_post_action_lost_reply_is_settled_not_resent(sim, fresh_account, tmp_path):
    """An order posted over the socket whose reply does not come in time: settled via REST (nonce burn +
    cloid lookup) — placed exactly once."""
    addr, key = fresh_account
    feed = Feed(sim.url, lambda ev: None)
    feed.start()
    await feed.wait_connected(10)
    async with make_rest(sim, key, tmp_path) as rest:
        book = await rest.l2_book("ETH")
        env = rest.prepare(wire.order_action([wire.order_wire(1, True, round(book.bids[0][0] * 0.9, 1), 0.01,
                                                              tif="Alo", cloid=rest.new_cloid())]))
        sim.admin("faults", {"latency_ms": 400})
        with pytest.raises(asyncio.TimeoutError):
            await feed.post_action(env, timeout=0.1)
        settled = await rest.settle(env, "ws post timed out")
        sim.admin("faults", {})
        assert settled.resolution.value == "resolved_placed" and settled.statuses[0].status == "open"
        opened = await rest.open_orders()
        assert [o.cloid for o in opened] == [env["action"]["orders"][0]["c"]]
        # and a post that does answer parses like a REST reply
        env2 = rest.prepare(wire.noop_action())
        assert rest.parse_reply(env2, await feed.post_action(env2)).ok
    await feed.close()


def test_decode_never_raises_anything_but_decode_error():
    """Random JSON of the right channels but wrong shapes: typed result or DecodeError, nothing else."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
                     st.text(max_size=5))
    data = st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                    st.dictionaries(st.sampled_from(
                                                        ["coin", "time", "levels", "px", "sz", "n", "bbo", "fills",
                                                         "user", "mids", "order", "status", "funding", "id",
                                                         "response", "type", "payload", "t", "s", "fundings",
                                                         "usdc", "szi", "fundingRate", "side", "limitPx", "oid",
                                                         "tid", "statusTimestamp", "fee"]), kids,
                                                        max_size=4)), max_leaves=12)
    channels = st.sampled_from(["l2Book", "bbo", "trades", "candle", "allMids", "orderUpdates", "userFills",
                                "userFundings", "user", "pong", "subscriptionResponse", "error", "post", "x"])

    @settings(max_examples=1500, deadline=None)
    @given(channels, data)
    def check(channel, d):
        try:
            decode(orjson.dumps({"channel": channel, "data": d}))
        except DecodeError:
            pass

    check()
