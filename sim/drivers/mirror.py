"""Mirror another venue's public market data: `--market mirror:URL` (http(s) base URL).

Subscribes to l2Book and trades for every coin both venues list, over the other venue's /ws, and
copies them the way replay does (system-account liquidity = the remote book; remote prints =
system taker orders). Every few seconds it also copies the remote perps' oracle prices from
`metaAndAssetCtxs`, so funding follows the remote venue. Reconnects with backoff; a fresh
subscription's snapshot covers anything missed while disconnected.
"""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx

from sim.drivers import Driver, log
from sim.drivers.replay import BookCopier

PING_EVERY_S = 30.0  # the remote closes sockets idle for 60 s
ORACLE_EVERY_S = 3.0  # Hyperliquid's oracle cadence


def ws_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"mirror URL must be an http(s) base URL, got {base_url!r}")
    return "ws" + base[len("http"):] + "/ws"


class MirrorDriver(Driver):
    def __init__(self, venue: Any, clock: Any, url: str):
        super().__init__(venue, clock)
        self.url = url.rstrip("/")
        self.ws_url = ws_url(url)
        self.copier = BookCopier(venue)
        self.copier.resync()
        self.coins = list(self.copier.markets)
        self.books_copied = 0
        self.trades_copied = 0
        self.connected = asyncio.Event()

    async def run(self) -> None:
        oracle = asyncio.get_running_loop().create_task(self._oracle_loop())
        backoff = 0.2
        try:
            while not self._closed:
                try:
                    await self._session()
                    backoff = 0.2
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("mirror %s: %s; reconnecting in %.1fs", self.ws_url, exc, backoff)
                self.connected.clear()
                if self._closed:
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            oracle.cancel()

    async def _session(self) -> None:
        import websockets

        async with websockets.connect(self.ws_url, ping_interval=None, max_size=None) as ws:
            for coin in self.coins:
                for kind in ("l2Book", "trades"):
                    await ws.send(json.dumps({"method": "subscribe", "subscription": {"type": kind, "coin": coin}}))
            self.connected.set()
            pinger = asyncio.get_running_loop().create_task(self._ping(ws))
            try:
                async for text in ws:
                    if self._closed:
                        return
                    self._on_message(text)
            finally:
                pinger.cancel()

    async def _ping(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(PING_EVERY_S)
            await ws.send(json.dumps({"method": "ping"}))

    def _on_message(self, text: str) -> None:
        if not text.startswith("{"):
            return  # "Websocket connection established."
        msg = json.loads(text)
        channel, data = msg.get("channel"), msg.get("data")
        try:
            if channel == "l2Book":
                self.copier.book(data["coin"], data["levels"])
                self.books_copied += 1
            elif channel == "trades" and data:
                self.copier.trades(data[0]["coin"], data)
                self.trades_copied += 1
            elif channel == "error":
                log.warning("mirror %s refused: %s", self.ws_url, data)
        except Exception:
            log.exception("mirror could not apply a %s message", channel)

    async def _oracle_loop(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while not self._closed:
                try:
                    resp = await client.post(f"{self.url}/info", json={"type": "metaAndAssetCtxs"})
                    if resp.status_code == 200:
                        meta, ctxs = resp.json()
                        for asset, ctx in zip(meta["universe"], ctxs):
                            px = ctx.get("oraclePx")
                            if px and self.copier.known(asset["name"]):
                                self.copier.set_oracle(asset["name"], Decimal(px))
                except Exception as exc:
                    log.debug("mirror oracle poll failed: %s", exc)
                await asyncio.sleep(ORACLE_EVERY_S)

    def resync(self) -> None:
        self.copier.resync()

    def poll(self) -> None:  # the WS session drives everything
        pass
