"""`Executor`: carry out an `OrderPlan` (or one taker order) on the venue and fold every reply into `OurOrders`.

One plan = at most one cancel action, one batchModify and one order action (plan_actions chunks only beyond 39
orders), sent in that order and each awaited, so cancels free slots and margin before anything new rests.
Every new or replacement order gets a fresh cloid when the plan is stamped here.

Rules that keep risk's worst case true while replies race the market:
* a cancel or modify that finds its order already gone (filled, cancelled, never placed) means the position
  may have grown without us knowing yet: the plan's new orders on that coin and side are not sent; the next
  decision, made after the fill is known, decides again;
* a modify whose new order is refused leaves the original's fate to the venue's pushes (the venue cancels it
  first): until a push says so, the original counts as live (UNKNOWN);
* a post-only reject (BadAloPx: the market moved through our price between decision and arrival) is
  re-priced once, one tick behind the opposite best the reject reports (never more aggressive than planned).

Anything whose fate the reply cannot tell (an ambiguous send resolved as unknown) is left UNKNOWN in
`OurOrders`, which blocks that coin until a re-read settles it ("the venue decides").
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping

from engine.execution.actions import plan_actions
from engine.execution.diff import Cancel, LiveOrder, OrderPlan
from engine.execution.order_state import OrderState
from engine.execution.orders import OurOrders
from engine.monitoring import Timings
from engine.strategy import rounding as R
from engine.strategy.quotes import Quote
from engine.venue.errors import REJECT_STATUS, Outcome
from engine.venue.results import ActionResult, OrderResult, Resolution
from engine.venue.wire import order_action, order_wire

log = logging.getLogger(__name__)
_BBO_RE = re.compile(r"bbo was ([0-9.eE+-]+|None|null)?@([0-9.eE+-]+|None|null)?")
RATE_LIMIT_OUTCOMES = (Outcome.RATE_LIMITED_IP, Outcome.ADDRESS_BUDGET)
FUNDS_OUTCOMES = (Outcome.INSUFFICIENT_SPOT, Outcome.INSUFFICIENT_MARGIN)


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
    places_withheld: int = 0  # new orders not sent because a cancel on their side found its order gone
    funds_rejects: int = 0  # orders refused for want of spot balance or perp margin
    by_outcome: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"actions": self.actions, "orders_sent": self.orders_sent, "alo_rejects": self.alo_rejects,
                "alo_repriced": self.alo_repriced, "rate_limited": self.rate_limited, "errors": self.errors,
                "ambiguous": self.ambiguous, "places_withheld": self.places_withheld,
                "funds_rejects": self.funds_rejects,
                **{f"outcome_{k}": v for k, v in self.by_outcome.items()}}


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
        except ArithmeticError:
            return None
    return num(m.group(1)), num(m.group(2))


class Executor:
    def __init__(self, rest: Any, orders: OurOrders, specs: Mapping[str, CoinSpec], timings: Timings,
                 new_cloid: Callable[[], str], now_ms: Callable[[], int], tif: str = "Alo") -> None:
        self.rest = rest
        self.orders = orders
        self.specs = dict(specs)
        self.asset_of = {c: s.asset for c, s in self.specs.items()}
        self.timings = timings
        self.new_cloid = new_cloid
        self.now_ms = now_ms
        self.tif = tif
        self.stats = ExecStats()
        self.deviations = 0  # replies that differ from "rested / cancelled as planned" (counted as they come)
        # coins whose orders the venue refused for want of balance or margin: our view of the account is off,
        # and re-sending the same orders before re-reading it would only be refused again
        self.short_of_funds: set[str] = set()
        self.last_as_planned = False  # the last execute() went exactly as planned: nothing left to re-decide

    # ------------------------------------------------------------ bookkeeping
    def _count(self, result: ActionResult) -> None:
        self.stats.actions += 1
        if result.resolution is not None:
            self.stats.ambiguous += 1
        if result.error is not None and not result.statuses:
            outcome = result.error.outcome
            self.stats.by_outcome[outcome.value] = self.stats.by_outcome.get(outcome.value, 0) + 1
            if outcome in RATE_LIMIT_OUTCOMES:
                self.stats.rate_limited += 1
            elif result.resolution is None:
                self.stats.errors += 1
                log.warning("%s refused: %s (%s)", result.action_type, result.error.message, outcome.value)

    async def _send(self, action: dict) -> ActionResult:
        t0 = self.timings.start()
        try:
            return await self.rest.send_action(action)
        finally:
            self.timings.stop("send", t0)

    # ------------------------------------------------------------ plans
    async def execute(self, plan: OrderPlan) -> int:
        """Carry out `plan`; returns the number of orders and cancels sent."""
        if plan.is_empty:
            return 0
        deviations = self.deviations
        plan = plan.stamp(self.new_cloid)
        actions = plan_actions(plan, self.asset_of, self.tif)  # raises before anything is sent
        cancels, modifies, places = list(plan.cancels), list(plan.modifies), list(plan.places)
        gone: set[tuple[str, bool]] = set()  # (coin, is_buy) where an order we meant to replace was gone
        retry: list[tuple[Quote, str]] = []
        sent = 0
        for action in actions:
            kind = action["type"]
            if kind == "cancel":
                n = len(action["cancels"])
                items, cancels = cancels[:n], cancels[n:]
                sent += n
                await self._cancel(action, [c.live for c in items], gone)
            elif kind == "batchModify":
                n = len(action["modifies"])
                items, modifies = modifies[:n], modifies[n:]
                sent += n
                await self._modify(action, items, gone, retry)
            else:
                n = len(action["orders"])
                items, places = places[:n], places[n:]
                keep = [p for p in items if (p.quote.coin, p.quote.is_buy) not in gone]
                if len(keep) < len(items):
                    self.stats.places_withheld += len(items) - len(keep)
                    if not keep:
                        continue
                    action = order_action([o for p, o in zip(items, action["orders"]) if p in keep])
                    items = keep
                now = self.now_ms()
                for p in items:
                    q = p.quote
                    self.orders.sent(p.cloid, q.coin, q.is_buy, q.px, q.sz, now, self.tif)
                result = await self._send(action)
                self._count(result)
                sent += len(items)
                self.stats.orders_sent += len(items)
                self._fold_orders(result, [(p.quote, p.cloid) for p in items], retry)
        if retry:
            sent += await self._reprice(retry)
        self.last_as_planned = self.deviations == deviations and not gone and not retry
        return sent

    async def _cancel(self, action: dict, lives: list[LiveOrder], gone: set) -> None:
        now = self.now_ms()
        for lo in lives:
            self.orders.cancel_sent(lo.oid, now)
        result = await self._send(action)
        self._count(result)
        now = self.now_ms()
        if not result.ok or result.resolution is not None:
            self.deviations += 1
        if not result.ok and result.resolution is None:  # refused as a whole: nothing was cancelled
            for lo in lives:
                self.orders.cancel_refused(lo.oid, now)
            return
        for lo, st in zip(lives, result.statuses):
            self._fold_cancel(lo, st, now, gone)

    def _fold_cancel(self, lo: LiveOrder, st: OrderResult, now: int, gone: set) -> None:
        if not st.placed or st.resolution is not None:
            self.deviations += 1
        if st.resolution is Resolution.UNKNOWN:
            self.orders.fate_unknown(lo.oid, now, "cancel of unknown fate")
            return
        if st.placed:
            self.orders.cancel_done(lo.oid, now, True)
        elif st.resolution is Resolution.RESOLVED_NOT_PLACED:
            self.orders.cancel_refused(lo.oid, now)
        else:  # the venue says it was already gone: filled, cancelled, or never placed
            self.orders.cancel_done(lo.oid, now, False, st.error.message if st.error else None)
            gone.add((lo.coin, lo.is_buy))

    async def _modify(self, action: dict, items: list, gone: set, retry: list) -> None:
        now = self.now_ms()
        for m in items:
            self.orders.cancel_sent(m.live.oid, now)
            q = m.quote
            self.orders.sent(m.cloid, q.coin, q.is_buy, q.px, q.sz, now, self.tif)
        result = await self._send(action)
        self._count(result)
        self.stats.orders_sent += len(items)
        now = self.now_ms()
        if not result.ok and result.resolution is None and not result.statuses:  # refused whole: untouched
            self.deviations += 1
            for m in items:
                self.orders.cancel_refused(m.live.oid, now)
                self.orders.on_result(m.cloid, "rejected", now, reason=result.error.message if result.error
                                      else "batchModify refused")
            return
        for m, st in zip(items, result.statuses):
            err = st.error
            if st.resolution is None and err is not None and err.outcome is Outcome.UNKNOWN_ORDER:
                self.orders.cancel_done(m.live.oid, now, False, err.message)
                self.orders.on_result(m.cloid, "rejected", now, reason=err.message)
                gone.add((m.live.coin, m.live.is_buy))
                continue
            if st.kind in ("resting", "filled"):
                self.orders.cancel_done(m.live.oid, now, True)
            elif st.resolution is Resolution.RESOLVED_NOT_PLACED:
                self.orders.cancel_refused(m.live.oid, now)
            else:  # refused new order: the venue's push tells whether the original went with it
                self.orders.fate_unknown(m.live.oid, now, "its modify was refused")
            self._fold_order(m.quote, m.cloid, st, now, retry)

    def _fold_orders(self, result: ActionResult, items: list[tuple[Quote, str]], retry: list | None) -> None:
        now = self.now_ms()
        if not result.statuses:  # refused whole before execution: none of them rested
            self.deviations += 1
            why = result.error.message if result.error else "order action refused"
            for _, cloid in items:
                self.orders.on_result(cloid, "rejected", now, reason=why)
            return
        for (q, cloid), st in zip(items, result.statuses):
            self._fold_order(q, cloid, st, now, retry)

    def _fold_order(self, q: Quote, cloid: str, st: OrderResult, now: int, retry: list | None) -> None:
        if st.kind == "resting" and st.resolution is None:
            self.orders.on_result(cloid, "resting", now, oid=st.oid)
            return
        self.deviations += 1
        if st.kind == "filled":
            self.orders.on_result(cloid, "filled", now, oid=st.oid, filled_sz=st.total_sz)
            return
        if st.resolution is not None:
            if st.resolution is Resolution.RESOLVED_PLACED:
                if st.status in (None, "open"):
                    self.orders.on_result(cloid, "resting", now, oid=st.oid)
                else:
                    self.orders.on_update(st.oid, cloid, q.coin, q.is_buy, q.px, q.sz, st.status, now)
            elif st.resolution is Resolution.RESOLVED_NOT_PLACED:
                # the venue's own reject word (e.g. badAloPxRejected) where its order record has one: the
                # ledger must end agreeing with the venue, not with a generic "rejected"
                self.orders.on_result(cloid, "rejected", now, oid=st.oid,
                                      reason="not placed (settled after an ambiguous reply)",
                                      venue_status=st.status if st.status and st.status != "open" else None)
            else:
                self.orders.on_result(cloid, "unknown", now, reason="ambiguous reply, fate unknown")
            return
        err = st.error
        outcome = err.outcome if err else Outcome.UNKNOWN
        self.stats.by_outcome[outcome.value] = self.stats.by_outcome.get(outcome.value, 0) + 1
        # the venue's own word for the reject, as its orderStatus and historicalOrders will say it: the ledger
        # holds it from the start instead of waiting for a history read that may no longer reach this order
        self.orders.on_result(cloid, "rejected", now, reason=err.message if err else st.kind,
                              venue_status=REJECT_STATUS.get(outcome))
        if outcome is Outcome.ALO_REJECT:
            self.stats.alo_rejects += 1
            if retry is not None:
                repriced = self._reprice_quote(q, err.message if err else "")
                if repriced is not None:
                    retry.append((repriced, self.new_cloid()))
            return
        if outcome in RATE_LIMIT_OUTCOMES:
            self.stats.rate_limited += 1
        elif outcome in FUNDS_OUTCOMES:
            self.short_of_funds.add(q.coin)
            self.stats.funds_rejects += 1
            log.info("order %s %s %s@%s refused for funds: %s (re-reading the account)", q.coin,
                     "buy" if q.is_buy else "sell", q.sz, q.px, err.message if err else st.kind)
        else:
            self.stats.errors += 1
            log.warning("order %s %s %s@%s rejected: %s", q.coin, "buy" if q.is_buy else "sell", q.sz, q.px,
                        err.message if err else st.kind)

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
        now = self.now_ms()
        for q, cloid in retry:
            self.orders.sent(cloid, q.coin, q.is_buy, q.px, q.sz, now, self.tif, reason="re-priced after BadAloPx")
        result = await self._send(order_action(wires))
        self._count(result)
        self.stats.orders_sent += len(wires)
        self._fold_orders(result, retry, None)
        self.stats.alo_repriced += sum(1 for _, c in retry if (o := self.orders.by_cloid(c)) is not None
                                       and o.state is OrderState.OPEN)
        return len(wires)

    # ------------------------------------------------------------ taker orders (hedger, carry)
    async def send_ioc(self, coin: str, is_buy: bool, px: Decimal, sz: Decimal, reduce_only: bool,
                       reason: str) -> OrderResult | None:
        cloid = self.new_cloid()
        wire = order_wire(self.asset_of[coin], is_buy, px, sz, reduce_only=reduce_only, cloid=cloid, tif="Ioc")
        self.orders.sent(cloid, coin, is_buy, px, sz, self.now_ms(), "Ioc", reduce_only, reason)
        result = await self._send(order_action([wire]))
        self._count(result)
        self.stats.orders_sent += 1
        now = self.now_ms()
        st = result.statuses[0] if result.statuses else None
        if st is None:
            self.orders.on_result(cloid, "rejected", now, reason=result.error.message if result.error else "refused")
            return None
        if st.kind == "error" and st.error is not None and st.error.outcome is Outcome.IOC_NO_MATCH:
            self.orders.on_result(cloid, "rejected", now, reason=st.error.message, venue_status="iocCancelRejected")
        else:
            self._fold_order(Quote(coin, "perp", is_buy, 0, px, sz), cloid, st, now, None)
        return st

    async def cancel_all(self, orders: list[LiveOrder]) -> None:
        """Cancel the given orders by oid (chunks of 39)."""
        for i in range(0, len(orders), 39):
            await self.execute(OrderPlan(cancels=tuple(Cancel(o) for o in orders[i:i + 39])))
