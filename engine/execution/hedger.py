"""Execute hedge decisions: restore |net delta| below the band with one Ioc on the cheaper leg.

The decision is `engine.strategy.hedge.hedge_decision` (pure); this module adds what only execution knows:
* clip the order to the risk order-notional cap (a large imbalance is worked off in several hedges);
* reduce-only when the order shrinks the perp leg, so a hedge can never flip the perp by accident;
* pre-trade risk (`engine.risk.evaluate`): if the cheaper leg is refused (e.g. position cap) the other leg
  is tried;
* one hedge in flight per market: a new one waits until the venue has reported the previous one's fills
  (the caller passes `settled`).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Callable

from engine.execution.executor import Executor
from engine.risk import KillSwitch, RiskContext, RiskLimits, evaluate
from engine.strategy import rounding as R
from engine.strategy.hedge import HedgeOrder, HedgeParams, LegMarket, hedge_decision

log = logging.getLogger(__name__)


def clip_hedge(order: HedgeOrder, sz_decimals: int, max_notional: float) -> HedgeOrder | None:
    """Shrink to at most 98 % of the order-notional cap (price moves between here and risk); None if that
    leaves less than the venue minimum."""
    cap = Decimal(repr(max_notional * 0.98))
    if order.px * order.sz <= cap:
        return order
    sz = R.round_size(cap / order.px, sz_decimals)
    if sz <= 0 or order.px * sz < R.MIN_NOTIONAL:
        return None
    return replace(order, sz=sz)


def is_reducing(order: HedgeOrder, perp_qty: float) -> bool:
    """A perp hedge that only shrinks the current perp position (never flips it)."""
    if order.leg != "perp":
        return False
    sz = float(order.sz)
    return (not order.is_buy and perp_qty > 0 and sz <= perp_qty + 1e-12) or (
        order.is_buy and perp_qty < 0 and sz <= -perp_qty + 1e-12)


def carry_pair(spot_qty: float, perp_qty: float) -> float:
    """Size of the delta-neutral spot-long/perp-short pair held (the carry's part of the inventory)."""
    return max(0.0, min(spot_qty, -perp_qty))


def unwind_sell(spot_qty: float, perp_qty: float, unwind_to: Decimal, free_spot: float, spot: LegMarket,
                chunk_usd: float, slippage: float) -> HedgeOrder | None:
    """The spot Ioc sell of the next carry-unwind step: the pair's excess over `unwind_to`, at most
    `chunk_usd` of it (so the short-lived imbalance until the perp buy-back stays small) and at most the
    free (not order-held) spot; limit `slippage` below the bid. None when less than the venue minimum."""
    excess = Decimal(repr(carry_pair(spot_qty, perp_qty))) - unwind_to
    mid = (spot.best_bid + spot.best_ask) / 2
    want = min(excess, Decimal(repr(chunk_usd / mid)), Decimal(repr(max(0.0, free_spot))))
    sz = R.round_size(want, spot.sz_decimals)
    px = R.round_price(spot.best_bid * (1 - slippage), spot.sz_decimals, True, "down")
    if px is None or sz <= 0 or px * sz < R.MIN_NOTIONAL:
        return None
    return HedgeOrder(spot.coin, "spot", False, sz, px, spot.cost_frac, f"carry unwind to {unwind_to}")


def perp_buy_back(spot_qty: float, perp_qty: float, perp: LegMarket, slippage: float) -> HedgeOrder | None:
    """The reduce-only perp Ioc buy that brings a short-heavy net delta back to zero (never past the short:
    the size is at most -perp_qty because spot_qty >= 0). None when less than the venue minimum."""
    # decimal sum: 8.4 − 10.0 in floats is 1.5999…, which the lot floor would turn into 1.59
    short_excess = -(Decimal(repr(spot_qty)) + Decimal(repr(perp_qty)))
    if short_excess <= 0 or perp_qty >= 0:
        return None
    sz = R.round_size(min(short_excess, -Decimal(repr(perp_qty))), perp.sz_decimals)
    px = R.round_price(perp.best_ask * (1 + slippage), perp.sz_decimals, False, "up")
    if px is None or sz <= 0 or px * sz < R.MIN_NOTIONAL:
        return None
    return HedgeOrder(perp.coin, "perp", True, sz, px, perp.cost_frac, "carry unwind: buy back the perp short")


class Hedger:
    def __init__(self, executor: Executor, params: HedgeParams, limits: RiskLimits, kill: KillSwitch) -> None:
        self.executor = executor
        self.params = params
        self.limits = limits
        self.kill = kill
        self.hedges = 0
        self.last: HedgeOrder | None = None

    def decide(self, spot_qty: float, perp_qty: float, spot: LegMarket, perp: LegMarket,
               ctx_for: Callable[[str], RiskContext]) -> tuple[HedgeOrder, bool] | None:
        """(order, reduce_only) that passes risk, or None (inside band, too small, or refused on both legs)."""
        order = hedge_decision(spot_qty, perp_qty, spot, perp, self.params)
        if order is None:
            return None
        tried = set()
        while order is not None and order.leg not in tried:
            tried.add(order.leg)
            leg = spot if order.leg == "spot" else perp
            clipped = clip_hedge(order, leg.sz_decimals, self.limits.max_order_notional)
            if clipped is not None:
                reduce_only = is_reducing(clipped, perp_qty)
                decision = evaluate([_WithRo(clipped, reduce_only)], ctx_for(clipped.coin), self.limits, self.kill)
                if decision.accepted:
                    return clipped, reduce_only
                log.info("hedge on %s refused by risk: %s", order.leg,
                         "; ".join(c.message for _, c in decision.rejected))
            # force the other leg by making the refused one prohibitively expensive
            if order.leg == "perp":
                order = hedge_decision(spot_qty, perp_qty, spot, replace(perp, taker_fee=1.0), self.params)
            else:
                order = hedge_decision(spot_qty, perp_qty, replace(spot, taker_fee=1.0), perp, self.params)
        return None

    async def execute(self, order: HedgeOrder, reduce_only: bool) -> bool:
        log.info("hedge %s %s %s @ %s (reduce_only=%s): %s", order.leg, "buy" if order.is_buy else "sell",
                 order.sz, order.px, reduce_only, order.reason)
        st = await self.executor.send_ioc(order.coin, order.is_buy, order.px, order.sz, reduce_only, order.reason)
        self.hedges += 1
        self.last = order
        return st is not None and st.kind == "filled"


def with_reduce_only(order: HedgeOrder, reduce_only: bool) -> "_WithRo":
    return _WithRo(order, reduce_only)


class _WithRo:
    """HedgeOrder as risk sees it, with the reduce-only flag execution decided."""
    __slots__ = ("coin", "is_buy", "px", "sz", "tif", "reduce_only")

    def __init__(self, o: HedgeOrder, reduce_only: bool) -> None:
        self.coin, self.is_buy, self.px, self.sz, self.tif, self.reduce_only = (o.coin, o.is_buy, o.px, o.sz,
                                                                                o.tif, reduce_only)
