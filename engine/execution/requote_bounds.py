"""The requote gate's bounds (engine/execution/requote_gate.py): how far a desired price, size or risk verdict
can move while the gate holds. Pure functions of floats; the gate's module docstring gives the argument."""
from __future__ import annotations

import math
from typing import Any

from engine.strategy import rounding as R
from engine.strategy.quotes import centre_price, half_spread, raw_price

MID_GAIN = 1.05  # desired-price move per mid move: 1 ± 2·max_skew_frac (≤ 1 %) with room to spare
LOW_GAIN = 2 - MID_GAIN
BP = 1e4
EPS = 1e-9  # relative margin of the float tests that stand in for the diff's exact ones (float error ~1e-16)
MIN_LOTS = 10  # sizes under this many lots: a one-lot rounding change exceeds the 10 % size tolerance


def raw_prices(qs: list, st: Any, params: Any) -> tuple:
    """Each quote's price before rounding, as `quotes` computed it from the same leg state and params."""
    c, h = centre_price(st, params), half_spread(st, params)
    return tuple([raw_price(c, h, params.level_spacing, q.level, q.is_buy) for q in qs])


def rounding_range(is_buy: bool, px: float, raw: float, tick: float, sz_decimals: int, is_spot: bool) \
        -> tuple[float, float]:
    """How far (bp of px, (down ≤ 0, up ≥ 0)) rounding can put the quote's next price from its price move.

    A bid is its raw price rounded down to the tick: px = raw − r with 0 ≤ r < tick. Rounded down again after a
    move, the next price is px' = raw' − r' with 0 ≤ r' < tick', so px' − px − (raw' − raw) = r − r' lies in
    (r − tick, r] — one tick wide, not two, once r is known. An ask rounds up (px = raw + s): the difference
    lies in [−s, tick − s). A quote that is not its rounded raw price (the post-only guard moved it, or two
    levels collapsed onto one) keeps the two-tick bound ±tick. `tick` is the coarsest the leg can reach."""
    eps = 1e-9 * px  # far above float error (~1e-16 of px), far below a tick
    own = min(tick_at(raw, sz_decimals, is_spot), tick_at(px, sz_decimals, is_spot))  # the tick px was rounded to
    r = raw - px if is_buy else px - raw
    scale = BP / px
    if not -eps <= r < own - eps:
        return -tick * scale, tick * scale
    r = max(r, 0.0)
    if is_buy:
        return (r - tick - eps) * scale, (r + eps) * scale
    return -(r + eps) * scale, (tick - r + eps) * scale


_TICKS: dict[tuple[int, bool, int], float] = {}


def tick_at(px: float, sz_decimals: int, is_spot: bool) -> float:
    """`rounding.price_tick` as a float, remembered per magnitude (it depends only on the price's exponent)."""
    key = (sz_decimals, is_spot, math.floor(math.log10(px)))
    t = _TICKS.get(key)
    if t is None:
        t = _TICKS[key] = float(R.price_tick(px, sz_decimals, is_spot))
    return t


def capacity_spare(bids: list, capacity: float, tick: float, sz_decimals: int, tol_bps: float) -> bool:
    """Whether a spot leg's buy capacity (quote balance ÷ mid, passed only when it could bind) stays above
    every size the bids ask for while the gate holds. The quotes share the capacity out level by level, refused
    ones too; while it does not bind they are the quotes of an unlimited balance. A balance spent down to
    under one lot quotes no bids at all. Between the two, the capacity sizes the bids from the mid, which the
    bound on sizes does not cover. Within the gate the capacity shrinks at most with
    the mid's move, and each size grows at most by MID_GAIN times it, a tick of price and one lot."""
    f = tol_bps / BP
    lot = 10.0 ** -sz_decimals
    if not bids:  # sound only when the capacity rounds to no lot at all (a spent balance), whatever the mid
        return capacity * (1 + f) / (1 - f) < lot
    asked = sum(float(q.sz) * (1 + MID_GAIN * f + tick / float(q.px)) + lot for q in bids)
    return asked < capacity * (1 - f) / (1 + f) - lot


def clear_of_cap(qs: list, position: float, mid: float, tick: float, sz_decimals: int, tol_bps: float,
                  max_usd: float) -> bool:
    """Whether the quotes of one side that the USD position limit accepted stay accepted while the gate holds
    (`position` signed towards that side: the position for bids, minus it for asks).

    Risk accepts them while the position plus their sizes, times ref (the mid), stays within max_usd (in the
    order given; every size is positive, so the whole side's sum bounds each prefix). While the gate holds the
    mid rises at most by the tolerance, and a desired price falls at most MID_GAIN times that plus a tick, so
    the size asked for grows at most in that ratio: a size s was floored from notional ÷ price (or raised to
    the minimum notional), so notional ÷ price < s + lot, and the new size is at most that at the new price plus
    one lot. (The mirror of `still_refused`. A margin of a share of the limit instead shuts the gate on every
    decision of a carry held near the limit.)"""
    f = tol_bps / BP
    lot = 10.0 ** -sz_decimals
    most = 0.0
    for q in qs:
        most += (float(q.sz) + lot) / (1 - MID_GAIN * f - tick / float(q.px)) + lot
    return (position + most) * mid * (1 + f) <= max_usd


