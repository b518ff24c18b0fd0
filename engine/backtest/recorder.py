"""Record a venue's public WS market data into gzip JSON lines that `engine.backtest.data` reads back.

One file per coin and run: `<out>/<COIN>_<UTC start>.jsonl.gz`, each line `{"t": <local receive ms>,
"channel": "...", "data": <the WS payload, untouched>}` for l2Book, trades, bbo and activeAssetCtx
(activeSpotAssetCtx for spot coins). The stream is sync-flushed about once a second so a killed recorder
loses at most the last second. After a dropped connection it reconnects with backoff and resubscribes
(the next l2Book is a full snapshot, so books resync); the gap is marked by a `{"channel": "recorder",
"data": {"event": "reconnect", ...}}` line so a replay can tell missing time from a quiet market.
"""
from __future__ import annotations

import asyncio
import gzip
import pathlib
import time
import zlib
from datetime import datetime, timezone

import orjson

CHANNELS = ("l2Book", "trades", "bbo", "activeAssetCtx")
_SUBS = ("l2Book", "trades", "bbo", "activeAssetCtx")


def ws_url(base_url: str) -> str:
    """The SDK's rule: http→ws, https→wss, plus /ws."""
    b = base_url.rstrip("/")
    if not b.startswith("http"):
        raise ValueError(f"--base-url must start with http:// or https://, got {base_url!r}")
    return "ws" + b[4:] + "/ws"


def _coin_of(channel: str, data: object) -> str | None:
    if channel == "trades":
        return data[0].get("coin") if isinstance(data, list) and data and isinstance(data[0], dict) else None
    if isinstance(data, dict):
        return data.get("coin")
    return None


def _safe(coin: str) -> str:
    return coin.replace("/", "-").replace("@", "at").replace(":", "_")


class Recorder:
    def __init__(self, base_url: str, coins: list[str], out_dir: pathlib.Path, now_ms=lambda: time.time_ns() // 1_000_000):
        if not coins:
            raise ValueError("--coins needs at least one coin")
        self.url = ws_url(base_url)
        self.coins = list(dict.fromkeys(coins))
        self.out_dir = pathlib.Path(out_dir)
        self.now_ms = now_ms
        self.counts: dict[str, int] = {c: 0 for c in CHANNELS}
        self.reconnects = 0
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.paths = {c: self.out_dir / f"{_safe(c)}_{stamp}.jsonl.gz" for c in self.coins}
        self._files: dict[str, gzip.GzipFile] = {}

    def _write(self, coin: str, line: dict) -> None:
        self._files[coin].write(orjson.dumps(line) + b"\n")

    def _flush(self) -> None:
        for f in self._files.values():
            f.flush(zlib.Z_SYNC_FLUSH)

    def handle(self, raw: str | bytes) -> None:
        if isinstance(raw, str) and not raw.startswith("{"):
            return  # e.g. "Websocket connection established."
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        ch = msg.get("channel") if isinstance(msg, dict) else None
        if ch == "activeSpotAssetCtx":
            ch_key = "activeAssetCtx"
        else:
            ch_key = ch
        if ch_key not in self.counts:
            return
        coin = _coin_of(ch, msg.get("data"))
        if coin not in self._files:
            return
        self._write(coin, {"t": self.now_ms(), "channel": ch, "data": msg["data"]})
        self.counts[ch_key] += 1

    async def _session(self, deadline: float | None) -> None:
        import websockets

        async with websockets.connect(self.url, max_size=None, open_timeout=10) as ws:
            for coin in self.coins:
                for kind in _SUBS:
                    await ws.send(orjson.dumps({"method": "subscribe",
                                                "subscription": {"type": kind, "coin": coin}}).decode())
            last_flush = last_ping = time.monotonic()
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return
                timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - now))
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=timeout)
                    self.handle(raw)
                except asyncio.TimeoutError:
                    pass
                now = time.monotonic()
                if now - last_flush >= 1.0:
                    self._flush()
                    last_flush = now
                if now - last_ping >= 50.0:  # the venue drops connections silent for 60 s
                    await ws.send('{"method":"ping"}')
                    last_ping = now

    async def run(self, duration_s: float | None = None) -> dict:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._files = {c: gzip.open(p, "wb") for c, p in self.paths.items()}
        deadline = None if duration_s is None else time.monotonic() + duration_s
        backoff = 0.5
        try:
            while deadline is None or time.monotonic() < deadline:
                began = time.monotonic()
                try:
                    await self._session(deadline)
                    break
                except Exception as exc:  # noqa: BLE001 - any drop (closed socket, refused, timeout) → reconnect
                    if time.monotonic() - began > 30.0:
                        backoff = 0.5  # it had been healthy for a while: reconnect quickly again
                    self.reconnects += 1
                    for coin in self.coins:
                        self._write(coin, {"t": self.now_ms(), "channel": "recorder",
                                           "data": {"event": "reconnect", "error": type(exc).__name__}})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
        finally:
            for f in self._files.values():
                f.close()
        return {"files": {c: str(p) for c, p in self.paths.items()}, "messages": dict(self.counts),
                "reconnects": self.reconnects}
