"""Swappable queue-position models for L2 replays (latency models: latency.py; fees are the venue's own).

One small interface so a replay can switch variants by name (`--queue risk-averse`), the way hftbacktest
separates its queue and latency models from the exchange simulation.

Queue position. Our simulated order is not in the recorded book, so where it would stand is an estimate:
it joins the **back** of its price level (`queue_ahead` = the visible size at its price when it goes live,
0 if it makes a new level, the largest visible level if it is deeper than the snapshot shows).

Fill rules. An order of ours is filled only by volume the recorded market traded at or through its price, or
showed resting at or through its price on the opposite side; never by a level disappearing, whatever the best
price does afterwards. Exactly, for a resting bid at P (an ask mirrors it: "through" = above P, the opposite
side = bids at or above P):

1. A trade at P of size s: `traded_at_px += s`; it first consumes `queue_ahead` (those ahead of us trade
   first), then `crossing_credit` (see 3), and what is left fills us: fill = min(remaining, s − consumed).
2. A trade through P (a print below P) of size s: a sell sweep prints below P only once nothing is left at P,
   so with us resting at P that volume would have reached us, after the queue ahead of us. Same consumption
   as rule 1: fill = min(remaining, max(0, s − queue_ahead − crossing_credit)); afterwards `queue_ahead` = 0,
   since nothing can still rest at P ahead of us once the price traded below it. This is conservative: when
   the queue-ahead estimate is stale (those orders were cancelled, not traded), all of s would have reached us.
3. A snapshot whose asks are at or below P (X = their total size): Hyperliquid books never cross, so with our
   bid resting at P none of those asks could have rested there: each seller would have traded with our bid,
   which was the best bid (the snapshot shows no bid at P or above, so nothing was left ahead of us). That is
   volume the market gave at our price; we fill min(remaining, X − crossing_credit) and set crossing_credit = X
   (the size we were credited and that may still rest there). Resting size seen again in the next snapshot is
   the same volume, not more, so only growth fills; a trade that lifts it (rule 1/2) uses up the credit first.
   X is a lower bound of what crossed (size that crossed and left between two snapshots is not seen).
   A snapshot that does not cross resets crossing_credit to 0.
4. Anything else (size leaving our level without trades, the level vanishing, the best moving past) never
   fills: it can only move us forward in the queue. A snapshot showing less size at P than `queue_ahead`
   clamps `queue_ahead` down (there cannot be more ahead of us than there is at the level).

Variants differ in what an *unexplained* decrease of the level's size (size gone between two snapshots that
trades at P did not account for) does to `queue_ahead`:

* `RiskAverseQueue`: nothing beyond the clamp; only trades at/through our price move us (pessimistic).
* `ProbabilisticQueue`: a decrease came from ahead of us with probability f(ahead) / (f(ahead) + f(behind)),
  f(x) = x**power, drawn from a seeded RNG. A level that vanishes puts us at the front (the clamp), whether
  it was cancelled or executed: if it was executed, the trades say so through rules 1 and 2.

Fills always happen at the order's own price: a resting maker order never gets a better price.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

BUY = 1
SELL = -1


@dataclass(slots=True)
class SimOrder:
    """A resting post-only order in the replay. `side` is BUY (+1, a bid) or SELL (−1, an ask)."""
    oid: int
    side: int
    px: float
    qty: float  # remaining
    queue_ahead: float = 0.0
    filled: float = 0.0
    level_qty: float | None = None  # visible size at our price at the last snapshot (None: deeper than shown)
    traded_at_px: float = 0.0  # traded at our price since the last snapshot (explains part of a decrease)
    live_ms: int = 0
    meta: dict = field(default_factory=dict)
    # opposite-side size at/through our price already credited to us (fill rule 3), which may still rest there
    crossing_credit: float = 0.0


class BookView:
    """One snapshot indexed for queue lookups: size by exact price per side, best and deepest shown prices.

    Built once per snapshot and shared by every resting order; prices are floats parsed from the same decimal
    strings as our order prices, so equal decimals compare equal exactly. Levels are best first and strictly
    ordered (the loaders check it), so a price beyond the deepest shown level cannot be in the book and needs
    no lookup.

    Only the four edge prices are read eagerly (four `item` calls); everything else is built on first use.
    A price is found by `list.index` in the side's price column (20 float compares in C), not in a
    price → size dict: hashing 20 floats into a dict costs more than all the lookups one snapshot needs.
    """
    __slots__ = ("_b", "_a", "_bp", "_ap", "_bsz", "_asz", "best_bid", "best_ask", "last_bid", "last_ask")

    def __init__(self, bids, asks):
        if not hasattr(bids, "item"):
            bids = np.asarray(bids, dtype=float).reshape(-1, 2)
        if not hasattr(asks, "item"):
            asks = np.asarray(asks, dtype=float).reshape(-1, 2)
        self._b, self._a = bids, asks  # (n, 2) float arrays: flat index 2k is the k-th level's price
        self._bp = self._ap = self._bsz = self._asz = None
        nb, na = len(bids), len(asks)
        self.best_bid = bids.item(0) if nb else None
        self.last_bid = bids.item(2 * nb - 2) if nb else None
        self.best_ask = asks.item(0) if na else None
        self.last_ask = asks.item(2 * na - 2) if na else None

    @property
    def bids(self) -> list[list[float]]:
        """[[px, sz], ...] best first."""
        return self._b.tolist()

    @property
    def asks(self) -> list[list[float]]:
        return self._a.tolist()

    @property
    def bid_prices(self) -> list[float]:
        bp = self._bp
        if bp is None:
            bp = self._bp = self._b[:, 0].tolist()
        return bp

    @property
    def ask_prices(self) -> list[float]:
        ap = self._ap
        if ap is None:
            ap = self._ap = self._a[:, 0].tolist()
        return ap

    @property
    def bid_sz(self) -> dict[float, float]:
        d = self._bsz
        if d is None:
            d = self._bsz = dict(self._b.tolist())  # rows are [px, sz] pairs
        return d

    @property
    def ask_sz(self) -> dict[float, float]:
        d = self._asz
        if d is None:
            d = self._asz = dict(self._a.tolist())
        return d

    def size_at(self, px: float, side: int) -> float:
        """Visible size at exactly `px` on one side, 0 if no level there."""
        if side == BUY:
            prices, levels = self.bid_prices, self._b
        else:
            prices, levels = self.ask_prices, self._a
        return levels.item(2 * prices.index(px) + 1) if px in prices else 0.0

    def level_qty(self, px: float, side: int) -> float | None:
        """Visible size at `px` on one side (0 inside the shown range but absent; None if deeper than shown)."""
        if side == BUY:
            if self.last_bid is not None and px < self.last_bid:
                return None
        elif self.last_ask is not None and px > self.last_ask:
            return None
        return self.size_at(px, side)

    def same_best(self, side: int) -> float | None:
        return self.best_bid if side == BUY else self.best_ask

    def opposite_best(self, side: int) -> float | None:
        return self.best_ask if side == BUY else self.best_bid

    def crossing_qty(self, px: float, side: int) -> float:
        """Opposite-side size at or through `px` (asks <= a bid price, bids >= an ask price), best first."""
        total = 0.0
        if side == BUY:
            for p, sz in self.asks:
                if p > px:
                    break
                total += sz
        else:
            for p, sz in self.bids:
                if p < px:
                    break
                total += sz
        return total

    def largest(self, side: int) -> float:
        d = self.bid_sz if side == BUY else self.ask_sz
        return max(d.values()) if d else 0.0


def crosses(order: SimOrder, opposite_best: float | None) -> bool:
    """Does an opposite best price reach our price (ask <= our bid, bid >= our ask)?"""
    if opposite_best is None:
        return False
    return opposite_best <= order.px if order.side == BUY else opposite_best >= order.px


class QueueModel(Protocol):
    name: str

    def on_live(self, order: SimOrder, book: BookView) -> None:
        """The order reached the venue: place it at the back of its level."""

    def on_trade(self, order: SimOrder, px: float, sz: float) -> float:
        """A public trade; returns the quantity of `order` filled (at `order.px`)."""

    def on_book(self, order: SimOrder, book: BookView) -> float:
        """A new snapshot; returns the quantity of `order` filled (at `order.px`)."""

    # optional: book_fills(orders, book) -> [(order, qty), ...] | None — on_book for many orders in one call
    # (the replay uses it when present; `_QueueBase` has it)


class _QueueBase:
    name = "base"

    def on_live(self, order: SimOrder, book: BookView) -> None:
        q = book.level_qty(order.px, order.side)
        order.level_qty = q
        # deeper than the snapshot shows: assume at least the largest visible level sits ahead of us
        order.queue_ahead = q if q is not None else book.largest(order.side)
        order.traded_at_px = 0.0
        order.crossing_credit = 0.0

    def _fill(self, order: SimOrder, qty: float) -> float:
        qty = min(qty, order.qty)
        if qty <= 0:
            return 0.0
        order.qty -= qty
        order.filled += qty
        return qty

    def on_trade(self, order: SimOrder, px: float, sz: float) -> float:
        """Fill rules 1 (at our price) and 2 (through it) of the module docstring."""
        if order.qty <= 0:
            return 0.0
        if px == order.px:
            order.traded_at_px += sz
            through = False
        elif (px < order.px) if order.side == BUY else (px > order.px):
            through = True
        else:
            return 0.0
        rest = sz
        ahead = order.queue_ahead
        if ahead > 0:  # those ahead of us trade first
            used = ahead if ahead < rest else rest
            order.queue_ahead = ahead - used
            rest -= used
        credit = order.crossing_credit
        if credit > 0:  # the print may be lifting resting size we were already credited (rule 3)
            used = credit if credit < rest else rest
            order.crossing_credit = credit - used
            rest -= used
        if through:
            order.queue_ahead = 0.0  # the price traded past our level: nobody is left ahead of us there
        return self._fill(order, rest) if rest > 0 else 0.0

    def on_book(self, order: SimOrder, book: BookView) -> float:
        fills = self.book_fills((order,), book)
        return fills[0][1] if fills else 0.0

    def book_fills(self, orders, book: BookView) -> list[tuple[SimOrder, float]] | None:
        """`on_book` for all resting orders of a leg at once, in order: [(order, filled qty), ...] or None.

        One call per snapshot instead of one per order (this is the replay's innermost loop); a side's price
        column is fetched once, and only when an order of that side is inside the shown levels. Only fill rule 3
        (the opposite side at/through our price) fills here; the rest only moves `queue_ahead`.
        """
        fills = None
        best_bid, best_ask, last_bid, last_ask = book.best_bid, book.best_ask, book.last_bid, book.last_ask
        bid_px = ask_px = None
        for order in orders:
            if order.qty <= 0:
                continue
            px = order.px
            if order.side == BUY:
                if best_ask is not None and best_ask <= px:
                    filled = self._crossed(order, book)
                    if filled > 0:
                        fills = fills or []
                        fills.append((order, filled))
                    continue
                if last_bid is not None and px < last_bid:
                    q = None  # deeper than shown (levels are strictly ordered: it cannot be there)
                else:
                    if bid_px is None:
                        bid_px = book.bid_prices
                    q = book._b.item(2 * bid_px.index(px) + 1) if px in bid_px else 0.0
            else:
                if best_bid is not None and best_bid >= px:
                    filled = self._crossed(order, book)
                    if filled > 0:
                        fills = fills or []
                        fills.append((order, filled))
                    continue
                if last_ask is not None and px > last_ask:
                    q = None
                else:
                    if ask_px is None:
                        ask_px = book.ask_prices
                    q = book._a.item(2 * ask_px.index(px) + 1) if px in ask_px else 0.0
            if order.crossing_credit:
                order.crossing_credit = 0.0  # the credited size is gone from our price
            prev = order.level_qty
            order.level_qty = q
            if q is not None:
                if prev is not None:
                    unexplained = prev - order.traded_at_px - q
                    if unexplained > 0:
                        self._depletion(order, prev, unexplained)
                if order.queue_ahead > q:
                    order.queue_ahead = q
            order.traded_at_px = 0.0
        return fills

    def _crossed(self, order: SimOrder, book: BookView) -> float:
        """Fill rule 3: the opposite side shows size at/through our price. It could not rest there with our order
        in the book (we would be the best price on our side, with nobody left ahead of us), so that size would
        have traded with us: we fill what is new since the size already credited."""
        order.queue_ahead = 0.0
        order.level_qty = None
        order.traded_at_px = 0.0
        crossing = book.crossing_qty(order.px, order.side)
        new = crossing - order.crossing_credit
        order.crossing_credit = crossing
        return self._fill(order, new) if new > 0 else 0.0

    def _depletion(self, order: SimOrder, prev: float, amount: float) -> None:
        """`amount` left our level between snapshots without trading at our price: may move us, never fills."""


class RiskAverseQueue(_QueueBase):
    """Only trades at/through our price (and the opposite side reaching it) move or fill us."""
    name = "risk-averse"


class ProbabilisticQueue(_QueueBase):
    """Unexplained level depletion is drawn as ahead-of-us with probability by position (seeded)."""
    name = "probabilistic"

    def __init__(self, seed: int = 0, power: float = 1.0):
        if power <= 0:
            raise ValueError(f"queue power must be > 0, got {power}")
        self.rng = random.Random(seed)
        self.power = power

    def _depletion(self, order: SimOrder, prev: float, amount: float) -> None:
        ahead = order.queue_ahead
        behind = max(prev - ahead, 0.0)
        fa, fb = ahead ** self.power, behind ** self.power
        p_ahead = fa / (fa + fb) if fa + fb > 0 else 0.0
        if self.rng.random() < p_ahead:
            order.queue_ahead = max(ahead - amount, 0.0)


def make_queue_model(name: str, seed: int = 0) -> QueueModel:
    if name == RiskAverseQueue.name:
        return RiskAverseQueue()
    if name == ProbabilisticQueue.name:
        return ProbabilisticQueue(seed=seed)
    raise ValueError(f"unknown queue model {name!r}; choose risk-averse or probabilistic")
