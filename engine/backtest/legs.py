"""Replay configuration and the per-leg state the replay keeps (book, mid, position, orders, volatility)."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engine.backtest.models import BUY, BookView, FeeModel, SimOrder
from engine.execution.diff import LiveOrder
from engine.execution.hedger import clip_hedge, with_reduce_only
from engine.market.state import CoinVol
from engine.risk import KillSwitch, MarketView, RiskContext, RiskLimits, evaluate
from engine.strategy.carry import CarryParams as StrategyCarryParams
from engine.strategy.hedge import HedgeOrder, HedgeParams
from engine.strategy.quotes import QuoteParams
from engine.strategy.rounding import MIN_NOTIONAL, round_price, round_size


@dataclass
class ReplayConfig:
    coin: str = "BTC"
    sz_decimals: int = 5
    spot_coin: str | None = None
    spot_sz_decimals: int = 2
    quote: QuoteParams = field(default_factory=QuoteParams)
    requote_tolerance_bps: float = 2.0
    size_tolerance_frac: float = 0.1
    # the `[risk]` config default for the position cap (RiskConfig.max_position_usd); --config overrides it
    risk: RiskLimits = field(default_factory=lambda: RiskLimits(max_position_usd=10_000.0))
    # skip re-running quotes() while the mid has moved less than this since the last run and nothing else
    # (inventory, vol, carry) changed and no working order is at/through the opposite best; 0 = run every time,
    # None = the requote tolerance (orders within it of the new quotes would be kept anyway)
    requote_gate_bps: float | None = None
    min_requote_interval_ms: int = 250
    vol_interval_ms: int = 60_000
    hedge: HedgeParams | None = field(default_factory=HedgeParams)
    carry: StrategyCarryParams | None = None
    funding_lookback_hours: int = 168
    fees: FeeModel = field(default_factory=FeeModel)
    sample_ms: int = 1000
    record_fills: bool = True
    # starting balances of the replayed account (balances.py): spot USDC and coin, perp USDC (margin)
    start_spot_usdc: float = 10_000.0
    start_spot_base: float = 0.0  # the spot coin (base token) held at the start
    start_perp_usdc: float = 10_000.0
    perp_leverage: float = 10.0  # `[carry] perp_leverage` default: initial margin = notional / leverage


class LegBook:
    __slots__ = ("name", "coin", "sz_decimals", "is_spot", "bids", "asks", "view", "mid", "position", "vol", "live",
                 "working", "decision_key", "gate_mid", "book_ms", "last_action_ms", "decide_pending", "maker_fee", "taker_fee",
                 "work_dirty", "work_max_bid", "work_min_ask")

    def __init__(self, name: str, coin: str, sz_decimals: int, vol_interval_ms: int, fees: FeeModel):
        self.name, self.coin, self.sz_decimals, self.is_spot = name, coin, sz_decimals, name == "spot"
        self.bids = self.asks = np.empty((0, 2))
        self.view = BookView(self.bids, self.asks)
        self.mid = 0.0
        self.position = 0.0
        self.vol = CoinVol(interval_ms=vol_interval_ms)
        self.live: dict[int, SimOrder] = {}
        self.working: dict[int, SimOrder] = {}  # oid -> order we consider ours (in flight or live), not cancelled
        self.book_ms: int | None = None
        self.decision_key: tuple | None = None
        self.gate_mid = 0.0
        self.last_action_ms = -10**15
        self.decide_pending = False
        self.maker_fee = fees.rate(name, True)
        self.taker_fee = fees.rate(name, False)
        # highest working bid / lowest working ask, recomputed lazily after `working` changes (work_dirty):
        # the requote gate asks "is any of our orders at/through the opposite best?" on every snapshot
        self.work_dirty = False
        self.work_max_bid = float("-inf")
        self.work_min_ask = float("inf")

    def working_extremes(self) -> tuple[float, float]:
        if self.work_dirty:
            hi, lo = float("-inf"), float("inf")
            for o in self.working.values():
                if o.side > 0:
                    if o.px > hi:
                        hi = o.px
                elif o.px < lo:
                    lo = o.px
            self.work_max_bid, self.work_min_ask, self.work_dirty = hi, lo, False
        return self.work_max_bid, self.work_min_ask


def live_order(leg: LegBook, order: SimOrder) -> LiveOrder:
    """A working order as the live order manager would see it (remaining size, exact decimals); built again
    only after a fill (a working order is offered to the diff at every decision it lives through)."""
    meta = order.meta
    cached = meta.get("live")
    if cached is not None and cached[0] == order.filled:
        return cached[1]
    remaining = meta["sz"] if order.filled == 0 else round_size(Decimal(repr(order.qty)), leg.sz_decimals)
    live = LiveOrder(order.oid, leg.coin, order.side == BUY, meta["px"], remaining)
    meta["live"] = (order.filled, live)
    return live


def carry_orders(delta: float, spot: LegBook, perp: LegBook, now: int, limits: RiskLimits, kill: KillSwitch,
                 slippage: float = 0.002) -> tuple[list[HedgeOrder], int]:
    """The taker pair that moves the carry by `delta` coin (> 0 top-up: buy spot, sell perp; < 0 unwind: sell
    spot, buy the perp back reduce-only), built and checked as `engine.execution.carrying` does live: limit
    `slippage` beyond the touch, clipped to 98 % of the order-notional cap (`clip_hedge`), each leg through
    `engine.risk.evaluate` with both legs' positions (so `max_position_usd` applies). The perp leg is sized
    to the spot leg that passed; a refused spot leg sends nothing. Returns (orders, refused count)."""
    top_up = delta > 0
    views = {l.coin: MarketView(l.coin, l.mid, None, l.vol.atr_pct(l.mid), l.book_ms) for l in (spot, perp)}
    ctx = RiskContext(now, views, {spot.coin: spot.position, perp.coin: perp.position})
    touch = spot.view.best_ask if top_up else spot.view.best_bid
    px = round_price(touch * (1 + slippage if top_up else 1 - slippage), spot.sz_decimals, True,
                     "up" if top_up else "down")
    sz = round_size(Decimal(repr(abs(delta))), spot.sz_decimals)
    if px is None or sz <= 0 or px * sz < MIN_NOTIONAL:
        return [], 0
    spot_order = clip_hedge(HedgeOrder(spot.coin, "spot", top_up, sz, px, 0.0, "carry"), spot.sz_decimals,
                            limits.max_order_notional)
    if spot_order is None or not evaluate([spot_order], ctx, limits, kill).accepted:
        return [], 1
    touch = perp.view.best_bid if top_up else perp.view.best_ask
    ppx = round_price(touch * (1 - slippage if top_up else 1 + slippage), perp.sz_decimals, False,
                      "down" if top_up else "up")
    psz = round_size(spot_order.sz, perp.sz_decimals)
    if ppx is None or psz <= 0:
        return [spot_order], 0
    perp_order = HedgeOrder(perp.coin, "perp", not top_up, psz, ppx, 0.0, "carry-perp")
    # an unwind buys back the short: reduce-only, as the live unwind sends it
    if not evaluate([with_reduce_only(perp_order, not top_up)], ctx, limits, kill).accepted:
        return [spot_order], 1
    return [spot_order, perp_order], 0
