"""Live-order tracker: our resting orders by oid (and cloid), fed by exchange replies, `orderUpdates`, fills
and REST `openOrders` snapshots.

It is a cache of venue state, not a source of truth: `replace_all` (a REST snapshot after a resync or on
the periodic re-read) overwrites it. Replies and WS pushes race (a push may tell that an order is closed
before the reply that created it arrives), so oids seen closed are remembered for a while and a late
"resting" reply for one of them is ignored instead of creating a ghost order.
"""
from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Iterable

from engine.execution.diff import LiveOrder

CLOSED_MEMORY = 4096


class OrderTracker:
    def __init__(self) -> None:
        self._by_oid: dict[int, LiveOrder] = {}
        self._closed: OrderedDict[int, None] = OrderedDict()
        self.version = 0  # bumps on every change: the loop uses it to know an order vanished (requote)
        self.coin_version: dict[str, int] = {}  # per coin, so an unchanged leg can skip the diff

    # ------------------------------------------------------------ queries
    def live(self, coins: Iterable[str] | None = None) -> list[LiveOrder]:
        if coins is None:
            return list(self._by_oid.values())
        wanted = set(coins)
        return [o for o in self._by_oid.values() if o.coin in wanted]

    def by_cloid(self, cloid: str) -> LiveOrder | None:
        return next((o for o in self._by_oid.values() if o.cloid == cloid), None)

    def get(self, oid: int) -> LiveOrder | None:
        return self._by_oid.get(oid)

    def __len__(self) -> int:
        return len(self._by_oid)

    def count(self, coins: Iterable[str]) -> int:
        wanted = set(coins)
        return sum(1 for o in self._by_oid.values() if o.coin in wanted)

    # ------------------------------------------------------------ updates
    def _mark_closed(self, oid: int) -> None:
        self._closed[oid] = None
        self._closed.move_to_end(oid)
        while len(self._closed) > CLOSED_MEMORY:
            self._closed.popitem(last=False)

    def _bump(self, coin: str) -> None:
        self.version += 1
        self.coin_version[coin] = self.coin_version.get(coin, 0) + 1

    def add(self, order: LiveOrder) -> bool:
        """A resting order confirmed by a reply; ignored when a push already reported it closed."""
        if order.oid in self._closed:
            return False
        self._by_oid[order.oid] = order
        self._bump(order.coin)
        return True

    def remove(self, oid: int) -> LiveOrder | None:
        self._mark_closed(oid)
        order = self._by_oid.pop(oid, None)
        if order is not None:
            self._bump(order.coin)
        return order

    def on_update(self, oid: int, coin: str, is_buy: bool, px: Decimal, sz: Decimal, cloid: str | None,
                  status: str) -> None:
        """One `orderUpdates` entry: "open" (new or partially filled) keeps it, anything else closes it."""
        if status == "open":
            if oid in self._closed:
                return
            self._by_oid[oid] = LiveOrder(oid, coin, is_buy, px, sz, cloid)
            self._bump(coin)
        else:
            self.remove(oid)

    def on_fill(self, oid: int, sz: Decimal) -> None:
        order = self._by_oid.get(oid)
        if order is None:
            return
        left = order.sz - sz
        if left <= 0:
            self.remove(oid)
        else:
            self._by_oid[oid] = LiveOrder(order.oid, order.coin, order.is_buy, order.px, left, order.cloid)
            self._bump(order.coin)

    def replace_all(self, orders: Iterable[LiveOrder]) -> None:
        """The venue's openOrders: the whole truth for the coins it covers."""
        new = {o.oid: o for o in orders}
        for oid in set(self._by_oid) - set(new):
            self._mark_closed(oid)
        for oid in new:
            self._closed.pop(oid, None)  # the venue says it is open: trust that over our memory
        for coin in {o.coin for o in self._by_oid.values()} | {o.coin for o in new.values()}:
            self._bump(coin)
        self._by_oid = new
