"""`MarketQuoter`: one market's requote cycle — when to decide, and one venue job in flight at a time.

Anything that can change the market's quotes calls `poke()` (a book, a fill, an order update, a control or
params change, a stale-data deadline). Pokes of one loop iteration are coalesced into one step, which runs
right after the events that caused it:

1. if a job of this market is still running, or the engine is not ready (starting, resyncing, dead man's
   switch not armed), it only marks the market dirty: the job's end (or readiness) pokes again;
2. the minimum requote interval is kept: a poke too early sets a timer for when it is allowed (a kill switch
   skips the wait);
3. orders of unknown fate on the market's coins come first: after a short grace for the venue's pushes, the
   open orders are re-read (the venue decides) before anything else is sent;
4. then taker work (carry unwind / top-up, delta hedge: `CarryManager.next_job`);
5. then, unless only the touch moved and the requote gate proves the last decision still stands
   (requote_gate.py), the pure `decide` (quotes → risk → diff); a non-empty plan is sent by the executor.

Only the venue I/O runs as an asyncio task; deciding does not wait for anything. The decision inputs include
every order of ours that may still fill, so risk bounds the worst case, not the position alone.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from operator import is_
from typing import Any, Awaitable, Callable, Sequence

from engine.execution.decide import Decision, LegInputs, MarketInputs, decide
from engine.execution.diff import OrderPlan, Tolerance, diff_orders, keep_exact
from engine.execution.orders import OurOrders
from engine.execution.requote_gate import RequoteGate
from engine.market.markets import MarketRuntime
from engine.market.state import leg_state
from engine.risk import KillSwitch, RiskLimits
from engine.strategy.quotes import QuoteParams, quotes
from engine.venue.facts import SPOT_TAKER_FEE

log = logging.getLogger("engine.quoting")
UNKNOWN_GRACE_MS = 1_000  # how long orders of unknown fate wait for the venue's pushes before a re-read
CAPACITY_SLACK = 2.0  # a spot balance this many times what the quotes could use never binds them


@dataclass
class QuotingContext:
    """What every market's quoter reads (shared, owned by the engine)."""
    clock: Any
    data: Any                 # market.marketdata.MarketData
    inventory: Any            # execution.inventory.Inventory
    orders: OurOrders
    executor: Any             # execution.executor.Executor
    carry: Any                # execution.carry.CarryManager
    limits: RiskLimits
    kill: KillSwitch
    tolerance: Tolerance
    min_interval_ms: int
    params_for: Callable[[str], QuoteParams]
    paused: Callable[[MarketRuntime], str | None]  # why the market's quotes are off, or None
    address_budget: Callable[[], int | None]
    ready: Callable[[], bool]
    refresh_orders: Callable[[], Awaitable[None]]
    refresh_account: Callable[[], Awaitable[None]]
    timings: Any
    stats: dict
    on_status: Callable[[MarketRuntime, str, str], None] | None = None  # (market, before, now) on a change


