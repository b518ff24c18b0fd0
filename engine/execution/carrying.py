"""Hedging and carry execution, mixed into `engine.loop.Engine`: the carry top-up (buy spot up to the carry
target), the carry unwind (sell the spot long and buy back the perp short when the carry exits or shrinks)
and the delta hedge. Every order is a taker Ioc with a bounded slippage limit and passes pre-trade risk;
after each one the positions are re-read from the venue, so the next decision starts from venue state.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

from engine.execution.hedger import carry_pair, clip_hedge, perp_buy_back, unwind_sell, with_reduce_only
from engine.execution.markets import MarketRuntime
from engine.risk import RiskContext, evaluate
from engine.strategy.hedge import HedgeOrder, LegMarket
from engine.strategy.rounding import MIN_NOTIONAL, round_price, round_size

log = logging.getLogger("engine.loop")
HEDGE_RETRY_MS = 2_000
TAKER_FEE = {"perp": 0.00045, "spot": 0.0007}  # base tier (protocol §7); the hedger compares legs with them


class Carrying:
    """Mixin: expects the attributes `engine.loop.Engine.__init__` sets."""

    def _leg_market(self, leg: Any) -> LegMarket | None:
        book = self.books.book(leg.coin)
        if book is None or not book.is_usable or not book.is_fresh(self.clock.now_ms(), self.limits.max_data_age_ms):
            return None
        return LegMarket(leg.coin, leg.name, leg.sz_decimals, book.best_bid, book.best_ask, TAKER_FEE[leg.name])

    async def _hedge(self, m: MarketRuntime) -> None:
        """Carry unwind, else carry top-up, else the delta hedge; all Ioc, all through risk.
        After an attempt that did not fill, the market waits HEDGE_RETRY_MS before trying again, so an
        unfillable hedge cannot burn the address budget at the requote rate."""
        spot_leg, perp_leg = m.leg("spot"), m.leg("perp")
        if spot_leg is None or perp_leg is None or self.kill.engaged or m.hedge_busy:
            return
        now = self.clock.now_ms()
        if now < m.hedge_after_ms:
            return
        spot, perp = self._leg_market(spot_leg), self._leg_market(perp_leg)
        if spot is None or perp is None:
            return
        spot_qty, perp_qty = float(self.inventory.qty(spot.coin)), float(self.inventory.qty(perp.coin))

        def ctx_for(coin: str) -> RiskContext:
            return RiskContext(now, self._views(m, now), {spot.coin: spot_qty, perp.coin: perp_qty})

        if m.unwind_to is not None:
            excess = carry_pair(spot_qty, perp_qty) - float(m.unwind_to)
            if excess * (perp.best_bid + perp.best_ask) / 2 < float(MIN_NOTIONAL):
                log.info("carry %s unwound: pair %.6g (target %s)", m.coin, carry_pair(spot_qty, perp_qty),
                         m.unwind_to)
                m.unwind_to = None
            else:
                await self._unwind_step(m, spot, perp, spot_qty, perp_qty, ctx_for)
                return

        order: HedgeOrder | None = None
        reduce_only = False
        if m.carry.active and Decimal(repr(spot_qty)) < m.carry.spot_qty:  # carry: top the spot leg up
            deficit = round_size(m.carry.spot_qty - Decimal(repr(spot_qty)), spot.sz_decimals)
            px = round_price(spot.best_ask * 1.002, spot.sz_decimals, True, "up")
            if px is not None and deficit > 0:
                top_up = clip_hedge(HedgeOrder(spot.coin, "spot", True, deficit, px, spot.cost_frac,
                                               f"carry target {m.carry.spot_qty}: {m.carry.reason}"),
                                    spot.sz_decimals, self.limits.max_order_notional)
                if top_up is not None and evaluate([top_up], ctx_for(spot.coin), self.limits, self.kill).accepted:
                    order = top_up
        if order is None:
            hedge_spot = spot
            excess = spot_qty + perp_qty
            if m.carry.active and excess > 0 and Decimal(repr(spot_qty - excess)) < m.carry.spot_qty:
                # selling spot would eat into the carry's long leg (and the top-up would buy it straight
                # back, paying taker fees both ways): the perp short absorbs the delta instead
                hedge_spot = replace(spot, taker_fee=1.0)
            choice = self.hedger.decide(spot_qty, perp_qty, hedge_spot, perp, ctx_for)
            if choice is None:
                return
            order, reduce_only = choice
        m.hedge_busy = True
        try:
            filled = await self.hedger.execute(order, reduce_only)
            await self._refresh_account()  # the venue's position, not our arithmetic, feeds the next decision
        finally:
            m.hedge_busy = False
        m.hedge_after_ms = self.clock.now_ms() + (0 if filled else HEDGE_RETRY_MS)
        self._mark(m)

    async def _unwind_step(self, m: MarketRuntime, spot: LegMarket, perp: LegMarket, spot_qty: float,
                           perp_qty: float, ctx_for: Any) -> None:
        """One unwind step: sell a chunk of the spot long (at most the hedge band's worth, so net delta
        leaves the band only for the moment between the two orders), then buy back the perp short that is
        now in excess, reduce-only. The perp buy is sized from the re-read spot position, so a partial
        spot fill is matched exactly; a refused or unfilled step is retried after HEDGE_RETRY_MS."""
        slip = self.hedger.params.slippage
        chunk_usd = min(self.limits.max_order_notional * 0.98,
                        max(self.hedger.params.band_usd, 2 * float(MIN_NOTIONAL)))
        base = self.inventory.spot_base.get(spot.coin)
        free = float(self.inventory.free(base)) if base else 0.0
        sell = unwind_sell(spot_qty, perp_qty, m.unwind_to, free, spot, chunk_usd, slip)
        m.hedge_busy = True
        filled_all = True
        try:
            if sell is not None and self._risk_ok(sell, False, ctx_for):
                filled_all = await self.hedger.execute(sell, False)
                await self._refresh_account()
                spot_qty = float(self.inventory.qty(spot.coin))
                perp_qty = float(self.inventory.qty(perp.coin))
            else:
                filled_all = False  # e.g. the spot is held by resting asks: the requote shrinks them first
            buy = perp_buy_back(spot_qty, perp_qty, perp, slip)
            if buy is not None:
                buy = clip_hedge(buy, perp.sz_decimals, self.limits.max_order_notional)
            if buy is not None and self._risk_ok(buy, True, ctx_for):
                filled_all = await self.hedger.execute(buy, True) and filled_all
                await self._refresh_account()
        finally:
            m.hedge_busy = False
        m.hedge_after_ms = self.clock.now_ms() + (0 if filled_all else HEDGE_RETRY_MS)
        self._mark(m)

    def _unwind_excess(self, m: MarketRuntime) -> float:
        """How much of the spot long the running unwind still has to sell."""
        spot, perp = m.leg("spot"), m.leg("perp")
        if m.unwind_to is None or spot is None or perp is None:
            return 0.0
        pair = carry_pair(float(self.inventory.qty(spot.coin)), float(self.inventory.qty(perp.coin)))
        return max(0.0, pair - float(m.unwind_to))

    def _risk_ok(self, order: HedgeOrder, reduce_only: bool, ctx_for: Any) -> bool:
        decision = evaluate([with_reduce_only(order, reduce_only)], ctx_for(order.coin), self.limits, self.kill)
        if not decision.accepted:
            log.info("carry unwind %s order refused by risk: %s", order.leg,
                     "; ".join(c.message for _, c in decision.rejected))
        return bool(decision.accepted)
