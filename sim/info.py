"""POST /info: every query the SDK sends (protocol notes §3), answered from `Core` state.

Returns (HTTP status, payload); unknown types and malformed bodies are the venue's 422 plain
text. Display numbers are rounded to 8 decimals (state stays exact Decimal).
"""
from __future__ import annotations

from decimal import Decimal

from . import funding
from .candles import INTERVAL_MS
from .core import Core
from .info_extra import MARKET_EXTRA, USER_EXTRA, BadInfo
from .info_user import USER_QUERIES, is_address
from .numbers import ZERO, dec_str, scaled_str

DESERIALIZE = "Failed to deserialize the JSON body into the target type"


class BadQuery(Exception):
    pass


def handle(core: Core, body) -> tuple[int, object]:
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return 422, DESERIALIZE
    kind = body["type"]
    fn = MARKET_QUERIES.get(kind)
    try:
        if fn is not None:
            return 200, fn(core, body)
        fn = USER_QUERIES.get(kind)
        if fn is None:
            return 422, DESERIALIZE
        user = body.get("user")
        if not is_address(user):
            return 422, DESERIALIZE
        return 200, fn(core, user.lower(), body)
    except (BadQuery, BadInfo):
        return 422, DESERIALIZE


def _opt_int(body: dict, key: str, default):
    v = body.get(key)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool):
        raise BadQuery(key)
    return v


def mids(core: Core) -> dict:
    out = {}
    for m in core.u.markets:
        mid = core.mid(m.coin)
        if mid is None:
            mid = core.last_px.get(m.coin, core.oracle[m.coin])
        out[m.coin] = dec_str(mid)
    return out


def perp_ctx(core: Core, m) -> dict:
    coin = m.coin
    ntl, base, first = core.candles.day_stats(coin, core.clock.now_ms())
    oracle = core.oracle[coin]
    mid = core.mid(coin)
    ib, ia = funding.impact_px(core, m, True), funding.impact_px(core, m, False)
    oi = sum((u.positions[coin].szi for u in core.users.values()
              if coin in u.positions and u.positions[coin].szi > 0), ZERO)
    return {"funding": dec_str(funding.current_rate(core, m)), "openInterest": dec_str(oi),
            "prevDayPx": dec_str(first if first is not None else oracle), "dayNtlVlm": dec_str(ntl),
            "premium": dec_str(funding.premium(core, m)), "oraclePx": dec_str(oracle),
            "markPx": dec_str(core.marks()[coin]), "midPx": dec_str(mid) if mid is not None else None,
            "impactPxs": [dec_str(ib), dec_str(ia)] if ib is not None and ia is not None else None,
            "dayBaseVlm": dec_str(base)}


def spot_ctx(core: Core, m) -> dict:
    coin = m.coin
    ntl, base, first = core.candles.day_stats(coin, core.clock.now_ms())
    mid = core.mid(coin)
    mark = core.last_px.get(coin, core.oracle[coin])
    supply = sum((u.spot.get(m.base_token, ZERO) for u in core.users.values()), ZERO)
    return {"prevDayPx": dec_str(first if first is not None else mark), "dayNtlVlm": dec_str(ntl),
            "markPx": dec_str(mark), "midPx": dec_str(mid) if mid is not None else None,
            "circulatingSupply": dec_str(supply), "coin": coin, "totalSupply": dec_str(supply),
            "dayBaseVlm": dec_str(base)}


def _agg_levels(m, levels, n_sig, mantissa, is_bid):
    """Bucket levels to n_sig significant figures (bids round down, asks up), ≤20 per side."""
    out: list[dict] = []
    last_key = None
    for px_int, total, n in levels:
        px = m.px_dec(px_int)
        if n_sig is not None:
            exp = px.adjusted() - n_sig + 1
            step = Decimal(mantissa or 1).scaleb(exp)
            q = (px / step).to_integral_value(rounding="ROUND_FLOOR" if is_bid else "ROUND_CEILING")
            px = q * step
        if px == last_key:
            out[-1][1] += total
            out[-1][2] += n
        else:
            if len(out) == 20:
                break
            out.append([px, total, n])
            last_key = px
    return [{"px": dec_str(px), "sz": scaled_str(t, m.sz_decimals), "n": n} for px, t, n in out]


