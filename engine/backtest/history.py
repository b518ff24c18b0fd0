"""Funding and candle history loaders (the inputs of the carry backtest), exact to the published digits.

Funding files read (detected from the header / JSON shape):

* the API's `fundingHistory` reply: a JSON array (or JSON lines) of `{"coin", "fundingRate", "premium", "time"}`;
* CSV `coin,fundingRate,premium,time` (the same fields, raw API), `timestamp,symbol,funding_rate,premium`
  (ISO times), `timestamp,funding_rate,premium` (one coin), and the normalised multi-venue CSV
  (`settlement_ts_ms, rate_raw, interval_hours, venue_symbol`).

Rates are kept as `Decimal` parsed from the file's own text, so sums are exact whatever the order.

**Funding interval.** Hyperliquid paid funding every 8 h until 2023-06-08 00:00 UTC and hourly since; the
published `fundingRate` is the rate *for the period*. Each row therefore carries `interval_hours` (8 before the
switch, 1 after, or the file's own `interval_hours` column). A payment is always `notional × rate` (that is
what moved), while rate *averages* are per hour: `Σ rate / Σ interval_hours`.

Candles: the API's `candleSnapshot` shape (JSON array or CSV `t,T,s,i,o,c,h,l,v,n`) or CSV
`timestamp,open,high,low,close,volume` (bar-open time; the bar length is inferred from the spacing).
"""
from __future__ import annotations

import csv
import gzip
import io
import pathlib
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import orjson

from engine.backtest.data import DataError

