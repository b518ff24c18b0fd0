"""`Feed`: one Hyperliquid WebSocket connection with subscriptions that survive disconnects.

* Subscriptions are remembered and re-sent after every reconnect.
* After every (re)connect — once the subscriptions are re-sent — consumers get a `Resync` event. A gap in
  the stream may have hidden fills, order updates or funding: the consumer answers a Resync by reading the
  REST snapshots (userFills / openOrders / clearinghouseState) so nothing is missed. The first connect also
  emits one (reason "connect"): the initial snapshot is the same operation.
* Heartbeat: `{"method":"ping"}` every `ping_interval_s` (50 s; the server drops connections silent for
  60 s); if nothing at all arrives for `stale_after_s` the connection is presumed dead and replaced.
* Reconnect with jittered exponential backoff (reset after a connection delivered data).
* `post_info` / `post_action`: requests over the socket, correlated by id to futures. A post in flight when
  the connection drops fails with `ConnectionError` — for an action that is an *ambiguous* outcome, to be
  settled like a REST timeout (VenueRest's resolution), never re-sent blindly.
* Malformed frames are counted (`stats["malformed"]`) and logged (first few in full), never fatal; a
  consumer callback that raises is counted (`stats["handler_errors"]`) and logged, never fatal.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable

import orjson
import websockets

from engine.venue.decode import Pong, PostReply, decode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resync:
    """Snapshot via REST now: the stream was (re)established and may have skipped events."""
    reason: str          # "connect" | "reconnect"
    connects: int        # 1 for the first connection


def ws_url_for(base_url: str) -> str:
    """The SDK's rule: "ws" + base_url[4:] + "/ws" (http→ws, https→wss)."""
    return "ws" + base_url.rstrip("/")[4:] + "/ws"


