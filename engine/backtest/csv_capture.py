"""Loader for a third-party CSV capture layout: one directory per capture, three files per coin.

    orderbooks_{COIN}.csv  timestamp, sequence, exchange_timestamp, then bid_price_i, bid_size_i, ask_price_i,
                           ask_size_i for i = 0..n-1 (level 0 = best); a missing level is an empty pair of cells
    trades_{COIN}.csv      timestamp, price, size, side, trade_id, exchange_timestamp; `side` is the aggressor
                           (buy = Hyperliquid "B", sell = "A") and `trade_id` is Hyperliquid's `tid`
    prices_{COIN}.csv      timestamp, price, size, side (bid|ask), exchange_timestamp: the BBO channel, one row
                           per side per update (optional)

This is the layout of djienne's `hyperliquid_data_collector.py` (`../shared/data/hl-l2-trades-djienne-as-*`);
no code of it is used here, only the column names. Files may be plain `.csv` or `.csv.gz`.

`timestamp` (the collector's receive clock) is not used: every event carries `exchange_timestamp`, the venue's
time, as the other loaders do, so replays run on the venue's time line.

A capture is read per coin: `path` is the directory (then `coin` is required) or one of its files (the coin is
taken from the name). Trades go through `data.clean_trades` (repeated tids dropped, late trades sorted back
within a window) and book silences longer than a threshold are reported as `FeedGap`s: this collector writes no
reconnect marker, and its book channel ticks every ~0.54 s, so a long silence can only be the feed being down.
Bad input raises `DataError` naming the file, the 1-based line and the column.
"""
from __future__ import annotations

import csv
import pathlib
import re
from typing import Iterator, NamedTuple

import numpy as np

from engine.backtest.data import (REORDER_WINDOW_MS, BookEvent, DataError, DataQuality, FeedGap, TradeEvent,
                                  clean_trades, open_text)

KINDS = ("orderbooks", "trades", "prices")
_NAME = re.compile(r"^(orderbooks|trades|prices)_(.+)\.csv(\.gz)?$")
# 33x the median book spacing of the reference capture (540 ms; its largest normal spacing is 1.3 s)
DEFAULT_GAP_MS = 5_000
_AGGRESSOR = {"buy": "B", "sell": "A"}


class BboEvent(NamedTuple):
    """One BBO-channel update: best bid and ask (None when that side is empty or not in the update)."""
    t_ms: int
    coin: str
    bid_px: float | None
    bid_sz: float | None
    ask_px: float | None
    ask_sz: float | None


def is_capture(path: str | pathlib.Path) -> bool:
    """A directory holding `orderbooks_*.csv` / `trades_*.csv` files, or one such file."""
    p = pathlib.Path(path)
    if p.is_dir():
        return any(_NAME.match(c.name) for c in p.iterdir())
    return _NAME.match(p.name) is not None


def coins_in(directory: pathlib.Path) -> list[str]:
    return sorted({m.group(2) for c in directory.iterdir() if (m := _NAME.match(c.name))})


def capture_file(path: str | pathlib.Path, coin: str | None, kind: str) -> pathlib.Path:
    """The `kind` file (orderbooks / trades / prices) for `coin` of the capture `path` (a directory or a file)."""
    p = pathlib.Path(path)
    if p.is_dir():
        directory = p
        if coin is None:
            raise DataError(f"{p}: a CSV capture directory holds the coins {coins_in(p)}; pass coin= (--coin)")
    else:
        m = _NAME.match(p.name)
        if m is None:
            raise DataError(f"{p}: not a CSV capture file (expected orderbooks_/trades_/prices_<COIN>.csv)")
        directory = p.parent
        if coin is not None and coin != m.group(2):
            raise DataError(f"{p}: file is for coin {m.group(2)!r}, but coin {coin!r} was asked for")
        coin = m.group(2)
    for suffix in (".csv", ".csv.gz"):
        f = directory / f"{kind}_{coin}{suffix}"
        if f.is_file():
            return f
    raise DataError(f"{directory}: no {kind}_{coin}.csv (coins here: {coins_in(directory)})")


def _coin_of(f: pathlib.Path) -> str:
    return _NAME.match(f.name).group(2)