def still_refused(qs: list, accepted: list, position: float, mid: float, tick: float, sz_decimals: int,
                   tol_bps: float, max_usd: float | None) -> bool:
    """Whether every quote the USD position limit refused (`qs`) stays refused while the gate holds.

    Risk refuses a sell of size s when (s + w − position)·ref > max_usd (a buy: (position + w + s)·ref), where
    w sums the sizes of the same leg's and side's quotes it accepted before (a side's levels go inside out: those
    of a lower level) and ref is the mid (the engine's market views carry no oracle price). While the gate holds,
    the mid stays within the tolerance of its value at the decision, and a desired price moves at most MID_GAIN
    times that plus a tick, so a size asked for (notional ÷ price, floored to the lot) shrinks at most by that
    share and one lot (`_least`), and the accepted quotes stay accepted (`clear_of_cap`). The refusal persists
    when even the smallest such sizes times the lowest such mid exceed the limit. (A carry held near the limit
    refuses the quotes that would add to it on every decision: without this, every touch change would decide.)"""
    if max_usd is None:
        return False
    g = MID_GAIN * tol_bps / BP
    lot = 10.0 ** -sz_decimals
    low_mid = mid * (1 - tol_bps / BP)
    for q in qs:
        before = sum(_least(a, g, tick, lot) for a in accepted if a.is_buy == q.is_buy and a.level < q.level)
        if ((position if q.is_buy else -position) + before + _least(q, g, tick, lot)) * low_mid <= max_usd:
            return False
    return True


def _least(q: Any, g: float, tick: float, lot: float) -> float:
    """The smallest size quote `q`'s level can ask for while the gate holds (never below nothing)."""
    return max(0.0, float(q.sz) * (1 - g - tick / float(q.px)) - lot)


def side_window(rows: list, tol_bps: float, size_tol: float, lot: float) -> tuple[float, float]:
    """The signed moves (bp of price, (lo, hi)) the desired prices of one side may make with the diff still
    keeping every order; never wider than ± the tolerance.

    Each row is (desired price p, desired size s, price and size of the order resting for it: its kept order,
    else one placed exactly at the quote). A move of m bp:
    * keeps the order in price tolerance while its signed distance d = (its price − p) / p stays within the
      tolerance of m: d − tol ≤ m ≤ d + tol (an order resting under its desired price can stay while the
      desired price falls further than it may rise);
    * asks for a size that differs from s by at most s·|m| + one lot: the order stays in size tolerance while
      |its size − s| + s·|m| + lot ≤ size_tol·(s − s·|m| − lot);
    * leaves the diff's pairing alone (each desired quote takes the nearest in-tolerance order of its side)
      while every other order o of the side stays out of the quote's tolerance (|d(o)| − |m| > tol) or farther
      from it than its own order (|d(o)| − |m| > |d| + |m|).
    """
    lo, hi = -tol_bps, tol_bps
    for i, (px, sz, lpx, lsz, down, up) in enumerate(rows):
        signed = (lpx - px) / px * BP
        own = abs(signed)
        room = (size_tol * sz - abs(lsz - sz) - lot * (1 + size_tol)) / (sz * (1 + size_tol)) * BP
        for j, other in enumerate(rows):
            if j != i:
                d = abs(other[2] - px) / px * BP
                apart = d - tol_bps
                half = (d - own) * 0.5
                if half > apart:
                    apart = half
                if apart < room:
                    room = apart
        # the quote's own move is the desired price's move plus its rounding, between `down` and `up`
        low, high = max(signed - tol_bps, -room) - down, min(signed + tol_bps, room) - up
        if low > lo:
            lo = low
        if high < hi:
            hi = high
    return lo, hi


def pinned_at(qs: tuple, raws: tuple, st: Any) -> int | None:
    """The index of the quote the post-only guard holds one tick inside the touch, or None. A bid whose raw price
    reaches the best ask rounds to the ask or above, past the guard's cap one tick under it, so `quotes` put it
    at the cap (an ask reaching the best bid, mirrored). The first such quote: a second one, on either side,
    fails the guard's test as a quote that follows the mid."""
    for i, (q, raw) in enumerate(zip(qs, raws)):
        if (raw >= st.best_ask) if q.is_buy else (raw <= st.best_bid):
            return i
    return None


