"""Typed account /info results (protocol §3): positions, spot balances, open orders, order status, fills,
funding payments, user rate limit. Decimal throughout (they feed the exact ledger). Fills and funding rows keep
their `raw` venue dict because the ledger's idempotent upserts take the venue shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from engine.venue._fields import VenueDataError, _dec, _get, _int, _list, _opt_dec


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


class OpenOrder(NamedTuple):
    """One order record (openOrders, orderUpdates, orderStatus). A named tuple, not a frozen dataclass: one is
    built for every order update, and a tuple of 13 fields is built ~4x faster."""
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


# an order's price and sizes recur from update to update (our few quote prices, one order size, origSz = sz):
# the Decimal of each such string is remembered (only finite ones; Decimal(s) is exact, whatever the context)
_FINITE: dict[str, Decimal] = {}


def _finite_dec(s: str) -> Decimal | None:
    """Decimal(s), remembered, or None if it is not finite; raises ArithmeticError if `s` is no number."""
    d = Decimal(s)
    if not d.is_finite():
        return None
    if len(_FINITE) >= 8192:
        _FINITE.clear()
    _FINITE[s] = d
    return d


def parse_order(o: Any, where: str = "order") -> OpenOrder:
    """One order record; every failure names the field. The common, well-formed record takes a fast path
    (no field names are built unless something is wrong: this runs for every order update)."""
    try:
        side, px, sz = o["side"], o["limitPx"], o["sz"]
        orig, oid, ts = o.get("origSz", sz), o["oid"], o["timestamp"]
        if (side == "B" or side == "A") and type(px) is str and type(sz) is str and type(orig) is str \
                and type(oid) is int and type(ts) is int and "triggerPx" not in o:
            known = _FINITE.get
            d_px, d_sz, d_orig = known(px), known(sz), known(orig)
            if d_px is None or d_sz is None or d_orig is None:
                d_px, d_sz, d_orig = _finite_dec(px), _finite_dec(sz), _finite_dec(orig)
            if d_px is not None and d_sz is not None and d_orig is not None:
                return OpenOrder(o["coin"], side, d_px, d_sz, oid, ts, d_orig, bool(o.get("reduceOnly", False)),
                                 o.get("cloid"), o.get("orderType"), o.get("tif"), bool(o.get("isTrigger", False)))
    except (KeyError, TypeError, ArithmeticError):
        pass  # the checked path below names what is wrong
    return _parse_order_checked(o, where)


def _parse_order_checked(o: Any, where: str) -> OpenOrder:
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
class UserRateLimit:
    cum_vlm: Decimal
    n_requests_used: int
    n_requests_cap: int
    raw: dict = field(compare=False, repr=False)


def parse_user_rate_limit(p: Any) -> UserRateLimit:
    w = "userRateLimit"
    return UserRateLimit(_dec(_get(p, "cumVlm", w), w + ".cumVlm"), _int(_get(p, "nRequestsUsed", w), w),
                         _int(_get(p, "nRequestsCap", w), w), p)