HOUR_MS = 3_600_000
# First hourly settlement: the 2023-06-08 00:00 row still pays an 8 h rate, 01:00 is the first 1 h rate.
HOURLY_FUNDING_SINCE_MS = int(datetime(2023, 6, 8, 0, 30, tzinfo=timezone.utc).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class FundingRow:
    time_ms: int
    coin: str
    rate: Decimal  # the rate for the settlement period (per hour since 2023-06-08, per 8 h before)
    interval_hours: int


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    close_ms: int  # last ms of the bar (the API's `T`)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def _read_text(path: pathlib.Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _dec(path: pathlib.Path, where: str, field: str, value: object) -> Decimal:
    try:
        d = Decimal(str(value).strip().strip('"'))
    except InvalidOperation:
        raise DataError(f"{path}:{where}: field '{field}' is not a number: {value!r}") from None
    if not d.is_finite():
        raise DataError(f"{path}:{where}: field '{field}' is not finite: {value!r}")
    return d


def _time_ms(path: pathlib.Path, where: str, field: str, value: object) -> int:
    """Integer epoch ms, or an ISO-8601 time (naive strings are UTC, as in the data's SOURCE notes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = str(value).strip()
    if s.isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{path}:{where}: field '{field}' is neither epoch ms nor ISO-8601: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _hl_interval(time_ms: int) -> int:
    return 1 if time_ms >= HOURLY_FUNDING_SINCE_MS else 8


def _records(path: pathlib.Path) -> tuple[list[tuple[str, dict]], str]:
    """(location, record dict) pairs from a JSON array, JSON lines or CSV file, plus the kind read."""
    text = _read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            arr = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON ({exc})") from None
        out = []
        for i, rec in enumerate(arr):
            if not isinstance(rec, dict):
                raise DataError(f"{path}:item {i}: expected an object, got {type(rec).__name__}")
            out.append((f"item {i}", rec))
        return out, "json"
    if stripped.startswith("{"):
        out = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({exc})") from None
                out.append((str(lineno), rec))
        return out, "jsonl"
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise DataError(f"{path}: empty file")
    # line numbers: header is line 1
    return [(str(i + 2), row) for i, row in enumerate(reader)], "csv"


def load_funding(path: str | pathlib.Path, coin: str | None = None) -> list[FundingRow]:
    """Funding rows sorted by time. `coin` selects one coin from multi-coin files (required if several)."""
    p = pathlib.Path(path)
    records, _ = _records(p)
    rows: list[FundingRow] = []
    for where, rec in records:
        if "fundingRate" in rec:  # raw API fields
            t = _time_ms(p, where, "time", rec.get("time"))
            c = str(rec.get("coin", ""))
            rate = _dec(p, where, "fundingRate", rec["fundingRate"])
            interval = _hl_interval(t)
        elif "funding_rate" in rec:
            t = _time_ms(p, where, "timestamp", rec.get("timestamp"))
            c = str(rec.get("symbol", "") or "")
            rate = _dec(p, where, "funding_rate", rec["funding_rate"])
            interval = _hl_interval(t)
        elif "rate_raw" in rec:
            t = _time_ms(p, where, "settlement_ts_ms", rec.get("settlement_ts_ms"))
            c = str(rec.get("venue_symbol", ""))
            rate = _dec(p, where, "rate_raw", rec["rate_raw"])
            ih = _dec(p, where, "interval_hours", rec.get("interval_hours"))
            if ih != ih.to_integral_value() or ih <= 0:
                raise DataError(f"{p}:{where}: field 'interval_hours' must be a positive whole number, got {ih}")
            interval = int(ih)
        else:
            raise DataError(f"{p}:{where}: no funding rate field (expected one of 'fundingRate', "
                            f"'funding_rate', 'rate_raw'); got fields {sorted(rec)}")
        if coin is not None and c and c != coin:
            continue
        rows.append(FundingRow(t, c, rate, interval))
    coins = {r.coin for r in rows}
    if coin is None and len(coins) > 1:
        raise DataError(f"{p}: holds several coins {sorted(coins)}; pass coin= (--coin) to pick one")
    if not rows:
        raise DataError(f"{p}: no funding rows" + (f" for coin {coin!r}" if coin else ""))
    rows.sort(key=lambda r: r.time_ms)
    for a, b in zip(rows, rows[1:]):
        if a.time_ms == b.time_ms:
            raise DataError(f"{p}: duplicate funding time {a.time_ms} for coin {a.coin!r}")
    return rows


def load_candles(path: str | pathlib.Path) -> list[Candle]:
    """Candles sorted by bar open; `close_ms` is the bar's last millisecond."""
    p = pathlib.Path(path)
    records, _ = _records(p)
    bars: list[tuple[int, int | None, dict, str]] = []
    for where, rec in records:
        if "t" in rec and "c" in rec:
            t = _time_ms(p, where, "t", rec["t"])
            T = _time_ms(p, where, "T", rec["T"]) if rec.get("T") not in (None, "") else None
            bars.append((t, T, {k: rec.get(k) for k in "ohlcv"}, where))
        elif "timestamp" in rec and "close" in rec:
            t = _time_ms(p, where, "timestamp", rec["timestamp"])
            fields = {"o": rec.get("open"), "h": rec.get("high"), "l": rec.get("low"), "c": rec.get("close"),
                      "v": rec.get("volume")}
            bars.append((t, None, fields, where))
        else:
            raise DataError(f"{p}:{where}: not a candle (expected 't,T,o,h,l,c,v' or "
                            f"'timestamp,open,high,low,close,volume'); got fields {sorted(rec)}")
    if not bars:
        raise DataError(f"{p}: no candles")
    bars.sort(key=lambda b: b[0])
    if len(bars) > 1:
        gaps = sorted(b[0] - a[0] for a, b in zip(bars, bars[1:]))
        bar_ms = gaps[len(gaps) // 2]
    else:
        bar_ms = HOUR_MS
    out = []
    for t, T, f, where in bars:
        vals = {k: _dec(p, where, k, f[k]) for k in "ohlcv"}
        if vals["c"] <= 0:
            raise DataError(f"{p}:{where}: field 'close' must be positive, got {vals['c']}")
        out.append(Candle(t, T if T is not None else t + bar_ms - 1, vals["o"], vals["h"], vals["l"], vals["c"],
                          vals["v"]))
    return out
