"""Download funding and candle history through `POST /info`, within the venue's IP weight budget.

Requests go through `engine.venue.rest.VenueRest.info` (the venue room's client): it takes the IP weight from
`engine.venue.limits.IpWeightBucket` before each request (20 for these two types), charges the per-row
surcharge after the reply (1 per 20 funding rows, 1 per 60 candles), empties the bucket on HTTP 429 and
retries reads on 5xx / 429 / transport errors. We use its raw `info` (not the typed helpers) so the rows
are written exactly as the venue sent them (rates stay decimal strings).

Paging (protocol notes §3): `fundingHistory` returns at most 500 rows from `startTime` (inclusive); the next
page starts at the last row's `time + 1`. `candleSnapshot` returns at most 5000 bars; the next page starts
after the last bar's open. Both stop at a page with nothing new or once `endTime` is passed.
"""
from __future__ import annotations

import csv
import gzip
import io
import pathlib
from typing import Callable

import orjson

from engine.venue.rest import VenueError, VenueRest

FUNDING_PAGE = 500
CANDLE_INTERVALS_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000,
}


class FetchError(RuntimeError):
    """The venue's reply was unusable; the message names the request and the field."""


async def _info(client: VenueRest, body: dict) -> object:
    try:
        return await client.info(body)
    except VenueError as exc:
        raise FetchError(f"{body['type']}: {exc}") from None


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


async def fetch_funding(client: VenueRest, coin: str, start_ms: int, end_ms: int,
                        on_page: Callable[[int], None] | None = None) -> list[dict]:
    out: dict[int, dict] = {}
    start = start_ms
    while start <= end_ms:
        body = {"type": "fundingHistory", "coin": coin, "startTime": start, "endTime": end_ms}
        rows = _check_rows("fundingHistory", await _info(client, body), ("coin", "fundingRate", "time"), "time")
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


async def fetch_candles(client: VenueRest, coin: str, interval: str, start_ms: int, end_ms: int,
                        on_page: Callable[[int], None] | None = None) -> list[dict]:
    if interval not in CANDLE_INTERVALS_MS:
        raise ValueError(f"interval must be one of {', '.join(CANDLE_INTERVALS_MS)}, got {interval!r}")
    out: dict[int, dict] = {}
    start = start_ms
    while start <= end_ms:
        body = {"type": "candleSnapshot",
                "req": {"coin": coin, "interval": interval, "startTime": start, "endTime": end_ms}}
        rows = _check_rows("candleSnapshot", await _info(client, body), ("t", "T", "o", "h", "l", "c", "v"), "t")
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
