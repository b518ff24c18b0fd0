"""Per-coin L2 book and BBO as immutable snapshots, plus a store of the latest one per coin.

Hyperliquid pushes a full l2Book snapshot on every update (protocol §6), so a book is replaced, never patched:
an immutable tuple-of-levels snapshot is both the cheapest and the safest representation (the strategy can
hold a reference while the feed installs the next one). Prices are floats here because the book feeds only
arithmetic (mid, microprice, spreads); anything sent to the venue is re-rounded in exact decimals.

Every snapshot carries the venue time and the local receive time: a book older than the configured limit is
never quoted on, and a crossed or zero book is treated as unusable rather than "best effort".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Mapping

_flat = chain.from_iterable

Level = tuple[float, float]  # (price, size)


class MarketDataError(ValueError):
    """A market message that cannot be trusted; the message names the offending field."""


def _num(value: Any, field: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise MarketDataError(f"{field}: not a number: {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise MarketDataError(f"{field}: not finite: {value!r}")
    return out


def _levels(raw: Any, field: str) -> tuple[Level, ...]:
    if not isinstance(raw, list):
        raise MarketDataError(f"{field}: expected a list of levels, got {type(raw).__name__}")
    out = []
    for i, lvl in enumerate(raw):
        if not isinstance(lvl, Mapping) or "px" not in lvl or "sz" not in lvl:
            raise MarketDataError(f"{field}[{i}]: expected {{px, sz, n}}, got {lvl!r}")
        out.append((_num(lvl["px"], f"{field}[{i}].px"), _num(lvl["sz"], f"{field}[{i}].sz")))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class L2Book:
    """Bids best-first (descending), asks best-first (ascending), as the venue sends them."""

    coin: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    time_ms: int  # venue timestamp of the snapshot
    received_ms: int  # local clock when it arrived (staleness is judged on this: the venue clock is not ours)
    # is_usable, computed on first use: the snapshot is immutable and the requote path asks several times
    _usable: bool | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], received_ms: int) -> "L2Book":
        """Parse an `l2Book` body (info reply or WS push); raises MarketDataError naming the bad field."""
        if not isinstance(data, Mapping):
            raise MarketDataError(f"l2Book: expected an object, got {type(data).__name__}")
        coin = data.get("coin")
        if not isinstance(coin, str) or not coin:
            raise MarketDataError(f"l2Book.coin: missing or not a string: {coin!r}")
        levels = data.get("levels")
        if not isinstance(levels, list) or len(levels) != 2:
            raise MarketDataError(f"l2Book.levels: expected [bids, asks], got {levels!r:.80}")
        t = data.get("time")
        if not isinstance(t, int) or isinstance(t, bool):
            raise MarketDataError(f"l2Book.time: expected integer ms, got {t!r}")
        return cls(coin, _levels(levels[0], "l2Book.levels[0]"), _levels(levels[1], "l2Book.levels[1]"),
                   t, received_ms)

    @property
    def best_bid(self) -> float | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0][0] if self.asks else None

    @property
    def has_zero(self) -> bool:
        """Any non-positive price or size: a corrupt snapshot (the venue never shows empty levels)."""
        for side in (self.bids, self.asks):
            if side and min(_flat(side)) <= 0:  # the smallest price or size (or count) of the side, in C
                return True
        return False

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask. The venue's own book cannot be crossed, so this means our view is
        broken (missed update, bad merge) and quoting on it would post through the market."""
        bb, ba = self.best_bid, self.best_ask
        return bb is not None and ba is not None and bb >= ba

    @property
    def is_two_sided(self) -> bool:
        return bool(self.bids) and bool(self.asks)

    @property
    def is_usable(self) -> bool:
        """Two-sided, not crossed, no zero levels: the only kind of book the strategy may price from."""
        usable = self._usable
        if usable is None:
            usable = self.is_two_sided and not self.is_crossed and not self.has_zero
            object.__setattr__(self, "_usable", usable)
        return usable

    @property
    def mid(self) -> float | None:
        if not self.is_usable:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2

    @property
    def spread(self) -> float | None:
        return None if not self.is_usable else self.asks[0][0] - self.bids[0][0]

    @property
    def microprice(self) -> float | None:
        """Size-weighted mid: leans toward the side with less size (the side more likely to be taken next)."""
        if not self.is_usable:
            return None
        (bp, bs), (ap, as_) = self.bids[0], self.asks[0]
        return (bp * as_ + ap * bs) / (bs + as_)

    def age_ms(self, now_ms: int) -> int:
        return now_ms - self.received_ms

    def is_fresh(self, now_ms: int, max_age_ms: int) -> bool:
        return 0 <= now_ms - self.received_ms <= max_age_ms


