"""Market-data loaders for backtests: L2 book snapshots, trades and the project's own WS recordings.

Formats read (chosen by file suffix, then by the shape of each line):

* Hyperliquid's official archive (`s3://hyperliquid-archive/market_data/<day>/<hour>/l2Book/<COIN>.lz4`):
  LZ4 frames of JSON lines `{"time": "<recorder wall clock>", "ver_num": 1, "raw": {"channel": "l2Book",
  "data": {"coin", "time": <exchange ms>, "levels": [[bids best-first], [asks best-first]]}}}`.
* The project's recordings (`hlmm record`): JSON lines `{"t": <local receive ms>, "channel": "...",
  "data": {...}}` where `data` is exactly the WS message payload (l2Book, trades, bbo, activeAssetCtx).
* hftbacktest's raw collector lines `<receive ns> <WS message JSON>` (same WS payloads).
* A CSV capture directory (`orderbooks_{COIN}.csv`, `trades_{COIN}.csv`, `prices_{COIN}.csv`): chosen by path,
  read by `csv_capture.py`; `coin` is required when the path is the directory.
* A directory of `hlmm record` files (the recorder service rotates them): the coin's files, oldest first, read as
  one recording (`recordings.py`); `coin` is required.

Any of these may be plain (`.jsonl`), gzip (`.gz`) or LZ4-frame (`.lz4`) compressed. Book events carry the
**exchange** time (`data.time`), not the recorder's clock, so replays are on the venue's time line.

Trades of every layout go through `clean_trades`: a trade id seen again is dropped (a resubscription resends the
venue's last trades, so a recording across a reconnect repeats them) and trades that arrive late are sorted back
within a small window; `DataQuality` counts both, and the feed gaps `gaps.iter_gaps` reports.

Bad input raises `DataError` naming the file and the 1-based line number; nothing is yielded past it.
"""
from __future__ import annotations

import gzip
import heapq
import io
import pathlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import IO, Iterable, Iterator, NamedTuple

import numpy as np
import orjson

from engine.backtest.recordings import files_of


class DataError(ValueError):
    """A data file could not be read; the message names the file, the line and the field."""


class BookEvent(NamedTuple):
    """One full L2 snapshot. `bids`/`asks` are float64 arrays of shape (n, 2): columns px, sz; best first."""
    t_ms: int
    coin: str
    bids: np.ndarray
    asks: np.ndarray


class TradeEvent(NamedTuple):
    """One public trade. `side` is the taker's side as on the wire: "B" = taker bought (hit the asks).

    `tid` is the venue's trade id when the source has one (the key duplicates are dropped on)."""
    t_ms: int
    coin: str
    px: float
    sz: float
    side: str
    tid: int | None = None


class FeedGap(NamedTuple):
    """A stretch the recording has no market data for because the feed was down (kind 3 in `merge_events`).

    `t_ms`: exchange time of the last market data before the gap (the feed is known live up to there);
    `until_ms`: exchange time of the first book snapshot after it (the resync), None if the file ends first.
    """
    t_ms: int
    until_ms: int | None
    reason: str


@dataclass(slots=True)
class DataQuality:
    """What a loader did to its input, for a backtest result: pass one object to the iterators, read it after.

    duplicate_trades: trades dropped because their id was seen before; reordered_trades: trades that arrived
    after a later one and were sorted back; gaps: `FeedGap`s reported; repeated_books: snapshots identical to the
    one before at the same time (kept: they change nothing).
    """
    duplicate_trades: int = 0
    reordered_trades: int = 0
    gaps: int = 0
    repeated_books: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


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


def itermessages_of(path: str | pathlib.Path) -> Iterator[tuple[int, RecordedMessage]]:
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
    for _, msg in itermessages_of(path):
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


def capture_reader(path: pathlib.Path):
    """The CSV-capture reader when `path` is such a capture (a directory or one of its files), else None."""
    from engine.backtest import csv_capture  # imported here: csv_capture imports this module

    return csv_capture if csv_capture.is_capture(path) else None


def book_source(path: str | pathlib.Path, coin: str | None = None) -> pathlib.Path:
    """The file `iter_books(path, coin)` reads (for a CSV capture directory: its orderbooks file), for cache keys."""
    p = pathlib.Path(path)
    cap = capture_reader(p)
    return cap.capture_file(p, coin, "orderbooks") if cap else p


def _sources(p: pathlib.Path, coin: str | None) -> list[pathlib.Path]:
    """[p] for a file; for a directory of `hlmm record` files, the coin's files oldest first (one recording)."""
    if not p.is_dir():
        return [p]
    if coin is None:
        raise DataError(f"{p}: a directory of recordings needs the coin (which coin's files to read)")
    files = files_of(p, coin)
    if not files:
        raise DataError(f"{p}: no `hlmm record` files of {coin} (<COIN>_<start>.jsonl.gz) in this directory")
    return files


