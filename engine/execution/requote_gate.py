"""`RequoteGate`: when a new touch provably cannot change the decision, skip deciding.

A market's decision (quotes → risk → diff) is re-run on every change of its inputs. Most changes of a liquid
book only move the touch a little; with a requote tolerance > 0 the decision then usually keeps every order.
The gate proves that in O(1) per leg, instead of running the whole decision, from facts recorded when the
decision was made (`arm`):

* every resting order sits within `slack_bp` of the price the decision wanted for it (slack = tolerance −
  the farthest a kept order was from its desired price; replaced and new orders sit exactly there);
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
    __slots__ = ("open", "_legs", "skipped")

    def __init__(self) -> None:
        self.open = False
        self._legs: tuple = ()  # per leg: (coin, mid0, slack_bp, tick_bp, highest bid, lowest ask, tick)
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
        kept_dist: dict[str, float] = {}
        for live, q in decision.plan.kept:
            d = abs(float(live.px) - float(q.px)) / float(q.px) * _BP
            if d > kept_dist.get(q.coin, 0.0):
                kept_dist[q.coin] = d
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
            slack = tol_bps - kept_dist.get(leg.coin, 0.0)
            legs.append((leg.coin, mid, slack, tick / mid * _BP, hi_bid, lo_ask, tick))
        self._legs = tuple(legs)
        self.open = bool(legs)

    def holds(self, books: Any, now: int) -> bool:
        """True when the current books provably leave the last decision unchanged (count a skip)."""
        for coin, mid0, slack, tick_bp, hi_bid, lo_ask, tick in self._legs:
            book = books.fresh_book(coin, now)
            if book is None:
                return False
            bb, ba = book.bids[0][0], book.asks[0][0]
            mid = (bb + ba) * 0.5
            if MID_GAIN * abs(mid - mid0) / mid0 * _BP + tick_bp >= slack:
                return False
            if (hi_bid is not None and hi_bid >= ba - 2 * tick) or (lo_ask is not None and lo_ask <= bb + 2 * tick):
                return False
        self.skipped += 1
        return True
