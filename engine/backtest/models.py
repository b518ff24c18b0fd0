"""Swappable execution models for L2 replays: queue position, latency, fees.

Each family has one small interface so a replay can switch variants by name (`--queue risk-averse`), the way
hftbacktest separates its queue and latency models from the exchange simulation.

Queue position. Our simulated order is not in the recorded book, so where it would stand is an estimate:
it joins the **back** of its price level (`queue_ahead` = the visible size at its price when it goes live,
0 if it makes a new level) and fills only once the volume ahead of it is gone:

* a trade at our price reduces `queue_ahead` by its size; what is left of the trade fills us;
* a trade *through* our price (a bid when a trade prints below it) fills everything left: the market traded
  past our price with us still resting there;
* an opposite side at/through our price in a snapshot would have traded with us first (we would be the best
  price on our side), so it fills us up to its visible size at/through our price — a lower bound;
* a snapshot showing less size at our price than `queue_ahead` clamps `queue_ahead` down (there cannot be
  more ahead of us than there is at the level) — this never fills, it only moves us forward.

Variants differ in what an *unexplained* decrease of the level's size (size gone between two snapshots that
trades did not account for) means:

* `RiskAverseQueue`: nothing beyond the clamp; only trades at/through our price move us (pessimistic).
* `ProbabilisticQueue`: a decrease came from ahead of us with probability f(ahead) / (f(ahead) + f(behind)),
  f(x) = x**power, drawn from a seeded RNG; when the whole level vanishes and the same side's best moves
  past our price without the opposite side reaching it, the level is taken as executed through with
  probability `p_through` (else cancelled, and we are alone at the front).

Fills always happen at the order's own price: a resting maker order never gets a better price.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

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


class BookView:
    """One snapshot indexed for queue lookups: size by exact price per side, best and deepest shown prices.

    Built once per snapshot and shared by every resting order; prices are floats parsed from the same decimal
    strings as our order prices, so equal decimals compare equal exactly.
    """
    __slots__ = ("bids", "asks", "bid_sz", "ask_sz", "best_bid", "best_ask", "last_bid", "last_ask")

    def __init__(self, bids, asks):
        bl, al = bids.tolist() if hasattr(bids, "tolist") else list(bids), asks.tolist() if hasattr(asks, "tolist") else list(asks)
        self.bids, self.asks = bl, al  # [[px, sz], ...] best first
        self.bid_sz = dict(bl)  # rows are [px, sz] pairs
        self.ask_sz = dict(al)
        self.best_bid = bl[0][0] if bl else None
        self.best_ask = al[0][0] if al else None
        self.last_bid = bl[-1][0] if bl else None
        self.last_ask = al[-1][0] if al else None

    def level_qty(self, px: float, side: int) -> float | None:
        """Visible size at `px` on one side (0 inside the shown range but absent; None if deeper than shown)."""
        if side == BUY:
            q = self.bid_sz.get(px)
            if q is not None:
                return q
            return None if self.last_bid is not None and px < self.last_bid else 0.0
        q = self.ask_sz.get(px)
        if q is not None:
            return q
        return None if self.last_ask is not None and px > self.last_ask else 0.0

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


class _QueueBase:
    name = "base"

    def on_live(self, order: SimOrder, book: BookView) -> None:
        q = book.level_qty(order.px, order.side)
        order.level_qty = q
        # deeper than the snapshot shows: assume at least the largest visible level sits ahead of us
        order.queue_ahead = q if q is not None else book.largest(order.side)
        order.traded_at_px = 0.0

    def _fill(self, order: SimOrder, qty: float) -> float:
        qty = min(qty, order.qty)
        if qty <= 0:
            return 0.0
        order.qty -= qty
        order.filled += qty
        return qty

    def on_trade(self, order: SimOrder, px: float, sz: float) -> float:
        if order.qty <= 0:
            return 0.0
        if px == order.px:
            order.traded_at_px += sz
            if sz <= order.queue_ahead:
                order.queue_ahead -= sz
                return 0.0
            rest = sz - order.queue_ahead
            order.queue_ahead = 0.0
            return self._fill(order, rest)
        if (px < order.px) if order.side == BUY else (px > order.px):
            order.queue_ahead = 0.0
            return self._fill(order, order.qty)
        return 0.0

    def on_book(self, order: SimOrder, book: BookView) -> float:
        if order.qty <= 0:
            return 0.0
        px = order.px
        # inlined crosses() / level_qty(): this runs for every resting order on every snapshot
        if order.side == BUY:
            opp = book.best_ask
            if opp is not None and opp <= px:
                return self._crossed(order, book)
            q = book.bid_sz.get(px)
            if q is None:
                q = None if book.last_bid is not None and px < book.last_bid else 0.0
        else:
            opp = book.best_bid
            if opp is not None and opp >= px:
                return self._crossed(order, book)
            q = book.ask_sz.get(px)
            if q is None:
                q = None if book.last_ask is not None and px > book.last_ask else 0.0
        prev = order.level_qty
        order.level_qty = q
        filled = 0.0
        if q is not None and prev is not None:
            unexplained = prev - order.traded_at_px - q
            if unexplained > 0:
                filled = self._depletion(order, book, prev, q, unexplained)
        if q is not None and order.queue_ahead > q:
            order.queue_ahead = q
        order.traded_at_px = 0.0
        return filled

    def _crossed(self, order: SimOrder, book: BookView) -> float:
        """The opposite side shows size at/through our price: it would have traded with us first (we are the
        best price on our side), so we fill up to that visible size — a lower bound of what crossed."""
        order.queue_ahead = 0.0
        order.level_qty = None
        order.traded_at_px = 0.0
        return self._fill(order, book.crossing_qty(order.px, order.side))

    def _depletion(self, order: SimOrder, book: BookView, prev: float, q: float, amount: float) -> float:
        return 0.0


class RiskAverseQueue(_QueueBase):
    """Only trades at/through our price (and the opposite side reaching it) move or fill us."""
    name = "risk-averse"


class ProbabilisticQueue(_QueueBase):
    """Unexplained level depletion is drawn as ahead-of-us with probability by position (seeded)."""
    name = "probabilistic"

    def __init__(self, seed: int = 0, power: float = 1.0, p_through: float = 0.5):
        if power <= 0:
            raise ValueError(f"queue power must be > 0, got {power}")
        if not 0 <= p_through <= 1:
            raise ValueError(f"p_through must be in [0, 1], got {p_through}")
        self.rng = random.Random(seed)
        self.power = power
        self.p_through = p_through

    def _depletion(self, order: SimOrder, book: BookView, prev: float, q: float, amount: float) -> float:
        best = book.same_best(order.side)
        passed = q == 0 and best is not None and (best < order.px if order.side == BUY else best > order.px)
        if passed:
            # the whole level went and the best moved past us: executed through us, or everyone cancelled
            order.queue_ahead = 0.0
            if self.rng.random() < self.p_through:
                return self._fill(order, order.qty)
            return 0.0
        ahead = order.queue_ahead
        behind = max(prev - ahead, 0.0)
        fa, fb = ahead ** self.power, behind ** self.power
        p_ahead = fa / (fa + fb) if fa + fb > 0 else 0.0
        if self.rng.random() < p_ahead:
            order.queue_ahead = max(ahead - amount, 0.0)
        return 0.0


def make_queue_model(name: str, seed: int = 0) -> QueueModel:
    if name == RiskAverseQueue.name:
        return RiskAverseQueue()
    if name == ProbabilisticQueue.name:
        return ProbabilisticQueue(seed=seed)
    raise ValueError(f"unknown queue model {name!r}; choose risk-averse or probabilistic")


# ---------------------------------------------------------------- latency

class LatencyModel(Protocol):
    def entry_ms(self) -> int:
        """Delay from our decision to the order (or cancel) being live at the venue."""

    def market_data_ms(self) -> int:
        """Delay from the exchange timestamp of a snapshot to our seeing it."""


@dataclass(frozen=True)
class ConstantLatency:
    entry: int = 50
    market_data: int = 0

    def __post_init__(self) -> None:
        if self.entry < 0 or self.market_data < 0:
            raise ValueError("latencies must be >= 0 ms")

    def entry_ms(self) -> int:
        return self.entry

    def market_data_ms(self) -> int:
        return self.market_data


class LogNormalLatency:
    """Seeded log-normal delays (heavy right tail, like real order round trips); medians in ms."""

    def __init__(self, entry_median: float = 50.0, md_median: float = 5.0, sigma: float = 0.5, seed: int = 0):
        if entry_median <= 0 or md_median <= 0 or sigma < 0:
            raise ValueError("latency medians must be > 0 ms and sigma >= 0")
        self.rng = random.Random(seed)
        self.entry_median, self.md_median, self.sigma = entry_median, md_median, sigma

    def entry_ms(self) -> int:
        return int(round(self.entry_median * self.rng.lognormvariate(0.0, self.sigma)))

    def market_data_ms(self) -> int:
        return int(round(self.md_median * self.rng.lognormvariate(0.0, self.sigma)))


# ---------------------------------------------------------------- fees

@dataclass(frozen=True)
class FeeModel:
    """Fee rates in basis points of traded notional (base tier: perp 1.5/4.5, spot 4/7 maker/taker).

    A negative maker rate is a rebate (the fee returned is negative).
    """
    perp_maker_bp: float = 1.5
    perp_taker_bp: float = 4.5
    spot_maker_bp: float = 4.0
    spot_taker_bp: float = 7.0

    def rate(self, market: str, maker: bool) -> float:
        if market == "perp":
            bp = self.perp_maker_bp if maker else self.perp_taker_bp
        elif market == "spot":
            bp = self.spot_maker_bp if maker else self.spot_taker_bp
        else:
            raise ValueError(f"market must be 'perp' or 'spot', got {market!r}")
        return bp / 10_000.0

    def fee(self, market: str, maker: bool, notional: float) -> float:
        return abs(notional) * self.rate(market, maker)
