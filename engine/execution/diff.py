"""Desired quotes vs live orders → the smallest plan of modifies, cancels and places (pure).

Every action costs address budget (protocol §9: n orders in a batch count n) and loses queue priority, so an
order that is already close enough to what we want is left alone: within `price_tol_bps` of the desired price
and within `size_tol_frac` of the desired size. Remaining differences are fixed by *modifying* live orders
(one action instead of cancel + place) where a live order exists on the same coin and side; leftovers are
cancelled or placed.

Matching is stable and deterministic: per (coin, side), desired levels best-first are first matched to the
nearest in-tolerance live order; the unmatched desired and live orders are then paired best price to best
price, so level 0 keeps using the order nearest the touch. Same inputs → same plan, which the backtest ==
live guarantee relies on. The diff assigns no cloids (that would mutate a counter): the executor stamps them
(`OrderPlan.stamp`) when it sends the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Iterable, Sequence

from engine.strategy.quotes import Quote

CLOID_RUN_HEX = 8  # 32-bit run prefix
CLOID_COUNTER_HEX = 24  # 96-bit counter: "0x" + 32 hex total (protocol §11)
_COUNTER_LIMIT = 16 ** CLOID_COUNTER_HEX


@dataclass(frozen=True, slots=True)
class LiveOrder:
    """A resting order as the venue reports it (openOrders / orderUpdates), size = remaining size."""

    oid: int
    coin: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    cloid: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    quote: Quote
    cloid: str | None = None  # stamped by the executor just before sending (`stamp`): diff itself is pure


@dataclass(frozen=True, slots=True)
class Modify:
    live: LiveOrder
    quote: Quote
    cloid: str | None = None  # a fresh cloid for the replacement order, so a timed-out modify can be resolved


@dataclass(frozen=True, slots=True)
class Cancel:
    live: LiveOrder


@dataclass(frozen=True, slots=True)
class OrderPlan:
    modifies: tuple[Modify, ...] = ()
    cancels: tuple[Cancel, ...] = ()
    places: tuple[Place, ...] = ()
    kept: tuple[tuple[LiveOrder, Quote], ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not (self.modifies or self.cancels or self.places)

    @property
    def n_actions(self) -> int:
        """Address-budget cost of executing the plan (one per order touched)."""
        return len(self.modifies) + len(self.cancels) + len(self.places)

    def stamp(self, new_cloid: "Callable[[], str]") -> "OrderPlan":
        """The same plan with a fresh cloid on every new or replacement order, in plan order."""
        return OrderPlan(tuple(Modify(m.live, m.quote, new_cloid()) for m in self.modifies), self.cancels,
                         tuple(Place(p.quote, new_cloid()) for p in self.places), self.kept)


@dataclass(frozen=True, slots=True)
class Tolerance:
    price_tol_bps: float = 2.0
    size_tol_frac: float = 0.1

    def __post_init__(self) -> None:
        if self.price_tol_bps < 0 or not 0 <= self.size_tol_frac < 1:
            raise ValueError(f"Tolerance: price_tol_bps must be >= 0 and size_tol_frac in [0, 1), got "
                             f"{self.price_tol_bps}, {self.size_tol_frac}")

    def close_enough(self, live: LiveOrder, q: Quote) -> bool:
        # the size check only runs when the price is in tolerance (the common miss after a price move)
        return (abs(live.px - q.px) * 10_000 <= _exact(self.price_tol_bps) * q.px
                and abs(live.sz - q.sz) <= _exact(self.size_tol_frac) * q.sz)


_EXACT: dict[float, Decimal] = {}
_TEN_K = Decimal(10_000)


def _exact(x: float) -> Decimal:
    """Decimal(repr(x)), memoised: tolerances are a handful of config floats, converted once each."""
    d = _EXACT.get(x)
    if d is None:
        if len(_EXACT) > 256:
            _EXACT.clear()
        d = _EXACT[x] = Decimal(repr(x))
    return d


class CloidFactory:
    """Client order ids `0x` + 8 hex run id + 24 hex counter.

    Deterministic given (run_id, start): a backtest run produces the same cloids every time, and the run
    prefix lets reconcile tell this run's orders from a previous process's (`owns`).
    """

    __slots__ = ("run_id", "_counter", "_prefix")

    def __init__(self, run_id: int, start: int = 0) -> None:
        if not 0 <= run_id < 16 ** CLOID_RUN_HEX:
            raise ValueError(f"CloidFactory.run_id must fit in 32 bits, got {run_id}")
        self.run_id = run_id
        self._counter = start
        self._prefix = f"0x{run_id:0{CLOID_RUN_HEX}x}"

    def next(self) -> str:
        self._counter += 1
        if self._counter >= _COUNTER_LIMIT:
            raise OverflowError("cloid counter exhausted")
        return self._prefix + format(self._counter, "024x")

    def owns(self, cloid: str | None) -> bool:
        return cloid is not None and parse_cloid(cloid)[0] == self.run_id

    @property
    def counter(self) -> int:
        return self._counter


def parse_cloid(cloid: str) -> tuple[int, int]:
    """(run_id, counter) of a cloid made by CloidFactory; ValueError names the problem otherwise."""
    if not (isinstance(cloid, str) and cloid.startswith("0x") and len(cloid) == 34):
        raise ValueError(f"cloid must be 0x + 32 hex chars, got {cloid!r}")
    body = int(cloid[2:], 16)
    return body >> (4 * CLOID_COUNTER_HEX), body & (16 ** CLOID_COUNTER_HEX - 1)


# Best-first sort keys (buys: highest price first), ties to the lower level / oid; one module-level function per
# case rather than a key lambda calling a price lambda per element.
def _q_buy(q: Quote) -> tuple:
    return (-q.px, q.level)


def _q_sell(q: Quote) -> tuple:
    return (q.px, q.level)


def _o_buy(o: LiveOrder) -> tuple:
    return (-o.px, o.oid)


def _o_sell(o: LiveOrder) -> tuple:
    return (o.px, o.oid)


def diff_orders(desired: Sequence[Quote], live: Iterable[LiveOrder], tol: Tolerance) -> OrderPlan:
    groups: dict[tuple[str, bool], tuple[list[Quote], list[LiveOrder]]] = {}
    for q in desired:
        k = (q.coin, q.is_buy)
        g = groups.get(k)
        if g is None:  # (not setdefault: that builds a fresh pair of lists for every element)
            g = groups[k] = ([], [])
        g[0].append(q)
    for o in live:
        k = (o.coin, o.is_buy)
        g = groups.get(k)
        if g is None:
            g = groups[k] = ([], [])
        g[1].append(o)

    modifies: list[Modify] = []
    cancels: list[Cancel] = []
    places: list[Place] = []
    kept: list[tuple[LiveOrder, Quote]] = []
    exact_tol = type(tol) is Tolerance
    if exact_tol:
        ptol, stol = _exact(tol.price_tol_bps), _exact(tol.size_tol_frac)
    for (_, is_buy), (qs, free) in (sorted(groups.items()) if len(groups) > 1 else groups.items()):
        # (sorted in place: these lists are the diff's own, not the caller's)
        if len(qs) > 1:
            qs.sort(key=_q_buy if is_buy else _q_sell)
        if len(free) > 1:
            free.sort(key=_o_buy if is_buy else _o_sell)
        unmatched_q: list[Quote] = []
        for q in qs:  # pass 1: keep in-tolerance orders untouched
            # the nearest in-tolerance free order, ties to the lower oid: min over (distance, oid) in one walk
            # (strict < keeps the first of equal keys, as min does)
            qpx = q.px
            best = -1
            if exact_tol:  # Tolerance.close_enough inlined, its bounds computed once per quote
                qsz = q.sz
                px_lim, sz_lim = ptol * qpx, stol * qsz
                for i, o in enumerate(free):
                    d = abs(o.px - qpx)
                    if d * _TEN_K <= px_lim and abs(o.sz - qsz) <= sz_lim and (
                            best < 0 or d < best_d or (d == best_d and o.oid < free[best].oid)):
                        best, best_d = i, d
            else:
                for i, o in enumerate(free):
                    if tol.close_enough(o, q):
                        d = abs(o.px - qpx)
                        if best < 0 or d < best_d or (d == best_d and o.oid < free[best].oid):
                            best, best_d = i, d
            if best >= 0:
                # by index: an equal order earlier in the list would have the same key and have been chosen
                kept.append((free.pop(best), q))
            else:
                unmatched_q.append(q)
        for q, o in zip(unmatched_q, free):  # pass 2: re-price the rest in place, best to best
            modifies.append(Modify(o, q))
        for o in free[len(unmatched_q):]:
            cancels.append(Cancel(o))
        for q in unmatched_q[len(free):]:
            places.append(Place(q))
    return OrderPlan(tuple(modifies), tuple(cancels), tuple(places), tuple(kept))


def keep_exact(desired: Sequence[Quote], live: Sequence[LiveOrder]) -> OrderPlan | None:
    """The plan `diff_orders` returns when every live order is exactly one desired quote (coin, side, price and
    size) and no two quotes or orders share a coin, side and price: keep everything, each order paired with
    its quote, in the diff's own order. None when that is not the case (then run `diff_orders`).

    This is the common case right after a plan went through as planned; it costs a dict of the orders instead
    of the diff's pairwise tolerance checks. (Each quote's exact order is at distance 0 and unique, so the
    diff's nearest-in-tolerance pass picks it, whatever the tolerance.)"""
    if len(desired) != len(live):
        return None
    by_px: dict[tuple, LiveOrder] = {}
    for o in live:
        k = (o.coin, o.is_buy, o.px)
        if k in by_px:
            return None
        by_px[k] = o
    pairs = []
    for q in desired:
        o = by_px.pop((q.coin, q.is_buy, q.px), None)  # popped: a second quote at the price finds nothing
        if o is None or o.sz != q.sz:
            return None
        pairs.append((o, q))
    pairs.sort(key=lambda p: (p[1].coin, p[1].is_buy, -p[1].px if p[1].is_buy else p[1].px, p[1].level))
    return OrderPlan(kept=tuple(pairs))

