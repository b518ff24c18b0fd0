"""The engine's two venue connections, in process: REST as an httpx-shaped client and the feed as venue events.

`VenueClient` plugs into `VenueRest` in place of its httpx client: every /info and /exchange request the engine
makes is handed to `sim.venue.Venue` directly — the same requests and replies as over HTTP, as the objects the
bytes encode (`request_object`; `post` still takes and returns bytes), minus the socket, the HTTP machinery
and the JSON round trip. Requests reach the venue after the latency model's order-entry
delay, slept on the backtest's virtual clock. The engine's envelopes carry no real signature (a backtest
passes `UnsignedSigner`): the venue runs each action as the engine's account (`Venue.exchange_as`).

`VenueFeed` stands in for `engine.venue.feed.Feed`: the venue's user events (orderUpdates, userFills,
userFundings) are the messages the WS server would send, decoded by the live decoder (`decode_message`, the
part of `decode` after JSON parsing); book snapshots come from the replay (`push_book`). Events are delivered
after the market-data latency through the event loop, or — at zero latency — as the venue call that raised
them returns, once its state change is complete. A replayed feed gap is a disconnect: `drop()` stops delivery and
`reconnect()` sends the engine a `Resync`, as a real reconnect would.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import orjson

from engine.venue.decode import decode_message
from engine.venue.feed import Resync
from engine.venue.types import L2Book

_CHANNEL_KEY = {"userFills": "fills", "userFundings": "fundings"}


class Reply:
    """The part of an httpx.Response that VenueRest reads."""

    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode()


class VenueClient:
    """httpx.AsyncClient-shaped client onto an in-process venue (`VenueRest(client=...)`).

    `before_call(kind, action)` runs right before the venue sees a request (kind: the action type, or "info"):
    the harness brings the venue's liquidity and funding up to the replay's time there. `info_hook(body)` may
    answer an /info request itself (the replayed book) by returning a payload, or return None."""

    def __init__(self, venue: Any, user: str, *, entry_ms: Callable[[], int],
                 before_call: Callable[[str, dict | None], None],
                 info_hook: Callable[[dict], Any] | None = None) -> None:
        self.venue = venue
        self.user = user.lower()
        self.entry_ms = entry_ms
        self.before_call = before_call
        self.info_hook = info_hook
        self.stats = {"info": 0, "exchange": 0}

    async def post(self, path: str, *, content: bytes, timeout: Any = None) -> Reply:
        status, payload = await self.request_object(path, orjson.loads(content))
        return Reply(status, payload.encode() if isinstance(payload, str) else orjson.dumps(payload))

    async def request_object(self, path: str, body: Any) -> tuple[int, Any]:
        """The request as the object it encodes, the reply as the object it decodes to (VenueRest uses this
        when present). The venue builds every reply afresh, so handing its objects over shares nothing."""
        delay = self.entry_ms()
        if delay > 0:
            await asyncio.sleep(delay / 1000)  # order entry / request latency, on the virtual clock
        if path == "/exchange":
            self.stats["exchange"] += 1
            action = body.get("action") if isinstance(body, dict) else None
            if not isinstance(action, dict):
                return 422, "Failed to deserialize the JSON body into the target type"
            self.before_call(str(action.get("type")), action)
            status, payload = self.venue.exchange_as(self.user, action)
        elif path == "/info":
            self.stats["info"] += 1
            payload = self.info_hook(body) if self.info_hook is not None else None
            if payload is None:
                self.before_call("info", None)
                status, payload = self.venue.info(body)
            else:
                status = 200
        else:
            return 404, f"no route {path}"
        return status, payload

    async def aclose(self) -> None:
        return None


class VenueFeed:
    """Feed-shaped (subscribe / start / close / stats) source of the engine's events in a backtest."""

    def __init__(self, venue: Any, user: str, on_event: Callable[[Any], None], *,
                 market_data_ms: Callable[[], int]) -> None:
        self.venue = venue
        self.user = user.lower()
        self.on_event = on_event
        self.market_data_ms = market_data_ms
        self._coins: set[str] = set()
        self._channels: set[str] = set()
        self._started = False
        self._up = False  # connected (a replayed gap takes it down)
        self.stats = {"msgs": 0, "malformed": 0, "reconnects": 0, "connects": 0, "resyncs": 0,
                      "handler_errors": 0, "pings": 0, "server_errors": 0}

    # ------------------------------------------------------------------ Feed API
    def subscribe(self, subscription: dict) -> None:
        kind = subscription.get("type")
        if kind == "l2Book":
            self._coins.add(subscription["coin"])
        elif subscription.get("user", "").lower() == self.user:
            self._channels.add(kind)

    def unsubscribe(self, subscription: dict) -> None:
        kind = subscription.get("type")
        if kind == "l2Book":
            self._coins.discard(subscription["coin"])
        else:
            self._channels.discard(kind)

    @property
    def connected(self) -> bool:
        return self._up

    def start(self) -> None:
        self._started = self._up = True
        self.venue.subscribe(self._on_venue_event)
        self.stats["connects"] += 1
        self.stats["resyncs"] += 1
        self._deliver(Resync("connect", 1))

    async def close(self) -> None:
        if self._started:
            self._started = self._up = False
            self.venue.unsubscribe(self._on_venue_event)

    def drop(self) -> None:
        """A replayed feed gap begins: nothing reaches the engine until `reconnect`."""
        self._up = False

    def reconnect(self) -> None:
        if not self._started or self._up:
            return
        self._up = True
        self.stats["connects"] += 1
        self.stats["reconnects"] += 1
        self.stats["resyncs"] += 1
        self._deliver(Resync("reconnect", self.stats["connects"]))

    # ------------------------------------------------------------------ events
    def push_book(self, coin: str, t_ms: int, bids: tuple, asks: tuple) -> None:
        """A replayed snapshot ((px, sz) levels best first), as the l2Book channel would carry it."""
        if not self._up or coin not in self._coins:
            return
        self.stats["msgs"] += 1
        delay = self.market_data_ms()
        if delay > 0:
            asyncio.get_running_loop().call_later(delay / 1000, self._emit_book, coin, bids, asks, t_ms)
        else:
            self._emit_book(coin, bids, asks, t_ms)

    def _emit_book(self, coin: str, bids: tuple, asks: tuple, t_ms: int) -> None:
        if not self._up:
            return
        try:
            self.on_event(L2Book(coin, t_ms, bids, asks))
        except Exception:
            self.stats["handler_errors"] += 1
            raise

    def _on_venue_event(self, ev: Any) -> None:
        ch = ev.channel
        if ev.key != self.user or ch not in self._channels or not self._up:
            return
        if ch == "orderUpdates":
            data = ev.data
        elif ch in _CHANNEL_KEY:
            data = {"user": self.user, _CHANNEL_KEY[ch]: ev.data}
        else:
            return
        try:
            decoded = decode_message(ch, data)
        except Exception:
            self.stats["malformed"] += 1
            raise
        self._deliver(decoded)

    def _deliver(self, event: Any) -> None:
        """After the market-data latency; at zero latency right away — the venue raises its events once the
        state change is complete (`Venue` flushes them as its call returns), so the engine never sees a
        half-done venue, and nothing the engine does from a handler re-enters the venue (it only schedules)."""
        self.stats["msgs"] += 1
        delay = self.market_data_ms()
        if delay > 0:
            asyncio.get_running_loop().call_later(delay / 1000, self._emit, event)
        else:
            self._emit(event)

    def _emit(self, event: Any) -> None:
        if not self._up and not isinstance(event, Resync):
            return
        try:
            self.on_event(event)
        except Exception:
            self.stats["handler_errors"] += 1
            raise
