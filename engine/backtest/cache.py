"""Decoded-snapshot cache: decode an L2 file once (LZ4 + JSON ≈ 30 µs per snapshot), replay from arrays after.

The cache is an `.npz` per (source path, size, mtime, coin; for a directory of recordings, its files') in `$HLMM_CACHE_DIR` (default
`~/.cache/hlmm/books`), never next to the data (the shared data folder is read-only and must not be copied into
the repo). Any change of the source file changes the key, so a stale cache is never read; a corrupt cache
file is ignored and rewritten. Arrays are flat (all bid levels, all ask levels, with per-snapshot counts) so
books of any depth fit.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Iterator

import numpy as np

from engine.backtest.data import BookEvent, book_source, iter_books

FORMAT = 1


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("HLMM_CACHE_DIR") or pathlib.Path.home() / ".cache" / "hlmm" / "books")


def cache_path(path: pathlib.Path, coin: str | None) -> pathlib.Path:
    src = book_source(path, coin)  # a CSV capture directory: its orderbooks file, whose changes must show
    if src.is_dir():  # a directory of recordings: any file added (a rotation) or deleted (retention) shows
        from engine.backtest.recordings import files_of

        stamp = "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files_of(src, coin or ""))
    else:
        st = src.stat()
        stamp = f"{st.st_size}|{st.st_mtime_ns}"
    key = f"{FORMAT}|{src.resolve()}|{stamp}|{coin}".encode()
    return cache_dir() / f"{path.name}.{hashlib.sha256(key).hexdigest()[:20]}.npz"


def _write(target: pathlib.Path, books: list[BookEvent]) -> None:
    n = len(books)
    t = np.fromiter((b.t_ms for b in books), dtype=np.int64, count=n)
    nb = np.fromiter((len(b.bids) for b in books), dtype=np.int32, count=n)
    na = np.fromiter((len(b.asks) for b in books), dtype=np.int32, count=n)
    bids = np.concatenate([b.bids for b in books]) if n else np.empty((0, 2))
    asks = np.concatenate([b.asks for b in books]) if n else np.empty((0, 2))
    coins = np.array(sorted({b.coin for b in books}) or [""])
    coin_idx = np.searchsorted(coins, np.array([b.coin for b in books])) if n else np.empty(0, dtype=np.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part.npz")
    np.savez(tmp, t=t, nb=nb, na=na, bids=bids, asks=asks, coins=coins, coin_idx=coin_idx)
    tmp.replace(target)


def _read(target: pathlib.Path) -> Iterator[BookEvent]:
    with np.load(target) as z:
        t, nb, na, bids, asks, coins, coin_idx = (z[k] for k in ("t", "nb", "na", "bids", "asks", "coins", "coin_idx"))
    ob = np.concatenate(([0], np.cumsum(nb)))
    oa = np.concatenate(([0], np.cumsum(na)))
    names = [str(c) for c in coins]
    tl, obl, oal, cil = t.tolist(), ob.tolist(), oa.tolist(), coin_idx.tolist()
    for i in range(len(tl)):
        yield BookEvent(tl[i], names[cil[i]], bids[obl[i]:obl[i + 1]], asks[oal[i]:oal[i + 1]])


def cached_books(path: str | pathlib.Path, coin: str | None = None) -> Iterator[BookEvent]:
    """Same events as `iter_books(path, coin)`; decoded from the source only on the first call."""
    p = pathlib.Path(path)
    target = cache_path(p, coin)
    if target.is_file():
        try:
            books = list(_read(target))
        except (OSError, ValueError, KeyError):
            target.unlink(missing_ok=True)  # corrupt: decode again below
        else:
            yield from books
            return
    books = list(iter_books(p, coin))  # validates; DataError leaves no cache behind
    try:
        _write(target, books)
    except OSError:
        pass  # an unwritable cache dir only costs speed
    yield from books
