"""`MarketData`: the engine's view of its markets — latest book per coin, volatility per market, venue time.

Input: book snapshots (feed pushes, REST reads, injected test books). Output, read by the other components:
the book and mid of a coin, the `MarketView` risk prices against, the `LegMarket` the hedger prices against,
and `venue_now_ms()` (our clock shifted by the newest venue timestamp seen: the local venue's clock may run
ahead of ours). Nothing here sends or awaits anything.
"""
from __future__ import annotations

from typing import Any, Iterable

from engine.clock import Clock
from engine.market.markets import MarketRuntime
from engine.market.book import BookStore, L2Book
from engine.risk import MarketView
from engine.strategy.hedge import LegMarket
from engine.venue.facts import TAKER_FEE

VENUE_CLOCK_SLACK_MS = 60_000
UNCHANGED, TOUCH, FULL = 0, 1, 2  # what a new book changed for a decision (MarketData.on_book)


class MarketData:
    def __init__(self, clock: Clock, markets: Iterable[MarketRuntime], max_age_ms: int) -> None:
        self.clock = clock
        self.max_age_ms = max_age_ms
        self.books = BookStore()
        self.markets = list(markets)
        self.by_coin: dict[str, MarketRuntime] = {leg.coin: m for m in self.markets for leg in m.legs}
        self.venue_offset_ms = 0
        self._views: dict[str, tuple[Any, int, MarketView]] = {}  # coin -> (book, closed bars, view)

    # ------------------------------------------------------------------ input
    def on_book(self, coin: str, bids: tuple, asks: tuple, venue_ms: int) -> tuple[MarketRuntime | None, int]:
        """Install a snapshot ((px, sz) levels best first). Returns (its market, what changed for a decision):
        UNCHANGED (only deeper levels moved: the data is fresher, no decision changes), TOUCH (the best bid or
        ask moved, nothing else) or FULL (usability, freshness or a closed volatility bar changed)."""
        now = self.clock.now_ms()
        book = L2Book(coin, bids, asks, venue_ms, now)
        prev = self.books.book(coin)
        self.books.on_book(book)
        self.observe_venue_time(venue_ms, now)
        m = self.by_coin.get(coin)
        if m is None:
            return None, UNCHANGED
        usable = book.is_usable
        if prev is None or not usable or not prev.is_usable or not prev.is_fresh(now, self.max_age_ms):
            change = FULL
        elif prev.bids[0][0] != bids[0][0] or prev.asks[0][0] != asks[0][0]:
            change = TOUCH
        else:
            change = UNCHANGED
        if coin == m.vol_coin and usable and m.vol.on_price(venue_ms, (bids[0][0] + asks[0][0]) / 2) > 0:
            change = FULL
        return m, change

    def observe_venue_time(self, venue_ms: int, now: int | None = None) -> None:
        offset = venue_ms - (self.clock.now_ms() if now is None else now)
        if offset > self.venue_offset_ms or abs(offset - self.venue_offset_ms) > VENUE_CLOCK_SLACK_MS:
            self.venue_offset_ms = offset

    # ------------------------------------------------------------------ readings
    def venue_now_ms(self) -> int:
        return self.clock.now_ms() + self.venue_offset_ms

    def book(self, coin: str) -> L2Book | None:
        return self.books.book(coin)

    def fresh_book(self, coin: str, now: int) -> L2Book | None:
        """The coin's book if it is fresh and usable (two-sided, uncrossed, no zero level), else None."""
        book = self.books.book(coin)
        if book is None or not book.is_usable or not book.is_fresh(now, self.max_age_ms):
            return None
        return book

    def mid(self, coin: str, now: int, max_age_ms: int | None = None) -> float | None:
        return self.books.mid(coin, now, self.max_age_ms if max_age_ms is None else max_age_ms)

    def stale_at(self, coin: str) -> int | None:
        """When the coin's newest book goes stale (local ms), None without a book."""
        book = self.books.book(coin)
        return None if book is None else book.received_ms + self.max_age_ms + 1

    def view(self, m: MarketRuntime, coin: str) -> MarketView:
        """What risk prices `coin` against. A view depends on the book snapshot and the closed bars only, so
        it is reused while both are unchanged."""
        book = self.books.book(coin)
        bars = m.vol.bars
        cached = self._views.get(coin)
        if cached is not None and cached[0] is book and cached[1] == bars:
            return cached[2]
        mid = book.mid if book is not None else None
        view = MarketView(coin, mid, None, m.vol.atr_pct(mid) if mid else None,
                          book.received_ms if book is not None else None)
        self._views[coin] = (book, bars, view)
        return view

    def leg_market(self, leg: Any, now: int) -> LegMarket | None:
        """The hedger's view of one leg (best prices, taker fee), or None without a fresh usable book."""
        book = self.fresh_book(leg.coin, now)
        if book is None:
            return None
        return LegMarket(leg.coin, leg.name, leg.sz_decimals, book.best_bid, book.best_ask, TAKER_FEE[leg.name])
