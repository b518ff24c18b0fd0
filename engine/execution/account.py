"""`AccountSync`: re-reading the venue ("the venue decides") — positions and balances, our orders, fills,
funding and order statuses — into `Inventory`, `OurOrders` and the ledger.

* `refresh_account`: clearinghouseState + spotClearinghouseState → inventory (after fills, hedges, funding,
  a reconnect, and periodically as a safety net);
* `refresh_orders`: openOrders → OurOrders (adopts ours it did not know, finds ours that are gone);
* `settle_statuses`: the final word of orders found gone without one (orderStatus per order, or one
  historicalOrders read for many), so the ledger's orders table ends agreeing with the venue;
* `backfill`: userFills and userFunding into the ledger (idempotent: duplicates are ignored);
* `reconcile_start`: at start, adopt our orders left by an earlier run (recorded in the ledger too: an order
  placed just before a SIGKILL may never have been written) and cancel orders on our coins we did not place.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from engine.execution.orders import OurOrders
from engine.execution.reconcile import is_ours, live_order
from engine.venue.wire import cancel_action

log = logging.getLogger("engine.account")
HISTORY_READ_ABOVE = 8
SNAPSHOT_ATTEMPTS = 3  # account reads overtaken by one of our fills are discarded and read again, this often  # more gone orders than this: one historicalOrders read instead of orderStatus each


class AccountSync:
    def __init__(self, rest: Any, inventory: Any, orders: OurOrders, ledger: Any, now_ms: Callable[[], int],
                 venue_now_ms: Callable[[], int], coins: set[str], asset_of: dict[str, int]) -> None:
        self.rest = rest
        self.inventory = inventory
        self.orders = orders
        self.ledger = ledger
        self.now_ms = now_ms
        self.venue_now_ms = venue_now_ms
        self.coins = coins
        self.asset_of = asset_of
        self.on_change: Callable[[], None] | None = None  # the engine pokes its quoters
        self.stats = {"account_reads": 0, "order_reads": 0, "status_reads": 0, "adopted": 0, "orphans_cancelled": 0,
                      "snapshots_discarded": 0}

    async def refresh_account(self) -> bool:
        """Read positions and balances into the inventory; False when every read had to be discarded."""
        inv = self.inventory
        for _ in range(SNAPSHOT_ATTEMPTS):
            applied = inv.fills_applied
            chs = await self.rest.clearinghouse_state()
            spot = await self.rest.spot_clearinghouse_state()
            self.stats["account_reads"] += 1
            if inv.fills_applied != applied:
                # one of our fills was applied while the reads were in flight. The venue may have answered
                # either read before that fill: applying it would undo the fill, and the fill never comes
                # again (its tid is spent). Fills carry the venue's own position (startPosition), so the
                # inventory is right as it is; read again for a snapshot nothing overtook.
                self.stats["snapshots_discarded"] += 1
                continue
            before = (dict(inv.perp), dict(inv.spot))
            inv.on_snapshot(chs, spot, self.now_ms())
            if (inv.perp, inv.spot) != before and self.on_change is not None:
                self.on_change()  # positions or balances moved without a fill we saw: decide again
            return True
        log.info("account snapshot discarded %d times in a row (fills kept landing during the reads); the "
                 "inventory stays as our fills set it until the next refresh", SNAPSHOT_ATTEMPTS)
        return False

    async def refresh_orders(self) -> None:
        t_req = self.now_ms()
        open_orders = await self.rest.open_orders()
        self.stats["order_reads"] += 1
        ours = [live_order(o) for o in open_orders if o.coin in self.coins and is_ours(o.cloid)]
        gone = self.orders.on_snapshot(ours, self.coins, self.now_ms(), t_req)
        if gone:
            await self.settle_statuses()

    async def settle_statuses(self) -> int:
        """Look up the venue's final status of our closed orders that have none yet; returns how many."""
        todo = self.orders.needs_status()
        if not todo:
            return 0
        self.stats["status_reads"] += 1
        settled = 0
        now = self.now_ms()
        if len(todo) > HISTORY_READ_ABOVE:
            rows = await self.rest.info({"type": "historicalOrders", "user": self.rest.user})
            latest: dict[str, str] = {}
            for r in rows if isinstance(rows, list) else []:  # newest first: keep the first word per cloid
                order = r.get("order") if isinstance(r, dict) else None
                cloid = order.get("cloid") if isinstance(order, dict) else None
                if cloid and cloid not in latest and isinstance(r.get("status"), str):
                    latest[cloid] = r["status"]
            for o in todo:
                word = latest.get(o.cloid)
                if word is not None:
                    self.orders.settle_status(o.cloid, word, now)
                    settled += 1
            return settled
        for o in todo:
            st = await self.rest.order_status(o.cloid)
            if st.found and st.status:
                self.orders.settle_status(o.cloid, st.status, now)
                settled += 1
        return settled

    async def record_history(self) -> int:
        """Write the venue's latest word on each of our recent orders (historicalOrders) to the ledger: orders
        an earlier run sent but never recorded (it died first), and statuses that moved while no engine was
        listening. Returns the number of orders written."""
        rows = await self.rest.info({"type": "historicalOrders", "user": self.rest.user})
        latest: dict[str, dict] = {}
        for r in rows if isinstance(rows, list) else []:  # newest first
            order = r.get("order") if isinstance(r, dict) else None
            if not isinstance(order, dict) or not is_ours(order.get("cloid")) or order["cloid"] in latest:
                continue
            if order.get("coin") in self.coins and isinstance(r.get("status"), str):
                latest[order["cloid"]] = r
        for cloid, r in latest.items():
            o = r["order"]
            mine = self.orders.by_cloid(cloid)
            if mine is not None and (mine.state.live or mine.status == r["status"]):
                continue  # ours to track (pushes and replies keep its row), or its row already agrees
            self.ledger.order({"time_ms": int(r.get("statusTimestamp") or self.now_ms()), "cloid": cloid,
                               "oid": o.get("oid"), "coin": o["coin"], "side": o.get("side"),
                               "px": o.get("limitPx"), "sz": o.get("origSz") or o.get("sz"),
                               "tif": o.get("tif") or "Alo", "status": r["status"],
                               "reduce_only": bool(o.get("reduceOnly", False)),
                               "reason": None if mine is not None else "recorded from the venue's order history"})
        return len(latest)

    async def backfill(self) -> None:
        fills = await self.rest.user_fills()
        self.ledger.fills([f.raw for f in fills])
        start = self.venue_now_ms() - 7 * 86_400_000
        funding = await self.rest.user_funding(start)
        self.ledger.funding([r.raw for r in funding])

    async def reconcile_start(self, cancel_foreign: bool = True) -> dict:
        """Adopt our open orders (and record them), cancel foreign orders on the coins we quote."""
        now = self.now_ms()
        adopted, foreign, left = [], [], 0
        for o in await self.rest.open_orders():
            if o.coin not in self.coins:
                left += 1
            elif is_ours(o.cloid) and not o.reduce_only and not o.is_trigger:
                adopted.append(self.orders.adopt(live_order(o), now))
            else:
                foreign.append(live_order(o))
        cancel_failed = 0
        if cancel_foreign and foreign:
            for i in range(0, len(foreign), 39):
                chunk = foreign[i:i + 39]
                result = await self.rest.send_action(cancel_action([(self.asset_of[o.coin], o.oid) for o in chunk]))
                cancel_failed += sum(1 for s in result.statuses if not s.placed) if result.ok else len(chunk)
        self.stats["adopted"] += len(adopted)
        self.stats["orphans_cancelled"] += len(foreign) - cancel_failed
        report = {"adopted": len(adopted), "orphans_cancelled": len(foreign) - cancel_failed,
                  "foreign_left": left, "cancel_failed": cancel_failed}
        if adopted or foreign:
            log.info("startup reconciliation: %s", report)
        return report