class Feed:
    def __init__(self, base_url: str, on_event: Callable[[Any], None], *, ping_interval_s: float = 50.0,
                 stale_after_s: float = 70.0, backoff_base_s: float = 0.25, backoff_max_s: float = 15.0,
                 open_timeout_s: float = 10.0, rng: random.Random | None = None,
                 max_logged_malformed: int = 20) -> None:
        self.url = ws_url_for(base_url) if base_url.startswith("http") else base_url
        self.on_event = on_event
        self.ping_interval_s = ping_interval_s
        self.stale_after_s = stale_after_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.open_timeout_s = open_timeout_s
        self._rng = rng or random.Random()
        self._max_logged = max_logged_malformed
        self._subs: list[dict] = []
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._stop = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.stats = {"msgs": 0, "malformed": 0, "reconnects": 0, "connects": 0, "resyncs": 0,
                      "handler_errors": 0, "pings": 0, "server_errors": 0}

    # ------------------------------------------------------------------ public API
    def subscribe(self, subscription: dict) -> None:
        """Remember `subscription` and send it now if connected (and after every reconnect)."""
        if subscription in self._subs:
            return
        self._subs.append(dict(subscription))
        if self._ws is not None:
            self._spawn_send({"method": "subscribe", "subscription": subscription})

    def unsubscribe(self, subscription: dict) -> None:
        if subscription in self._subs:
            self._subs.remove(subscription)
            if self._ws is not None:
                self._spawn_send({"method": "unsubscribe", "subscription": subscription})

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    def start(self) -> asyncio.Task:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="hlmm-feed")
        return self._task

    async def close(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        self._fail_pending(ConnectionError("feed closed"))

    async def post_info(self, body: dict, timeout: float = 10.0) -> Any:
        reply = await self._post({"type": "info", "payload": body}, timeout)
        if reply.kind == "error":
            raise RuntimeError(f"ws post info failed: {reply.payload}")
        return (reply.payload or {}).get("data")

    async def post_action(self, envelope: dict, timeout: float = 10.0) -> Any:
        """Signed /exchange body over the socket → the exchange reply dict. ConnectionError/TimeoutError
        mean the outcome is unknown: settle it (cloid lookup), never re-send."""
        reply = await self._post({"type": "action", "payload": envelope}, timeout)
        if reply.kind == "error":
            raise RuntimeError(f"ws post action failed: {reply.payload}")
        return reply.payload

    # ------------------------------------------------------------------ internals
    async def _post(self, request: dict, timeout: float) -> PostReply:
        ws = self._ws
        if ws is None:
            raise ConnectionError("feed not connected")
        pid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[pid] = fut
        try:
            await ws.send(orjson.dumps({"method": "post", "id": pid, "request": request}).decode())
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(pid, None)

    def _spawn_send(self, msg: dict) -> None:
        ws = self._ws

        async def send() -> None:
            try:
                await ws.send(orjson.dumps(msg).decode())
            except Exception as exc:  # the reconnect path re-sends subscriptions anyway
                log.debug("ws send failed (%s); will resubscribe on reconnect", exc)

        asyncio.get_running_loop().create_task(send())

    def _fail_pending(self, exc: Exception) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()

    def _emit(self, event: Any) -> None:
        try:
            self.on_event(event)
        except Exception:
            self.stats["handler_errors"] += 1
            log.exception("feed consumer raised on %s", type(event).__name__)

    def _backoff(self, failures: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** min(failures, 16)) * self._rng.uniform(0.5, 1.5)

    async def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            got_data = False
            try:
                async with websockets.connect(self.url, ping_interval=None, open_timeout=self.open_timeout_s,
                                              max_size=2 ** 24, compression=None) as ws:
                    self._ws = ws
                    self.stats["connects"] += 1
                    if self.stats["connects"] > 1:
                        self.stats["reconnects"] += 1
                    for sub in list(self._subs):
                        await ws.send(orjson.dumps({"method": "subscribe", "subscription": sub}).decode())
                    self._connected.set()
                    self.stats["resyncs"] += 1
                    self._emit(Resync("connect" if self.stats["connects"] == 1 else "reconnect",
                                      self.stats["connects"]))
                    got_data = await self._read(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("ws %s: %s: %s", self.url, type(exc).__name__, exc)
            finally:
                self._ws = None
                self._connected.clear()
                self._fail_pending(ConnectionError("websocket closed with posts in flight"))
            if self._stop.is_set():
                break
            failures = 0 if got_data else failures + 1
            delay = self._backoff(failures)
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def _read(self, ws) -> bool:
        """Read until the connection ends or goes silent; returns whether any frame arrived."""
        got = False
        loop = asyncio.get_running_loop()
        last_rx = loop.time()
        next_ping = last_rx + self.ping_interval_s
        while True:
            now = loop.time()
            if now >= next_ping:
                await ws.send('{"method":"ping"}')
                self.stats["pings"] += 1
                next_ping = now + self.ping_interval_s
            if now - last_rx >= self.stale_after_s:
                log.warning("ws %s: silent for %.0f s, reconnecting", self.url, now - last_rx)
                return got
            try:
                frame = await asyncio.wait_for(ws.recv(), max(0.0, min(next_ping, last_rx + self.stale_after_s) - now))
            except asyncio.TimeoutError:
                continue
            except websockets.ConnectionClosed:
                return got
            got = True
            last_rx = loop.time()
            self._on_frame(frame)

    def _on_frame(self, frame: Any) -> None:
        self.stats["msgs"] += 1
        try:
            msg = decode(frame)
        except Exception as exc:  # DecodeError expected; anything else is a decoder bug, still not fatal
            self.stats["malformed"] += 1
            if self.stats["malformed"] <= self._max_logged:
                log.warning("malformed ws frame (%s): %.300r", exc, frame)
            return
        if msg is None or isinstance(msg, Pong):
            return
        if isinstance(msg, PostReply):
            fut = self._pending.get(msg.id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        if type(msg).__name__ == "ServerError":
            self.stats["server_errors"] += 1
            log.warning("ws server error: %s", msg.text)
        self._emit(msg)
