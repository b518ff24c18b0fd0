"""Typed /info results (protocol §3) and their parsers.

Market data (books, mids, contexts, candles, funding rates) is float: it feeds vol/quote math. Account data
(positions, balances, orders, fills, funding payments) is Decimal: it feeds the ledger, which is exact.
Fills and funding rows keep their `raw` venue dict because the ledger's idempotent upserts take the venue
shape. Parsers raise `VenueDataError` naming the offending field; a bad reply never half-parses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


class VenueDataError(ValueError):
    """A venue reply is missing a field or has one of the wrong type (message names it)."""


def _get(d: Any, key: str, where: str) -> Any:
    try:
        return d[key]
    except (KeyError, TypeError, IndexError):
        raise VenueDataError(f"{where}: missing field {key!r}") from None


def _dec(v: Any, where: str) -> Decimal:
    if isinstance(v, bool) or v is None:
        raise VenueDataError(f"{where}: expected a decimal string, got {v!r}")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise VenueDataError(f"{where}: not a decimal: {v!r}") from None
    if not d.is_finite():
        raise VenueDataError(f"{where}: not finite: {v!r}")
    return d


def _opt_dec(v: Any, where: str) -> Decimal | None:
    return None if v is None else _dec(v, where)


def _flt(v: Any, where: str) -> float:
    if isinstance(v, bool) or v is None:
        raise VenueDataError(f"{where}: expected a number string, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise VenueDataError(f"{where}: not a number: {v!r}") from None


def _opt_flt(v: Any, where: str) -> float | None:
    return None if v is None else _flt(v, where)


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise VenueDataError(f"{where}: expected an int, got {v!r}")
    return v


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise VenueDataError(f"{where}: expected a list, got {type(v).__name__}")
    return v


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


# ------------------------------------------------------------------ account
@dataclass(frozen=True, slots=True)
class Position:
    coin: str
    szi: Decimal
    entry_px: Decimal | None
    leverage_type: str
    leverage: int
    liquidation_px: Decimal | None
    margin_used: Decimal
    position_value: Decimal
    unrealized_pnl: Decimal
    cum_funding_since_open: Decimal | None


@dataclass(frozen=True, slots=True)
class ClearinghouseState:
    positions: tuple[Position, ...]
    account_value: Decimal
    total_ntl_pos: Decimal
    total_margin_used: Decimal
    withdrawable: Decimal
    time: int | None

    def position(self, coin: str) -> Position | None:
        return next((p for p in self.positions if p.coin == coin), None)


def parse_clearinghouse_state(p: Any) -> ClearinghouseState:
    pos = []
    for i, ap in enumerate(_list(_get(p, "assetPositions", "clearinghouseState"), "assetPositions")):
        q = _get(ap, "position", f"assetPositions[{i}]")
        w = f"assetPositions[{i}].position"
        lev = _get(q, "leverage", w)
        cf = q.get("cumFunding") or {}
        pos.append(Position(_get(q, "coin", w), _dec(_get(q, "szi", w), w + ".szi"),
                            _opt_dec(q.get("entryPx"), w + ".entryPx"), str(_get(lev, "type", w + ".leverage")),
                            _int(_get(lev, "value", w + ".leverage"), w + ".leverage.value"),
                            _opt_dec(q.get("liquidationPx"), w + ".liquidationPx"),
                            _dec(q.get("marginUsed", "0"), w + ".marginUsed"),
                            _dec(q.get("positionValue", "0"), w + ".positionValue"),
                            _dec(q.get("unrealizedPnl", "0"), w + ".unrealizedPnl"),
                            _opt_dec(cf.get("sinceOpen"), w + ".cumFunding.sinceOpen")))
    ms = _get(p, "marginSummary", "clearinghouseState")
    w = "clearinghouseState.marginSummary"
    return ClearinghouseState(tuple(pos), _dec(_get(ms, "accountValue", w), w + ".accountValue"),
                              _dec(_get(ms, "totalNtlPos", w), w + ".totalNtlPos"),
                              _dec(_get(ms, "totalMarginUsed", w), w + ".totalMarginUsed"),
                              _dec(_get(p, "withdrawable", "clearinghouseState"), "withdrawable"), p.get("time"))


@dataclass(frozen=True, slots=True)
class SpotBalance:
    coin: str
    token: int
    total: Decimal
    hold: Decimal
    entry_ntl: Decimal | None


def parse_spot_state(p: Any) -> dict[str, SpotBalance]:
    out = {}
    for i, b in enumerate(_list(_get(p, "balances", "spotClearinghouseState"), "balances")):
        w = f"balances[{i}]"
        sb = SpotBalance(_get(b, "coin", w), _int(_get(b, "token", w), w + ".token"),
                         _dec(_get(b, "total", w), w + ".total"), _dec(_get(b, "hold", w), w + ".hold"),
                         _opt_dec(b.get("entryNtl"), w + ".entryNtl"))
        out[sb.coin] = sb
    return out


@dataclass(frozen=True, slots=True)
class OpenOrder:
    coin: str
    side: str          # "B" | "A"
    limit_px: Decimal
    sz: Decimal
    oid: int
    timestamp: int
    orig_sz: Decimal
    reduce_only: bool
    cloid: str | None
    order_type: str | None = None
    tif: str | None = None
    is_trigger: bool = False
    trigger_px: Decimal | None = None

    @property
    def is_buy(self) -> bool:
        return self.side == "B"


def parse_order(o: Any, where: str = "order") -> OpenOrder:
    side = _get(o, "side", where)
    if side not in ("A", "B"):
        raise VenueDataError(f"{where}.side: expected 'A' or 'B', got {side!r}")
    tp = o.get("triggerPx")
    return OpenOrder(_get(o, "coin", where), side, _dec(_get(o, "limitPx", where), where + ".limitPx"),
                     _dec(_get(o, "sz", where), where + ".sz"), _int(_get(o, "oid", where), where + ".oid"),
                     _int(_get(o, "timestamp", where), where + ".timestamp"),
                     _dec(o.get("origSz", o["sz"]), where + ".origSz"), bool(o.get("reduceOnly", False)),
                     o.get("cloid"), o.get("orderType"), o.get("tif"), bool(o.get("isTrigger", False)),
                     _opt_dec(tp, where + ".triggerPx"))


def parse_open_orders(p: Any) -> list[OpenOrder]:
    return [parse_order(o, f"openOrders[{i}]") for i, o in enumerate(_list(p, "openOrders"))]


@dataclass(frozen=True, slots=True)
class OrderStatus:
    found: bool                 # False = "unknownOid"
    order: OpenOrder | None
    status: str | None          # open, filled, canceled, ...Rejected, ...
    status_timestamp: int | None


def parse_order_status(p: Any) -> OrderStatus:
    st = _get(p, "status", "orderStatus")
    if st == "unknownOid":
        return OrderStatus(False, None, None, None)
    if st != "order":
        raise VenueDataError(f"orderStatus.status: unexpected {st!r}")
    rec = _get(p, "order", "orderStatus")
    return OrderStatus(True, parse_order(_get(rec, "order", "orderStatus.order"), "orderStatus.order.order"),
                       _get(rec, "status", "orderStatus.order"), rec.get("statusTimestamp"))


@dataclass(frozen=True, slots=True)
class Fill:
    coin: str
    px: Decimal
    sz: Decimal
    side: str
    time: int
    dir: str
    closed_pnl: Decimal
    hash: str
    oid: int
    tid: int
    crossed: bool
    fee: Decimal
    fee_token: str
    start_position: Decimal
    cloid: str | None
    raw: dict = field(compare=False, repr=False)

    @property
    def key(self) -> tuple:
        """Venue identity of a fill (tid is unique with time and coin)."""
        return (self.tid, self.time, self.coin)


def parse_fill(f: Any, where: str = "fill") -> Fill:
    return Fill(_get(f, "coin", where), _dec(_get(f, "px", where), where + ".px"),
                _dec(_get(f, "sz", where), where + ".sz"), _get(f, "side", where),
                _int(_get(f, "time", where), where + ".time"), str(f.get("dir", "")),
                _dec(f.get("closedPnl", "0"), where + ".closedPnl"), str(f.get("hash", "")),
                _int(_get(f, "oid", where), where + ".oid"), _int(_get(f, "tid", where), where + ".tid"),
                bool(f.get("crossed", False)), _dec(_get(f, "fee", where), where + ".fee"),
                str(f.get("feeToken", "USDC")), _dec(f.get("startPosition", "0"), where + ".startPosition"),
                f.get("cloid"), f)


def parse_fills(p: Any, where: str = "userFills") -> list[Fill]:
    return [parse_fill(f, f"{where}[{i}]") for i, f in enumerate(_list(p, where))]


@dataclass(frozen=True, slots=True)
class FundingPayment:
    time: int
    coin: str
    usdc: Decimal
    szi: Decimal
    funding_rate: Decimal
    hash: str
    raw: dict = field(compare=False, repr=False)

    @property
    def key(self) -> tuple:
        return (self.time, self.coin, self.hash)


def parse_user_funding(p: Any) -> list[FundingPayment]:
    out = []
    for i, r in enumerate(_list(p, "userFunding")):
        w = f"userFunding[{i}]"
        d = _get(r, "delta", w)
        out.append(FundingPayment(_int(_get(r, "time", w), w + ".time"), _get(d, "coin", w + ".delta"),
                                  _dec(_get(d, "usdc", w + ".delta"), w + ".delta.usdc"),
                                  _dec(_get(d, "szi", w + ".delta"), w + ".delta.szi"),
                                  _dec(_get(d, "fundingRate", w + ".delta"), w + ".delta.fundingRate"),
                                  str(r.get("hash", "")), r))
    return out


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


@dataclass(frozen=True, slots=True)
class UserRateLimit:
    cum_vlm: Decimal
    n_requests_used: int
    n_requests_cap: int
    raw: dict = field(compare=False, repr=False)


def parse_user_rate_limit(p: Any) -> UserRateLimit:
    w = "userRateLimit"
    return UserRateLimit(_dec(_get(p, "cumVlm", w), w + ".cumVlm"), _int(_get(p, "nRequestsUsed", w), w),
                         _int(_get(p, "nRequestsCap", w), w), p)
