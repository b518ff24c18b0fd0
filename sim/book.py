"""Price-time priority order book of one market, on scaled integers.

Each side keeps a dict price -> Level and a sorted list of its prices arranged so the best price
is at the end of the list (bids ascending, asks stored negated), so matching pops from the end in
O(1). A cancelled order is only marked dead and subtracted from its level's totals; the matcher
drops dead orders when it meets them and a level whose live count hits zero is removed at once,
so cancels are O(log n) and never scan a queue.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque


class Order:
    __slots__ = ("oid", "user", "market", "is_buy", "px", "sz", "orig_sz", "ts", "cloid",
                 "reduce_only", "tif", "seq", "live", "hold", "status", "status_ts", "builder", "trig")

    def __init__(self, oid, user, market, is_buy, px, sz, orig_sz, ts, cloid, reduce_only, tif, seq):
        self.oid = oid
        self.user = user  # lowercase address
        self.market = market
        self.is_buy = is_buy
        self.px = px  # scaled int
        self.sz = sz  # remaining, scaled int
        self.orig_sz = orig_sz
        self.ts = ts
        self.cloid = cloid
        self.reduce_only = reduce_only
        self.tif = tif
        self.seq = seq  # global arrival sequence: time priority across restore
        self.live = False  # True while resting in a book
        self.hold = None  # spot: Decimal amount of the held token still reserved
        self.status = ""  # latest order status (open, filled, canceled, ...Rejected) and its time
        self.status_ts = 0
        self.builder = None  # (builder address, fee rate as a fraction) when the order carries a builder code
        self.trig = None  # sim.triggers.Trigger for a TP/SL order (None: a plain limit order)


class Level:
    __slots__ = ("orders", "total", "n")

    def __init__(self) -> None:
        self.orders: deque[Order] = deque()
        self.total = 0
        self.n = 0


class Book:
    __slots__ = ("bids", "asks", "bid_keys", "ask_keys")

    def __init__(self) -> None:
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_keys: list[int] = []  # ascending prices, best bid last
        self.ask_keys: list[int] = []  # ascending negated prices, best (lowest) ask last

    def best_bid(self) -> int | None:
        return self.bid_keys[-1] if self.bid_keys else None

    def best_ask(self) -> int | None:
        return -self.ask_keys[-1] if self.ask_keys else None

    def add(self, order: Order) -> None:
        if order.is_buy:
            side, keys, key = self.bids, self.bid_keys, order.px
        else:
            side, keys, key = self.asks, self.ask_keys, -order.px
        level = side.get(order.px)
        if level is None:
            level = side[order.px] = Level()
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(order)
        level.total += order.sz
        level.n += 1
        order.live = True

    def remove(self, order: Order) -> None:
        """Take a resting order out (cancel, or fully filled)."""
        side = self.bids if order.is_buy else self.asks
        level = side[order.px]
        level.total -= order.sz
        level.n -= 1
        order.live = False
        if level.n == 0:
            self._drop_level(order.is_buy, order.px)

    def shrink(self, order: Order, new_sz: int) -> None:
        """Reduce a resting order's remaining size in place (keeps its queue position)."""
        side = self.bids if order.is_buy else self.asks
        side[order.px].total -= order.sz - new_sz
        order.sz = new_sz

    def _drop_level(self, is_buy: bool, px: int) -> None:
        if is_buy:
            del self.bids[px]
            keys, key = self.bid_keys, px
        else:
            del self.asks[px]
            keys, key = self.ask_keys, -px
        if keys and keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def levels(self, is_buy: bool, limit: int | None = None):
        """(px, total, n) best first."""
        side = self.bids if is_buy else self.asks
        keys = self.bid_keys if is_buy else self.ask_keys
        out = []
        for key in reversed(keys):
            px = key if is_buy else -key
            lv = side[px]
            out.append((px, lv.total, lv.n))
            if limit is not None and len(out) >= limit:
                break
        return out

    def live_orders(self):
        """Every resting order, bids then asks, each price level in queue order."""
        for side in (self.bids, self.asks):
            for lv in side.values():
                for o in lv.orders:
                    if o.live:
                        yield o
