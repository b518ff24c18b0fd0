"""`RequoteGate`: when a new touch provably cannot change the decision, skip deciding.

A market's decision (quotes → risk → diff) is re-run on every change of its inputs. Most changes of a liquid
book only move the touch a little; with a requote tolerance > 0 the decision then usually keeps every order.
The gate proves that in O(1) per leg, instead of running the whole decision, from facts recorded when the
decision was made (`arm`):

* every resting order sits within `slack_bp` of the price the decision wanted for it (slack = tolerance −
  the farthest a kept order was from its desired price; replaced and new orders sit exactly there), its size
  within the size tolerance with room for the size a moved price asks for (size = notional / price, floored
  to the lot), and no other resting order of its side within the tolerance of that price (the diff pairs
  each desired quote with the nearest in-tolerance order: a second candidate could re-pair the orders);
* desired prices move with the mid: price_i = c·(1 ± d_i) where the centre c = mid + skew, the skew is at most
  `max_skew_frac` of mid and grows at most with mid² (A–S, GLFT), the ATR floor of d is ATR/mid. A mid move
  of δ therefore moves a desired price by at most MID_GAIN·δ, plus one tick of rounding.

So while MID_GAIN·δ + tick < slack for every leg (`holds`), every order would be kept and the plan would be
empty. Anything the bound does not cover closes the gate until the next full decision: a change other than
the touch (fills, orders, controls, bars, freshness — the quoter calls `close`), a post-only guard that could
bind (the opposite best within two ticks of a quote), sizes under ten lots (a one-lot rounding change could
leave the size tolerance), limits within 10 % of binding (position, order notional, price band, open orders,
address budget), any refusal or pause in the decision, and a zero tolerance (then every touch change decides).
"""
from __future__ import annotations

from typing import Any

from engine.strategy import rounding as R

MID_GAIN = 1.05  # desired-price move per mid move: 1 + 2·max_skew_frac (≤ 1 %) with room to spare
NEAR = 0.9  # a limit used beyond this share of itself closes the gate
MIN_LOTS = 10  # sizes under this many lots: a one-lot rounding change exceeds the 10 % size tolerance
_BP = 1e4


