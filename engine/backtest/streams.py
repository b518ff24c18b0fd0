"""Time-ordered merge of replay inputs (book snapshots per leg, trades, funding rows)."""
from __future__ import annotations

import heapq
from typing import Iterator

from engine.backtest.data import BookEvent, TradeEvent
from engine.backtest.history import FundingRow


def merge_events(books: dict[str, Iterator[BookEvent]], trades: dict[str, Iterator[TradeEvent]] | None = None,
                 funding: list[FundingRow] | None = None) -> Iterator[tuple[int, int, str, object]]:
    """Time-ordered merge of the sources as (t_ms, kind, leg, payload), kind 0 trade / 1 book / 2 funding.

    Funding rows are replayed only between the first and the last book snapshot (a settlement needs a mark
    price, and a position cannot exist before the first book); trades are replayed to the end.
    At equal times trades come before books (a trade printed at t is part of what the snapshot at t shows as
    gone) and books before funding.
    """
    def tagged(it: Iterator, kind: int, leg: str) -> Iterator[tuple[int, int, str, object]]:
        for e in it:  # a function, not a generator expression: `leg` must bind per stream
            yield (e.t_ms, kind, leg, e)

    streams = [tagged(it, 1, leg) for leg, it in books.items()]
    streams += [tagged(it, 0, leg) for leg, it in (trades or {}).items()]
    if len(streams) == 1 and not funding:  # one book file alone (the common case): nothing to merge
        yield from streams[0]
        return
    heads: list[tuple] = []
    for i, s in enumerate(streams):
        first = next(s, None)
        if first is not None:
            heapq.heappush(heads, (first[0], first[1], i, first))
    fund = list(funding or [])
    fi = 0
    seen_book = False
    live_books = sum(1 for h in heads if h[3][1] == 1)
    while heads:
        t = heads[0][0]
        while fi < len(fund) and fund[fi].time_ms < t and live_books:  # equal times: after the market events
            if seen_book:
                yield (fund[fi].time_ms, 2, "perp", fund[fi])
            fi += 1
        _, _, i, ev = heapq.heappop(heads)
        seen_book = seen_book or ev[1] == 1
        yield ev
        nxt = next(streams[i], None)
        if nxt is not None:
            heapq.heappush(heads, (nxt[0], nxt[1], i, nxt))
        elif ev[1] == 1:
            live_books -= 1
            if not live_books:  # settlements up to the last snapshot's time still count
                while fi < len(fund) and fund[fi].time_ms <= ev[0]:
                    yield (fund[fi].time_ms, 2, "perp", fund[fi])
                    fi += 1
