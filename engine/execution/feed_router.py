"""`FeedRouter`: the feed's events into the engine's state, then a poke to the market they concern.

Synchronous and on the hot path: a handler updates MarketData / OurOrders / Inventory / the ledger queue and
pokes the market's quoter; anything that needs the venue (a resync, an account re-read) is handed to the
timers as a task, never awaited here.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from engine.execution.order_state import OrderState
from engine.execution.reconcile import is_ours

log = logging.getLogger(__name__)


class FeedRouter:
    """`quoter_of`: leg coin → its market's quoter; `on_deadman_fired(why)`; `account_soon()` / `funding_soon()`
    schedule debounced venue re-reads; `resync(reason)` starts the re-read after a (re)connect as a task;
    `on_fill(fill)` sees each live fill once it is applied."""

    def __init__(self, *, clock: Any, data: Any, orders: Any, inventory: Any, ledger: Any, deadman: Any,
                 quoter_of: dict[str, Any], stats: dict[str, int], on_deadman_fired: Callable[[str], None],
                 account_soon: Callable[[], None], funding_soon: Callable[[], None],
                 resync: Callable[[str], None], on_fill: Callable[[Any], None] | None = None) -> None:
        self.clock, self.data, self.orders, self.inventory, self.ledger = clock, data, orders, inventory, ledger
        self.deadman, self.quoter_of, self.stats = deadman, quoter_of, stats
        self.on_deadman_fired, self.account_soon, self.funding_soon, self.resync = \
            on_deadman_fired, account_soon, funding_soon, resync
        self.on_fill = on_fill  # after a fill is applied (the markout recorder)

    def on_event(self, ev: Any) -> None:
        kind = type(ev).__name__
        if kind == "L2Book":
            self.on_book(ev.coin, ev.bids, ev.asks, ev.time)
        elif kind == "OrderUpdates":
            self.on_order_updates(ev)
        elif kind == "UserFills":
            self.on_fills(ev)
        elif kind == "UserFundings":
            self.on_fundings(ev)
        elif kind == "Resync":
            self.stats["resyncs"] += 1
            log.info("feed %s (connection %d): re-reading orders, positions and fills", ev.reason, ev.connects)
            self.resync(ev.reason)

    def on_book(self, coin: str, bids: Any, asks: Any, venue_ms: int) -> None:
        """A book snapshot; levels (px, sz[, n]) best first."""
        if bids and len(bids[0]) != 2:
            bids = tuple([(lv[0], lv[1]) for lv in bids])
        if asks and len(asks[0]) != 2:
            asks = tuple([(lv[0], lv[1]) for lv in asks])
        m, change = self.data.on_book(coin, bids, asks, venue_ms)
        if m is None:
            return
        self.stats["book_events"] += 1
        if change:  # TOUCH (1): only the best prices moved, the requote gate may skip it; FULL (2): decide
            self.quoter_of[coin].poke(touch_only=change == 1)

    def on_order_updates(self, ev: Any) -> None:
        now = self.clock.now_ms()
        orders, quoter_of = self.orders, self.quoter_of
        for u in ev.updates:
            o = u.order
            q = quoter_of.get(o.coin)
            if q is None:
                continue
            if u.status == "scheduledCancel" and self.deadman.observe_fire(u.status_timestamp):
                self.on_deadman_fired(f"an order update reports the venue's scheduled cancel at {u.status_timestamp}")
            known = orders.get(o.oid) or (orders.by_cloid(o.cloid) if o.cloid else None)
            if known is None and not is_ours(o.cloid):
                continue  # not ours: reconciliation decides about foreign orders
            before = known.state if known is not None else None
            orders.on_update(o.oid, o.cloid, o.coin, o.is_buy, o.limit_px, o.sz, u.status, now,
                             reduce_only=o.reduce_only)
            # the echo of our own action (placed → open, being cancelled → canceled) changes nothing to decide on
            if not ((before is OrderState.INFLIGHT and u.status == "open")
                    or (before is OrderState.CANCELING and u.status == "canceled")):
                q.poke()

    def on_fills(self, ev: Any) -> None:
        self.ledger.fills([f.raw for f in ev.fills])
        self.account_soon()  # balances and account value follow from a re-read
        if ev.is_snapshot:
            return  # history: positions come from that REST read
        now = self.clock.now_ms()
        for f in ev.fills:
            self.stats["fill_events"] += 1
            self.inventory.on_fill(f.coin, f.side, f.sz, f.px, f.fee, f.fee_token, f.start_position, f.tid)
            self.orders.on_fill(f.oid, f.cloid, f.sz, now)
            if self.on_fill is not None:
                self.on_fill(f)
            q = self.quoter_of.get(f.coin)
            if q is not None:
                q.poke()

    def on_fundings(self, ev: Any) -> None:
        if not ev.is_snapshot:
            for r in ev.fundings:
                self.inventory.on_funding(r.usdc)
        if ev.fundings:
            self.ledger.funding([{"time": r.time, "coin": r.coin, "usdc": str(r.usdc), "szi": str(r.szi),
                               "fundingRate": str(r.funding_rate)} for r in ev.fundings])
        if not ev.is_snapshot:
            self.account_soon()
            self.funding_soon()  # a funding hour passed: re-read the trailing mean

