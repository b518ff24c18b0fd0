"""The config's [[markets]] entries resolved against the venue's meta.

One market = one coin with up to two legs (spot pair and perp) sharing one inventory, one volatility
estimate (from the perp mid, or the spot mid when there is no perp) and one carry target (execution/carry.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.market.state import CoinVol


class StartupError(RuntimeError):
    """The engine cannot start: the message says which setting or venue fact is wrong."""


@dataclass(frozen=True, slots=True)
class Leg:
    name: str          # "spot" | "perp"
    coin: str          # wire coin ("HYPE", "@1")
    asset: int
    sz_decimals: int
    base: str | None = None   # spot base token
    quote: str | None = None  # spot quote token
    max_leverage: int | None = None

    @property
    def is_spot(self) -> bool:
        return self.name == "spot"


@dataclass(slots=True)
class MarketRuntime:
    """One configured market as the venue lists it: its legs, its volatility estimate and, for people and
    tests, the quoter's last status line ("quoting", "paused: ...", "killed")."""
    coin: str
    legs: list[Leg]
    vol: CoinVol
    status: str = "starting"

    @property
    def coins(self) -> list[str]:
        return [leg.coin for leg in self.legs]

    def leg(self, name: str) -> Leg | None:
        for leg in self.legs:  # a plain loop: asked several times per book event, a generator costs more
            if leg.name == name:
                return leg
        return None

    @property
    def vol_coin(self) -> str:
        perp = self.leg("perp")
        return perp.coin if perp else self.legs[0].coin


def resolve_markets(markets_cfg: list[Any], meta: Any, spot_meta: Any, vol_interval_ms: int,
                    atr_window: int) -> list[MarketRuntime]:
    """Config markets → runtimes, or StartupError naming the config key and what the venue lists."""
    perps = meta.by_name()
    pairs = spot_meta.by_name()
    out = []
    for i, m in enumerate(markets_cfg):
        legs: list[Leg] = []
        if m.perp:
            a = perps.get(m.perp_name)
            if a is None or a.is_delisted:
                raise StartupError(f"markets[{i}].perp_name = {m.perp_name!r}: the venue lists no such perp "
                                   f"(available: {', '.join(sorted(perps)[:20])})")
            legs.append(Leg("perp", a.name, a.asset, a.sz_decimals, max_leverage=a.max_leverage))
        if m.spot:
            p = pairs.get(m.spot_pair)
            if p is None:
                raise StartupError(f"markets[{i}].spot_pair = {m.spot_pair!r}: the venue lists no such spot pair "
                                   f"(available: {', '.join(sorted(pairs)[:20])})")
            base, quote = spot_meta.pair_tokens[p.name]
            legs.append(Leg("spot", p.name, p.asset, p.sz_decimals, base=base.name, quote=quote.name))
        out.append(MarketRuntime(m.coin, legs, CoinVol(interval_ms=vol_interval_ms, atr_period=atr_window)))
    return out


INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
               "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
               "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000}
