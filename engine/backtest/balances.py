"""The replayed account's balances and the venue's balance/margin checks, as the simulated venue applies them.

The live engine is bounded by what the venue holds for it: a spot bid needs the USDC, a spot ask needs the
coin, a perp order needs margin. The replay plays that venue, so it keeps the same three balances and refuses
what Hyperliquid would refuse:

* spot USDC and spot coin (the spot leg's position *is* the coin balance, as `Inventory.qty` reads it live);
  a resting spot order holds its balance (a bid `px · sz · (1 + taker fee)`, so a fee can never overdraw it;
  an ask its size) and is rejected on arrival when the free balance does not cover it; a taker order is
  clipped to the free balance;
* perp margin, cross-margin style: account value = perp USDC + position · mark (funding and fees are paid
  from the perp USDC); an order that adds exposure is refused when the worst-case position it could leave
  (position + our resting orders on that side + it) would need more initial margin (notional / leverage)
  than the account value. Orders that only reduce the position always pass. No liquidation is modelled.

The *quoting* side is bounded the way `engine.loop.Engine.decide` bounds it: the spot leg's `LegState`
carries buy capacity = spot USDC / mid and sell capacity = spot coin; the perp leg carries none (margin is the
venue's check, above).
"""
from __future__ import annotations

from typing import Iterable

from engine.backtest.models import BUY, SimOrder


class Balances:
    __slots__ = ("spot_usdc", "perp_usdc", "leverage", "rejects", "clipped", "min_spot_usdc")

    def __init__(self, spot_usdc: float, perp_usdc: float, leverage: float):
        if spot_usdc < 0 or perp_usdc < 0:
            raise ValueError(f"starting balances must be >= 0 (spot_usdc={spot_usdc}, perp_usdc={perp_usdc})")
        if leverage <= 0:
            raise ValueError(f"perp_leverage must be > 0, got {leverage}")
        self.spot_usdc = spot_usdc
        self.perp_usdc = perp_usdc
        self.leverage = leverage
        self.rejects = 0  # orders the venue refused for balance / margin
        self.clipped = 0  # taker orders cut down to the free balance / margin
        self.min_spot_usdc = spot_usdc  # lowest balance seen (tests: never below zero)

    # ------------------------------------------------------------ bookkeeping
    def on_fill(self, is_spot: bool, signed: float, px: float, fee: float) -> None:
        if is_spot:
            self.spot_usdc -= signed * px + fee
            if self.spot_usdc < self.min_spot_usdc:
                self.min_spot_usdc = self.spot_usdc
        else:
            self.perp_usdc -= signed * px + fee

    # ------------------------------------------------------------ venue checks
    @staticmethod
    def _held(live: Iterable[SimOrder], side: int, fee: float, in_usdc: bool) -> float:
        held = 0.0
        for o in live:
            if o.side == side:
                held += o.qty * o.px * (1 + fee) if in_usdc else o.qty
        return held

    def spot_free(self, is_buy: bool, coin: float, live: Iterable[SimOrder], fee: float) -> float:
        """Free USDC (buy) or free coin (sell): balance minus what our resting orders on that side hold."""
        if is_buy:
            return self.spot_usdc - self._held(live, BUY, fee, True)
        return coin - self._held(live, -BUY, fee, False)

    def perp_room(self, is_buy: bool, position: float, mark: float, px: float, live: Iterable[SimOrder]) -> float:
        """How much an exposure-adding perp order on this side may still be (coin), given margin."""
        value = self.perp_usdc + position * mark
        worst = position
        side = BUY if is_buy else -BUY
        for o in live:
            if o.side == side:
                worst += o.qty if is_buy else -o.qty
        cap = max(value, 0.0) * self.leverage / px  # |position| the account value can margin at this price
        return cap - worst if is_buy else cap + worst

    def accepts(self, order: SimOrder, is_spot: bool, position: float, mark: float, live: Iterable[SimOrder],
                taker_fee: float) -> bool:
        """Would the venue take this resting order now (balance / margin)?"""
        is_buy = order.side == BUY
        if is_spot:
            free = self.spot_free(is_buy, position, live, taker_fee)
            need = order.qty * order.px * (1 + taker_fee) if is_buy else order.qty
            ok = need <= free + 1e-9
        else:
            reducing = (position < 0) if is_buy else (position > 0)
            ok = (reducing and order.qty <= abs(position) + 1e-12) or \
                order.qty <= self.perp_room(is_buy, position, mark, order.px, live) + 1e-12
        if not ok:
            self.rejects += 1
        return ok

    def taker_qty(self, is_spot: bool, is_buy: bool, qty: float, px: float, position: float, mark: float,
                  live: Iterable[SimOrder], taker_fee: float) -> float:
        """The part of an Ioc the balance / margin lets through (the rest is refused by the venue)."""
        if is_spot:
            free = self.spot_free(is_buy, position, live, taker_fee)
            room = free / (px * (1 + taker_fee)) if is_buy else free
        else:
            reducing = abs(position) if ((position < 0) if is_buy else (position > 0)) else 0.0
            room = max(reducing, self.perp_room(is_buy, position, mark, px, live))
        room = max(room, 0.0)
        if qty > room + 1e-12:
            self.clipped += 1
            return room
        return qty
