"""Keeps one coin's system-account liquidity equal to a target set of price levels.

Every driver (synthetic, replay, mirror) describes the book it wants as {price string: size
string} per side; `Ladder.sync` cancels what is no longer wanted and places what is missing through
the venue's unsigned system-account entry points. Only the difference is sent, so a random walk
that moves one level costs one cancel and one place, not a rebuild.
"""
from __future__ import annotations

import logging
import math
from decimal import Decimal
from typing import Any

log = logging.getLogger("sim.drivers")

# Internal accounts (never signers): resting liquidity and the takers that print trades.
SYSTEM_MAKER = "0x0000000000000000000000000000000000005151"
SYSTEM_TAKER = "0x0000000000000000000000000000000000007a7e"


def tick_size(px: float, sz_decimals: int, is_spot: bool) -> Decimal:
    """Smallest price step valid at `px`: 5 significant figures (integers always allowed) and at
    most MAX_DECIMALS - szDecimals decimals (6 perps, 8 spot)."""
    max_decimals = (8 if is_spot else 6) - sz_decimals
    sig_exp = math.floor(math.log10(px)) - 4 if px > 0 else -max_decimals
    exp = max(min(sig_exp, 0), -max_decimals)
    return Decimal(1).scaleb(exp)


def price_str(px: Decimal) -> str:
    """Wire form: fixed notation, trailing zeros stripped ("62205", "27.881")."""
    text = format(px.normalize(), "f")
    return text


def valid_price(px: Decimal, sz_decimals: int, is_spot: bool) -> bool:
    if px <= 0:
        return False
    tick = tick_size(float(px), sz_decimals, is_spot)
    return px % tick == 0


def oid_of(result: Any) -> int | None:
    """oid of a resting order from a system_order result ({"resting":{"oid":..}} or a status wrapper)."""
    if isinstance(result, dict):
        if "resting" in result and isinstance(result["resting"], dict):
            return result["resting"].get("oid")
        for key in ("status", "response", "data"):
            if key in result:
                found = oid_of(result[key])
                if found is not None:
                    return found
        statuses = result.get("statuses")
        if isinstance(statuses, list) and statuses:
            return oid_of(statuses[0])
    return None


class Ladder:
    def __init__(self, venue: Any, coin: str, account: str = SYSTEM_MAKER):
        self.venue = venue
        self.coin = coin
        self.account = account
        self.orders: dict[tuple[bool, str], tuple[int, str]] = {}  # (is_buy, px) -> (oid, sz placed)
        self._by_oid: dict[int, tuple[bool, str]] = {}

    def forget(self, oid: int) -> None:
        """The order left the book (filled, cancelled by the venue): stop tracking it."""
        key = self._by_oid.pop(oid, None)
        if key is not None and self.orders.get(key, (None,))[0] == oid:
            del self.orders[key]

    def adopt(self) -> None:
        """Rebuild tracking from the venue's open orders of this account and coin (after a state
        restore or a start from --state, the resting system orders are not ours to re-place)."""
        self.orders.clear()
        self._by_oid.clear()
        _, opens = self.venue.info({"type": "openOrders", "user": self.account, "dex": ""})
        for o in opens if isinstance(opens, list) else []:
            if o["coin"] != self.coin:
                continue
            key = (o["side"] == "B", price_str(Decimal(o["limitPx"])))
            if key in self.orders:  # two resting at one price: keep one level
                self.venue.system_cancel(self.account, self.coin, o["oid"])
                continue
            self.orders[key] = (o["oid"], price_str(Decimal(o["sz"])))
            self._by_oid[o["oid"]] = key

    def levels(self) -> int:
        return len(self.orders)

    def sync(self, bids: dict[str, str], asks: dict[str, str]) -> None:
        want = {(True, px): sz for px, sz in bids.items()}
        want.update({(False, px): sz for px, sz in asks.items()})
        # cancel first: the target book is uncrossed, so after this nothing we place can self-cross
        for key, (oid, sz) in list(self.orders.items()):
            if want.get(key) != sz:
                self.venue.system_cancel(self.account, self.coin, oid)
                self.orders.pop(key, None)
                self._by_oid.pop(oid, None)
        for key, sz in want.items():
            if key in self.orders:
                continue
            is_buy, px = key
            result = self.venue.system_order(self.account, self.coin, is_buy, px, sz, "Gtc")
            oid = oid_of(result)
            if oid is not None:
                self.orders[key] = (oid, sz)
                self._by_oid[oid] = key

    def clear(self) -> None:
        self.sync({}, {})


def market_info(venue: Any) -> dict[str, dict]:
    """coin -> {"sz_decimals", "is_spot", "base"} for every tradable coin of the venue."""
    _, meta = venue.info({"type": "meta", "dex": ""})
    _, spot = venue.info({"type": "spotMeta"})
    out: dict[str, dict] = {}
    for asset in meta["universe"]:
        out[asset["name"]] = {"sz_decimals": int(asset["szDecimals"]), "is_spot": False, "base": asset["name"]}
    tokens = {t["index"]: t for t in spot["tokens"]}
    for pair in spot["universe"]:
        base = tokens[pair["tokens"][0]]
        out[pair["name"]] = {"sz_decimals": int(base["szDecimals"]), "is_spot": True, "base": base["name"]}
    return out