def iter_books(path: str | pathlib.Path, coin: str | None = None,
               quality: DataQuality | None = None) -> Iterator[BookEvent]:
    """Book snapshots of one file in file order (exchange time), optionally filtered to one coin.

    Snapshots whose exchange time goes backwards are rejected: a replay on the simulated clock must be monotonic.
    A snapshot identical to the one before at the same time is kept and counted in `quality.repeated_books`.
    """
    p = pathlib.Path(path)
    cap = capture_reader(p)
    if cap is not None:
        yield from cap.iter_books(p, coin, quality)
        return
    prev: BookEvent | None = None
    for src, lineno, msg in messages_of(p, coin):
        if msg.channel != "l2Book":
            continue
        ev = book_from_payload(src, lineno, msg.data)
        if coin is not None and ev.coin != coin:
            continue
        if prev is not None:
            if ev.t_ms < prev.t_ms:
                raise DataError(f"{src}:{lineno}: l2Book time {ev.t_ms} goes backwards (previous {prev.t_ms})")
            if quality is not None and ev.t_ms == prev.t_ms and np.array_equal(ev.bids, prev.bids) \
                    and np.array_equal(ev.asks, prev.asks):
                quality.repeated_books += 1
        prev = ev
        yield ev


def messages_of(p: pathlib.Path, coin: str | None) -> Iterator[tuple[pathlib.Path, int, RecordedMessage]]:
    """(file, line number, message) of a file or of a directory's recording of `coin`, in order."""
    for src in _sources(p, coin):
        for lineno, msg in itermessages_of(src):
            yield src, lineno, msg


def load_books(path: str | pathlib.Path, coin: str | None = None) -> list[BookEvent]:
    return list(iter_books(path, coin))


# A trade that arrives up to this much earlier than one already read is put back in order; further back it is
# refused (a replay cannot take back what it already did, and a long shuffle means the file is not one feed).
REORDER_WINDOW_MS = 2_000
# Trade ids remembered for duplicate detection: a resubscription resends the venue's last 30 trades of the coin,
# so the most recent ids suffice, and memory stays bounded on month-long files.
TID_MEMORY = 100_000


def clean_trades(items: Iterable[tuple[str, TradeEvent]], quality: DataQuality | None = None,
                 window_ms: int = REORDER_WINDOW_MS) -> Iterator[TradeEvent]:
    """Trades in time order without repeats. `items`: (where, trade) in file order, `where` = "file:line".

    * a trade whose `tid` was seen before is dropped (`quality.duplicate_trades`); the same `tid` with a
      different time, price, size or side is a `DataError`, since it is not a resend;
    * a trade earlier than the latest one read is sorted back into place (`quality.reordered_trades`) when it is
      at most `window_ms` earlier; further back it is a `DataError`. Equal times keep file order.

    Output lags input by `window_ms` of trade time (a late trade can only be placed before trades still held).
    """
    if window_ms < 0:
        raise ValueError(f"window_ms must be >= 0, got {window_ms}")
    seen: OrderedDict[int, tuple] = OrderedDict()
    held: list[tuple[int, int, TradeEvent]] = []  # heap by (time, arrival)
    latest = None
    for n, (where, ev) in enumerate(items):
        if ev.tid is not None:
            key = (ev.t_ms, ev.px, ev.sz, ev.side)
            first = seen.get(ev.tid)
            if first is not None:
                if first[0] != key:
                    raise DataError(f"{where}: trade id {ev.tid} repeats {first[1]} with different fields "
                                    f"(time, px, sz, side) {key} vs {first[0]}")
                if quality is not None:
                    quality.duplicate_trades += 1
                continue
            seen[ev.tid] = (key, where)
            if len(seen) > TID_MEMORY:
                seen.popitem(last=False)
        if latest is not None and ev.t_ms < latest:
            if latest - ev.t_ms > window_ms:
                raise DataError(f"{where}: trade time {ev.t_ms} is {latest - ev.t_ms} ms before a trade read "
                                f"earlier ({latest}); more than the {window_ms} ms this loader puts back in order")
            if quality is not None:
                quality.reordered_trades += 1
        else:
            latest = ev.t_ms
        heapq.heappush(held, (ev.t_ms, n, ev))
        while held[0][0] < latest - window_ms:
            yield heapq.heappop(held)[2]
    while held:
        yield heapq.heappop(held)[2]


def _recorded_trades(path: pathlib.Path, coin: str | None) -> Iterator[tuple[str, TradeEvent]]:
    for p, lineno, msg in messages_of(path, coin):
        if msg.channel != "trades":
            continue
        if not isinstance(msg.data, list):
            raise DataError(f"{p}:{lineno}: trades data must be a list")
        for tr in msg.data:
            try:
                tid = tr.get("tid")
                ev = TradeEvent(int(tr["time"]), str(tr["coin"]), float(tr["px"]), float(tr["sz"]), tr["side"],
                                None if tid is None else int(tid))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{p}:{lineno}: trade needs time, coin, px, sz, side ({exc!r})") from None
            if ev.side not in ("A", "B"):
                raise DataError(f"{p}:{lineno}: trade field 'side' must be 'A' or 'B', got {ev.side!r}")
            if not (ev.px > 0 and ev.sz > 0):
                raise DataError(f"{p}:{lineno}: trade px and sz must be positive")
            if coin is None or ev.coin == coin:
                yield f"{p}:{lineno}", ev


def iter_trades(path: str | pathlib.Path, coin: str | None = None, quality: DataQuality | None = None,
                reorder_window_ms: int = REORDER_WINDOW_MS) -> Iterator[TradeEvent]:
    """Public trades in time order, repeats dropped (`clean_trades`): a recording's "trades" channel (each
    message a list of trade dicts) or a CSV capture's trades file."""
    p = pathlib.Path(path)
    cap = capture_reader(p)
    if cap is not None:
        return cap.iter_trades(p, coin, quality, reorder_window_ms)
    return clean_trades(_recorded_trades(p, coin), quality, reorder_window_ms)
