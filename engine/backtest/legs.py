"""Replay configuration and the per-leg state the replay keeps (book, mid, position, orders, volatility)."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engine.backtest.models import BUY, BookView, FeeModel, SimOrder
from engine.execution.diff import LiveOrder
from engine.market.state import CoinVol
from engine.risk import RiskLimits
from engine.strategy.carry import CarryParams as StrategyCarryParams
from engine.strategy.hedge import HedgeParams
from engine.strategy.quotes import QuoteParams
from engine.strategy.rounding import round_size


@dataclass
class ReplayConfig:
    coin: str = "BTC"
    sz_decimals: int = 5
    spot_coin: str | None = None
    spot_sz_decimals: int = 2
    quote: QuoteParams = field(default_factory=QuoteParams)
    requote_tolerance_bps: float = 2.0
    size_tolerance_frac: float = 0.1
    risk: RiskLimits = field(default_factory=RiskLimits)
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
