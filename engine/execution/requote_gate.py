"""`RequoteGate`: when a new touch provably cannot change the decision, skip deciding.

A market's decision (quotes → risk → diff) is re-run on every change of its inputs. Most changes of a liquid
book only move the touch a little; with a requote tolerance > 0 the decision then usually keeps every order.
The gate proves that in O(1) per leg, instead of running the whole decision, from facts recorded when the
decision was made (`arm`):

* every resting order sits within the tolerance of the price the decision wanted for it, at a signed distance
  s (replaced and new orders sit exactly there): a desired-price move m keeps it while |s − m| ≤ tolerance, so
  each leg has a window [lo, hi] of moves that keep all its orders (an order resting below its desired price
  leaves more room for the mid to fall back than to rise further); its size is within the size tolerance with
  room for the size a moved price asks for (size = notional / price, floored to the lot), and no other resting
  order of its side is within the tolerance of that price (the diff pairs each desired quote with the nearest
  in-tolerance order: a second candidate could re-pair the orders);
* desired prices move with the mid: price_i = c·(1 ± d_i) where the centre c = mid + skew, the skew is at most
  `max_skew_frac` of mid and grows at most with mid² (A–S, GLFT), the ATR floor of d is ATR/mid. A mid move
  of δ therefore moves a desired price's raw (unrounded) value the same way by between (2 − MID_GAIN)·δ and
  MID_GAIN·δ. Rounding to the tick adds a part known to within one tick, because where the quote sat in its
  tick is known (`_rounding`: bids round down, asks up; a quote the post-only guard or a level collision moved
  keeps ± one tick);
* a market held at its limits decides the same while they hold it: a quote the USD position limit refused
  stays refused while its smallest possible size at the lowest possible mid still exceeds the cap, and a spot
  leg whose quote balance is spent to under one lot quotes no bids whatever the mid (`_still_refused`,
  `_capacity_spare`).

So while every such move lies inside every leg's window (`holds`), every order would be kept and the plan
would be empty. Arming only records the decision; the per-leg proof is built by the first `holds` that needs
it (no window reaches past the tolerance, so a larger move fails at once, and a fill or order update usually
closes the gate before any proof is needed). Anything the bound does not cover closes the gate until the next
full decision: a change other than the touch (fills, orders, controls, bars, freshness — the quoter calls
`close`), a post-only guard that could bind (the opposite best within two ticks of a quote), sizes under ten
lots (a one-lot rounding change could leave the size tolerance), accepted quotes within 10 % of a limit
(position, order notional, price band, open orders, address budget), a buy capacity that binds, a refusal for
any reason but the USD position limit, a pause, and a zero tolerance (then every touch change decides).
"""
from __future__ import annotations

import math
from typing import Any

from engine.risk import Reason
from engine.strategy import rounding as R
from engine.strategy.quotes import centre_price, half_spread, raw_price

MID_GAIN = 1.05  # desired-price move per mid move: 1 ± 2·max_skew_frac (≤ 1 %) with room to spare
LOW_GAIN = 2 - MID_GAIN
NEAR = 0.9  # a limit used beyond this share of itself closes the gate
MIN_LOTS = 10  # sizes under this many lots: a one-lot rounding change exceeds the 10 % size tolerance
_BP = 1e4


