"""WebSocket subscription manager for the local venue (protocol notes §6).

One `WsHub` per server. It receives the venue's change notices (`Venue.subscribe`) and fans them
out to the connections that subscribed to the matching channel, nothing else (the SDK prints a
warning for unexpected channels). Market snapshots (l2Book, bbo, allMids, asset contexts) are built
by calling `venue.info`, so the WebSocket never disagrees with POST /info.

Everything runs on the server's event loop: venue callbacks only enqueue, a flusher task turns
dirty books into pushes on a real-time cadence (l2Book/allMids at most every 0.5 s per coin, like
the real venue, independent of the simulated clock's speed).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from sim.ws_user import STATE_TYPES
from sim.ws_views import CANDLE_INTERVALS, SubscriptionError, VenueViews, dumps, subscription_key

USER_STATE_CHANNELS = set(STATE_TYPES) | {"activeAssetData"}

log = logging.getLogger("sim.ws")

BOOK_PUSH_INTERVAL_S = 0.5  # real venue: a block at least 0.5 s after the last push
FLUSH_INTERVAL_S = 0.05
MAX_QUEUED = 20_000  # messages waiting for one slow client before it is disconnected
@dataclass(eq=False)
class Conn:
    ws: WebSocket
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    subs: dict[str, dict] = field(default_factory=dict)  # key -> subscription as sent
    closed: bool = False
    overflowed: bool = False
    ip: str = ""  # client host, for fault targeting

    def users(self) -> list[str]:
        """Accounts of this connection's current user-channel subscriptions (lower-case)."""
        return [sub["user"].lower() for sub in self.subs.values()
                if isinstance(sub, dict) and isinstance(sub.get("user"), str)]

    def send(self, obj: Any) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= MAX_QUEUED:
            # a client that stops reading is disconnected, like the real venue does, instead of
            # letting its backlog grow without bound
            self.overflowed = self.closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(obj if isinstance(obj, str) else dumps(obj))