def pinned_quote(qs: tuple, at: int, live: Any, raw: float, st: Any, params: Any, tol_bps: float, size_tol: float,
                 max_notional: float) -> tuple | None:
    """What `pin_holds` needs to know of the pinned quote qs[at], or None when the bound does not cover it: it is
    not alone on its side (the diff could pair it differently), its price is not the guard's cap, its size is
    neither its level's notional ÷ price floored to the lot nor, for a spot bid, its whole buy capacity floored
    (the minimum notional or part of a capacity sized it), it is under ten lots, near the order-notional limit
    or the minimum notional, a spot ask's base balance could cap it, or the touch sits at the edge of a decade
    of prices (where the tick changes)."""
    q = qs[at]
    if any(o.is_buy is q.is_buy for i, o in enumerate(qs) if i != at):
        return None
    if not q.is_buy and st.sell_capacity is not None:
        return None
    touch = st.best_ask if q.is_buy else st.best_bid
    is_spot = st.leg == "spot"
    tick = tick_at(touch, st.sz_decimals, is_spot)
    px, sz = float(q.px), float(q.sz)
    if abs(px - (touch - tick if q.is_buy else touch + tick)) > EPS * px:
        return None
    lot = 10.0 ** -st.sz_decimals
    notional = params.order_notional * params.size_multiplier ** q.level  # as `quotes` sizes the level
    f = tol_bps / BP
    # its size: the level's (notional ÷ price floored), or a spot bid's whole buy capacity (quote balance ÷ mid,
    # floored) when that is less: then nothing is left for the next levels, and the capacity follows the mid
    capacity = None
    if q.is_buy and st.buy_capacity is not None and sz < notional / px - lot and \
            abs(sz - math.floor(st.buy_capacity / lot * (1 + EPS)) * lot) <= EPS * sz:
        capacity = (st.buy_capacity, st.mid)
    elif not notional / px - lot - EPS * sz <= sz <= notional / px + EPS * sz:
        return None
    # (the price moves at most f with the touch, the size at most 2f and two lots: see pin_holds)
    if sz < MIN_LOTS * lot or px * sz * (1 + 2 * f) > max_notional or \
            px * (1 - f) * (sz * (1 - 2 * f) - 2 * lot) <= params.min_notional:
        return None
    decade = 10.0 ** math.floor(math.log10(touch))
    if min(touch / decade - 1, 1 - touch / (10 * decade)) < 1e-6:
        return None
    o_px, o_sz = (px, sz) if live is None else (float(live.px), float(live.sz))
    return (q.is_buy, touch, raw, o_px, o_sz, notional, lot, tick, decade, 10 * decade, size_tol, capacity)


def pin_holds(pin: tuple, bb: float, ba: float, mid: float, move: float, tol_bps: float) -> bool:
    """Whether the pinned quote's order is kept at the touch (bb, ba) and a mid `move` (bp): the quote is still
    pinned (its raw price, moving with the mid, still reaches the touch), so its price is the cap, one tick
    inside the touch, and the order resting for it is within the diff's tolerances of that price and of the
    size it asks for there — notional ÷ price floored to the lot, or, for a bid sized by the buy capacity, the
    capacity at the new mid floored while it stays under the level's size (the size lies within a lot under
    the quotient). The touch itself stays within the tolerance, as the mid does, so every other bound (refused
    and accepted sizes, capacity) keeps the moves it allows for."""
    is_buy, touch0, raw0, o_px, o_sz, notional, lot, tick, dec_lo, dec_hi, size_tol, capacity = pin
    t = ba if is_buy else bb
    if MID_GAIN * abs(t / touch0 - 1) * BP >= tol_bps or not dec_lo <= t < dec_hi:
        return False
    if move >= 0:
        r_lo, r_hi = LOW_GAIN * move, MID_GAIN * move
    else:
        r_lo, r_hi = MID_GAIN * move, LOW_GAIN * move
    if is_buy:
        if raw0 * (1 + r_lo / BP) < t * (1 + EPS):
            return False
        px = t - tick
    else:
        if raw0 * (1 + r_hi / BP) > t * (1 - EPS):
            return False
        px = t + tick
    if abs(o_px - px) * BP > tol_bps * px * (1 - EPS):
        return False
    top = notional / px
    if capacity is not None:
        cap = capacity[0] * capacity[1] / mid
        if cap * (1 + EPS) >= top - lot:
            return False  # the level's own size could be the smaller one
        top = cap
    return all(abs(o_sz - sz) <= size_tol * sz * (1 - EPS) for sz in (top * (1 + EPS), top * (1 - EPS) - lot))
