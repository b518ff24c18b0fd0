"""Record a venue's public WS market data into gzip JSON lines that `engine.backtest.data` reads back.

One file per coin and rotation period: `<out>/<COIN>_<UTC start>.jsonl.gz` (recordings.py names them), each
line `{"t": <local receive ms>, "channel": "...", "data": <the WS payload, untouched>}` for l2Book, trades, bbo
and activeAssetCtx (activeSpotAssetCtx for spot coins). A file is written as `<name>.part` and renamed when it
is closed: every `rotate_s` a new file is opened (the connection stays up, so nothing is missed between two
files) and finished files older than `retention_s` are deleted, so a long-lived recorder keeps the last hours on
disk and no more. The stream is sync-flushed about once a second so a killed recorder loses at most the last
second; the `.part` files it leaves are salvaged when the next recorder starts in the same directory.

Gaps are marked in the data, so a replay can tell missing time from a quiet market: each recorder process
writes `{"channel": "recorder", "data": {"event": "start"}}` first (after older files, the time it was down is a
gap), and after a dropped connection it reconnects with backoff and resubscribes (the next l2Book is a full
snapshot, so books resync) and writes a `reconnect` line.
"""
from __future__ import annotations

import asyncio
import gzip
import pathlib
import time
import zlib

import orjson

from engine.backtest.recordings import PART, expired, file_name, is_recording_of, rotation_due, salvage

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


class Recorder:
    def __init__(self, base_url: str, coins: list[str], out_dir: pathlib.Path,
                 now_ms=lambda: time.time_ns() // 1_000_000, rotate_s: float = 0.0, retention_s: float = 0.0):
        if not coins:
            raise ValueError("--coins needs at least one coin")
        if rotate_s < 0 or retention_s < 0:
            raise ValueError(f"rotation ({rotate_s:g} s) and retention ({retention_s:g} s) must be >= 0 (0 = off)")
        if rotate_s and retention_s and retention_s < rotate_s:
            raise ValueError(f"retention ({retention_s:g} s) must be at least one rotation period ({rotate_s:g} s)")
        self.url = ws_url(base_url)
        self.coins = list(dict.fromkeys(coins))
        self.out_dir = pathlib.Path(out_dir)
        self.now_ms = now_ms  # the recorder's own receive clock: market times come from the venue's messages
        self.rotate_s, self.retention_s = rotate_s, retention_s
        self.counts: dict[str, int] = {c: 0 for c in CHANNELS}
        self.reconnects = 0
        self.rotations = 0
        self.paths: dict[str, pathlib.Path] = {}   # the files being written now (final names)
        self.written: list[str] = []               # every file finished by this recorder
        self.deleted: list[str] = []               # files the retention removed
        self.salvaged: list[str] = []
        self._files: dict[str, gzip.GzipFile] = {}
        self._opened = 0.0
        self._stop: asyncio.Event | None = None  # made in run(): an Event belongs to its loop

    def stop(self) -> None:
        """Finish the current files and return from run() (a signal handler's job: SIGINT / SIGTERM)."""
        if self._stop is not None:
            self._stop.set()

    def _write(self, coin: str, line: dict) -> None:
        self._files[coin].write(orjson.dumps(line) + b"\n")

    def _flush(self) -> None:
        for f in self._files.values():
            f.flush(zlib.Z_SYNC_FLUSH)

    def _open(self) -> None:
        start = self.now_ms()
        self.paths = {c: self.out_dir / file_name(c, start) for c in self.coins}
        self._files = {c: gzip.open(p.with_name(p.name + PART), "wb") for c, p in self.paths.items()}
        self._opened = time.monotonic()

    def _close(self) -> None:
        for coin, f in self._files.items():
            f.close()
            final = self.paths[coin]
            final.with_name(final.name + PART).replace(final)  # finished: readers may take it now
            self.written.append(str(final))
        self._files = {}

    def rotate(self) -> None:
        self._close()
        self.rotations += 1
        self._open()
        self.prune()

    def prune(self) -> None:
        """Delete this recorder's coins' finished files past the retention (other files are never touched)."""
        ours = [p for p in self.out_dir.iterdir() if any(is_recording_of(p.name, c) for c in self.coins)]
        for p in expired([(p, p.stat().st_mtime) for p in ours], time.time(), self.retention_s):
            p.unlink(missing_ok=True)
            self.deleted.append(str(p))

    def _salvage(self) -> None:
        for part in sorted(self.out_dir.glob("*" + PART)):
            if any(is_recording_of(part.name[:-len(PART)], c) for c in self.coins):
                done = salvage(part)
                if done is not None:
                    self.salvaged.append(str(done))

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

    def _done(self, deadline: float | None) -> bool:
        return (deadline is not None and time.monotonic() >= deadline) or self._stop.is_set()

    async def _session(self, deadline: float | None) -> None:
        import websockets

        async with websockets.connect(self.url, max_size=None, open_timeout=10) as ws:
            for coin in self.coins:
                for kind in _SUBS:
                    await ws.send(orjson.dumps({"method": "subscribe",
                                                "subscription": {"type": kind, "coin": coin}}).decode())
            last_flush = last_ping = time.monotonic()
            while not self._done(deadline):
                now = time.monotonic()
                timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - now))
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=min(timeout, self._tick()))
                    self.handle(raw)
                except asyncio.TimeoutError:
                    pass
                now = time.monotonic()
                if rotation_due(self._opened, now, self.rotate_s):
                    self.rotate()
                    last_flush = now
                elif now - last_flush >= self._flush_s():
                    self._flush()
                    last_flush = now
                if now - last_ping >= 50.0:  # the venue drops connections silent for 60 s
                    await ws.send('{"method":"ping"}')
                    last_ping = now

    def _flush_s(self) -> float:
        """Sync-flush about once a second, and at least twice a file: a kill loses at most that much."""
        return 1.0 if not self.rotate_s else max(0.05, min(1.0, self.rotate_s / 2))

    def _tick(self) -> float:
        """How long a read may wait: a quiet feed must not hold a rotation back by more than a tenth of it."""
        return 1.0 if not self.rotate_s else max(0.05, min(1.0, self.rotate_s / 10))

    async def run(self, duration_s: float | None = None) -> dict:
        self._stop = asyncio.Event()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._salvage()
        self.prune()
        self._open()
        for coin in self.coins:  # a new process: the time since the last file (if any) is a gap
            self._write(coin, {"t": self.now_ms(), "channel": "recorder", "data": {"event": "start"}})
        deadline = None if duration_s is None else time.monotonic() + duration_s
        backoff = 0.5
        try:
            while not self._done(deadline):
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
                    try:  # a stop during the backoff ends the wait
                        await asyncio.wait_for(self._stop.wait(), timeout=backoff)
                    except asyncio.TimeoutError:
                        pass
                    backoff = min(backoff * 2, 10.0)
                    if rotation_due(self._opened, time.monotonic(), self.rotate_s):
                        self.rotate()
        finally:
            self._close()
        return self.summary()

    def summary(self) -> dict:
        return {"files": {c: str(p) for c, p in self.paths.items()}, "messages": dict(self.counts),
                "reconnects": self.reconnects, "rotations": self.rotations, "written": list(self.written),
                "deleted": list(self.deleted), "salvaged": list(self.salvaged)}