@dataclass(frozen=True, slots=True)
class BBO:
    """Best bid/offer from the `bbo` channel; either side may be absent (null on the wire)."""

    coin: str
    bid: Level | None
    ask: Level | None
    time_ms: int
    received_ms: int

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], received_ms: int) -> "BBO":
        if not isinstance(data, Mapping):
            raise MarketDataError(f"bbo: expected an object, got {type(data).__name__}")
        coin = data.get("coin")
        if not isinstance(coin, str) or not coin:
            raise MarketDataError(f"bbo.coin: missing or not a string: {coin!r}")
        pair = data.get("bbo")
        if not isinstance(pair, list) or len(pair) != 2:
            raise MarketDataError(f"bbo.bbo: expected [bid|null, ask|null], got {pair!r:.80}")
        t = data.get("time")
        if not isinstance(t, int) or isinstance(t, bool):
            raise MarketDataError(f"bbo.time: expected integer ms, got {t!r}")
        sides = [None if p is None else _levels([p], f"bbo.bbo[{i}]")[0] for i, p in enumerate(pair)]
        return cls(coin, sides[0], sides[1], t, received_ms)

    @classmethod
    def of_book(cls, book: L2Book) -> "BBO":
        return cls(book.coin, book.bids[0] if book.bids else None, book.asks[0] if book.asks else None,
                   book.time_ms, book.received_ms)

    @property
    def is_crossed(self) -> bool:
        return self.bid is not None and self.ask is not None and self.bid[0] >= self.ask[0]

    @property
    def mid(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return top_mid(self.bid[0], self.ask[0])

    def is_fresh(self, now_ms: int, max_age_ms: int) -> bool:
        return 0 <= now_ms - self.received_ms <= max_age_ms


def top_mid(bid: float, ask: float) -> float | None:
    """The mid of a best bid and ask, or None when they are crossed or the bid is not positive."""
    if bid >= ask or bid <= 0:
        return None
    return (bid + ask) / 2


class BookStore:
    """Latest book, BBO and mid per coin. The BBO channel can be newer than the last l2Book push (it is sent
    on every change, l2Book at most every 0.5 s), so `bbo()` returns whichever is more recent."""

    __slots__ = ("_books", "_bbos", "_mids")

    def __init__(self) -> None:
        self._books: dict[str, L2Book] = {}
        self._bbos: dict[str, BBO] = {}
        self._mids: dict[str, tuple[float, int]] = {}  # coin -> (mid, received_ms) from allMids

    def on_book(self, book: L2Book) -> None:
        self._books[book.coin] = book

    def on_bbo(self, bbo: BBO) -> None:
        self._bbos[bbo.coin] = bbo

    def on_all_mids(self, data: Mapping[str, Any], received_ms: int) -> None:
        mids = data.get("mids") if isinstance(data, Mapping) else None
        if not isinstance(mids, Mapping):
            raise MarketDataError(f"allMids.mids: expected an object, got {mids!r:.80}")
        parsed = {coin: _num(px, f"allMids.mids[{coin}]") for coin, px in mids.items()}
        for coin, px in parsed.items():  # all parsed before any stored: nothing half-done on a bad message
            self._mids[coin] = (px, received_ms)

    def book(self, coin: str) -> L2Book | None:
        return self._books.get(coin)

    def bbo(self, coin: str) -> BBO | None:
        book, bbo = self._books.get(coin), self._bbos.get(coin)
        if book is None:
            return bbo
        from_book = BBO.of_book(book)
        if bbo is None or from_book.received_ms >= bbo.received_ms:
            return from_book
        return bbo

    def mid(self, coin: str, now_ms: int, max_age_ms: int) -> float | None:
        """A fresh, uncrossed mid or None: BBO/book first (tighter), allMids as the fallback."""
        book, bbo = self._books.get(coin), self._bbos.get(coin)
        if book is not None and (bbo is None or book.received_ms >= bbo.received_ms):
            # what `self.bbo(coin).mid` reads from the book's top, without building a BBO (the carry asks for
            # the perp mid on every book event)
            if 0 <= now_ms - book.received_ms <= max_age_ms and book.bids and book.asks:
                mid = top_mid(book.bids[0][0], book.asks[0][0])
                if mid is not None:
                    return mid
        elif bbo is not None and bbo.is_fresh(now_ms, max_age_ms) and bbo.mid is not None:
            return bbo.mid
        entry = self._mids.get(coin)
        if entry is not None and 0 <= now_ms - entry[1] <= max_age_ms and entry[0] > 0:
            return entry[0]
        return None

    def last_update_ms(self, coin: str) -> int | None:
        times = [x.received_ms for x in (self._books.get(coin), self._bbos.get(coin)) if x is not None]
        if coin in self._mids:
            times.append(self._mids[coin][1])
        return max(times) if times else None
