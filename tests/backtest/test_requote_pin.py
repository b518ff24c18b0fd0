"""The requote gate's test for a quote the post-only guard holds one tick inside the touch (`pin_holds`) must be
sound: whenever it says the order resting for that quote stays, the engine's own `quotes` and `diff_orders`, run
on the moved market, keep that order. A carry's bias pushes its quotes through the touch (a spot bid, a perp
ask); the bid may be sized by the spot balance it may still spend (its buy capacity) instead of its level."""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.execution.diff import LiveOrder, Tolerance, diff_orders
from engine.execution.requote_bounds import BP, MID_GAIN, raw_prices, pin_holds, pinned_at, pinned_quote
from engine.strategy import rounding as R
from engine.strategy.quotes import LegState, QuoteParams, quotes

TOL = Tolerance(2.0, 0.1)


@settings(max_examples=3000, deadline=None)
@given(is_buy=st.booleans(), mid=st.floats(0.5, 90_000.0), spread=st.integers(1, 4), spread_after=st.integers(1, 10),
       # how far (ticks) the carry's bias puts the raw price past the touch; capacities near where the bid stops
       # being sized by it are drawn more often
       lead=st.one_of(st.floats(0.0, 2.0), st.floats(0.0, 30.0)),
       capacity=st.one_of(st.none(), st.floats(0.3, 1.3), st.floats(0.97, 1.03)),
       off=st.integers(-8, 8), sz_off=st.floats(-0.12, 0.12), move=st.integers(-14, 14))
def test_a_pinned_order_the_gate_keeps_is_one_the_diff_keeps(is_buy, mid, spread, spread_after, lead, capacity,
                                                             off, sz_off, move):
    is_spot = is_buy  # the carry buys spot and sells perp: its bias pins spot bids and perp asks
    szd = 2
    tick = R.price_tick(mid, szd, is_spot)
    ask = R.round_price(mid, szd, is_spot, "up")
    bid = ask - spread * tick
    assume(bid > 0 and R.price_tick(bid, szd, is_spot) == tick)
    notional = max(330.0, float(ask) * 0.2)  # at least 20 lots
    m0 = (float(bid) + float(ask)) / 2
    h = 0.0002  # the half-spread of base_spread 0.0004
    past = float(ask) + lead * float(tick) if is_buy else float(bid) - lead * float(tick)  # where the raw price is
    push = past / (m0 * (1 - h)) - 1 if is_buy else 1 - past / (m0 * (1 + h))  # the carry bias that puts it there
    assume(0 < push < 0.009)  # (the centre's shift is capped at max_skew_frac = 1 %)
    params = QuoteParams(base_spread=2 * h, atr_multiplier=0.0, levels=1, order_notional=notional, carry_bias=push)
    cap = None if capacity is None or not is_buy else capacity * notional / m0
    st0 = LegState("@1" if is_spot else "X", "spot" if is_spot else "perp", szd, m0, 0.0, None, None, float(bid),
                   float(ask), 1.0, cap, None)
    qs = tuple(quotes(st0, params))
    raws = raw_prices(qs, st0, params)
    at = pinned_at(qs, raws, st0)
    assume(at is not None)
    q = qs[at]
    lot = Decimal(1).scaleb(-szd)
    order = LiveOrder(7, q.coin, q.is_buy, q.px + off * tick, (q.sz * Decimal(repr(1 + sz_off))).quantize(lot), "c")
    assume(order.px > 0 and order.sz > 0 and diff_orders([q], [order], TOL).is_empty)  # kept at the decision
    pin = pinned_quote(qs, at, order, raws[at], st0, params, TOL.price_tol_bps, TOL.size_tol_frac, 1e12)
    assume(pin is not None)

    # the touch the quote follows moves by `move` ticks, the other side sits `spread_after` ticks away (a wider
    # spread moves the mid, and the raw price with it, away from the touch: the quote may stop being pinned)
    if is_buy:
        ask1 = ask + move * tick
        bid1 = ask1 - spread_after * tick
    else:
        bid1 = bid + move * tick
        ask1 = bid1 + spread_after * tick
    assume(bid1 > 0)
    m1 = (float(bid1) + float(ask1)) / 2
    move_bp = (m1 / m0 - 1) * BP
    stretch = 1 + TOL.price_tol_bps / BP
    if not (MID_GAIN * BP * stretch * abs(m1 - m0) / m0 < TOL.price_tol_bps and  # the gate's first test
            pin_holds(pin, float(bid1), float(ask1), m1, move_bp, TOL.price_tol_bps)):
        return
    st1 = dataclasses.replace(st0, mid=m1, best_bid=float(bid1), best_ask=float(ask1),
                              buy_capacity=None if cap is None else cap * m0 / m1)
    side = [x for x in quotes(st1, params) if x.is_buy is q.is_buy]  # the diff pairs within a side
    plan = diff_orders(side, [order], TOL)
    assert plan.is_empty, (q, side, order, plan)