class MarketQuoter:
    def __init__(self, market: MarketRuntime, ctx: QuotingContext) -> None:
        self.m = market
        self.ctx = ctx
        self.coins = frozenset(market.coins)
        self._coin_order = tuple(sorted(market.coins))  # the diff's own order of coins
        self.busy = False
        self.dirty = True
        self.last_send_ms = -10 ** 15
        self._wake: asyncio.TimerHandle | None = None
        self._wake_ms: int | None = None
        self._poked = False  # a step is scheduled for this loop iteration
        self._quote_memo: dict[tuple, tuple] = {}
        self._noop: dict[str, tuple] = {}  # coin -> (accepted, resting, plan) of its last diff that found nothing
        self._notional_for: QuoteParams | None = None  # _max_quoted_notional of these params is _max_notional
        self._max_notional = 0.0
        self.last_decision: Decision | None = None
        self.gate = RequoteGate()

    # ------------------------------------------------------------------ scheduling
    def poke(self, touch_only: bool = False) -> None:
        """Something changed: evaluate once the events arriving together have all been applied (a fill and
        the book that shows it are decided on together, not one after the other). `touch_only`: only a best
        bid or ask moved — the requote gate may prove the decision unchanged; anything else closes it."""
        if not touch_only:
            self.gate.close()
        elif self.gate.open and not self._poked and not self.busy:
            now = self.ctx.clock.now_ms()
            if self.ctx.carry.idle(self.m, now) and self.gate.holds(self.ctx.data, now):
                return  # proved unchanged on the spot: no step needed (a fill in the same batch closes the gate)
        if not self._poked:
            self._poked = True
            asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        self._poked = False
        ctx = self.ctx
        if self.busy or not ctx.ready():
            self.dirty = True
            return
        now = ctx.clock.now_ms()
        if not ctx.kill.engaged:
            due = self.last_send_ms + ctx.min_interval_ms
            if due > now:
                self.dirty = True
                self.wake_at(due)
                return
        self.dirty = False
        job = self._next_job(now)
        if job is not None:
            self._run(*job)

    def wake_at(self, t_ms: int) -> None:
        """Poke again at `t_ms` (engine clock); an earlier pending wake wins."""
        if self._wake is not None and self._wake_ms is not None and self._wake_ms <= t_ms:
            return
        if self._wake is not None:
            self._wake.cancel()
        loop = asyncio.get_running_loop()
        self._wake_ms = t_ms
        self._wake = loop.call_later(max(0, t_ms - self.ctx.clock.now_ms()) / 1000, self._on_wake)

    def _on_wake(self) -> None:
        """A wake (the requote throttle's due time, a book's staleness, an order's grace) brings no news but
        the time: every other change closed the gate when it arrived, and the gate's test re-reads each
        book's freshness, which is all the time changes in a decision."""
        self._wake = self._wake_ms = None
        self.poke(touch_only=True)
        if not self._poked:  # the gate settled it: keep watching for the newest books to go stale
            self._watch_staleness(self.ctx.clock.now_ms())

    def _watch_staleness(self, now: int) -> None:
        """Wake when the newest book of a leg goes stale: a feed that goes silent sends nothing to notice it
        by, and the next decision pauses the coin."""
        data = self.ctx.data
        stale = min((t for c in self.coins if (t := data.stale_at(c)) is not None and t > now), default=None)
        if stale is not None:
            self.wake_at(stale)

    def _run(self, job: Awaitable[Any], plan: bool = False) -> None:
        self.busy = True
        task = asyncio.get_running_loop().create_task(job)
        task.add_done_callback(self._plan_done if plan else self._job_done)

    def _job_done(self, task: asyncio.Task) -> None:
        self.busy = False
        self.gate.close()  # orders or positions moved in ways the last decision did not plan
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: venue job failed", self.m.coin, exc_info=task.exception())
            self.ctx.stats["job_errors"] = self.ctx.stats.get("job_errors", 0) + 1
        self.poke()

    def _plan_done(self, task: asyncio.Task) -> None:
        """A plan carried out exactly as decided, with nothing new meanwhile, leaves nothing to re-decide: our
        orders now are the quotes the decision accepted."""
        if task.cancelled() or task.exception() is not None or not self.ctx.executor.last_as_planned:
            self._job_done(task)
        else:
            self.busy = False
            if self.dirty:  # only touches moved meanwhile (anything else closed the gate already)
                self.poke(touch_only=True)

    def cancel_timers(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = self._wake_ms = None

    # ------------------------------------------------------------------ one step
    def _next_job(self, now: int) -> tuple[Awaitable[Any], bool] | None:
        """(the venue job to run now, whether it is a quote plan), or None."""
        ctx = self.ctx
        unknown = [o for o in ctx.orders.unknown() if o.coin in self.coins]
        if unknown:
            oldest = min(o.updated_ms for o in unknown)
            if now - oldest < UNKNOWN_GRACE_MS:
                self.wake_at(oldest + UNKNOWN_GRACE_MS)
                return None
            ctx.stats["unknown_rereads"] = ctx.stats.get("unknown_rereads", 0) + 1
            return ctx.refresh_orders(), False
        short = ctx.executor.short_of_funds
        if short and not short.isdisjoint(self.coins):
            short.difference_update(self.coins)  # balances and margin as the venue holds them, then decide
            return ctx.refresh_account(), False
        if not ctx.kill.engaged:
            job = ctx.carry.next_job(self.m, now)
            if job is not None:
                return job, False
        if self.gate.open and self.gate.holds(ctx.data, now):
            self._watch_staleness(now)
            return None  # the new touch provably changes nothing the last decision decided
        t0 = ctx.timings.start()
        decision = self.decide(now)
        ctx.timings.stop("strategy", t0)
        self._watch_staleness(now)
        if decision.plan.is_empty:
            return None
        self.last_send_ms = now
        if decision.risk.cancel_all:
            ctx.stats["kill_cancels"] += len(decision.plan.cancels)
        ctx.stats["plans_sent"] += 1
        return self._execute(decision.plan), True

    async def _execute(self, plan: OrderPlan) -> None:
        t0 = self.ctx.timings.start()
        await self.ctx.executor.execute(plan)
        self.ctx.timings.stop("execute", t0)

    # ------------------------------------------------------------------ the pure part
    def inputs(self, now: int) -> MarketInputs:
        ctx, m = self.ctx, self.m
        inv, data = ctx.inventory, ctx.data
        positions = [float(inv.qty(leg.coin)) for leg in m.legs]
        net = sum(positions)
        params = ctx.params_for(m.coin)
        strength = ctx.carry.strength(m)
        legs = []
        for leg, position in zip(m.legs, positions):
            book = data.book(leg.coin)
            buy_cap = sell_cap = None
            if leg.is_spot and book is not None and book.mid:
                if self._notional_for is not params:  # params objects are long-lived (one per control write)
                    self._notional_for, self._max_notional = params, _max_quoted_notional(params)
                need = self._max_notional * CAPACITY_SLACK
                quote_bal = float(inv.spot.get(leg.quote, 0))
                if quote_bal < need:  # capacities are passed only where they can bind (same quotes otherwise)
                    # a resting spot buy holds its price plus the worst-case (taker) fee
                    buy_cap = quote_bal / (book.mid * (1 + SPOT_TAKER_FEE))
                base_bal = float(inv.spot.get(leg.base, 0)) - ctx.carry.unwind_excess(m)
                if base_bal * book.mid < need:
                    sell_cap = max(0.0, base_bal)
            st = leg_state(leg.coin, leg.name, leg.sz_decimals, book, now, ctx.limits.max_data_age_ms, net, m.vol,
                           strength, buy_cap, sell_cap)
            legs.append(LegInputs(leg.coin, st, data.view(m, leg.coin), position))
        orders = ctx.orders
        # our orders the plan does not reconcile (in flight, being cancelled, of unknown fate) may still rest
        # or fill: they take venue slots and count against the position limits as if they filled
        pending, unsettled = {}, 0
        for coin in self._coin_order:
            n, buy, sell = orders.unsettled(coin)
            unsettled += n
            if buy or sell:
                pending[coin] = (buy, sell)
        return MarketInputs(now, tuple(legs), params, orders.resting(self._coin_order),
                            orders.count(self.coins, outside=True) + unsettled,
                            ctx.address_budget(), ctx.paused(m), pending)

    def decide(self, now: int) -> Decision:
        ctx = self.ctx
        inputs = self.inputs(now)
        d = decide(inputs, ctx.limits, ctx.kill, ctx.tolerance, self._quotes, self._diff)
        self.gate.arm(inputs, d, ctx.limits, ctx.tolerance.price_tol_bps, ctx.tolerance.size_tol_frac)
        if d.status != self.m.status:
            before, self.m.status = self.m.status, d.status
            if ctx.on_status is not None:
                ctx.on_status(self.m, before, d.status)
        ctx.stats["requotes"] += 1
        if d.risk.paused_coins:
            ctx.stats["paused_evals"] += 1
        self.last_decision = d
        return d

    def _quotes(self, state, params):
        """`quotes`, remembered: a leg whose inputs repeat (an unchanged book) gets the same answer."""
        key = (state, params)
        hit = self._quote_memo.get(key)
        if hit is None:
            if len(self._quote_memo) >= 256:
                self._quote_memo.clear()
            hit = self._quote_memo[key] = tuple(quotes(state, params))
        return hit

    def _diff(self, accepted, resting, tolerance):
        """`diff_orders`, coin by coin, remembering each coin's last no-op: a coin whose accepted quotes and
        resting orders are the very same objects as at a diff that found nothing to do gets the same (empty)
        plan, kept pairs included. The diff pairs quotes and orders within one coin and side only, and walks
        coins in sorted order, so the parts joined in that order are exactly the whole diff."""
        q_by, o_by = _by_coin(accepted), _by_coin(resting)
        coins = q_by.keys() | o_by.keys()
        plans = []
        for coin in (sorted(coins) if len(coins) > 1 else coins):
            qs, os_ = q_by.get(coin, ()), o_by.get(coin, ())
            noop = self._noop.get(coin)
            if noop is not None and _same(noop[0], qs) and _same(noop[1], os_):
                plans.append(noop[2])
                continue
            plan = keep_exact(qs, os_)
            if plan is None:
                plan = diff_orders(qs, os_, tolerance)
            if plan.is_empty:
                self._noop[coin] = (tuple(qs), tuple(os_), plan)
            else:
                self._noop.pop(coin, None)
            plans.append(plan)
        if len(plans) == 1:
            return plans[0]
        # joined by tuple concatenation: a market has a coin or two, so that beats rebuilding through generators
        modifies, cancels, places, kept = (), (), (), ()
        for p in plans:
            modifies += p.modifies
            cancels += p.cancels
            places += p.places
            kept += p.kept
        return OrderPlan(modifies, cancels, places, kept)


def _by_coin(items: Sequence[Any]) -> dict[str, list]:
    """Items grouped by coin, in input order. A market's quotes and orders come in runs of one coin (leg by leg,
    coin by coin), so the group is looked up only when the coin changes."""
    out: dict[str, list] = {}
    coin = g = None
    for x in items:
        if x.coin != coin:
            coin = x.coin
            g = out.get(coin)
            if g is None:
                g = out[coin] = []
        g.append(x)
    return out


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """The same objects in the same order (identity: an equal but new object is a different input)."""
    return len(a) == len(b) and all(map(is_, a, b))


def _max_quoted_notional(p: QuoteParams) -> float:
    return sum(p.order_notional * p.size_multiplier ** i for i in range(p.levels)) * 1.01
