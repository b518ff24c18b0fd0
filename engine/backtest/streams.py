"""Time-ordered merge of replay inputs (book snapshots per leg, trades, funding rows, feed gaps)."""
from __future__ import annotations

import heapq
from typing import Iterable, Iterator

from engine.backtest.data import BookEvent, FeedGap, TradeEvent
from engine.backtest.history import FundingRow

TRADE, BOOK, FUNDING, GAP = 0, 1, 2, 3  # the `kind` of merge_events' tuples


def merge_events(books: dict[str, Iterator[BookEvent]], trades: dict[str, Iterator[TradeEvent]] | None = None,
                 funding: list[FundingRow] | None = None,
                 gaps: dict[str, Iterable[FeedGap]] | None = None) -> Iterator[tuple[int, int, str, object]]:
    """Time-ordered merge of the sources as (t_ms, kind, leg, payload).

    Kinds: 0 a `TradeEvent`, 1 a `BookEvent`, 2 a `FundingRow` (leg "perp"), 3 a `FeedGap` (the leg's feed was
    down from `t_ms` to `until_ms`; only present when `gaps` is passed, so a consumer that knows kinds 0–2 sees
    nothing new unless asked).

    Funding rows are replayed only between the first and the last book snapshot (a settlement needs a mark
    price, and a position cannot exist before the first book); trades are replayed to the end.
    At equal times: trades, then books (a trade printed at t is part of what the snapshot at t shows as gone),
    then funding, then gaps (a gap starts at the last data before it: what carries time t was received before
    the feed went down). Within one kind, sources keep the order of the dicts, and each source its own order.
    """
    def tagged(it: Iterator, kind: int, leg: str) -> Iterator[tuple[int, int, str, object]]:
        for e in it:  # a function, not a generator expression: `leg` must bind per stream
            yield (e.t_ms, kind, leg, e)

    streams = [tagged(it, BOOK, leg) for leg, it in books.items()]
    streams += [tagged(it, TRADE, leg) for leg, it in (trades or {}).items()]
    streams += [tagged(iter(it), GAP, leg) for leg, it in (gaps or {}).items()]
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
    live_books = sum(1 for h in heads if h[3][1] == BOOK)
    while heads:
        t = heads[0][0]
        # equal times: funding after the market events, before a gap
        while fi < len(fund) and live_books and \
                (fund[fi].time_ms < t or (fund[fi].time_ms == t and heads[0][1] == GAP)):
            if seen_book:
                yield (fund[fi].time_ms, FUNDING, "perp", fund[fi])
            fi += 1
        _, _, i, ev = heapq.heappop(heads)
        seen_book = seen_book or ev[1] == BOOK
        yield ev
        nxt = next(streams[i], None)
        if nxt is not None:
            heapq.heappush(heads, (nxt[0], nxt[1], i, nxt))
        elif ev[1] == BOOK:
            live_books -= 1
            if not live_books:  # settlements up to the last snapshot's time still count
                while fi < len(fund) and fund[fi].time_ms <= ev[0]:
                    yield (fund[fi].time_ms, FUNDING, "perp", fund[fi])
                    fi += 1
