"""Strategy-core figures: the pure per-tick decision (quote-ability gate → quotes → risk → diff → actions)
and venue price rounding, each timed over many repetitions in-process.

Each repetition: leg state from a fresh book → quotes → risk.evaluate → diff_orders against the live orders →
the plan stamped with cloids (`OrderPlan.stamp`) → plan_actions (unsigned actions). The decision is the CPU
part of tick_to_action; the venue pushes l2Book at most every 500 ms, so the reference for the decision is
that push interval (how much of a tick's budget the core uses). Rounding is
compared with the float recipe the SDK's examples use (`round(float(f"{px:.5g}"), 6 - szDecimals)`), which
is faster but can produce prices the venue refuses (no direction control, float artefacts); ours is exact.
"""
from __future__ import annotations

import time
from decimal import Decimal

from engine.bench import Result, figure


def _percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


@figure("strategy_tick", names=("strategy_tick_p50_us", "strategy_tick_p99_us", "round_price_ns"))
def bench_strategy_tick() -> list[Result]:
    from engine.execution.actions import plan_actions
    from engine.execution.diff import CloidFactory, LiveOrder, Tolerance, diff_orders
    from engine.market.book import L2Book
    from engine.market.state import leg_state
    from engine.risk import KillSwitch, MarketView, RiskContext, RiskLimits, evaluate
    from engine.strategy.quotes import QuoteParams, quotes
    from engine.strategy.rounding import round_price

    lv = lambda side: [{"px": f"{p:.2f}", "sz": "10", "n": 1} for p in side]  # noqa: E731
    params, limits, tol, kill = QuoteParams(), RiskLimits(default_max_position=1e6), Tolerance(), KillSwitch()
    cloids = CloidFactory(1)
    first = leg_state("HYPE", "perp", 2, L2Book.from_wire(
        {"coin": "HYPE", "time": 0, "levels": [lv([40.0]), lv([40.02])]}, 0), 0, 1_000, 0.0)
    live = [LiveOrder(i, q.coin, q.is_buy, q.px, q.sz) for i, q in enumerate(quotes(first, params))]
    samples = []
    for i in range(5_000):
        mid = 40.0 + (i % 200) * 0.01  # a drifting market, so the diff has work to do
        book = L2Book.from_wire({"coin": "HYPE", "time": i, "levels": [lv([mid - 0.01]), lv([mid + 0.01])]}, i)
        t0 = time.perf_counter_ns()
        state = leg_state("HYPE", "perp", 2, book, i, 1_000, (i % 50) - 25.0)
        desired = quotes(state, params)
        ctx = RiskContext(i, {"HYPE": MarketView("HYPE", state.mid, state.mid, 0.004, i)})
        decision = evaluate(desired, ctx, limits, kill)
        plan_actions(diff_orders(decision.accepted, live, tol).stamp(cloids.next), {"HYPE": 3})
        samples.append((time.perf_counter_ns() - t0) / 1_000)

    pxs = [Decimal(40) + Decimal(i) / 997 for i in range(20_000)]
    fl = [float(p) for p in pxs]
    t0 = time.perf_counter_ns()
    for p in pxs:
        round_price(p, 2, False, "down")
    ours = (time.perf_counter_ns() - t0) / len(pxs)
    t0 = time.perf_counter_ns()
    for p in fl:
        round(float(f"{p:.5g}"), 4)
    sdk = (time.perf_counter_ns() - t0) / len(fl)
    return [
        Result("strategy_tick_p50_us", _percentile(samples, 0.5), "us", "l2Book push interval", 500_000.0,
               "small share of tick_to_action"),
        Result("strategy_tick_p99_us", _percentile(samples, 0.99), "us", "l2Book push interval", 500_000.0),
        Result("round_price_ns", ours, "ns", "SDK example float rounding (no direction, float)", sdk),
    ]
