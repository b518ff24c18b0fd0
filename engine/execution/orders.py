"""`OurOrders`: every order this engine sent or adopted, with its state, fed by replies, pushes and re-reads.

It is a cache of venue state, not a source of truth: replies to our actions, `orderUpdates` and `userFills`
pushes and REST `openOrders` snapshots all move an order's state, in whatever order they arrive (a push may
say an order filled before the reply that created it). The rules that make those races harmless:

* states only move forward (`OrderState.rank`): a late "resting" reply never revives an order a push already closed;
* a terminal state can still become FILLED when a fill arrives (a cancel that found the order gone, then
  the fill that explains why);
* an order whose fate is unknown (ambiguous reply) stays UNKNOWN, counts as resting for risk and blocks new
  orders on its coin until a snapshot settles it.

Two readings matter to the rest of the engine:
* `resting(coins)`: the OPEN orders the diff reconciles desired quotes against;
* `exposure(coin)`: the remaining size of every order that may still fill (in flight, open, being cancelled,
  unknown), per side — risk bounds the worst case with it, never the position alone.

Every state change is handed to `on_change` (the ledger's orders table), so the ledger ends a run holding the
venue's final word for each order.
"""
from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Any, Callable, Iterable

from engine.execution.diff import LiveOrder
from engine.execution.order_state import STATE_OF_END, ZERO, OrderState, OurOrder
from engine.venue.facts import VenueOrderEnd, order_end

