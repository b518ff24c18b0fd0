"""Time-ordered merge of replay inputs (book snapshots per leg, trades, funding rows)."""
from __future__ import annotations

import heapq
from typing import Iterator

from engine.backtest.data import BookEvent, TradeEvent
from engine.backtest.history import FundingRow


def merge_events(books: dict[str, Iterator[BookEvent]], trades: dict[str, Iterator[TradeEvent]] | None = None,
                 funding: list[FundingRow] | None = None) -> Iterator[tuple[int, int, str, object]]:
    """Time-ordered merge of the sources; funding rows only between the first and the last book event.

    Priority at equal times: trades (0) before books (1) before funding (2) — a trade printed at t is part of
    what the snapshot at t shows as gone.
    """
    def tagged(it: Iterator, prio: int, leg: str) -> Iterator[tuple[int, int, str, object]]:
        for e in it:  # a function, not a generator expression: `leg` must bind per stream
            yield (e.t_ms, prio, leg, e)

    streams = [tagged(it, 1, leg) for leg, it in books.items()]
    streams += [tagged(it, 0, leg) for leg, it in (trades or {}).items()]
    n_book_streams = len(books)
    heads: list[tuple] = []
    for i, s in enumerate(streams):
        first = next(s, None)
        if first is not None:
            heapq.heappush(heads, (first[0], first[1], i, first))
    fund = list(funding or [])
    fi = 0
    started = False
    live_books = sum(1 for h in heads if h[2] < n_book_streams)
    while heads:
        t = heads[0][0]
        while fi < len(fund) and fund[fi].time_ms <= t:
            if started:
                yield (fund[fi].time_ms, 2, "perp", fund[fi])
            fi += 1
        _, _, i, ev = heapq.heappop(heads)
        started = True
        yield ev
        nxt = next(streams[i], None)
        if nxt is not None:
            heapq.heappush(heads, (nxt[0], nxt[1], i, nxt))
        elif i < n_book_streams:
            live_books -= 1
            if live_books == 0:
                return