class RequoteGate:
    __slots__ = ("open", "_armed", "_mids", "_legs", "_stretch", "_tol", "_shapes", "skipped")

    def __init__(self) -> None:
        self.open = False
        self._armed: tuple | None = None  # (inputs, decision, limits, tol, size_tol) until the proof is built
        self._mids: tuple = ()  # per leg: (coin, mid at the decision)
        self._legs: tuple | None = None  # per leg: (coin, mid0, lo_bp, hi_bp, tick_bp, highest bid, lowest ask,
        #   tick)
        self._shapes: dict[str, tuple] = {}  # coin -> (quotes, resting orders, settings, shape): see _shape
        self._stretch = 1.0  # the tolerance is relative to the moved price: a move of m bp counts m·(1 + tol)
        self._tol = 0.0
        self.skipped = 0

    def close(self) -> None:
        self.open = False
        self._armed = None

    def arm(self, inputs: Any, decision: Any, limits: Any, tol_bps: float, size_tol: float) -> None:
        """Record the decision just made (its plan about to be carried out) for the next touch. Cheap: the
        proof itself is built by the first `holds` that needs it (a fill or an order update usually closes
        the gate first, and a move past the tolerance needs no proof to fail)."""
        self.close()
        risk = decision.risk
        if tol_bps <= 0 or risk.halts or risk.cancel_all or inputs.paused or size_tol < 0.1:
            return
        if risk.rejected and not all(c.reason is Reason.POSITION_LIMIT for _, c in risk.rejected):
            return  # only a position limit's refusal is covered (`_still_refused`)
        if limits.max_position or limits.default_max_position is not None:
            return  # per-coin caps in coin units: not covered by the bound below
        if inputs.pending:
            return  # orders in flight or being cancelled: their replies decide again anyway
        if inputs.address_budget is not None and \
                inputs.address_budget < limits.min_address_budget + 2 * len(decision.accepted) + 100:
            return
        if inputs.other_orders + len(decision.accepted) > NEAR * limits.max_open_orders:
            return
        mids = []
        for leg in inputs.legs:
            st = leg.state
            if st is None:
                return  # a leg without a usable book decides every new book in full
            mids.append((leg.coin, st.mid))
        self._mids = tuple(mids)
        self._armed = (inputs, decision, limits, tol_bps, size_tol)
        self._legs = None
        self._tol = tol_bps
        self._stretch = 1.0 + tol_bps / _BP
        self.open = True

    def _prove(self) -> bool:
        """Build the per-leg proof of the armed decision; False (and the gate shut) when the bound does not
        cover it."""
        inputs, decision, limits, tol_bps, size_tol = self._armed
        self._armed = None
        # the order resting for each accepted quote once the plan is carried out: its kept order, else one at q
        # (keyed by level: a remembered no-op plan may hold equal, not identical, quote objects)
        resting = {(q.coin, q.is_buy, q.level): live for live, q in decision.plan.kept}
        by_coin: dict[str, list] = {}
        for q in decision.accepted:
            group = by_coin.get(q.coin)
            if group is None:
                group = by_coin[q.coin] = []
            group.append(q)
        refused: dict[str, list] = {}  # coin -> quotes the position limit refused (`arm` lets no other refusal in)
        for q, _ in decision.risk.rejected:
            group = refused.get(q.coin)
            if group is None:
                group = refused[q.coin] = []
            group.append(q)
        if not refused.keys() <= {leg.coin for leg in inputs.legs}:
            return False
        band = NEAR * limits.price_band_frac
        legs = []
        for leg in inputs.legs:
            st = leg.state
            qs = by_coin.get(leg.coin, ())
            # an order resting exactly at its quote is the same as one about to be placed there (None), so a
            # leg whose orders were just replaced finds its shape remembered from when the plan was made
            lives = tuple([None if (o := resting.get((q.coin, q.is_buy, q.level))) is None or
                           (o.px == q.px and o.sz == q.sz) else o for q in qs])
            mid = st.mid
            is_spot = st.leg == "spot"
            # the coarsest tick any quote can round to while the gate holds (ticks grow with the price's
            # magnitude; before the gate shuts, the highest price can rise by at most twice the tolerance)
            reach = max(mid, max((float(q.px) for q in qs), default=0.0)) * (1 + 2 * tol_bps / _BP)
            tick = _tick(reach, st.sz_decimals, is_spot)
            raws = _raw_prices(qs, st, inputs.params) if qs else ()
            shape = self._shape(leg.coin, qs, lives, raws, tick, st.sz_decimals, is_spot, tol_bps, size_tol,
                                limits.max_order_notional)
            if shape is None:
                return False
            (lo, hi), hi_bid, lo_ask, low, top, buys, sells = shape
            if qs and (top / mid - 1 > band or 1 - low / mid > band):
                return False
            # accepted quotes stay clear of the position cap: risk refuses a buy that would take the position
            # above the cap, a sell one that would take it below minus the cap (signed: a bid that only shrinks a
            # short is never refused; a side with nothing accepted has nothing to lose)
            cap_usd = limits.max_position_usd
            if cap_usd is not None and ((buys and (leg.position + buys) * mid > NEAR * cap_usd) or
                                        (sells and (sells - leg.position) * mid > NEAR * cap_usd)):
                return False
            if st.buy_capacity is not None and not _capacity_spare(
                    [q for q in qs if q.is_buy] + [q for q in refused.get(leg.coin, ()) if q.is_buy],
                    st.buy_capacity, tick, st.sz_decimals, tol_bps):
                return False
            no = refused.get(leg.coin)
            if no and not _still_refused(no, leg.position, mid, tick, st.sz_decimals, tol_bps,
                                         limits.max_position_usd):
                return False
            if (hi_bid is not None and hi_bid >= st.best_ask - 2 * tick) or \
                    (lo_ask is not None and lo_ask <= st.best_bid + 2 * tick):
                return False  # the post-only guard binds, or could: desired prices follow the touch, not the mid
            # each quote's rounding is in its row of the window; a leg without quotes keeps a tick's margin
            legs.append((leg.coin, mid, lo, hi, 0.0 if qs else tick / mid * _BP, hi_bid, lo_ask, tick))
        self._legs = tuple(legs)
        return True

    def _shape(self, coin: str, qs: list, lives: tuple, raws: tuple, tick: float, sz_decimals: int, is_spot: bool,
               tol_bps: float, size_tol: float, max_order_notional: float) -> tuple | None:
        """What one leg's quotes and the orders resting for them allow, independent of the book: ((lo, hi) bp,
        highest bid, lowest ask, lowest price, highest price, bought, sold), or None when a quote is too small
        or too close to the order-notional limit. Remembered per leg while its quotes and resting orders are
        the very same objects (a leg the last change did not touch)."""
        args = (raws, tick, sz_decimals, tol_bps, size_tol, max_order_notional)
        hit = self._shapes.get(coin)
        if hit is not None and hit[2] == args and len(hit[0]) == len(qs) and \
                all(a is b for a, b in zip(hit[0], qs)) and all(a is b for a, b in zip(hit[1], lives)):
            return hit[3]
        lot = 10.0 ** -sz_decimals
        min_sz, max_notional = MIN_LOTS * lot, NEAR * max_order_notional
        stretch = 1.0 + tol_bps / _BP
        bids: list[tuple[float, ...]] = []
        asks: list[tuple[float, ...]] = []
        buys = sells = 0.0
        shape = None
        for q, live, raw in zip(qs, lives, raws):
            px, sz = float(q.px), float(q.sz)
            if sz < min_sz or px * sz > max_notional:
                break
            down, up = _rounding(q.is_buy, px, raw, tick, sz_decimals, is_spot)
            down, up = down * stretch, up * stretch  # measured against the moved price, as the window is
            lpx, lsz = (px, sz) if live is None else (float(live.px), float(live.sz))
            row = (px, sz, lpx, lsz, down, up)
            if q.is_buy:
                bids.append(row)
                buys += sz
            else:
                asks.append(row)
                sells += sz
        else:
            prices = [r[0] for r in bids] + [r[0] for r in asks]
            b_lo, b_hi = _side_window(bids, tol_bps, size_tol, lot)
            a_lo, a_hi = _side_window(asks, tol_bps, size_tol, lot)
            shape = ((max(b_lo, a_lo), min(b_hi, a_hi)),
                     max(r[0] for r in bids) if bids else None, min(r[0] for r in asks) if asks else None,
                     min(prices, default=0.0), max(prices, default=0.0), buys, sells)
        self._shapes[coin] = (tuple(qs), lives, args, shape)
        return shape

    def holds(self, books: Any, now: int) -> bool:
        """True when the current books provably leave the last decision unchanged (count a skip)."""
        stretch = self._stretch
        gain = MID_GAIN * _BP * stretch
        tops = []  # per leg (best bid, best ask, mid) now: each book is looked up once
        for coin, mid0 in self._mids:  # no window reaches past the tolerance: a larger move fails without a proof
            book = books.fresh_book(coin, now)
            if book is None:
                return False
            bb, ba = book.bids[0][0], book.asks[0][0]
            mid = (bb + ba) * 0.5
            if gain * abs(mid - mid0) / mid0 >= self._tol:
                return False
            tops.append((bb, ba, mid))
        if self._legs is None and not self._prove():
            self.close()
            return False
        # _legs and _mids both follow the armed decision's legs, in order
        for (coin, mid0, lo, hi, tick_bp, hi_bid, lo_ask, tick), (bb, ba, mid) in zip(self._legs, tops):
            move = (mid / mid0 - 1) * _BP  # the mid's signed move since the decision, bp
            if move >= 0:  # the desired prices' move lies in [down, up]
                up, down = MID_GAIN * move + tick_bp, LOW_GAIN * move - tick_bp
            else:
                up, down = LOW_GAIN * move + tick_bp, MID_GAIN * move - tick_bp
            # distances count against the moved price: widen the range by the stretch (both ends outwards)
            up = up * stretch if up > 0 else up / stretch
            down = down * stretch if down < 0 else down / stretch
            if down <= lo or up >= hi or \
                    (hi_bid is not None and hi_bid >= ba - 2 * tick) or (lo_ask is not None and lo_ask <= bb + 2 * tick):
                return False
        self.skipped += 1
        return True