class OurOrders:
    def __init__(self, on_change: Callable[[OurOrder], None] | None = None, memory: int = 4096) -> None:
        self.on_change = on_change
        self.memory = memory
        self._by_cloid: dict[str, OurOrder] = {}
        self._by_oid: dict[int, OurOrder] = {}
        self._live: dict[str, OurOrder] = {}  # cloid -> order, live states only
        self._closed: OrderedDict[str, None] = OrderedDict()  # terminal cloids, oldest first (pruning)
        self.coin_version: dict[str, int] = {}  # bumps whenever a coin's live set changes (quote cache key)
        self._resting: dict[str, tuple[int, tuple]] = {}  # coin -> (its version, its resting orders)
        self._unsettled: dict[str, tuple[int, tuple]] = {}  # coin -> (its version, unsettled())

    # ------------------------------------------------------------------ queries
    def get(self, oid: int) -> OurOrder | None:
        return self._by_oid.get(oid)

    def by_cloid(self, cloid: str) -> OurOrder | None:
        return self._by_cloid.get(cloid)

    def live(self, coins: Iterable[str] | None = None) -> list[OurOrder]:
        if coins is None:
            return list(self._live.values())
        wanted = coins if isinstance(coins, (set, frozenset)) else set(coins)
        return [o for o in self._live.values() if o.coin in wanted]

    def resting(self, coins: Iterable[str]) -> tuple[LiveOrder, ...]:
        """OPEN orders of these coins, as the diff sees them, coin by coin in the order given. Each coin's part
        is remembered until that coin changes: a coin that did not change hands back the very same objects
        (callers memoise on identity)."""
        out: tuple[LiveOrder, ...] = ()
        for c in coins:
            out += self.resting_coin(c)
        return out

    def resting_coin(self, coin: str) -> tuple[LiveOrder, ...]:
        version = self.coin_version.get(coin, 0)
        hit = self._resting.get(coin)
        if hit is not None and hit[0] == version:
            return hit[1]
        part = tuple(o.live_order() for o in self._live.values() if o.state is OrderState.OPEN and o.coin == coin)
        self._resting[coin] = (version, part)
        return part

    def unsettled(self, coin: str) -> tuple[int, float, float]:
        """(slots, buy size, sell size) of the coin's orders that a plan does not reconcile but that may still
        rest or fill: in flight, being cancelled (a modify's original among them) or of unknown fate. They hold
        venue slots (all but Ioc) and count against position limits as if they filled. Remembered per coin
        version."""
        version = self.coin_version.get(coin, 0)
        hit = self._unsettled.get(coin)
        if hit is not None and hit[0] == version:
            return hit[1]
        n, buy, sell = 0, 0.0, 0.0
        for o in self._live.values():
            if o.coin == coin and o.state is not OrderState.OPEN:
                n += o.tif != "Ioc"
                if o.is_buy:
                    buy += float(o.sz)
                else:
                    sell += float(o.sz)
        self._unsettled[coin] = (version, (n, buy, sell))
        return n, buy, sell

    def unknown(self) -> list[OurOrder]:
        return [o for o in self._live.values() if o.state is OrderState.UNKNOWN]

    def count(self, coins: Iterable[str] | None = None, outside: bool = False) -> int:
        """Orders that occupy a slot on the venue's book (or may): every live one except Ioc; of `coins` only, or
        with `outside` of every other coin (count() - count(coins) in one pass)."""
        if coins is None:
            return sum(1 for o in self._live.values() if o.tif != "Ioc")
        wanted = coins if isinstance(coins, (set, frozenset)) else set(coins)
        return sum(1 for o in self._live.values() if o.tif != "Ioc" and (o.coin in wanted) != outside)

    def exposure(self, coin: str) -> tuple[Decimal, Decimal]:
        """(buy, sell) remaining size of every order of `coin` that may still fill."""
        buy = sell = ZERO
        for o in self._live.values():
            if o.coin == coin:
                if o.is_buy:
                    buy += o.sz
                else:
                    sell += o.sz
        return buy, sell

    def __len__(self) -> int:
        return len(self._live)

    # ------------------------------------------------------------------ bookkeeping
    def _bump(self, coin: str) -> None:
        self.coin_version[coin] = self.coin_version.get(coin, 0) + 1

    def _emit(self, o: OurOrder) -> None:
        if self.on_change is not None:
            self.on_change(o)

    def _move(self, o: OurOrder, state: OrderState, now: int, venue_status: str | None = None,
              reason: str | None = None) -> bool:
        """Move `o` forward to `state` (never backwards); returns whether anything changed."""
        if state.rank < o.state.rank:
            return False
        if state is o.state and (venue_status is None or venue_status == o.venue_status):
            return False
        was_live = o.state.live
        o.state = state
        if venue_status is not None:
            o.venue_status = venue_status
        if reason is not None:
            o.reason = reason
        o.updated_ms = now
        if was_live and not state.live:
            self._live.pop(o.cloid, None)
            self._closed[o.cloid] = None
            self._prune()
        elif not was_live and state.live:  # only an adopted order reopens (snapshot says open)
            self._live[o.cloid] = o
            self._closed.pop(o.cloid, None)
        self._bump(o.coin)
        self._emit(o)
        return True

    def _prune(self) -> None:
        while len(self._closed) > self.memory:
            cloid, _ = self._closed.popitem(last=False)
            o = self._by_cloid.pop(cloid, None)
            if o is not None and o.oid is not None and self._by_oid.get(o.oid) is o:
                del self._by_oid[o.oid]

    def _set_oid(self, o: OurOrder, oid: int | None) -> None:
        if oid is not None and o.oid != oid:
            o.oid = oid
            self._by_oid[oid] = o

    def _find(self, oid: int | None, cloid: str | None) -> OurOrder | None:
        if cloid is not None:
            o = self._by_cloid.get(cloid)
            if o is not None:
                return o
        return self._by_oid.get(oid) if oid is not None else None

    # ------------------------------------------------------------------ our own actions
    def sent(self, cloid: str, coin: str, is_buy: bool, px: Decimal, sz: Decimal, now: int, tif: str = "Alo",
             reduce_only: bool = False, reason: str | None = None) -> OurOrder:
        o = OurOrder(cloid, coin, is_buy, px, sz, sz, tif, reduce_only, OrderState.INFLIGHT, reason=reason,
                     updated_ms=now)
        self._by_cloid[cloid] = o
        self._live[cloid] = o
        self._bump(coin)
        self._emit(o)
        return o

    def cancel_sent(self, oid: int, now: int) -> None:
        o = self._by_oid.get(oid)
        if o is not None and o.state.live:
            self._move(o, OrderState.CANCELING, now)

    def cancel_refused(self, oid: int, now: int) -> None:
        """The cancel (or modify) action was refused as a whole before it ran: the order is as it was."""
        o = self._by_oid.get(oid)
        if o is not None and o.state is OrderState.CANCELING:
            o.state = OrderState.OPEN  # the one step back allowed: nothing happened to it
            o.updated_ms = now
            self._bump(o.coin)
            self._emit(o)

    def fate_unknown(self, oid: int, now: int, reason: str) -> None:
        """A live order whose fate a reply could not tell (a cancel resolved as unknown, the original of a
        refused modify): it counts as resting until a push or a re-read says otherwise."""
        o = self._by_oid.get(oid)
        if o is not None and o.state.live and o.state is not OrderState.UNKNOWN:
            o.state = OrderState.UNKNOWN  # the one sideways step allowed: from being cancelled to unknown
            o.reason = reason
            o.updated_ms = now
            self._bump(o.coin)
            self._emit(o)

    def cancel_done(self, oid: int, now: int, ok: bool, why: str | None = None) -> None:
        """A cancel's (or a modify's) reply for the original order: `ok` = it was cancelled by it; otherwise
        the venue says it was already gone (filled, cancelled, never placed) — a fill push explains which."""
        o = self._by_oid.get(oid)
        if o is None or not o.state.live:
            return
        if ok:
            self._move(o, OrderState.CANCELED, now, "canceled")
        else:
            self._move(o, OrderState.CANCELED, now, None, why or "gone before the cancel")

    def on_result(self, cloid: str, kind: str, now: int, oid: int | None = None, filled_sz: Decimal | None = None,
                  reason: str | None = None, venue_status: str | None = None) -> OurOrder | None:
        """The reply for one order we sent: kind "resting" | "filled" | "rejected" | "unknown"."""
        o = self._by_cloid.get(cloid)
        if o is None:
            return None
        self._set_oid(o, oid)
        if kind == "resting":
            if o.state is OrderState.INFLIGHT or o.state is OrderState.UNKNOWN:
                self._move(o, OrderState.OPEN, now, "open")
        elif kind == "filled":
            if filled_sz is not None and o.tif == "Ioc" and filled_sz < o.orig_sz:
                o.sz = ZERO  # an Ioc's unfilled rest is cancelled by the venue at once
                self._move(o, OrderState.CANCELED, now, "canceled", f"Ioc filled {filled_sz} of {o.orig_sz}")
            else:
                o.sz = ZERO
                self._move(o, OrderState.FILLED, now, "filled")
        elif kind == "rejected":
            self._move(o, OrderState.REJECTED, now, venue_status or "rejected", reason)
        elif kind == "unknown":
            if o.state is OrderState.INFLIGHT:
                self._move(o, OrderState.UNKNOWN, now, None, reason)
        else:
            raise ValueError(f"OurOrders.on_result: unknown kind {kind!r}")
        return o

    # ------------------------------------------------------------------ venue pushes and re-reads
    def on_update(self, oid: int, cloid: str | None, coin: str, is_buy: bool, px: Decimal, sz: Decimal,
                  venue_status: str, now: int, tif: str = "Alo", reduce_only: bool = False) -> OurOrder | None:
        """One `orderUpdates` entry for an order of ours (unknown cloids of this engine are adopted)."""
        o = self._find(oid, cloid)
        end = order_end(venue_status)
        if o is None:
            if cloid is None or end is not VenueOrderEnd.OPEN:
                return None
            o = self.adopt(LiveOrder(oid, coin, is_buy, px, sz, cloid), now, tif=tif, reduce_only=reduce_only)
            return o
        self._set_oid(o, oid)
        state = STATE_OF_END[end]
        if state is OrderState.OPEN:
            if o.sz != sz and o.state.live:
                o.sz = sz
                self._bump(o.coin)
            if o.state is OrderState.INFLIGHT or o.state is OrderState.UNKNOWN:
                self._move(o, OrderState.OPEN, now, "open")
            return o
        if state is OrderState.FILLED:
            o.sz = ZERO
        self._move(o, state, now, venue_status)
        return o

    def on_fill(self, oid: int, cloid: str | None, sz: Decimal, now: int) -> OurOrder | None:
        o = self._find(oid, cloid)
        if o is None:
            return None
        self._set_oid(o, oid)
        left = o.sz - sz
        if left > 0:
            if o.state.live:
                o.sz = left
                self._bump(o.coin)
            return o
        o.sz = ZERO
        if o.state is not OrderState.FILLED:
            if not o.state.live and o.tif == "Ioc":
                return o  # an Ioc closed by its reply already counted this fill
            self._move(o, OrderState.FILLED, now, "filled")
        return o

    def adopt(self, order: LiveOrder, now: int, tif: str = "Alo", reduce_only: bool = False) -> OurOrder:
        """An open order of ours the engine did not know (placed by an earlier run, or reply lost)."""
        o = self._by_cloid.get(order.cloid)
        if o is None:
            o = OurOrder(order.cloid, order.coin, order.is_buy, order.px, order.sz, order.sz, tif, reduce_only,
                         OrderState.INFLIGHT, updated_ms=now, reason="adopted from the venue")
            self._by_cloid[order.cloid] = o
            self._live[order.cloid] = o
        self._set_oid(o, order.oid)
        o.sz = order.sz
        if not self._move(o, OrderState.OPEN, now, "open"):
            self._bump(o.coin)
        return o

    def on_snapshot(self, open_orders: Iterable[LiveOrder], coins: Iterable[str], now: int,
                    sent_before_ms: int) -> list[OurOrder]:
        """The venue's openOrders for `coins` (ours only), read by a request made at `sent_before_ms`: open
        orders are adopted or confirmed; our live orders on those coins the venue no longer lists are gone —
        unless they were sent after the read was requested. Returns the orders found gone (their final word
        is then looked up: `needs_status`)."""
        wanted = set(coins)
        seen = set()
        for lo in open_orders:
            if lo.coin not in wanted or lo.cloid is None:
                continue
            seen.add(lo.cloid)
            o = self._by_cloid.get(lo.cloid)
            if o is None:
                self.adopt(lo, now)
                continue
            if not o.state.live:
                continue  # a push closed it after this read was taken: the push is newer
            self._set_oid(o, lo.oid)
            if o.state is OrderState.INFLIGHT or o.state is OrderState.UNKNOWN:
                self._move(o, OrderState.OPEN, now, "open")
            if o.sz != lo.sz:
                o.sz = lo.sz
                self._bump(o.coin)
        gone = []
        for o in list(self._live.values()):
            if o.coin in wanted and o.cloid not in seen and o.tif != "Ioc":
                if o.state is OrderState.INFLIGHT and o.updated_ms >= sent_before_ms:
                    continue
                self._move(o, OrderState.CANCELED, now, None, "not open on the venue at a re-read")
                gone.append(o)
        return gone

    def needs_status(self) -> list[OurOrder]:
        """Closed orders whose venue word is not known yet (found gone by a snapshot or a failed cancel)."""
        return [self._by_cloid[c] for c in self._closed if self._by_cloid[c].venue_status is None]

    def settle_status(self, cloid: str, venue_status: str, now: int) -> None:
        """The venue's final word for a closed order, learned from orderStatus / historicalOrders."""
        o = self._by_cloid.get(cloid)
        if o is None:
            return
        state = STATE_OF_END[order_end(venue_status)]
        if state is OrderState.OPEN:
            return  # not closed after all: a snapshot will adopt it
        if state is OrderState.FILLED:
            o.sz = ZERO
        if o.state is state:
            if o.venue_status != venue_status:
                o.venue_status = venue_status
                o.updated_ms = now
                self._emit(o)
        else:
            self._move(o, state, now, venue_status)

    def as_rows(self) -> list[dict[str, Any]]:
        """Every order still remembered (for the backtest's order counts and tests)."""
        return [{"cloid": o.cloid, "oid": o.oid, "coin": o.coin, "status": o.status} for o in self._by_cloid.values()]
