"""`CarryManager`: the funding carry and the delta hedge — every taker order the engine sends.

Per market with both legs it keeps the carry decision (`carry_target` from the trailing mean funding, with
hysteresis), a running unwind, and when the next taker attempt is allowed. `next_job(market, now)` decides,
synchronously and cheaply in the common case (no unwind, carry satisfied, net delta inside the band), whether
a taker step is needed, and returns the coroutine that carries it out (the quoter runs it as the market's
job):

* carry unwind (the carry exited or shrank): sell a chunk of the spot long, then buy back the perp short now
  in excess, reduce-only;
* carry top-up: buy spot up to the carry target;
* delta hedge: one Ioc on the cheaper leg when |net delta| leaves the band.

Each order passes pre-trade risk with the worst case — our resting orders that could fill at the same time
count as filled. Before a taker order is sent, our own resting quotes it would cross are cancelled (the venue
would cancel them anyway, as a self-trade, and a hedge must not trade with ourselves), and its limit is kept
strictly inside any of ours that may still rest (a refused cancel, an order in flight). After each step the
positions are re-read from the venue, so the next decision starts from venue state.

The decision and a running unwind are written to params `carry.<coin>` when they change and restored at
start, so a restart keeps the hysteresis and finishes an unwind.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Awaitable, Callable

from engine.execution.hedger import (Hedger, carry_pair, clip_hedge, perp_buy_back, unwind_sell,
                                     with_reduce_only)
from engine.execution.order_state import OrderState
from engine.market.markets import Leg, MarketRuntime
from engine.risk import RiskContext, evaluate
from engine.strategy.carry import CarryParams, CarryTarget, carry_target
from engine.strategy.hedge import HedgeOrder, LegMarket, clear_of_own
from engine.strategy.rounding import MIN_NOTIONAL, round_price, round_size

log = logging.getLogger("engine.carry")
HEDGE_RETRY_MS = 2_000
_FLAT_STATE = {"active": False, "spot_qty": "0", "unwind_to": None}


def unwind_after(prev: CarryTarget, new: CarryTarget, unwind_to: Decimal | None) -> Decimal | None:
    """What the spot-long/perp-short pair must be unwound down to after a carry decision (None: nothing).

    An exit (active → flat, trailing funding below the exit threshold or a carry_target control of 0) unwinds
    to zero; a smaller active target unwinds to that size; an active target at least as large as the last one
    ends any unwind (the top-up takes over). A flat decision keeps an unwind in progress going."""
    if prev.active and not new.active:
        return Decimal(0)
    if new.active:
        if prev.active and new.spot_qty < prev.spot_qty:
            return new.spot_qty
        return None
    return unwind_to


@dataclass(slots=True)
class CarryState:
    target: CarryTarget = field(default_factory=CarryTarget.flat)
    funding_mean: float | None = None
    unwind_to: Decimal | None = None
    retry_after_ms: int = 0  # no taker attempt before this (after one that did not fill)
    saved: dict | None = None  # the state last written to params


class CarryManager:
    def __init__(self, cfg: Any, data: Any, inventory: Any, orders: Any, executor: Any, hedger: Hedger,
                 limits: Any, kill: Any, clock: Any, ledger: Any, rest: Any,
                 refresh_account: Callable[[], Awaitable[None]],
                 carry_notional: Callable[[], dict[str, float] | None]) -> None:
        self.cfg = cfg  # the [carry] section
        self.data = data
        self.inventory = inventory
        self.orders = orders
        self.executor = executor
        self.hedger = hedger
        self.limits = limits
        self.kill = kill
        self.clock = clock
        self.ledger = ledger
        self.rest = rest
        self.refresh_account = refresh_account
        self.carry_notional = carry_notional
        self.states: dict[str, CarryState] = {}
        self.stats = {"hedges": 0, "self_trade_pulls": 0, "self_trade_bounds": 0}

    def state(self, m: MarketRuntime) -> CarryState:
        st = self.states.get(m.coin)
        if st is None:
            st = self.states[m.coin] = CarryState()
        return st

    # ------------------------------------------------------------------ readings for the quoter
    def strength(self, m: MarketRuntime) -> float:
        st = self.states.get(m.coin)
        return st.target.strength if st is not None else 0.0

    def unwind_excess(self, m: MarketRuntime) -> float:
        """How much of the spot long a running unwind still has to sell (asks must not hold it)."""
        st = self.states.get(m.coin)
        spot, perp = m.leg("spot"), m.leg("perp")
        if st is None or st.unwind_to is None or spot is None or perp is None:
            return 0.0
        pair = carry_pair(float(self.inventory.qty(spot.coin)), float(self.inventory.qty(perp.coin)))
        return max(0.0, pair - float(st.unwind_to))

    # ------------------------------------------------------------------ decisions
    def idle(self, m: MarketRuntime, now: int) -> bool:
        """No taker step is due for `m` now (the common case: no unwind, the carry's spot leg at its target and
        net delta inside the band) — what `next_job` would conclude, without building anything."""
        spot_leg, perp_leg = m.leg("spot"), m.leg("perp")
        if spot_leg is None or perp_leg is None or self.kill.engaged:
            return True
        st = self.state(m)
        if now < st.retry_after_ms:
            return True
        if st.unwind_to is not None:
            return False
        inv = self.inventory
        spot_qty, perp_qty = float(inv.qty(spot_leg.coin)), float(inv.qty(perp_leg.coin))
        mid = self.data.mid(perp_leg.coin, now)
        if mid is None:
            return True
        if _short_of_target(st.target, spot_qty, mid):
            return False
        return abs(spot_qty + perp_qty) * mid <= self.hedger.params.band_usd

    def next_job(self, m: MarketRuntime, now: int) -> Awaitable[None] | None:
        if self.idle(m, now):
            return None
        spot_leg, perp_leg = m.leg("spot"), m.leg("perp")
        st = self.state(m)
        inv = self.inventory
        spot_qty, perp_qty = float(inv.qty(spot_leg.coin)), float(inv.qty(perp_leg.coin))
        spot, perp = self.data.leg_market(spot_leg, now), self.data.leg_market(perp_leg, now)
        if spot is None or perp is None:
            return None
        if st.unwind_to is not None:
            excess = carry_pair(spot_qty, perp_qty) - float(st.unwind_to)
            if excess * (perp.best_bid + perp.best_ask) / 2 < float(MIN_NOTIONAL):
                log.info("carry %s unwound: pair %.6g (target %s)", m.coin, carry_pair(spot_qty, perp_qty),
                         st.unwind_to)
                st.unwind_to = None
                self._persist(m)
            elif self._free_spot(spot.coin) * spot.best_bid < float(MIN_NOTIONAL) and \
                    self.orders.exposure(spot.coin)[1] > 0:
                return None  # our own asks hold the spot: the requote (asks capped by the unwind) frees it first
            else:
                return self._unwind_step(m, spot, perp, spot_qty, perp_qty)
        order, reduce_only = self._taker_order(m, st, spot, perp, spot_qty, perp_qty, now)
        if order is None:
            return None
        return self._take(m, order, reduce_only)

    def _ctx(self, m: MarketRuntime, now: int, spot_qty: float, perp_qty: float) -> Callable[[str], RiskContext]:
        views = {leg.coin: self.data.view(m, leg.coin) for leg in m.legs}
        positions = {m.leg("spot").coin: spot_qty, m.leg("perp").coin: perp_qty}
        # our resting quotes may fill while the taker order is out: the worst case counts them as filled
        pending = {c: tuple(float(x) for x in self.orders.exposure(c)) for c in positions}

        def ctx_for(coin: str) -> RiskContext:
            return RiskContext(now, views, positions, pending=pending)
        return ctx_for

    def _taker_order(self, m, st: CarryState, spot: LegMarket, perp: LegMarket, spot_qty: float, perp_qty: float,
                     now: int) -> tuple[HedgeOrder | None, bool]:
        ctx_for = self._ctx(m, now, spot_qty, perp_qty)
        target = st.target
        if _short_of_target(target, spot_qty, spot.best_ask):  # carry: top the spot leg up
            deficit = round_size(target.spot_qty - Decimal(repr(spot_qty)), spot.sz_decimals)
            px = round_price(spot.best_ask * 1.002, spot.sz_decimals, True, "up")
            if px is not None and deficit > 0:
                top_up = clip_hedge(HedgeOrder(spot.coin, "spot", True, deficit, px, spot.cost_frac,
                                               f"carry target {target.spot_qty}: {target.reason}"),
                                    spot.sz_decimals, self.limits.max_order_notional)
                if top_up is not None and evaluate([top_up], ctx_for(spot.coin), self.limits, self.kill).accepted:
                    return top_up, False
        hedge_spot = spot
        excess = spot_qty + perp_qty
        if target.active and excess > 0 and Decimal(repr(spot_qty - excess)) < target.spot_qty:
            # selling spot would eat into the carry's long leg (and the top-up would buy it straight back,
            # paying taker fees both ways): the perp short absorbs the delta instead
            hedge_spot = replace(spot, taker_fee=1.0)
        choice = self.hedger.decide(spot_qty, perp_qty, hedge_spot, perp, ctx_for)
        return (None, False) if choice is None else choice

    # ------------------------------------------------------------------ execution (the market's job)
    async def _clear_way(self, order: HedgeOrder, leg: Leg) -> HedgeOrder | None:
        """Cancel our own resting orders the taker order would trade against (self-trade prevention would
        cancel them anyway, and a hedge must never trade with ourselves), then price the order clear of every
        one of ours that may still rest: a cancel refused or left unsettled (an HTTP 500 once let a hedge
        cross our ask), a quote whose placement or cancel is in flight. None: nothing can be taken now."""
        def crossing(o: Any) -> bool:
            return o.is_buy != order.is_buy and (o.px <= order.px if order.is_buy else o.px >= order.px)

        crossed = [o.live_order() for o in self.orders.live([order.coin])
                   if o.state is OrderState.OPEN and o.oid is not None and crossing(o)]
        if crossed:
            self.stats["self_trade_pulls"] += len(crossed)
            await self.executor.cancel_all(crossed)
        still = [o.px for o in self.orders.live([order.coin]) if crossing(o)]
        if not still:
            return order
        self.stats["self_trade_bounds"] += 1
        bounded = clear_of_own(order, still, leg.sz_decimals, leg.is_spot)
        log.info("hedge %s %s: %d of our orders may still rest across it; limit %s instead of %s",
                 order.coin, "buy" if order.is_buy else "sell", len(still),
                 bounded.px if bounded else "none", order.px)
        return bounded

    async def _take(self, m: MarketRuntime, order: HedgeOrder, reduce_only: bool) -> None:
        clear = await self._clear_way(order, m.leg(order.leg))
        filled = clear is not None and await self.hedger.execute(clear, reduce_only)
        if clear is not None:
            self.stats["hedges"] += 1
        await self.refresh_account()  # the venue's position, not our arithmetic, feeds the next decision
        self.state(m).retry_after_ms = self.clock.now_ms() + (0 if filled else HEDGE_RETRY_MS)

    async def _unwind_step(self, m: MarketRuntime, spot: LegMarket, perp: LegMarket, spot_qty: float,
                           perp_qty: float) -> None:
        """One unwind step: sell a chunk of the spot long (at most the hedge band's worth, so net delta leaves
        the band only for the moment between the two orders), then buy back the perp short that is now in
        excess, reduce-only. The perp buy is sized from the re-read spot position, so a partial spot fill is
        matched exactly; a refused or unfilled step is retried after HEDGE_RETRY_MS."""
        st = self.state(m)
        slip = self.hedger.params.slippage
        chunk_usd = min(self.limits.max_order_notional * 0.98,
                        max(self.hedger.params.band_usd, 2 * float(MIN_NOTIONAL)))
        sell = unwind_sell(spot_qty, perp_qty, st.unwind_to, self._free_spot(spot.coin), spot, chunk_usd, slip)
        now = self.clock.now_ms()
        filled_all = True
        if sell is not None and self._risk_ok(sell, False, self._ctx(m, now, spot_qty, perp_qty)):
            sell = await self._clear_way(sell, m.leg("spot"))
            filled_all = sell is not None and await self.hedger.execute(sell, False)
            await self.refresh_account()
            spot_qty = float(self.inventory.qty(spot.coin))
            perp_qty = float(self.inventory.qty(perp.coin))
        else:
            filled_all = False  # e.g. the spot is held by resting asks: the requote shrinks them first
        buy = perp_buy_back(spot_qty, perp_qty, perp, slip)
        if buy is not None:
            buy = clip_hedge(buy, perp.sz_decimals, self.limits.max_order_notional)
        if buy is not None and self._risk_ok(buy, True, self._ctx(m, self.clock.now_ms(), spot_qty, perp_qty)):
            buy = await self._clear_way(buy, m.leg("perp"))
            filled_all = buy is not None and await self.hedger.execute(buy, True) and filled_all
            await self.refresh_account()
        st.retry_after_ms = self.clock.now_ms() + (0 if filled_all else HEDGE_RETRY_MS)

    def _free_spot(self, pair: str) -> float:
        """The spot base we can sell now: the balance less what our own resting asks hold (known from our
        orders at once, where the venue's `hold` is only as fresh as the last account read)."""
        base = self.inventory.spot_base.get(pair)
        if base is None:
            return 0.0
        return max(0.0, float(self.inventory.spot.get(base, 0)) - float(self.orders.exposure(pair)[1]))

    def _risk_ok(self, order: HedgeOrder, reduce_only: bool, ctx_for: Callable[[str], RiskContext]) -> bool:
        decision = evaluate([with_reduce_only(order, reduce_only)], ctx_for(order.coin), self.limits, self.kill)
        if not decision.accepted:
            log.info("carry unwind %s order refused by risk: %s", order.leg,
                     "; ".join(c.message for _, c in decision.rejected))
        return bool(decision.accepted)

    # ------------------------------------------------------------------ the carry decision
    async def refresh_funding(self, markets: list[MarketRuntime]) -> list[MarketRuntime]:
        """Trailing mean hourly funding per perp (fundingHistory over the lookback; the current predicted rate
        when the venue has no history yet) → carry targets. Returns the markets whose carry changed."""
        lookback_ms = self.cfg.funding_lookback_hours * 3_600_000
        now = self.data.venue_now_ms()
        ctxs = {}
        try:
            _, perp_ctxs = await self.rest.meta_and_asset_ctxs()
            ctxs = {c.coin: c for c in perp_ctxs}
        except Exception as exc:  # noqa: BLE001 - funding is advisory: keep the last decision
            log.warning("metaAndAssetCtxs failed: %s", exc)
        changed = []
        for m in markets:
            perp = m.leg("perp")
            if perp is None:
                continue
            try:
                rows = await self.rest.funding_history(perp.coin, now - lookback_ms, None, max_pages=5)
            except Exception as exc:  # noqa: BLE001 - as above
                log.warning("fundingHistory %s failed: %s", perp.coin, exc)
                rows = []
            rates = [r.funding_rate for r in rows]
            if not rates and perp.coin in ctxs:
                rates = [ctxs[perp.coin].funding]
            self.state(m).funding_mean = sum(rates) / len(rates) if rates else None
            if self.update_target(m):
                changed.append(m)
        return changed

    def update_target(self, m: MarketRuntime) -> bool:
        """Re-decide the carry of `m` (after a funding refresh or a carry_target control); True if it changed."""
        spot, perp = m.leg("spot"), m.leg("perp")
        if spot is None or perp is None:
            return False
        mid = self.data.mid(perp.coin, self.clock.now_ms())
        if mid is None:
            return False
        st = self.state(m)
        notional = self.cfg.target_notional_usd
        controls = self.carry_notional()
        if controls and m.coin in controls:
            notional = controls[m.coin]
        entry, exit_ = self.cfg.entry_threshold, self.cfg.exit_threshold
        if exit_ >= entry:  # the config allows equal thresholds; the hysteresis needs a gap
            exit_ = entry - 1e-9
        params = CarryParams.from_config(self.cfg, target_notional=notional, exit_funding=exit_)
        prev = st.target
        st.target = carry_target(st.funding_mean, params, prev, mid, min(spot.sz_decimals, perp.sz_decimals))
        before, st.unwind_to = st.unwind_to, unwind_after(prev, st.target, st.unwind_to)
        if st.unwind_to is not None and st.unwind_to != before:
            log.info("carry %s: %s -> unwind the spot/perp pair down to %s", m.coin, st.target.reason, st.unwind_to)
        self._persist(m)
        return st.target != prev or st.unwind_to != before

    def _persist(self, m: MarketRuntime) -> None:
        st = self.state(m)
        state = {"active": st.target.active, "spot_qty": str(st.target.spot_qty),
                 "unwind_to": None if st.unwind_to is None else str(st.unwind_to)}
        if st.saved != state:
            if st.saved is not None or state != _FLAT_STATE:  # nothing to remember about a carry never entered
                self.ledger.param(f"carry.{m.coin}", state, st.target.reason)
            st.saved = state

    async def restore(self, markets: list[MarketRuntime]) -> None:
        """Seed each market's carry from its last persisted decision (before the first funding refresh)."""
        loop = asyncio.get_running_loop()
        for m in markets:
            if m.leg("spot") is None or m.leg("perp") is None:
                continue
            data = await loop.run_in_executor(None, self.ledger.read_param, f"carry.{m.coin}")
            if data is None:
                continue
            try:
                active, qty = data["active"], Decimal(data["spot_qty"])
                unwind = None if data.get("unwind_to") is None else Decimal(data["unwind_to"])
                if not isinstance(active, bool) or not qty.is_finite() or qty < 0 or (
                        unwind is not None and (not unwind.is_finite() or unwind < 0)):
                    raise ValueError("out of range")
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                log.warning("params carry.%s: %r ignored (%s)", m.coin, data, exc)
                continue
            st = self.state(m)
            st.target = CarryTarget(qty, -qty, active, 1.0 if active else 0.0, "restored from the ledger")
            st.unwind_to = unwind
            st.saved = {"active": active, "spot_qty": str(qty), "unwind_to": None if unwind is None else str(unwind)}
            log.info("carry %s restored: active=%s spot %s, unwind to %s", m.coin, active, qty, unwind)


def _short_of_target(target: CarryTarget, spot_qty: float, px: float) -> bool:
    """The carry's spot leg is below its target by at least one minimum order. A smaller shortfall cannot be
    bought (the venue refuses orders under the minimum notional) and counts as the target reached: a spot buy
    pays its fee in the coin bought, so a leg bought to the lot lands a fee's worth short every time."""
    return target.active and float(target.spot_qty) - spot_qty > 0 and \
        (float(target.spot_qty) - spot_qty) * px >= float(MIN_NOTIONAL)