def _raw_prices(qs: list, st: Any, params: Any) -> tuple:
    """Each quote's price before rounding, as `quotes` computed it from the same leg state and params."""
    c, h = centre_price(st, params), half_spread(st, params)
    return tuple([raw_price(c, h, params.level_spacing, q.level, q.is_buy) for q in qs])


def _rounding(is_buy: bool, px: float, raw: float, tick: float, sz_decimals: int, is_spot: bool) \
        -> tuple[float, float]:
    """How far (bp of px, (down ≤ 0, up ≥ 0)) rounding can put the quote's next price from its price move.

    A bid is its raw price rounded down to the tick: px = raw − r with 0 ≤ r < tick. Rounded down again after a
    move, the next price is px' = raw' − r' with 0 ≤ r' < tick', so px' − px − (raw' − raw) = r − r' lies in
    (r − tick, r] — one tick wide, not two, once r is known. An ask rounds up (px = raw + s): the difference
    lies in [−s, tick − s). A quote that is not its rounded raw price (the post-only guard moved it, or two
    levels collapsed onto one) keeps the two-tick bound ±tick. `tick` is the coarsest the leg can reach."""
    eps = 1e-9 * px  # far above float error (~1e-16 of px), far below a tick
    own = min(_tick(raw, sz_decimals, is_spot), _tick(px, sz_decimals, is_spot))  # the tick px was rounded to
    r = raw - px if is_buy else px - raw
    scale = _BP / px
    if not -eps <= r < own - eps:
        return -tick * scale, tick * scale
    r = max(r, 0.0)
    if is_buy:
        return (r - tick - eps) * scale, (r + eps) * scale
    return -(r + eps) * scale, (tick - r + eps) * scale