def _rows(f: pathlib.Path, required: tuple[str, ...]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Header and (1-based line, cells) for each non-empty row; the header must hold `required`."""
    fh = open_text(f)
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None:
        fh.close()
        raise DataError(f"{f}:1: empty file (expected a header row)")
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        fh.close()
        raise DataError(f"{f}:1: header lacks column(s) {missing}")

    def rows() -> Iterator[tuple[int, list[str]]]:
        with fh:
            try:
                for cells in reader:
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue
                    if len(cells) != len(header):
                        raise DataError(f"{f}:{reader.line_num}: expected {len(header)} fields, got {len(cells)}")
                    yield reader.line_num, cells
            except csv.Error as exc:
                raise DataError(f"{f}:{reader.line_num}: unreadable CSV ({exc})") from None
            except (EOFError, OSError) as exc:  # truncated gzip
                raise DataError(f"{f}: unreadable compressed data after line {reader.line_num} ({exc})") from None

    return header, rows()


def _num(f: pathlib.Path, line: int, name: str, cell: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        raise DataError(f"{f}:{line}: field {name!r} is not a number: {cell!r}") from None
    if not v > 0 or v == float("inf"):  # also NaN
        raise DataError(f"{f}:{line}: field {name!r} must be a positive number, got {cell!r}")
    return v


def _ms(f: pathlib.Path, line: int, name: str, cell: str) -> int:
    s = cell.strip()
    if not s.isdigit():
        raise DataError(f"{f}:{line}: field {name!r} must be integer epoch ms, got {cell!r}")
    return int(s)


def _side(f: pathlib.Path, line: int, cells: list[str], cols: list[tuple[int, int]], side: str) -> np.ndarray:
    """(n, 2) levels of one side, best first. Empty cells end the side; prices strictly ordered, sizes > 0."""
    rows: list[tuple[float, float]] = []
    for k, (ip, isz) in enumerate(cols):
        pcell, scell = cells[ip].strip(), cells[isz].strip()
        if not pcell and not scell:
            rest = [j for j, (a, b) in enumerate(cols[k + 1:], k + 1) if cells[a].strip() or cells[b].strip()]
            if rest:
                raise DataError(f"{f}:{line}: field '{side}_price_{rest[0]}' follows the empty level {k} "
                                f"(levels must be contiguous from 0)")
            break
        px = _num(f, line, f"{side}_price_{k}", pcell)
        sz = _num(f, line, f"{side}_size_{k}", scell)
        if rows and ((px >= rows[-1][0]) if side == "bid" else (px <= rows[-1][0])):
            order = "descending" if side == "bid" else "ascending"
            raise DataError(f"{f}:{line}: field '{side}_price_{k}' = {pcell} breaks the strictly {order} "
                            f"{side} prices (level {k - 1} is {rows[-1][0]})")
        rows.append((px, sz))
    return np.array(rows, dtype=np.float64) if rows else np.empty((0, 2), dtype=np.float64)


def iter_books(path: str | pathlib.Path, coin: str | None = None,
               quality: DataQuality | None = None) -> Iterator[BookEvent]:
    """Book snapshots in file order, exchange time; a snapshot older than the one before it is refused.

    Equal times are allowed (the reference capture repeats three snapshots, same time and levels): they are
    kept and counted in `quality.repeated_books` when the levels are identical too.
    """
    f = capture_file(path, coin, "orderbooks")
    coin = _coin_of(f)
    header, rows = _rows(f, ("exchange_timestamp", "bid_price_0", "bid_size_0", "ask_price_0", "ask_size_0"))
    col = {h: i for i, h in enumerate(header)}
    depth = 0
    while all(f"{s}_{w}_{depth}" in col for s in ("bid", "ask") for w in ("price", "size")):
        depth += 1
    bid_cols = [(col[f"bid_price_{k}"], col[f"bid_size_{k}"]) for k in range(depth)]
    ask_cols = [(col[f"ask_price_{k}"], col[f"ask_size_{k}"]) for k in range(depth)]
    it = col["exchange_timestamp"]
    prev: BookEvent | None = None
    for line, cells in rows:
        t = _ms(f, line, "exchange_timestamp", cells[it])
        if prev is not None and t < prev.t_ms:
            raise DataError(f"{f}:{line}: field 'exchange_timestamp' {t} goes back in time "
                            f"(previous snapshot {prev.t_ms})")
        ev = BookEvent(t, coin, _side(f, line, cells, bid_cols, "bid"), _side(f, line, cells, ask_cols, "ask"))
        if quality is not None and prev is not None and t == prev.t_ms and \
                np.array_equal(ev.bids, prev.bids) and np.array_equal(ev.asks, prev.asks):
            quality.repeated_books += 1
        prev = ev
        yield ev


def _raw_trades(f: pathlib.Path, coin: str) -> Iterator[tuple[str, TradeEvent]]:
    header, rows = _rows(f, ("price", "size", "side", "trade_id", "exchange_timestamp"))
    col = {h: i for i, h in enumerate(header)}
    ip, isz, iside, itid, it = (col[c] for c in ("price", "size", "side", "trade_id", "exchange_timestamp"))
    for line, cells in rows:
        side = _AGGRESSOR.get(cells[iside].strip().lower())
        if side is None:
            raise DataError(f"{f}:{line}: field 'side' must be 'buy' or 'sell' (the aggressor), got {cells[iside]!r}")
        tid = cells[itid].strip()
        if not tid.isdigit():
            raise DataError(f"{f}:{line}: field 'trade_id' must be a non-negative integer, got {cells[itid]!r}")
        ev = TradeEvent(_ms(f, line, "exchange_timestamp", cells[it]), coin, _num(f, line, "price", cells[ip]),
                        _num(f, line, "size", cells[isz]), side, int(tid))
        yield f"{f}:{line}", ev


def iter_trades(path: str | pathlib.Path, coin: str | None = None, quality: DataQuality | None = None,
                reorder_window_ms: int = REORDER_WINDOW_MS) -> Iterator[TradeEvent]:
    """Trades in exchange-time order: repeated `trade_id`s dropped, late rows sorted back (see `clean_trades`)."""
    f = capture_file(path, coin, "trades")
    return clean_trades(_raw_trades(f, _coin_of(f)), quality, reorder_window_ms)


def iter_bbo(path: str | pathlib.Path, coin: str | None = None) -> Iterator[BboEvent]:
    """BBO updates from `prices_{COIN}.csv`: consecutive bid/ask rows of one exchange time make one update."""
    f = capture_file(path, coin, "prices")
    coin = _coin_of(f)
    header, rows = _rows(f, ("price", "size", "side", "exchange_timestamp"))
    col = {h: i for i, h in enumerate(header)}
    ip, isz, iside, it = (col[c] for c in ("price", "size", "side", "exchange_timestamp"))
    cur: list | None = None  # [t, bid_px, bid_sz, ask_px, ask_sz]
    last_t = -1
    for line, cells in rows:
        t = _ms(f, line, "exchange_timestamp", cells[it])
        if t < last_t:
            raise DataError(f"{f}:{line}: field 'exchange_timestamp' {t} goes back in time (previous {last_t})")
        last_t = t
        side = cells[iside].strip().lower()
        if side not in ("bid", "ask"):
            raise DataError(f"{f}:{line}: field 'side' must be 'bid' or 'ask', got {cells[iside]!r}")
        k = 1 if side == "bid" else 3
        # a new update starts at a new time, or when this side is already filled for the current one
        if cur is None or cur[0] != t or cur[k] is not None:
            if cur is not None:
                yield BboEvent(cur[0], coin, *cur[1:])
            cur = [t, None, None, None, None]
        cur[k], cur[k + 1] = _num(f, line, "price", cells[ip]), _num(f, line, "size", cells[isz])
    if cur is not None:
        yield BboEvent(cur[0], coin, *cur[1:])


def iter_gaps(path: str | pathlib.Path, coin: str | None = None, min_gap_ms: int = DEFAULT_GAP_MS,
              quality: DataQuality | None = None) -> Iterator[FeedGap]:
    """Every interval between consecutive book snapshots longer than `min_gap_ms`, as a `FeedGap`."""
    if min_gap_ms <= 0:
        raise ValueError(f"min_gap_ms must be > 0, got {min_gap_ms}")
    f = capture_file(path, coin, "orderbooks")
    header, rows = _rows(f, ("exchange_timestamp",))
    it = header.index("exchange_timestamp")
    prev: int | None = None
    for line, cells in rows:
        t = _ms(f, line, "exchange_timestamp", cells[it])
        if prev is not None and t - prev > min_gap_ms:
            if quality is not None:
                quality.gaps += 1
            yield FeedGap(prev, t, f"no book snapshot for {t - prev} ms (more than {min_gap_ms} ms), "
                                   f"{f.name} line {line}")
        prev = t