def l2_book(core: Core, body: dict):
    coin = body.get("coin")
    if not isinstance(coin, str):
        raise BadQuery("coin")
    m = core.u.by_coin.get(coin)
    if m is None:
        return None
    n_sig = body.get("nSigFigs")
    mantissa = body.get("mantissa")
    if n_sig is not None and (not isinstance(n_sig, int) or not 2 <= n_sig <= 5):
        raise BadQuery("nSigFigs")
    if mantissa is not None and (n_sig != 5 or mantissa not in (1, 2, 5)):
        raise BadQuery("mantissa")
    book = core.books[coin]
    limit = None if n_sig is not None else 20
    return {"coin": coin, "time": core.clock.now_ms(),
            "levels": [_agg_levels(m, _counted(core, m, book, True, limit), n_sig, mantissa, True),
                       _agg_levels(m, _counted(core, m, book, False, limit), n_sig, mantissa, False)]}


# One resting order of a market-flow (system) account stands for the many orders of other makers a real level
# holds: it counts as one order per this much notional. Measured on Hyperliquid's BTC l2Book archive
# (../shared/data/hl-s3-l2book-btc-20240101, 5,587 snapshots): notional per order is 26k USDC at the touch and
# 52k-140k deeper, with 1.3-1.8 orders per level on average.
SYSTEM_ORDER_NTL = 25_000


def _counted(core: Core, m, book, is_buy: bool, limit):
    """book.levels() with `n` = the orders a real level would show (users' orders count one each)."""
    side = book.bids if is_buy else book.asks
    unit = SYSTEM_ORDER_NTL * 10 ** m.ntl_decimals  # in px_int * sz_int units
    users = core.users
    out = []
    for px, total, _ in book.levels(is_buy, limit):
        n = 0
        for o in side[px].orders:
            if o.live:
                n += max(1, round(o.px * o.sz / unit)) if users[o.user].system else 1
        out.append((px, total, n))
    return out


def _time_rows(rows: list[dict], start: int, end: int, cap: int) -> list[dict]:
    out = []
    for r in rows:
        t = r["time"]
        if start <= t <= end:
            out.append(r)
            if len(out) >= cap:
                break
    return out


def funding_history(core: Core, body: dict):
    coin = body.get("coin")
    if coin not in core.funding_history:
        raise BadQuery("coin")
    return _time_rows(core.funding_history[coin], _opt_int(body, "startTime", 0),
                      _opt_int(body, "endTime", 2**63), 500)


def candle_snapshot(core: Core, body: dict):
    req = body.get("req")
    if not isinstance(req, dict) or req.get("interval") not in INTERVAL_MS or not isinstance(req.get("coin"), str):
        raise BadQuery("req")
    coin = req["coin"]
    if coin not in core.u.by_coin:
        coin = core.u.aliases.get(coin, coin)
    return core.candles.snapshot(coin, req["interval"], _opt_int(req, "startTime", 0),
                                 _opt_int(req, "endTime", core.clock.now_ms()))


MARKET_QUERIES = {
    "meta": lambda core, body: core.u.meta(),
    "spotMeta": lambda core, body: core.u.spot_meta(),
    "metaAndAssetCtxs": lambda core, body: [core.u.meta(), [perp_ctx(core, m) for m in core.u.perps]],
    "spotMetaAndAssetCtxs": lambda core, body: [core.u.spot_meta(), [spot_ctx(core, m) for m in core.u.spots]],
    "allMids": lambda core, body: mids(core),
    "l2Book": l2_book,
    "fundingHistory": funding_history,
    "candleSnapshot": candle_snapshot,
    "perpDexs": lambda core, body: [None],
    **MARKET_EXTRA,
}
USER_QUERIES = {**USER_QUERIES, **USER_EXTRA}

_W2 = {"allMids", "l2Book", "clearinghouseState", "spotClearinghouseState", "orderStatus", "exchangeStatus"}
_W60 = {"userRole"}
_PER_20 = {"userFills", "userFillsByTime", "userFunding", "fundingHistory", "historicalOrders",
           "userTwapSliceFills", "userNonFundingLedgerUpdates"}


def weight_of(body, payload=None) -> int:
    """IP weight of one request (protocol §3/§9). `payload` (the answer) adds per-row surcharges.
    An /exchange body (has "action") weighs 1 + floor(batch length / 40)."""
    if isinstance(body, dict) and isinstance(body.get("action"), dict):
        action = body["action"]
        n = 0
        for key in ("orders", "cancels", "modifies"):
            if isinstance(action.get(key), list):
                n = len(action[key])
        return 1 + n // 40
    kind = body.get("type") if isinstance(body, dict) else None
    if kind in _W2:
        return 2
    if kind in _W60:
        return 60
    rows = len(payload) if isinstance(payload, list) else 0
    if kind in _PER_20:
        return 20 + rows // 20
    if kind == "candleSnapshot":
        return 20 + rows // 60
    return 20

