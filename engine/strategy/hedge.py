"""Delta hedger decision: when net delta leaves its band, flatten it on the cheaper leg.

Quoting fills on either leg and the carry both move the one shared inventory; net delta is
spot qty + perp qty (perp short is negative). Inside the band we do nothing (every hedge pays taker fee and
half the spread). Outside it we send one IOC order for the whole excess on the leg whose expected cost —
taker fee + half the quoted spread, as fractions of mid — is lower. A spot sell can only use coin we own,
so when the spot leg cannot carry the whole hedge the perp does it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.strategy import rounding as R
from engine.strategy.quotes import Leg


@dataclass(frozen=True, slots=True)
class LegMarket:
    coin: str
    leg: Leg
    sz_decimals: int
    best_bid: float
    best_ask: float
    taker_fee: float  # fraction, e.g. 0.00045 perp / 0.0007 spot base tier

    @property
    def cost_frac(self) -> float:
        mid = (self.best_bid + self.best_ask) / 2
        return self.taker_fee + (self.best_ask - self.best_bid) / 2 / mid


@dataclass(frozen=True, slots=True)
class HedgeParams:
    band_usd: float = 50.0  # |net delta| · mid tolerated without hedging
    slippage: float = 0.002  # IOC limit this far beyond the touch, so a thin top level does not starve it
    min_notional: float = 10.0


@dataclass(frozen=True, slots=True)
class HedgeOrder:
    coin: str
    leg: Leg
    is_buy: bool
    sz: Decimal
    px: Decimal  # IOC limit price (named like Quote.px so risk.evaluate takes both)
    cost_frac: float
    reason: str
    tif: str = "Ioc"


def net_delta(spot_qty: float, perp_qty: float) -> float:
    return spot_qty + perp_qty


def hedge_decision(spot_qty: float, perp_qty: float, spot: LegMarket, perp: LegMarket, params: HedgeParams,
                   target_delta: float = 0.0) -> HedgeOrder | None:
    """The hedge to send now, or None (inside the band, or too small to be a valid venue order)."""
    for m in (spot, perp):
        if not (0 < m.best_bid < m.best_ask):
            raise ValueError(f"hedge_decision: {m.leg} book unusable (bid={m.best_bid}, ask={m.best_ask})")
    excess = net_delta(spot_qty, perp_qty) - target_delta
    mid = (perp.best_bid + perp.best_ask) / 2
    if abs(excess) * mid <= params.band_usd:
        return None
    is_buy = excess < 0
    want = abs(excess)
    # spot can only sell what we hold; buying spot is always possible (USDC checked by risk)
    spot_ok = is_buy or spot_qty >= want
    candidates = [perp] + ([spot] if spot_ok else [])
    leg = min(candidates, key=lambda m: (m.cost_frac, m.leg != "perp"))  # tie → perp (margin, no inventory)
    is_spot = leg.leg == "spot"
    sz = R.round_size(Decimal(repr(want)), leg.sz_decimals)
    raw = leg.best_ask * (1 + params.slippage) if is_buy else leg.best_bid * (1 - params.slippage)
    px = R.round_price(raw, leg.sz_decimals, is_spot, "up" if is_buy else "down")
    if px is None or sz <= 0 or px * sz < Decimal(repr(params.min_notional)):
        return None
    others = ", ".join(f"{m.leg} {m.cost_frac * 1e4:.2f}bp" for m in (spot, perp))
    return HedgeOrder(leg.coin, leg.leg, is_buy, sz, px, leg.cost_frac,
                      f"net delta {excess:+.6g} ({excess * mid:+.2f} USD) outside band {params.band_usd}; "
                      f"costs {others}")


def clear_of_own(order: HedgeOrder, own_opposite_px: list[Decimal], sz_decimals: int,
                 is_spot: bool) -> HedgeOrder | None:
    """The taker order priced so it cannot trade with any of our own orders on the other side that may still
    rest (`own_opposite_px`: their limit prices): a buy's limit strictly below our lowest ask, a sell's strictly
    above our highest bid. The venue would cancel such an order of ours as a self-trade, and a hedge must never
    trade with ourselves; against others' liquidity between the touch and our order it still fills. None when no
    valid price is left (nothing to take this time)."""
    if not own_opposite_px:
        return order
    if order.is_buy:
        bound = R.next_price_below(min(own_opposite_px), sz_decimals, is_spot)
        if bound is None:
            return None
        return order if order.px <= bound else HedgeOrder(order.coin, order.leg, True, order.sz, bound,
                                                           order.cost_frac, order.reason, order.tif)
    bound = R.next_price_above(max(own_opposite_px), sz_decimals, is_spot)
    return order if order.px >= bound else HedgeOrder(order.coin, order.leg, False, order.sz, bound,
                                                       order.cost_frac, order.reason, order.tif)
