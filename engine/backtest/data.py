"""Market-data loaders for backtests: L2 book snapshots, trades and the project's own WS recordings.

Formats read (chosen by file suffix, then by the shape of each line):

* Hyperliquid's official archive (`s3://hyperliquid-archive/market_data/<day>/<hour>/l2Book/<COIN>.lz4`):
  LZ4 frames of JSON lines `{"time": "<recorder wall clock>", "ver_num": 1, "raw": {"channel": "l2Book",
  "data": {"coin", "time": <exchange ms>, "levels": [[bids best-first], [asks best-first]]}}}`.
* The project's recordings (`hlmm record`): JSON lines `{"t": <local receive ms>, "channel": "...",
  "data": {...}}` where `data` is exactly the WS message payload (l2Book, trades, bbo, activeAssetCtx).
* hftbacktest's raw collector lines `<receive ns> <WS message JSON>` (same WS payloads).

Any of these may be plain (`.jsonl`), gzip (`.gz`) or LZ4-frame (`.lz4`) compressed. Book events carry the
**exchange** time (`data.time`), not the recorder's clock, so replays are on the venue's time line.

Bad input raises `DataError` naming the file and the 1-based line number; nothing is yielded past it.
"""
from __future__ import annotations

import gzip
import io
import pathlib
from typing import IO, Iterator, NamedTuple

import numpy as np
import orjson


class DataError(ValueError):
    """A data file could not be read; the message names the file, the line and the field."""


class BookEvent(NamedTuple):
    """One full L2 snapshot. `bids`/`asks` are float64 arrays of shape (n, 2): columns px, sz; best first."""
    t_ms: int
    coin: str
    bids: np.ndarray
    asks: np.ndarray


class TradeEvent(NamedTuple):
    """One public trade. `side` is the taker's side as on the wire: "B" = taker bought (hit the asks)."""
    t_ms: int
    coin: str
    px: float
    sz: float
    side: str


class RecordedMessage(NamedTuple):
    """One line of a recording: local receive time (ms), WS channel name and the raw payload."""
    t_ms: int
    channel: str
    data: object


