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
  tick is known (`rounding_range`: bids round down, asks up; a quote the post-only guard or a level collision moved
  keeps ± one tick);
* a market held at its limits decides the same while they hold it: a quote the USD position limit refused
  stays refused while its smallest possible size (with the same side's accepted lower levels before it) at the
  lowest possible mid still exceeds the cap, an accepted one stays accepted while its largest possible size at
  the highest possible mid fits, and a spot leg whose quote balance is spent to under one lot quotes no bids
  whatever the mid (`still_refused`, `clear_of_cap`, `capacity_spare`);
* a quote the carry's bias pushes through the touch sits where the post-only guard holds it, one tick inside
  the touch, and follows the touch, not the mid: alone on its side, it has its own test (`pinned_quote`,
  `pin_holds`) — its raw price still reaches the touch, and its order stays within the tolerances of the price
  one tick inside the new touch and of the size asked for there (its level's, or a spot bid's whole buy
  capacity at the new mid). The touch must stay within the tolerance, as the mid does, so the bounds above
  keep the moves they allow for. The bounds live in `requote_bounds.py`.

So while every such move lies inside every leg's window (`holds`), every order would be kept and the plan would be
empty. Arming only records the decision; the per-leg proof is built by the first `holds` that needs it (no window
reaches past the tolerance, so a larger move fails at once; a move the kept orders' distances alone refuse fails
before any proof, `_drifted_out`; and a fill or order update usually closes the gate before any proof is needed).
Anything the bound does not cover closes the gate until the next full decision: a change other than the touch
(fills, orders, controls, bars, freshness — the quoter calls `close`), a post-only guard that could bind on a quote
that follows the mid (the opposite best within two ticks of it), a pinned quote that is not alone on its side, sizes
under ten lots (a one-lot rounding change could leave the size tolerance), accepted quotes within 10 % of a limit
(order notional, price band, open orders, address budget), a buy capacity that binds part of the bids, a refusal for
any reason but the USD position limit, a pause, and a zero tolerance (then every touch change decides).
"""
from __future__ import annotations

from typing import Any

from engine.execution.requote_bounds import (BP, LOW_GAIN, MID_GAIN, MIN_LOTS, capacity_spare, clear_of_cap,
                                             pin_holds, pinned_at, pinned_quote, raw_prices, rounding_range,
                                             side_window, still_refused, tick_at)
from engine.risk import Reason

NEAR = 0.9  # a limit used beyond this share of itself closes the gate


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
            return  # only a position limit's refusal is covered (`still_refused`)
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
        self._stretch = 1.0 + tol_bps / BP
        self.open = True

    def _prove(self) -> bool:
        """Build the per-leg proof of the armed decision; False (and the gate shut) when the bound does not
        cover it."""
        inputs, decision, limits, tol_bps, size_tol = self._armed
        self._armed = None
        resting = _resting(decision)  # its kept order, else (not in it) one placed exactly at the quote
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
            reach = max(mid, max((float(q.px) for q in qs), default=0.0)) * (1 + 2 * tol_bps / BP)
            tick = tick_at(reach, st.sz_decimals, is_spot)
            raws = raw_prices(qs, st, inputs.params) if qs else ()
            # a quote the post-only guard holds one tick inside the touch follows the touch, not the mid: it has
            # its own test (`pin_holds`), the other quotes share the mid window
            pin, free, free_lives, free_raws = None, qs, lives, raws
            at = pinned_at(qs, raws, st)
            if at is not None:
                pin = pinned_quote(qs, at, lives[at], raws[at], st, inputs.params, tol_bps, size_tol,
                                   NEAR * limits.max_order_notional)
                if pin is None:
                    return False
                free, free_lives, free_raws = (tuple(x[:at]) + tuple(x[at + 1:]) for x in (qs, lives, raws))
            shape = self._shape(leg.coin, free, free_lives, free_raws, tick, st.sz_decimals, is_spot, tol_bps,
                                size_tol, limits.max_order_notional)
            if shape is None:
                return False
            (lo, hi), hi_bid, lo_ask, low, top = shape
            if pin is not None:  # the price band holds the pinned quote's price too
                px = float(qs[at].px)
                low, top = min(low or px, px), max(top, px)
            if qs and (top / mid - 1 > band or 1 - low / mid > band):
                return False
            # accepted quotes stay clear of the position cap (`clear_of_cap`; a side with nothing accepted has
            # nothing to lose)
            cap_usd = limits.max_position_usd
            if cap_usd is not None:
                for is_buy, signed in ((True, leg.position), (False, -leg.position)):
                    side = [q for q in qs if q.is_buy is is_buy]
                    if side and not clear_of_cap(side, signed, mid, tick, st.sz_decimals, tol_bps, cap_usd):
                        return False
            if pin is not None and pin[-1] is not None:  # a pinned bid takes the whole buy capacity
                if any(q.is_buy for q in refused.get(leg.coin, ())):
                    return False  # (no level is left after it: a refused bid means the bound is off)
            elif st.buy_capacity is not None and not capacity_spare(
                    [q for q in qs if q.is_buy] + [q for q in refused.get(leg.coin, ()) if q.is_buy],
                    st.buy_capacity, tick, st.sz_decimals, tol_bps):
                return False
            no = refused.get(leg.coin)
            if no and not still_refused(no, qs, leg.position, mid, tick, st.sz_decimals, tol_bps,
                                         limits.max_position_usd):
                return False
            if (hi_bid is not None and hi_bid >= st.best_ask - 2 * tick) or \
                    (lo_ask is not None and lo_ask <= st.best_bid + 2 * tick):
                return False  # the post-only guard could bind on a quote that follows the mid
            # each quote's rounding is in its row of the window; a leg without quotes keeps a tick's margin
            legs.append((leg.coin, mid, lo, hi, 0.0 if free else tick / mid * BP, hi_bid, lo_ask, tick, pin))
        self._legs = tuple(legs)
        return True

    def _drifted_out(self, tops: list) -> bool:
        """Whether the move to `tops` already leaves the window that the kept orders' price distances alone
        allow: before a proof is built, a cheap test that fails the moves no proof could pass. Every row of
        `side_window` bounds a leg's window inside [d − tol, d + tol] around its order's signed distance d (the
        room and rounding terms only narrow it), and the moves `holds` tests only widen with a tick's margin,
        so a move outside [max d − tol, min d + tol] with no margin fails the proof's test too. Orders kept
        where the last decision found them drifted: after a decision that kept them, the next touch often
        leaves their window at once. A quote the post-only guard may hold at the touch has its own test
        (`pin_holds`), so a quote within two ticks of the opposite best counts no row here."""
        inputs, decision = self._armed[0], self._armed[1]
        if not decision.plan.kept:
            return False
        resting = _resting(decision)
        tol, stretch = self._tol, self._stretch
        for leg, (_, mid0), (_, _, mid) in zip(inputs.legs, self._mids, tops):
            st = leg.state
            lo, hi = -tol, tol
            near = None  # (highest bid, lowest ask) a quote may sit at and be pinned; set at the first need
            for q in decision.accepted:
                if q.coin != leg.coin:
                    continue
                live = resting.get((q.coin, q.is_buy, q.level))
                if live is None or live.px == q.px:
                    continue
                px = float(q.px)
                if near is None:
                    is_spot = st.leg == "spot"
                    near = (st.best_ask - 2 * tick_at(st.best_ask, st.sz_decimals, is_spot),
                            st.best_bid + 2 * tick_at(st.best_bid, st.sz_decimals, is_spot))
                if (px >= near[0]) if q.is_buy else (px <= near[1]):
                    continue
                d = (float(live.px) - px) / px * BP
                if d - tol > lo:
                    lo = d - tol
                if d + tol < hi:
                    hi = d + tol
            if lo == -tol and hi == tol:
                continue
            move = (mid / mid0 - 1) * BP
            up, down = (MID_GAIN * move, LOW_GAIN * move) if move >= 0 else (LOW_GAIN * move, MID_GAIN * move)
            up = up * stretch if up > 0 else up / stretch
            down = down * stretch if down < 0 else down / stretch
            if down <= lo or up >= hi:
                return True
        return False

    def _shape(self, coin: str, qs: list, lives: tuple, raws: tuple, tick: float, sz_decimals: int, is_spot: bool,
               tol_bps: float, size_tol: float, max_order_notional: float) -> tuple | None:
        """What one leg's quotes and the orders resting for them allow, independent of the book: ((lo, hi) bp,
        highest bid, lowest ask, lowest price, highest price), or None when a quote is too small
        or too close to the order-notional limit. Remembered per leg while its quotes and resting orders are
        the very same objects (a leg the last change did not touch)."""
        args = (raws, tick, sz_decimals, tol_bps, size_tol, max_order_notional)
        hit = self._shapes.get(coin)
        if hit is not None and hit[2] == args and len(hit[0]) == len(qs) and \
                all(a is b for a, b in zip(hit[0], qs)) and all(a is b for a, b in zip(hit[1], lives)):
            return hit[3]
        lot = 10.0 ** -sz_decimals
        min_sz, max_notional = MIN_LOTS * lot, NEAR * max_order_notional
        stretch = 1.0 + tol_bps / BP
        bids: list[tuple[float, ...]] = []
        asks: list[tuple[float, ...]] = []
        shape = None
        for q, live, raw in zip(qs, lives, raws):
            px, sz = float(q.px), float(q.sz)
            if sz < min_sz or px * sz > max_notional:
                break
            down, up = rounding_range(q.is_buy, px, raw, tick, sz_decimals, is_spot)
            down, up = down * stretch, up * stretch  # measured against the moved price, as the window is
            lpx, lsz = (px, sz) if live is None else (float(live.px), float(live.sz))
            row = (px, sz, lpx, lsz, down, up)
            if q.is_buy:
                bids.append(row)
            else:
                asks.append(row)
        else:
            prices = [r[0] for r in bids] + [r[0] for r in asks]
            b_lo, b_hi = side_window(bids, tol_bps, size_tol, lot)
            a_lo, a_hi = side_window(asks, tol_bps, size_tol, lot)
            shape = ((max(b_lo, a_lo), min(b_hi, a_hi)),
                     max(r[0] for r in bids) if bids else None, min(r[0] for r in asks) if asks else None,
                     min(prices, default=0.0), max(prices, default=0.0))
        self._shapes[coin] = (tuple(qs), lives, args, shape)
        return shape

    def holds(self, books: Any, now: int) -> bool:
        """True when the current books provably leave the last decision unchanged (count a skip)."""
        stretch = self._stretch
        gain = MID_GAIN * BP * stretch
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
        if self._legs is None:
            if self._drifted_out(tops):
                return False  # no proof could hold this move: none is built (the next decision re-arms)
            if not self._prove():
                self.close()
                return False
        # _legs and _mids both follow the armed decision's legs, in order
        for (coin, mid0, lo, hi, tick_bp, hi_bid, lo_ask, tick, pin), (bb, ba, mid) in zip(self._legs, tops):
            move = (mid / mid0 - 1) * BP  # the mid's signed move since the decision, bp
            if move >= 0:  # the desired prices' move lies in [down, up]
                up, down = MID_GAIN * move + tick_bp, LOW_GAIN * move - tick_bp
            else:
                up, down = LOW_GAIN * move + tick_bp, MID_GAIN * move - tick_bp
            # distances count against the moved price: widen the range by the stretch (both ends outwards)
            up = up * stretch if up > 0 else up / stretch
            down = down * stretch if down < 0 else down / stretch
            if down <= lo or up >= hi or (hi_bid is not None and hi_bid >= ba - 2 * tick) or \
                    (lo_ask is not None and lo_ask <= bb + 2 * tick):
                return False
            if pin is not None and not pin_holds(pin, bb, ba, mid, move, self._tol):
                return False
        self.skipped += 1
        return True


def _resting(decision: Any) -> dict:
    """The order resting for each accepted quote once the plan is carried out, where the plan kept one, keyed by
    (coin, side, level): a remembered no-op plan may hold equal, not identical, quote objects."""
    return {(q.coin, q.is_buy, q.level): live for live, q in decision.plan.kept}