_TICKS: dict[tuple[int, bool, int], float] = {}


def _tick(px: float, sz_decimals: int, is_spot: bool) -> float:
    """`rounding.price_tick` as a float, remembered per magnitude (it depends only on the price's exponent)."""
    key = (sz_decimals, is_spot, math.floor(math.log10(px)))
    t = _TICKS.get(key)
    if t is None:
        t = _TICKS[key] = float(R.price_tick(px, sz_decimals, is_spot))
    return t


def _capacity_spare(bids: list, capacity: float, tick: float, sz_decimals: int, tol_bps: float) -> bool:
    """Whether a spot leg's buy capacity (quote balance ÷ mid, passed only when it could bind) stays above
    every size the bids ask for while the gate holds. The quotes share the capacity out level by level, refused
    ones too; while it does not bind they are the quotes of an unlimited balance. A balance spent down to
    under one lot quotes no bids at all. Between the two, the capacity sizes the bids from the mid, which the
    bound on sizes does not cover. Within the gate the capacity shrinks at most with
    the mid's move, and each size grows at most by MID_GAIN times it, a tick of price and one lot."""
    f = tol_bps / _BP
    lot = 10.0 ** -sz_decimals
    if not bids:  # sound only when the capacity rounds to no lot at all (a spent balance), whatever the mid
        return capacity * (1 + f) / (1 - f) < lot
    asked = sum(float(q.sz) * (1 + MID_GAIN * f + tick / float(q.px)) + lot for q in bids)
    return asked < capacity * (1 - f) / (1 + f) - lot


def _still_refused(qs: list, position: float, mid: float, tick: float, sz_decimals: int, tol_bps: float,
                   max_usd: float | None) -> bool:
    """Whether every quote the USD position limit refused stays refused while the gate holds.

    Risk refuses a sell of size s when (s − position)·ref > max_usd (a buy: (position + s)·ref), where ref is
    the mid (the engine's market views carry no oracle price). While the gate holds, the mid stays within the
    tolerance of its value at the decision, and a desired price moves at most MID_GAIN times that plus a tick,
    so the size asked for (notional ÷ price, floored to the lot) shrinks at most by that share and one lot. The
    refusal persists when even the smallest such position times the lowest such mid exceeds the limit. (A
    carry held near the limit refuses the quotes that would add to it on every decision: without this, every
    touch change would decide in full.)"""
    if max_usd is None:
        return False
    f = tol_bps / _BP
    lot = 10.0 ** -sz_decimals
    low_mid = mid * (1 - f)
    for q in qs:
        px, sz = float(q.px), float(q.sz)
        least = sz * (1 - MID_GAIN * f - tick / px) - lot
        if ((position if q.is_buy else -position) + least) * low_mid <= max_usd:
            return False
    return True


def _side_window(rows: list, tol_bps: float, size_tol: float, lot: float) -> tuple[float, float]:
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
        signed = (lpx - px) / px * _BP
        own = abs(signed)
        room = (size_tol * sz - abs(lsz - sz) - lot * (1 + size_tol)) / (sz * (1 + size_tol)) * _BP
        for j, other in enumerate(rows):
            if j != i:
                d = abs(other[2] - px) / px * _BP
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
