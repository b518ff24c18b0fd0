"""Download funding and candle history through `POST /info`, within the venue's IP weight budget.

The venue client (`engine.venue.rest` / `limits`) had not landed when this was written, so this is a minimal
httpx client of its own: only read-only `/info` requests, which are safe to retry (unlike signed actions).

Paging (protocol notes §3): `fundingHistory` returns at most 500 rows from `startTime` (inclusive); the next
page starts at the last row's `time + 1`. `candleSnapshot` returns at most 5000 bars; the next page starts
after the last bar's open. Both stop at an empty page or once `endTime` is passed.

Weights: 20 per request, plus 1 per 20 rows for fundingHistory and 1 per 60 rows for candleSnapshot, charged
after the reply (the row count is only known then) against a 1200/min bucket.
"""
from __future__ import annotations

import asyncio
import csv
import gzip
import io
import pathlib
import time
from typing import Awaitable, Callable

import httpx
import orjson

FUNDING_PAGE = 500
CANDLE_INTERVALS_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000,
}


class FetchError(RuntimeError):
    """The venue's reply was unusable; the message names the request and the field."""


class WeightLimiter:
    """Token bucket of IP weight: `per_minute` tokens, refilled continuously. Clock and sleep are injected."""

    def __init__(self, per_minute: int = 1200, now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self._now, self._sleep = now, sleep
        self._last = now()
        self.waited_s = 0.0

    def _refill(self) -> None:
        t = self._now()
        self.tokens = min(self.capacity, self.tokens + (t - self._last) * self.rate)
        self._last = t

    async def acquire(self, weight: int) -> None:
        self._refill()
        if self.tokens < weight:
            wait = (weight - self.tokens) / self.rate
            self.waited_s += wait
            await self._sleep(wait)
            self._refill()
        self.tokens -= weight

    def charge(self, weight: int) -> None:
        """Post-paid weight (per-row surcharge); the bucket may go negative and the next acquire waits."""
        self.tokens -= weight


def funding_weight_surcharge(rows: int) -> int:
    return rows // 20


def candle_weight_surcharge(rows: int) -> int:
    return rows // 60


class InfoClient:
    def __init__(self, base_url: str, limiter: WeightLimiter | None = None, timeout_s: float = 10.0,
                 max_retries: int = 5, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or WeightLimiter()
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)
        self.max_retries = max_retries
        self._sleep = sleep
        self.requests = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    async def info(self, body: dict, base_weight: int = 20) -> object:
        """POST /info with retries on 429 / 5xx / transport errors (reads are idempotent)."""
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            await self.limiter.acquire(base_weight)
            self.requests += 1
            try:
                resp = await self.http.post("/info", json=body)
            except httpx.TransportError as exc:
                err = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    try:
                        return orjson.loads(resp.content)
                    except orjson.JSONDecodeError:
                        raise FetchError(f"{body['type']}: reply is not JSON: {resp.text[:80]!r}") from None
                if resp.status_code != 429 and resp.status_code < 500:
                    raise FetchError(f"{body['type']}: HTTP {resp.status_code}: {resp.text[:200]}")
                err = f"HTTP {resp.status_code}"
                if resp.status_code == 429:  # over the IP budget: empty the bucket so we wait a while
                    self.limiter.tokens = min(self.limiter.tokens, 0.0)
            if attempt == self.max_retries:
                raise FetchError(f"{body['type']}: giving up after {attempt + 1} attempts ({err})")
            await self._sleep(delay)
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")


def _check_rows(kind: str, rows: object, fields: tuple[str, ...], time_field: str) -> list[dict]:
    if not isinstance(rows, list):
        raise FetchError(f"{kind}: expected a JSON array, got {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise FetchError(f"{kind}: row {i} is not an object")
        missing = [f for f in fields if f not in r]
        if missing:
            raise FetchError(f"{kind}: row {i} misses field(s) {missing}")
        if not isinstance(r[time_field], int):
            raise FetchError(f"{kind}: row {i} field '{time_field}' must be integer ms, got {r[time_field]!r}")
    return rows


async def fetch_funding(client: InfoClient, coin: str, start_ms: int, end_ms: int,
                        on_page: Callable[[int], None] | None = None) -> list[dict]:
    out: dict[int, dict] = {}
    start = start_ms
    while start <= end_ms:
        body = {"type": "fundingHistory", "coin": coin, "startTime": start, "endTime": end_ms}
        rows = _check_rows("fundingHistory", await client.info(body), ("coin", "fundingRate", "time"), "time")
        client.limiter.charge(funding_weight_surcharge(len(rows)))
        rows = [r for r in rows if start <= r["time"] <= end_ms]  # only rows this page was asked for
        if not rows:
            break
        for r in rows:
            out[r["time"]] = r
        last = max(r["time"] for r in rows)
        if last < start:
            raise FetchError(f"fundingHistory: page from {start} ended at {last}: no progress")
        start = last + 1
        if on_page:
            on_page(len(out))
    return [out[t] for t in sorted(out)]


async def fetch_candles(client: InfoClient, coin: str, interval: str, start_ms: int, end_ms: int,
                        on_page: Callable[[int], None] | None = None) -> list[dict]:
    if interval not in CANDLE_INTERVALS_MS:
        raise ValueError(f"interval must be one of {', '.join(CANDLE_INTERVALS_MS)}, got {interval!r}")
    out: dict[int, dict] = {}
    start = start_ms
    while start <= end_ms:
        body = {"type": "candleSnapshot",
                "req": {"coin": coin, "interval": interval, "startTime": start, "endTime": end_ms}}
        rows = _check_rows("candleSnapshot", await client.info(body), ("t", "T", "o", "h", "l", "c", "v"), "t")
        client.limiter.charge(candle_weight_surcharge(len(rows)))
        # a venue may also return the bar that contains `start` (opened before it): only new bars count
        rows = [r for r in rows if start <= r["t"] <= end_ms]
        if not rows:
            break
        for r in rows:
            out[r["t"]] = r
        last = max(r["t"] for r in rows)
        if last < start:
            raise FetchError(f"candleSnapshot: page from {start} ended at {last}: no progress")
        start = last + 1
        if on_page:
            on_page(len(out))
    return [out[t] for t in sorted(out)]


FUNDING_COLUMNS = ("coin", "fundingRate", "premium", "time")
CANDLE_COLUMNS = ("t", "T", "s", "i", "o", "c", "h", "l", "v", "n")


def write_rows(path: pathlib.Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Write raw API rows as .json (array), .jsonl[.gz] or .csv[.gz]; atomically (tmp file + rename)."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".json"):
        data = orjson.dumps(rows)
    elif name.endswith(".jsonl"):
        data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    elif name.endswith(".csv"):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        data = buf.getvalue().encode()
    else:
        raise ValueError(f"--out must end in .json, .jsonl, .csv (optionally .gz), got {path.name!r}")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