class WsHub:
    """Subscriptions, pushes and `post` requests for every /ws connection of one server."""

    def __init__(self, venue: Any, *, idle_timeout_s: float = 60.0,
                 post_handler: Callable[[str, dict, str], Any] | None = None,
                 wall: Callable[[], float] = time.monotonic):
        self.venue = venue
        self.idle_timeout_s = idle_timeout_s
        self.post_handler = post_handler  # async (kind, payload, client_ip) -> (status, body)
        self._wall = wall
        self.conns: set[Conn] = set()
        self.by_key: dict[str, set[Conn]] = {}
        self._dirty_books: set[str] = set()
        self._dirty_ctx: set[str] = set()
        self._dirty_candles: set[str] = set()
        self._mids_dirty = False
        self._last_book_push: dict[str, float] = {}
        self._last_mids_push = 0.0
        self._last_bbo: dict[str, Any] = {}
        self._last_ctx: dict[str, str] = {}
        self.views = VenueViews(venue)
        self._task: asyncio.Task | None = None
        self._drop_task: asyncio.Task | None = None
        self.drop_filter: Callable[[Conn], bool] | None = None  # which connections a drop closes (None: all)
        venue.subscribe(self.on_event)

    # ---------------------------------------------------------------- venue side
    def on_event(self, ev: Any) -> None:
        """Venue callback (runs inside venue calls): route user/trade events now, mark books dirty."""
        try:
            self._route(ev)
        except Exception:  # a push bug must never break the venue call that emitted it
            log.exception("ws event routing failed for %s", getattr(ev, "channel", ev))

    def _route(self, ev: Any) -> None:
        channel, key, data = ev.channel, ev.key, ev.data
        if channel == "book":
            self._dirty_books.add(key)
            self._mids_dirty = True
            return
        if channel == "ctx":
            self._dirty_ctx.add(key)
            return
        if channel == "trades":
            self._mids_dirty = True
            self._fan(f"trades:{key}", {"channel": "trades", "data": data})
            self._dirty_candles.add(key)  # built in flush(): never call back into the venue from here
            return
        if not self.conns:
            return
        user = (key or "").lower()
        self.views.users.dirty.add(user)  # account-state channels of this user are pushed at the next flush
        if channel == "notification":
            for text in data:
                self._fan(f"notification:{user}", {"channel": "notification", "data": {"notification": text}})
        elif channel == "orderUpdates":
            self._fan(f"orderUpdates:{user}", {"channel": "orderUpdates", "data": data})
        elif channel == "userFills":
            self._fan(f"userFills:{user}", {"channel": "userFills", "data": {"user": user, "fills": data}})
            self._fan(f"userEvents:{user}", {"channel": "user", "data": {"fills": data}})
        elif channel == "userFundings":
            self._fan(f"userFundings:{user}",
                      {"channel": "userFundings", "data": {"user": user, "fundings": data}})
            for row in data:
                self._fan(f"userEvents:{user}", {"channel": "user", "data": {"funding": row}})
        elif channel == "nonUserCancel":
            self._fan(f"userEvents:{user}", {"channel": "user", "data": {"nonUserCancel": data}})
        elif channel == "ledger":
            rows = data if isinstance(data, list) else [data]
            self._fan(f"userNonFundingLedgerUpdates:{user}",
                      {"channel": "userNonFundingLedgerUpdates",
                       "data": {"user": user, "nonFundingLedgerUpdates": rows}})

    def _fan(self, key: str, msg: dict) -> None:
        conns = self.by_key.get(key)
        if not conns:
            return
        self._fan_text(key, dumps(msg))

    def _fan_text(self, key: str, text: str) -> None:
        for conn in self.by_key.get(key, ()):
            conn.send(text)

    # ------------------------------------------------------------ pushes
    def _push_candles(self, coin: str) -> None:
        for interval in CANDLE_INTERVALS:
            key = f"candle:{coin}:{interval}"
            if self.by_key.get(key):
                candle = self.views.candle(coin, interval)
                if candle is not None:
                    self._fan(key, {"channel": "candle", "data": candle})

    # ------------------------------------------------------------ periodic pushes
    def flush(self) -> None:
        """Push what changed: bbo at once, l2Book/allMids no more often than every 0.5 s (real time)."""
        now = self._wall()
        if self._dirty_books:
            pending = set()
            for coin in self._dirty_books:
                if self.by_key.get(f"bbo:{coin}"):
                    bbo = self.views.bbo(coin)
                    if bbo["bbo"] != self._last_bbo.get(coin):
                        self._last_bbo[coin] = bbo["bbo"]
                        self._fan(f"bbo:{coin}", {"channel": "bbo", "data": bbo})
                if now - self._last_book_push.get(coin, 0.0) < BOOK_PUSH_INTERVAL_S:
                    pending.add(coin)
                    continue
                self._last_book_push[coin] = now
                prefix = f"l2Book:{coin}:"
                for key, conns in list(self.by_key.items()):
                    if conns and key.startswith(prefix):
                        _, _, sig, mant = key.split(":")
                        book = self.views.book(coin, None if sig == "None" else int(sig),
                                          None if mant == "None" else int(mant))
                        self._fan(key, {"channel": "l2Book", "data": book})
            self._dirty_books = pending
        if self._mids_dirty and now - self._last_mids_push >= BOOK_PUSH_INTERVAL_S:
            self._mids_dirty = False
            self._last_mids_push = now
            if self.by_key.get("allMids"):
                self._fan("allMids", {"channel": "allMids", "data": {"mids": self.views.info({"type": "allMids", "dex": ""})}})
        if self._dirty_candles:
            dirty, self._dirty_candles = self._dirty_candles, set()
            for coin in dirty:
                self._push_candles(coin)
        self.views.users.flush(self.by_key, now, self._fan_text, dumps)
        if self._dirty_ctx:
            dirty, self._dirty_ctx = self._dirty_ctx, set()
            for coin in dirty:
                key = f"activeAssetCtx:{coin}"
                if self.by_key.get(key):
                    msg = self.views.ctx_msg(coin)
                    text = dumps(msg) if msg else None
                    if text and text != self._last_ctx.get(coin):
                        self._last_ctx[coin] = text
                        for conn in self.by_key[key]:
                            conn.send(text)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except Exception:
                log.exception("ws flush failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        for task in (self._task, self._drop_task):
            if task:
                task.cancel()
        for conn in list(self.conns):
            await self._close(conn)

    def set_drop_every(self, seconds: float | None) -> None:
        """Fault injection: every `seconds` (None/0 turns it off), close every connection that
        `drop_filter` selects at that moment. Calling it restarts the timer."""
        if self._drop_task:
            self._drop_task.cancel()
            self._drop_task = None
        if seconds:
            self._drop_task = asyncio.get_running_loop().create_task(self._drop_loop(float(seconds)))

    async def _drop_loop(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            for conn in list(self.conns):
                if self.drop_filter is None or self.drop_filter(conn):
                    await self._close(conn, code=1012)

    # ------------------------------------------------------------ connections
    async def _close(self, conn: Conn, code: int = 1000) -> None:
        if conn.closed:
            return
        self._forget(conn)
        try:
            await conn.ws.close(code=code)
        except Exception:
            pass

    def _forget(self, conn: Conn) -> None:
        conn.closed = True
        self.conns.discard(conn)
        for key in conn.subs:
            self.by_key.get(key, set()).discard(conn)
        conn.queue.put_nowait(None)

    async def _writer(self, conn: Conn) -> None:
        try:
            while True:
                text = await conn.queue.get()
                if text is None:
                    if conn.overflowed:
                        await conn.ws.close(code=1008)
                    return
                await conn.ws.send_text(text)
        except Exception:
            self._forget(conn)

    async def serve(self, ws: WebSocket, client_ip: str) -> None:
        """One /ws connection: read client messages, close after `idle_timeout_s` of silence."""
        await ws.accept()
        conn = Conn(ws, ip=client_ip)
        self.conns.add(conn)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        conn.send("Websocket connection established.")
        try:
            while not conn.closed:
                try:
                    text = await asyncio.wait_for(ws.receive_text(), timeout=self.idle_timeout_s)
                except asyncio.TimeoutError:
                    await self._close(conn)
                    break
                try:
                    await self._on_message(conn, text, client_ip)
                except Exception:
                    log.exception("ws message failed: %.200s", text)
                    conn.send({"channel": "error", "data": f"Internal error handling: {text[:200]}"})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if not conn.closed:
                self._forget(conn)
            await writer

    async def _on_message(self, conn: Conn, text: str, client_ip: str) -> None:
        try:
            msg = json.loads(text)  # key order preserved: post actions are hashed as received
        except ValueError:
            conn.send({"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})
            return
        method = msg.get("method") if isinstance(msg, dict) else None
        if method == "ping":
            conn.send({"channel": "pong"})
        elif method in ("subscribe", "unsubscribe"):
            self._on_subscription(conn, method, msg.get("subscription"))
        elif method == "post":
            await self._on_post(conn, msg, client_ip)
        else:
            conn.send({"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})

    def _on_subscription(self, conn: Conn, method: str, sub: Any) -> None:
        try:
            key = subscription_key(sub, self.views.coins())
        except SubscriptionError:
            conn.send({"channel": "error", "data": f"Invalid subscription {dumps(sub)}"})
            return
        if method == "subscribe":
            if key in conn.subs:
                conn.send({"channel": "error", "data": f"Already subscribed: {dumps(sub)}"})
                return
            conn.subs[key] = sub
            conn.send({"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}})
            for snap in self.views.snapshot_for(sub):
                conn.send(snap)
                if snap.get("channel") in USER_STATE_CHANNELS:  # the next push only when something changed
                    self.views.users.remember(key, dumps(snap), self._wall())
            # registered after the snapshot is queued, so events follow it in order
            self.by_key.setdefault(key, set()).add(conn)
        else:
            if key not in conn.subs:
                conn.send({"channel": "error", "data": f"Already unsubscribed: {dumps(sub)}"})
                return
            del conn.subs[key]
            self.by_key.get(key, set()).discard(conn)
            conn.send({"channel": "subscriptionResponse", "data": {"method": "unsubscribe", "subscription": sub}})

    async def _on_post(self, conn: Conn, msg: dict, client_ip: str) -> None:
        post_id = msg.get("id")
        request = msg.get("request")
        kind = request.get("type") if isinstance(request, dict) else None
        payload = request.get("payload") if isinstance(request, dict) else None
        if kind not in ("info", "action") or not isinstance(payload, dict) or self.post_handler is None:
            conn.send({"channel": "post", "data": {"id": post_id, "response": {
                "type": "error", "payload": "422: Failed to deserialize the JSON body into the target type"}}})
            return
        status, body = await self.post_handler(kind, payload, client_ip)
        if status != 200:
            text = body if isinstance(body, str) else dumps(body)
            response = {"type": "error", "payload": f"{status}: {text}"}
        elif kind == "info":
            response = {"type": "info", "payload": {"type": payload.get("type"), "data": body}}
        else:
            response = {"type": "action", "payload": body}
        conn.send({"channel": "post", "data": {"id": post_id, "response": response}})
