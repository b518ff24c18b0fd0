"""Re-reading the venue ("the venue decides"), mixed into `engine.loop.Engine`: positions and balances,
our open orders, fills and funding (into the ledger, idempotently), and the full resync after a feed
(re)connect. Callers hold the engine's order lock where orders could change underneath.
"""
from __future__ import annotations

import logging

from engine.execution.reconcile import is_ours, live_order

log = logging.getLogger("engine.loop")


class VenueSync:
    """Mixin: expects the attributes `engine.loop.Engine.__init__` sets."""

    async def _refresh_account(self) -> None:
        chs = await self.rest.clearinghouse_state()
        spot = await self.rest.spot_clearinghouse_state()
        self.inventory.on_snapshot(chs, spot, self.clock.now_ms())
        self._account_due = False

    async def _refresh_orders(self) -> None:
        orders = await self.rest.open_orders()
        self.tracker.replace_all(live_order(o) for o in orders if o.coin in self.by_coin and is_ours(o.cloid))
        self.executor.needs_refresh = False

    async def _backfill_fills(self) -> None:
        fills = await self.rest.user_fills()
        self.ledger.fills([f.raw for f in fills])
        start = self.venue_now_ms() - 7 * 86_400_000
        funding = await self.rest.user_funding(start)
        self.ledger.funding([r.raw for r in funding])

    async def _resync(self, reason: str) -> None:
        """Feed (re)connected: events may have been missed. Re-read everything, then quote."""
        if not self.started.is_set() and reason == "connect":
            return  # start() has just read all of it
        try:
            async with self._lock:
                await self._refresh_orders()
                await self._refresh_account()
                await self._backfill_fills()
        except Exception:
            log.exception("resync after %s failed; next housekeeping retries", reason)
            self._account_due = True
            self.executor.needs_refresh = True
        for m in self.markets:
            self._mark(m)
