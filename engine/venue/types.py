"""Typed market-data /info results (protocol §3): meta, asset contexts, mids, books, candles, funding rates.

Market data is float: it feeds vol/quote math. Account data (positions, balances, orders, fills, funding
payments) lives in account.py as Decimal, because it feeds the exact ledger. Parsers raise `VenueDataError`
naming the offending field; a bad reply never half-parses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.venue._fields import VenueDataError, _flt, _get, _int, _list, _opt_flt

__all__ = ["VenueDataError"]  # re-exported: callers catch it from here


# ------------------------------------------------------------------ meta
@dataclass(frozen=True, slots=True)
class AssetInfo:
    name: str            # the coin string used in info/WS (perp name, "PURR/USDC", "@107")
    asset: int           # the id used in actions
    sz_decimals: int
    is_spot: bool
    max_leverage: int | None = None
    only_isolated: bool = False
    is_delisted: bool = False


@dataclass(frozen=True, slots=True)
class Meta:
    assets: tuple[AssetInfo, ...]

    def by_name(self) -> dict[str, AssetInfo]:
        return {a.name: a for a in self.assets}


def parse_meta(p: Any) -> Meta:
    out = []
    for i, u in enumerate(_list(_get(p, "universe", "meta"), "meta.universe")):
        w = f"meta.universe[{i}]"
        out.append(AssetInfo(name=_get(u, "name", w), asset=i, sz_decimals=_int(_get(u, "szDecimals", w), w),
                             is_spot=False, max_leverage=u.get("maxLeverage"),
                             only_isolated=bool(u.get("onlyIsolated", False)),
                             is_delisted=bool(u.get("isDelisted", False))))
    return Meta(tuple(out))


@dataclass(frozen=True, slots=True)
class SpotToken:
    name: str
    index: int
    sz_decimals: int
    wei_decimals: int
    token_id: str


@dataclass(frozen=True, slots=True)
class SpotMeta:
    tokens: tuple[SpotToken, ...]
    pairs: tuple[AssetInfo, ...]     # asset = 10000 + index; sz_decimals of the base token
    pair_tokens: dict = field(default_factory=dict)  # pair name -> (base token, quote token)

    def by_name(self) -> dict[str, AssetInfo]:
        """Pair name and "BASE/QUOTE" alias → pair (first wins, like the SDK's name_to_coin)."""
        m: dict[str, AssetInfo] = {p.name: p for p in self.pairs}
        for p in self.pairs:
            base, quote = self.pair_tokens[p.name]
            m.setdefault(f"{base.name}/{quote.name}", p)
        return m


def parse_spot_meta(p: Any) -> SpotMeta:
    tokens = {}
    for i, t in enumerate(_list(_get(p, "tokens", "spotMeta"), "spotMeta.tokens")):
        w = f"spotMeta.tokens[{i}]"
        tok = SpotToken(_get(t, "name", w), _int(_get(t, "index", w), w), _int(_get(t, "szDecimals", w), w),
                        int(t.get("weiDecimals", 0)), str(t.get("tokenId", "")))
        tokens[tok.index] = tok
    pairs, pair_tokens = [], {}
    for i, u in enumerate(_list(_get(p, "universe", "spotMeta"), "spotMeta.universe")):
        w = f"spotMeta.universe[{i}]"
        toks = _list(_get(u, "tokens", w), w + ".tokens")
        if len(toks) != 2 or toks[0] not in tokens or toks[1] not in tokens:
            raise VenueDataError(f"{w}.tokens: unknown token indexes {toks!r}")
        idx = _int(_get(u, "index", w), w)
        name = _get(u, "name", w)
        pairs.append(AssetInfo(name=name, asset=10000 + idx, sz_decimals=tokens[toks[0]].sz_decimals, is_spot=True))
        pair_tokens[name] = (tokens[toks[0]], tokens[toks[1]])
    return SpotMeta(tuple(tokens.values()), tuple(pairs), pair_tokens)


@dataclass(frozen=True, slots=True)
class PerpCtx:
    coin: str
    funding: float
    open_interest: float
    mark_px: float
    oracle_px: float
    mid_px: float | None
    premium: float | None
    day_ntl_vlm: float
    prev_day_px: float
    impact_pxs: tuple[float, float] | None


def parse_meta_and_ctxs(p: Any) -> tuple[Meta, list[PerpCtx]]:
    if not isinstance(p, list) or len(p) != 2:
        raise VenueDataError("metaAndAssetCtxs: expected [meta, ctxs]")
    meta = parse_meta(p[0])
    ctxs = _list(p[1], "metaAndAssetCtxs[1]")
    if len(ctxs) != len(meta.assets):
        raise VenueDataError(f"metaAndAssetCtxs: {len(ctxs)} ctxs for {len(meta.assets)} assets")
    out = []
    for a, c in zip(meta.assets, ctxs):
        w = f"assetCtx[{a.name}]"
        ip = c.get("impactPxs")
        out.append(PerpCtx(a.name, _flt(_get(c, "funding", w), w + ".funding"),
                           _flt(_get(c, "openInterest", w), w + ".openInterest"),
                           _flt(_get(c, "markPx", w), w + ".markPx"), _flt(_get(c, "oraclePx", w), w + ".oraclePx"),
                           _opt_flt(c.get("midPx"), w + ".midPx"), _opt_flt(c.get("premium"), w + ".premium"),
                           _flt(c.get("dayNtlVlm", 0), w + ".dayNtlVlm"), _flt(c.get("prevDayPx", 0), w),
                           (float(ip[0]), float(ip[1])) if ip else None))
    return meta, out


@dataclass(frozen=True, slots=True)
class SpotCtx:
    coin: str
    mark_px: float
    mid_px: float | None
    prev_day_px: float
    day_ntl_vlm: float


def parse_spot_meta_and_ctxs(p: Any) -> tuple[SpotMeta, list[SpotCtx]]:
    if not isinstance(p, list) or len(p) != 2:
        raise VenueDataError("spotMetaAndAssetCtxs: expected [spotMeta, ctxs]")
    meta = parse_spot_meta(p[0])
    out = []
    for i, c in enumerate(_list(p[1], "spotMetaAndAssetCtxs[1]")):
        w = f"spotAssetCtx[{i}]"
        out.append(SpotCtx(_get(c, "coin", w), _flt(_get(c, "markPx", w), w + ".markPx"),
                           _opt_flt(c.get("midPx"), w + ".midPx"), _flt(c.get("prevDayPx", 0), w),
                           _flt(c.get("dayNtlVlm", 0), w)))
    return meta, out


def parse_all_mids(p: Any) -> dict[str, float]:
    if not isinstance(p, dict):
        raise VenueDataError("allMids: expected an object")
    return {k: _flt(v, f"allMids.{k}") for k, v in p.items()}


# ------------------------------------------------------------------ book (shared with the WS feed)
@dataclass(frozen=True, slots=True)
class L2Book:
    coin: str
    time: int
    bids: tuple[tuple[float, float, int], ...]   # (px, sz, n) best first
    asks: tuple[tuple[float, float, int], ...]


def parse_l2_book(p: Any) -> L2Book:
    try:
        levels = p["levels"]
        bids = tuple((float(l["px"]), float(l["sz"]), l["n"]) for l in levels[0])
        asks = tuple((float(l["px"]), float(l["sz"]), l["n"]) for l in levels[1])
        return L2Book(p["coin"], p["time"], bids, asks)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise VenueDataError(f"l2Book: malformed ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True, slots=True)
class FundingRate:
    coin: str
    funding_rate: float
    premium: float
    time: int

    @property
    def key(self) -> tuple:
        return (self.coin, self.time)


def parse_funding_history(p: Any) -> list[FundingRate]:
    out = []
    for i, r in enumerate(_list(p, "fundingHistory")):
        w = f"fundingHistory[{i}]"
        out.append(FundingRate(_get(r, "coin", w), _flt(_get(r, "fundingRate", w), w + ".fundingRate"),
                               _flt(r.get("premium", 0), w + ".premium"), _int(_get(r, "time", w), w + ".time")))
    return out


@dataclass(frozen=True, slots=True)
class Candle:
    t: int
    T: int
    coin: str
    interval: str
    o: float
    h: float
    l: float  # noqa: E741 - the venue's field name
    c: float
    v: float
    n: int


def parse_candle(r: Any, where: str = "candle") -> Candle:
    return Candle(_int(_get(r, "t", where), where + ".t"), _int(_get(r, "T", where), where + ".T"),
                  _get(r, "s", where), _get(r, "i", where), _flt(_get(r, "o", where), where + ".o"),
                  _flt(_get(r, "h", where), where + ".h"), _flt(_get(r, "l", where), where + ".l"),
                  _flt(_get(r, "c", where), where + ".c"), _flt(_get(r, "v", where), where + ".v"),
                  int(r.get("n", 0)))


def parse_candles(p: Any) -> list[Candle]:
    return [parse_candle(r, f"candleSnapshot[{i}]") for i, r in enumerate(_list(p, "candleSnapshot"))]
