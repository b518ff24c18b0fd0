"""`decide`: one market's requote as a pure function — what the legs look like in, what to do out.

    quotes per leg (strategy) → pre-trade risk over the whole batch → diff against our resting orders

Nothing here reads a clock, sends, awaits or mutates its inputs: the same `MarketInputs` give the same
`Decision` in a test, a backtest and live trading. The caller (`execution/quoting.py`) builds the inputs from
market data, inventory and our orders, and may pass memoised `quote_fn` / `diff_fn` — functions that return
exactly what `quotes` / `diff_orders` would, remembered for repeated inputs (books often repeat; a leg whose
book did not move has the same quotes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from engine.execution.diff import LiveOrder, OrderPlan, Tolerance, diff_orders
from engine.risk import KillSwitch, MarketView, RiskContext, RiskDecision, RiskLimits, evaluate
from engine.strategy.quotes import LegState, Quote, QuoteParams, quotes


@dataclass(frozen=True, slots=True)
class LegInputs:
    coin: str
    state: LegState | None      # None: no fresh usable book, so no quotes on this leg
    view: MarketView            # what risk prices the leg against
    position: float             # signed position of this leg (perp szi, or the spot base balance)


@dataclass(frozen=True, slots=True)
class MarketInputs:
    now_ms: int
    legs: tuple[LegInputs, ...]
    params: QuoteParams
    resting: tuple[LiveOrder, ...]  # our OPEN orders on the market's coins: what the plan reconciles
    other_orders: int = 0           # orders of ours resting elsewhere (they count against max_open_orders)
    address_budget: int | None = None
    paused: str | None = None       # why quotes are off (a pause control, the dead man's switch): cancel all
    # coin -> (buy, sell) of our live orders the plan does not reconcile (in flight, of unknown fate)
    pending: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    risk: RiskDecision
    accepted: tuple[Quote, ...]
    plan: OrderPlan
    paused: str | None = None  # MarketInputs.paused

    @property
    def status(self) -> str:
        """One line for people: quoting, paused (why) or killed."""
        if self.risk.cancel_all:
            return "killed"
        if self.risk.paused_coins:
            return "paused: " + "; ".join(c.message for c in self.risk.halts)
        if self.paused:
            return "paused: " + self.paused
        return "quoting"


QuoteFn = Callable[[LegState, QuoteParams], Sequence[Quote]]
DiffFn = Callable[[Sequence[Quote], Sequence[LiveOrder], Tolerance], OrderPlan]


def decide(inp: MarketInputs, limits: RiskLimits, kill: KillSwitch, tolerance: Tolerance,
           quote_fn: QuoteFn = quotes, diff_fn: DiffFn = diff_orders) -> Decision:
    desired: list[Quote] = []
    for leg in inp.legs:
        if leg.state is not None:
            desired.extend(quote_fn(leg.state, inp.params))
    ctx = RiskContext(inp.now_ms, {leg.coin: leg.view for leg in inp.legs},
                      {leg.coin: leg.position for leg in inp.legs}, inp.other_orders, inp.address_budget,
                      inp.pending)
    risk = evaluate(desired, ctx, limits, kill)
    accepted = () if inp.paused else risk.accepted
    return Decision(risk, accepted, diff_fn(accepted, inp.resting, tolerance), inp.paused)
