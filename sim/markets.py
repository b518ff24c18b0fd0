"""The venue's universe: perps BTC/ETH/SOL/HYPE, spot tokens USDC/PURR/HYPE and two spot pairs.

Asset ids follow Hyperliquid: perp = index in meta.universe, spot = 10000 + spot pair index.
Prices in the book are ints scaled by 10**px_decimals where px_decimals = MAX_DECIMALS -
szDecimals (6 perps, 8 spot), sizes by 10**sz_decimals, so px_int * sz_int is the notional in
units of 10**-(MAX_DECIMALS) quote: micro-USDC for perps, 1e-8 USDC for spot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Context, Decimal

PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
SPOT_ASSET_OFFSET = 10_000


@dataclass(frozen=True)
class Token:
    index: int
    name: str
    sz_decimals: int
    wei_decimals: int
    token_id: str

    def meta(self) -> dict:
        return {"name": self.name, "szDecimals": self.sz_decimals, "weiDecimals": self.wei_decimals,
                "index": self.index, "tokenId": self.token_id, "isCanonical": True,
                "evmContract": None, "fullName": None}


@dataclass(frozen=True)
class Market:
    asset: int
    coin: str  # wire name: "BTC", "PURR/USDC", "@1"
    sz_decimals: int
    is_spot: bool
    default_px: Decimal
    max_leverage: int = 0  # perps only
    base_token: int = -1  # spot only
    quote_token: int = 0
    impact_ntl: Decimal = Decimal(6000)
    spot_index: int = -1
    # derived once (read on every order): price decimals = MAX_DECIMALS - szDecimals
    px_decimals: int = field(init=False)
    ntl_decimals: int = field(init=False)

    def __post_init__(self) -> None:
        max_dec = SPOT_MAX_DECIMALS if self.is_spot else PERP_MAX_DECIMALS
        object.__setattr__(self, "ntl_decimals", max_dec)
        object.__setattr__(self, "px_decimals", max_dec - self.sz_decimals)

    def px_dec(self, px_int: int) -> Decimal:
        return Decimal(px_int).scaleb(-self.px_decimals)

    def sz_dec(self, sz_int: int) -> Decimal:
        return Decimal(sz_int).scaleb(-self.sz_decimals)

    def ntl_dec(self, ntl_int: int) -> Decimal:
        # exact: scaleb only moves the exponent (a 60-digit context keeps every digit of a notional)
        return Decimal(ntl_int).scaleb(-self.ntl_decimals, _EXACT)


_EXACT = Context(prec=60)

TOKENS: tuple[Token, ...] = (
    Token(0, "USDC", 8, 8, "0x6d1e7cde53ba9467b783cb7c530ce054"),
    Token(1, "PURR", 0, 5, "0xc1fb593aeffbeb02f85e0308e9956a90"),
    Token(2, "HYPE", 2, 8, "0x0d01dc56dcaaca66ad901c959b4011ec"),
)


def default_markets() -> list[Market]:
    perps = [("BTC", 5, 40, "100000", "20000"), ("ETH", 4, 25, "3500", "20000"),
             ("SOL", 2, 20, "180", "6000"), ("HYPE", 2, 10, "30", "6000")]
    out = [Market(asset=i, coin=name, sz_decimals=szd, is_spot=False, default_px=Decimal(px),
                  max_leverage=lev, impact_ntl=Decimal(impact))
           for i, (name, szd, lev, px, impact) in enumerate(perps)]
    spot = [("PURR/USDC", 1, "0.2"), ("@1", 2, "30")]
    for idx, (name, base, px) in enumerate(spot):
        out.append(Market(asset=SPOT_ASSET_OFFSET + idx, coin=name, is_spot=True,
                          sz_decimals=TOKENS[base].sz_decimals, default_px=Decimal(px),
                          base_token=base, quote_token=0, spot_index=idx))
    return out


class Universe:
    """Lookup tables over the markets and tokens (built once)."""

    def __init__(self, markets: list[Market] | None = None, tokens: tuple[Token, ...] = TOKENS) -> None:
        self.markets = markets or default_markets()
        self.tokens = tokens
        self.by_asset = {m.asset: m for m in self.markets}
        self.by_coin = {m.coin: m for m in self.markets}
        self.perps = [m for m in self.markets if not m.is_spot]
        self.spots = [m for m in self.markets if m.is_spot]
        self.token_by_name = {t.name: t for t in tokens}
        # "HYPE/USDC" style aliases resolve to the pair's wire name, like the SDK's name_to_coin
        self.aliases = {f"{tokens[m.base_token].name}/{tokens[m.quote_token].name}": m.coin for m in self.spots}

    def market(self, coin: str) -> Market:
        m = self.by_coin.get(coin) or self.by_coin.get(self.aliases.get(coin, ""))
        if m is None:
            raise KeyError(f"unknown coin {coin!r}; known: {', '.join(self.by_coin)}")
        return m

    def meta(self) -> dict:
        return {"universe": [{"name": m.coin, "szDecimals": m.sz_decimals, "maxLeverage": m.max_leverage,
                              "marginTableId": m.max_leverage} for m in self.perps],
                "marginTables": [[m.max_leverage, {"description": "", "marginTiers": [
                    {"lowerBound": "0.0", "maxLeverage": m.max_leverage}]}]
                    for m in sorted({m.max_leverage: m for m in self.perps}.values(), key=lambda x: x.max_leverage)],
                "collateralToken": 0}

    def spot_meta(self) -> dict:
        return {"tokens": [t.meta() for t in self.tokens],
                "universe": [{"name": m.coin, "tokens": [m.base_token, m.quote_token], "index": m.spot_index,
                              "isCanonical": m.coin == "PURR/USDC"} for m in self.spots]}