class RequoteGate:
    __slots__ = ("open", "_legs", "_stretch", "skipped")

    def __init__(self) -> None:
        self.open = False
        self._legs: tuple = ()  # per leg: (coin, mid0, slack_bp, tick_bp, highest bid, lowest ask, tick)
        self._stretch = 1.0  # the tolerance is relative to the moved price: a move of m bp counts m·(1 + tol)
        self.skipped = 0

    def close(self) -> None:
        self.open = False

    def arm(self, inputs: Any, decision: Any, limits: Any, tol_bps: float, size_tol: float) -> None:
        """Record what the decision just made (and its plan, once carried out) leaves for the next touch."""
        self.open = False
        risk = decision.risk
        if tol_bps <= 0 or risk.rejected or risk.halts or risk.cancel_all or inputs.paused or size_tol < 0.1:
            return
        if limits.max_position or limits.default_max_position is not None:
            return  # per-coin caps in coin units: not covered by the bound below
        if inputs.address_budget is not None and \
                inputs.address_budget < limits.min_address_budget + 2 * len(decision.accepted) + 100:
            return
        if inputs.other_orders + len(decision.accepted) > NEAR * limits.max_open_orders:
            return
        resting = {(q.coin, q.is_buy, q.level): (float(live.px), float(live.sz)) for live, q in decision.plan.kept}
        legs = []
        for leg in inputs.legs:
            st = leg.state
            if st is None:
                return  # a leg without a usable book: every new book decides in full
            if st.buy_capacity is not None:
                return  # a binding quote balance sizes the bids from the mid (the coin held does not move)
            mid = st.mid
            quotes = [q for q in decision.accepted if q.coin == leg.coin]
            hi_bid = max((float(q.px) for q in quotes if q.is_buy), default=None)
            lo_ask = min((float(q.px) for q in quotes if not q.is_buy), default=None)
            tick = float(R.price_tick(mid, st.sz_decimals, leg.state.leg == "spot"))
            lot = 10.0 ** -st.sz_decimals
            buys = sells = 0.0
            for q in quotes:
                px, sz = float(q.px), float(q.sz)
                if sz < MIN_LOTS * lot or px * sz > NEAR * limits.max_order_notional or \
                        abs(px / mid - 1) > NEAR * limits.price_band_frac:
                    return
                if q.is_buy:
                    buys += sz
                else:
                    sells += sz
            if limits.max_position_usd is not None and max(abs(leg.position + buys), abs(leg.position - sells)) \
                    * mid > NEAR * limits.max_position_usd:
                return
            if (hi_bid is not None and hi_bid >= st.best_ask - 2 * tick) or \
                    (lo_ask is not None and lo_ask <= st.best_bid + 2 * tick):
                return  # the post-only guard binds, or could: desired prices follow the touch, not the mid
            slack = _slack_bp(quotes, resting, tol_bps, size_tol, lot)
            low = min(float(q.px) for q in quotes) if quotes else mid
            legs.append((leg.coin, mid, slack, tick / low * _BP, hi_bid, lo_ask, tick))
        self._legs = tuple(legs)
        self._stretch = 1.0 + tol_bps / _BP
        self.open = bool(legs)

    def holds(self, books: Any, now: int) -> bool:
        """True when the current books provably leave the last decision unchanged (count a skip)."""
        for coin, mid0, slack, tick_bp, hi_bid, lo_ask, tick in self._legs:
            book = books.fresh_book(coin, now)
            if book is None:
                return False
            bb, ba = book.bids[0][0], book.asks[0][0]
            mid = (bb + ba) * 0.5
            if (MID_GAIN * abs(mid - mid0) / mid0 * _BP + tick_bp) * self._stretch >= slack:
                return False
            if (hi_bid is not None and hi_bid >= ba - 2 * tick) or (lo_ask is not None and lo_ask <= bb + 2 * tick):
                return False
        self.skipped += 1
        return True


def _slack_bp(quotes: list, resting: dict, tol_bps: float, size_tol: float, lot: float) -> float:
    """How far (bp of price) every desired price of one leg may move with the diff still keeping every order.

    For each desired quote q (price p, size s) and the order resting for it (its kept order, else one placed
    exactly at q), a price move of m bp:
    * keeps the order in price tolerance while its distance + m ≤ tol;
    * asks for a size that differs from s by at most s·m + one lot: the order stays in size tolerance while
      |its size − s| + s·m + lot ≤ size_tol·(s − s·m − lot);
    * leaves the diff's pairing alone (each desired quote takes the nearest in-tolerance order of its side)
      while every other order o of the side stays out of q's tolerance (d(o) − m > tol) or farther from q
      than q's own order (d(o) − m > d(own) + m).
    """
    rows = []
    for q in quotes:
        px, sz = float(q.px), float(q.sz)
        lpx, lsz = resting.get((q.coin, q.is_buy, q.level), (px, sz))
        rows.append((q.is_buy, px, sz, lpx, lsz))
    slack = tol_bps
    for i, (is_buy, px, sz, lpx, lsz) in enumerate(rows):
        own = abs(lpx - px) / px * _BP
        room = tol_bps - own
        size_room = (size_tol * sz - abs(lsz - sz) - lot * (1 + size_tol)) / (sz * (1 + size_tol)) * _BP
        if size_room < room:
            room = size_room
        for j, (o_buy, _, _, opx, _) in enumerate(rows):
            if o_buy == is_buy and j != i:
                d = abs(opx - px) / px * _BP
                apart = max(d - tol_bps, (d - own) * 0.5)
                if apart < room:
                    room = apart
        if room < slack:
            slack = room
    return slack
