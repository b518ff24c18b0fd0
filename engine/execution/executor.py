"""Send an `OrderPlan` to the venue and fold the replies into the order tracker.

One requote of one market = at most one cancel action, one batchModify and one order action (plan_actions
chunks only beyond 39 orders). Every new or modified order carries its plan cloid.

Post-only rejects (BadAloPx: the market moved through our price between decision and arrival) are re-priced
once: the reject text carries the venue's bbo, so the order is re-sent one tick behind the opposite best
(never more aggressive than the original price). A second reject waits for the next requote.

Anything whose fate we cannot read from the reply — an ambiguous send the client resolved as unknown, a
modify that failed (the venue may have cancelled the original) — sets `needs_refresh`: the loop then re-reads
openOrders before quoting that market again ("the venue decides").
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping

from engine.execution.actions import plan_actions
from engine.execution.diff import LiveOrder, OrderPlan
from engine.execution.orders import OrderTracker
from engine.monitoring import Timings
from engine.strategy import rounding as R
from engine.strategy.quotes import Quote
from engine.venue.errors import Outcome
from engine.venue.results import ActionResult, OrderResult
from engine.venue.wire import order_action, order_wire

log = logging.getLogger(__name__)
_BBO_RE = re.compile(r"bbo was ([0-9.eE+-]+|None|null)?@([0-9.eE+-]+|None|null)?")
RATE_LIMIT_OUTCOMES = (Outcome.RATE_LIMITED_IP, Outcome.ADDRESS_BUDGET)


@dataclass(frozen=True, slots=True)
class CoinSpec:
    coin: str
    asset: int
    sz_decimals: int
    is_spot: bool


@dataclass(slots=True)
class ExecStats:
    actions: int = 0
    orders_sent: int = 0
    alo_rejects: int = 0
    alo_repriced: int = 0
    rate_limited: int = 0
    errors: int = 0
    ambiguous: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"actions": self.actions, "orders_sent": self.orders_sent, "alo_rejects": self.alo_rejects,
                "alo_repriced": self.alo_repriced, "rate_limited": self.rate_limited, "errors": self.errors,
                "ambiguous": self.ambiguous, **{f"outcome_{k}": v for k, v in self.by_outcome.items()}}


def parse_alo_bbo(message: str) -> tuple[Decimal | None, Decimal | None]:
    """(bid, ask) from "Post only order would have immediately matched, bbo was {bid}@{ask}."."""
    m = _BBO_RE.search(message.rstrip(". "))
    if not m:
        return None, None

    def num(s: str | None) -> Decimal | None:
        if not s or s in ("None", "null"):
            return None
        try:
            return Decimal(s.rstrip("."))
        except Exception:
            return None
    return num(m.group(1)), num(m.group(2))


class Executor:
    def __init__(self, rest: Any, tracker: OrderTracker, specs: Mapping[str, CoinSpec], timings: Timings,
                 new_cloid: Callable[[], str], now_ms: Callable[[], int],
                 on_order: Callable[[dict], None] | None = None, tif: str = "Alo") -> None:
        self.rest = rest
        self.tracker = tracker
        self.specs = dict(specs)
        self.asset_of = {c: s.asset for c, s in self.specs.items()}
        self.timings = timings
        self.new_cloid = new_cloid
        self.now_ms = now_ms
        self.on_order = on_order
        self.tif = tif
        self.stats = ExecStats()
        self.needs_refresh = False
        self.deviations = 0  # replies that differ from "everything rested / was cancelled as planned"
        self.last_as_planned = False

    # ------------------------------------------------------------ bookkeeping
    def _record(self, q: Quote | None, cloid: str | None, oid: int | None, status: str, coin: str | None = None,
                is_buy: bool | None = None, px: Decimal | None = None, sz: Decimal | None = None,
                tif: str | None = None, reason: str | None = None, reduce_only: bool = False) -> None:
        if self.on_order is None:
            return
        self.on_order({"time_ms": self.now_ms(), "cloid": cloid, "oid": oid, "coin": q.coin if q else coin,
                       "side": ("B" if (q.is_buy if q else is_buy) else "A"), "px": q.px if q else px,
                       "sz": q.sz if q else sz, "tif": tif or self.tif, "status": status, "reason": reason,
                       "reduce_only": reduce_only})

    def _count(self, result: ActionResult) -> None:
        self.stats.actions += 1
        if not result.ok or result.resolution is not None:
            self.deviations += 1
        if result.resolution is not None:
            self.stats.ambiguous += 1
            self.needs_refresh = True
        if result.error is not None and not result.statuses:
            outcome = result.error.outcome
            self.stats.by_outcome[outcome.value] = self.stats.by_outcome.get(outcome.value, 0) + 1
            if outcome in RATE_LIMIT_OUTCOMES:
                self.stats.rate_limited += 1
            elif result.resolution is None:
                self.stats.errors += 1
                log.warning("%s refused: %s", result.action_type, result.error.message)

    async def _send(self, action: dict) -> ActionResult:
        with self.timings.time("send"):
            return await self.rest.send_action(action)

    # ------------------------------------------------------------ plan execution
    async def execute(self, plan: OrderPlan) -> int:
        """Carry out `plan`; returns the number of orders/cancels sent."""
        if plan.is_empty:
            return 0
        deviations = self.deviations
        actions = plan_actions(plan, self.asset_of, self.tif)  # raises before anything is sent
        cancels, modifies, places = list(plan.cancels), list(plan.modifies), list(plan.places)
        retry: list[tuple[Quote, str]] = []
        sent = 0
        for action in actions:
            kind = action["type"]
            if kind == "cancel":
                n = len(action["cancels"])
                items, cancels = cancels[:n], cancels[n:]
                for c in items:  # pulled before the reply: a fill racing the cancel arrives by push anyway
                    self.tracker.remove(c.live.oid)
                result = await self._send(action)
                self._count(result)
                sent += n
                for c, st in zip(items, result.statuses):
                    if not st.placed:
                        self.deviations += 1
                    self._record(None, c.live.cloid, c.live.oid, "cancel" if st.placed else "cancel_failed",
                                 c.live.coin, c.live.is_buy, c.live.px, c.live.sz)
                if not result.ok and result.resolution is None:
                    for c in items:  # the cancel never ran: the orders are still there
                        self.tracker.add(c.live)
            elif kind == "batchModify":
                n = len(action["modifies"])
                items, modifies = modifies[:n], modifies[n:]
                for m in items:
                    self.tracker.remove(m.live.oid)
                result = await self._send(action)
                self._count(result)
                sent += n
                self.stats.orders_sent += n
                if not result.ok and result.resolution is None and not result.statuses:
                    for m in items:
                        self.tracker.add(m.live)  # refused whole: originals untouched
                    continue
                for m, st in zip(items, result.statuses):
                    self._record(None, m.live.cloid, m.live.oid, "replaced" if st.placed else "modify_failed",
                                 m.live.coin, m.live.is_buy, m.live.px, m.live.sz)
                    if self._on_status(m.quote, m.cloid, st, retry):
                        continue
                    self.needs_refresh = True  # a failed modify may have left or removed the original
            else:  # order
                n = len(action["orders"])
                items, places = places[:n], places[n:]
                result = await self._send(action)
                self._count(result)
                sent += n
                self.stats.orders_sent += n
                for p, st in zip(items, result.statuses):
                    self._on_status(p.quote, p.cloid, st, retry)
        if retry:
            sent += await self._reprice(retry)
        self.last_as_planned = self.deviations == deviations and not retry
        return sent

    def _on_status(self, q: Quote, cloid: str, st: OrderResult, retry: list[tuple[Quote, str]] | None) -> bool:
        """Fold one order status in; returns True when the outcome is fully known."""
        if st.kind == "resting" and st.oid is not None:
            self.tracker.add(LiveOrder(st.oid, q.coin, q.is_buy, q.px, q.sz, cloid))
            self._record(q, cloid, st.oid, "resting")
            return True
        if st.kind == "filled":
            self.deviations += 1  # not resting: the live set differs from the plan
            self._record(q, cloid, st.oid, "filled")
            return True
        self.deviations += 1
        if st.resolution is not None:
            self.needs_refresh = True
            self._record(q, cloid, st.oid, f"resolved:{st.resolution.value}")
            return False
        err = st.error
        outcome = err.outcome if err else Outcome.UNKNOWN
        self.stats.by_outcome[outcome.value] = self.stats.by_outcome.get(outcome.value, 0) + 1
        self._record(q, cloid, None, "rejected", reason=err.message if err else st.kind)
        if outcome is Outcome.ALO_REJECT:
            self.stats.alo_rejects += 1
            if retry is not None:
                repriced = self._reprice_quote(q, err.message if err else "")
                if repriced is not None:
                    retry.append((repriced, self.new_cloid()))
            return True
        if outcome in RATE_LIMIT_OUTCOMES:
            self.stats.rate_limited += 1
        else:
            self.stats.errors += 1
            log.warning("order %s %s %s@%s rejected: %s", q.coin, "buy" if q.is_buy else "sell", q.sz, q.px,
                        err.message if err else st.kind)
        return True

    def _reprice_quote(self, q: Quote, message: str) -> Quote | None:
        spec = self.specs.get(q.coin)
        bid, ask = parse_alo_bbo(message)
        if spec is None:
            return None
        if q.is_buy:
            if ask is None:
                return None
            px = R.next_price_below(ask, spec.sz_decimals, spec.is_spot)
            if px is None:
                return None
            px = min(px, q.px)
        else:
            if bid is None:
                return None
            px = max(R.next_price_above(bid, spec.sz_decimals, spec.is_spot), q.px)
        if px * q.sz < R.MIN_NOTIONAL:
            return None
        return Quote(q.coin, q.leg, q.is_buy, q.level, px, q.sz)

    async def _reprice(self, retry: list[tuple[Quote, str]]) -> int:
        wires = [order_wire(self.asset_of[q.coin], q.is_buy, q.px, q.sz, cloid=c, tif=self.tif) for q, c in retry]
        result = await self._send(order_action(wires))
        self._count(result)
        self.stats.orders_sent += len(wires)
        for (q, cloid), st in zip(retry, result.statuses):
            if self._on_status(q, cloid, st, None) and st.kind == "resting":
                self.stats.alo_repriced += 1
        return len(wires)

    # ------------------------------------------------------------ taker orders (hedger, carry)
    async def send_ioc(self, coin: str, is_buy: bool, px: Decimal, sz: Decimal, reduce_only: bool,
                       reason: str) -> OrderResult | None:
        cloid = self.new_cloid()
        wire = order_wire(self.asset_of[coin], is_buy, px, sz, reduce_only=reduce_only, cloid=cloid, tif="Ioc")
        result = await self._send(order_action([wire]))
        self._count(result)
        self.stats.orders_sent += 1
        st = result.statuses[0] if result.statuses else None
        status = "error" if st is None else st.kind
        if st is not None and st.error is not None:
            status = f"rejected:{st.error.outcome.value}"
        self._record(None, cloid, st.oid if st else None, status, coin, is_buy, px, sz, "Ioc", reason, reduce_only)
        return st

    async def cancel_all(self, orders: list[LiveOrder]) -> None:
        """Cancel the given orders by oid in one action (chunks of 39)."""
        for i in range(0, len(orders), 39):
            chunk = orders[i:i + 39]
            plan = OrderPlan(cancels=tuple(_cancel(o) for o in chunk))
            await self.execute(plan)


def _cancel(o: LiveOrder) -> Any:
    from engine.execution.diff import Cancel
    return Cancel(o)