def open_text(path: str | pathlib.Path) -> IO[str]:
    """Open a possibly compressed text file by its suffix (.lz4 LZ4 frame, .gz gzip, anything else plain)."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    if p.suffix == ".lz4":
        import lz4.frame  # imported here: only archive files need it

        return io.TextIOWrapper(lz4.frame.open(p, "rb"), encoding="utf-8")
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8")
    return open(p, encoding="utf-8")


def _parse_line(path: pathlib.Path, lineno: int, line: str) -> RecordedMessage | None:
    """Normalise one line of any supported format to (time ms, channel, payload); None for blank lines."""
    s = line.strip()
    if not s:
        return None
    ns_prefix: int | None = None
    if s[0] != "{":  # hftbacktest: "<ns> <json>"
        head, _, rest = s.partition(" ")
        if not head.isdigit() or not rest:
            raise DataError(f"{path}:{lineno}: expected a JSON object or '<ns timestamp> <json>', got {s[:60]!r}")
        ns_prefix, s = int(head), rest
    try:
        obj = orjson.loads(s)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{path}:{lineno}: invalid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
    if "raw" in obj:  # official archive: the receive time is a nanosecond ISO string; we use exchange time
        raw = obj["raw"]
        if not isinstance(raw, dict) or "channel" not in raw or "data" not in raw:
            raise DataError(f"{path}:{lineno}: field 'raw' must be an object with 'channel' and 'data'")
        return RecordedMessage(-1, raw["channel"], raw["data"])
    if "channel" not in obj or "data" not in obj:
        raise DataError(f"{path}:{lineno}: missing field 'channel' or 'data'")
    if ns_prefix is not None:
        return RecordedMessage(ns_prefix // 1_000_000, obj["channel"], obj["data"])
    t = obj.get("t")
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise DataError(f"{path}:{lineno}: field 't' must be a non-negative integer of ms, got {t!r}")
    return RecordedMessage(t, obj["channel"], obj["data"])


def iter_messages(path: str | pathlib.Path) -> Iterator[tuple[int, RecordedMessage]]:
    """Yield (line number, message) for every non-blank line of a recording / archive / hftbacktest file."""
    p = pathlib.Path(path)
    lineno = 0
    with open_text(p) as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                msg = _parse_line(p, lineno, line)
                if msg is not None:
                    yield lineno, msg
        except (EOFError, OSError, RuntimeError) as exc:  # truncated gzip / corrupt lz4 frame
            raise DataError(f"{p}: unreadable compressed data after line {lineno} "
                            f"({type(exc).__name__}: {exc})") from None


def iter_recording(path: str | pathlib.Path, channels: set[str] | None = None) -> Iterator[RecordedMessage]:
    """Raw messages of a recording, optionally only some channels (e.g. {"trades", "bbo"})."""
    for _, msg in iter_messages(path):
        if channels is None or msg.channel in channels:
            yield msg


def _levels(path: pathlib.Path, lineno: int, side: object, name: str) -> np.ndarray:
    """(n, 2) float64 px/sz array of one side; validated in plain Python (cheaper than numpy on 20 rows)."""
    if not isinstance(side, list):
        raise DataError(f"{path}:{lineno}: field 'levels' {name} side must be a list")
    try:
        rows = [(float(lvl["px"]), float(lvl["sz"])) for lvl in side]
    except (KeyError, TypeError, ValueError):
        bad = next((l for l in side if not (isinstance(l, dict) and "px" in l and "sz" in l)), side)
        raise DataError(f"{path}:{lineno}: {name} levels must be {{'px': str, 'sz': str, 'n': int}}, "
                        f"got {bad!r}"[:300]) from None
    for px, sz in rows:
        if not (px > 0 and sz > 0):  # also rejects NaN
            raise DataError(f"{path}:{lineno}: {name} levels must have positive px and sz, got px={px} sz={sz}")
    descending = name == "bid"
    for (a, _), (b, _) in zip(rows, rows[1:]):
        if (b >= a) if descending else (b <= a):
            raise DataError(f"{path}:{lineno}: {name} levels must be strictly "
                            f"{'descending' if descending else 'ascending'} in px ({a} then {b})")
    return np.array(rows, dtype=np.float64) if rows else np.empty((0, 2), dtype=np.float64)


def book_from_payload(path: pathlib.Path, lineno: int, data: object) -> BookEvent:
    """Validate an l2Book payload and convert it to a BookEvent (exchange time)."""
    if not isinstance(data, dict):
        raise DataError(f"{path}:{lineno}: l2Book data must be an object")
    t = data.get("time")
    if not isinstance(t, int) or isinstance(t, bool):
        raise DataError(f"{path}:{lineno}: l2Book field 'time' must be integer ms, got {t!r}")
    levels = data.get("levels")
    if not isinstance(levels, list) or len(levels) != 2:
        raise DataError(f"{path}:{lineno}: l2Book field 'levels' must be [bids, asks]")
    bids = _levels(path, lineno, levels[0], "bid")
    asks = _levels(path, lineno, levels[1], "ask")
    return BookEvent(t, str(data.get("coin", "")), bids, asks)


def iter_books(path: str | pathlib.Path, coin: str | None = None) -> Iterator[BookEvent]:
    """Book snapshots of one file in file order (exchange time), optionally filtered to one coin.

    Snapshots whose exchange time goes backwards are rejected: a replay on the simulated clock must be monotonic.
    """
    p = pathlib.Path(path)
    last_t = -1
    for lineno, msg in iter_messages(p):
        if msg.channel != "l2Book":
            continue
        ev = book_from_payload(p, lineno, msg.data)
        if coin is not None and ev.coin != coin:
            continue
        if ev.t_ms < last_t:
            raise DataError(f"{p}:{lineno}: l2Book time {ev.t_ms} goes backwards (previous {last_t})")
        last_t = ev.t_ms
        yield ev


def load_books(path: str | pathlib.Path, coin: str | None = None) -> list[BookEvent]:
    return list(iter_books(path, coin))


def iter_trades(path: str | pathlib.Path, coin: str | None = None) -> Iterator[TradeEvent]:
    """Public trades from a recording (channel "trades", each message a list of trade dicts)."""
    p = pathlib.Path(path)
    for lineno, msg in iter_messages(p):
        if msg.channel != "trades":
            continue
        if not isinstance(msg.data, list):
            raise DataError(f"{p}:{lineno}: trades data must be a list")
        for tr in msg.data:
            try:
                ev = TradeEvent(int(tr["time"]), str(tr["coin"]), float(tr["px"]), float(tr["sz"]), tr["side"])
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{p}:{lineno}: trade needs time, coin, px, sz, side ({exc!r})") from None
            if ev.side not in ("A", "B"):
                raise DataError(f"{p}:{lineno}: trade field 'side' must be 'A' or 'B', got {ev.side!r}")
            if not (ev.px > 0 and ev.sz > 0):
                raise DataError(f"{p}:{lineno}: trade px and sz must be positive")
            if coin is None or ev.coin == coin:
                yield ev
