"""Pre-trade risk: pure checks over (orders, context) plus the small state objects they consult.

Every check returns a `Check(reason, message)` — a stable code for metrics/alerts and a sentence for humans —
and `evaluate` aggregates them into one `RiskDecision`: which orders may go, which are refused and why, and
whether everything must be cancelled (kill switch) or nothing new sent (maintenance). Nothing here reads a
clock or does I/O: `now_ms` and all state come in through `RiskContext`; persisting the kill switch is the
loop's job (ledger `controls` table), this module only models it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Mapping, Protocol, Sequence


class Reason(StrEnum):
    KILL_SWITCH = "kill_switch"
    MAINTENANCE = "venue_maintenance"
    POST_ONLY = "post_only_required"
    VOL_PAUSE = "volatility_pause"
    STALE_DATA = "stale_data"
    POSITION_LIMIT = "position_limit"
    ORDER_NOTIONAL = "max_order_notional"
    OPEN_ORDERS = "max_open_orders"
    PRICE_BAND = "price_band"
    ADDRESS_BUDGET = "address_budget"


@dataclass(frozen=True, slots=True)
class Check:
    reason: Reason
    message: str
    coin: str | None = None


class OrderLike(Protocol):
    """Quote, HedgeOrder and execution intents all fit: coin, side, price, size (tif/reduce_only optional)."""

    coin: str
    is_buy: bool
    px: Any
    sz: Any


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_notional: float = 5_000.0
    max_open_orders: int = 100
    price_band_frac: float = 0.05  # order price within ±5 % of oracle (mid when no oracle)
    min_address_budget: int = 500  # keep this many address requests in reserve for cancels
    max_atr_pct: float | None = 0.03  # ATR% above this pauses new quoting on the coin
    max_data_age_ms: int = 5_000
    max_position: Mapping[str, float] = field(default_factory=dict)  # coin -> |position| cap in coin
    default_max_position: float | None = None  # for coins not in max_position; None = no cap
    max_position_usd: float | None = None  # |worst-case position| · reference price cap, every coin

    @classmethod
    def from_config(cls, risk: object, **overrides: object) -> "RiskLimits":
        """From the `[risk]` config section (duck-typed, no config import in the pure core)."""
        values = dict(max_order_notional=risk.max_order_notional_usd, max_open_orders=risk.max_open_orders,
                      max_atr_pct=risk.vol_pause_threshold, max_data_age_ms=risk.stale_data_ms,
                      max_position_usd=risk.max_position_usd)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class MarketView:
    coin: str
    mid: float | None
    oracle_px: float | None
    atr_pct: float | None
    last_update_ms: int | None  # local receive time of the newest market data for the coin


@dataclass(frozen=True, slots=True)
class RiskContext:
    now_ms: int
    markets: Mapping[str, MarketView]
    positions: Mapping[str, float] = field(default_factory=dict)  # coin -> signed qty
    open_orders: int = 0  # orders resting on the venue that this batch will not cancel
    address_budget_remaining: int | None = None  # nRequestsCap − nRequestsUsed, None = unknown
    # coin -> (buy, sell) size of our orders this batch does not replace that may still fill (resting quotes
    # when a hedge is checked, orders in flight): the worst case counts them as filled
    pending: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(slots=True)
class KillSwitch:
    """Engaged → cancel everything, send nothing. Who/why/when travel with it into logs and the ledger."""

    engaged: bool = False
    who: str | None = None
    why: str | None = None
    since_ms: int | None = None

    def engage(self, who: str, why: str, now_ms: int) -> None:
        if not who or not why:
            raise ValueError("KillSwitch.engage needs who and why (they are the audit trail)")
        self.engaged, self.who, self.why, self.since_ms = True, who, why, now_ms

    def clear(self, who: str, why: str, now_ms: int) -> None:
        if not who or not why:
            raise ValueError("KillSwitch.clear needs who and why (they are the audit trail)")
        self.engaged, self.who, self.why, self.since_ms = False, who, why, now_ms

    def as_control(self) -> dict[str, Any]:
        """Row shape for the ledger `controls` table (the loop persists it)."""
        return {"name": "kill_switch", "active": self.engaged, "who": self.who, "why": self.why,
                "since_ms": self.since_ms}


@dataclass(frozen=True, slots=True)
class VenueMode:
    maintenance: bool = False  # venue announced maintenance / refusing actions: no new orders at all
    post_only: bool = False  # venue in post-only mode: only Alo orders may be sent


@dataclass(frozen=True, slots=True)
class RiskDecision:
    accepted: tuple[OrderLike, ...]
    rejected: tuple[tuple[OrderLike, Check], ...]
    halts: tuple[Check, ...]  # conditions that stop quoting (globally or for one coin)
    cancel_all: bool
    paused_coins: frozenset[str]

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.halts

    @property
    def reasons(self) -> set[Reason]:
        return {c.reason for c in self.halts} | {c.reason for _, c in self.rejected}


def coin_halts(view: MarketView, now_ms: int, limits: RiskLimits) -> list[Check]:
    """Stale data and volatility pauses for one coin."""
    out = []
    age = None if view.last_update_ms is None else now_ms - view.last_update_ms
    if age is None:
        out.append(Check(Reason.STALE_DATA, f"{view.coin}: no market data", view.coin))
    elif age > limits.max_data_age_ms:
        out.append(Check(Reason.STALE_DATA, f"{view.coin}: data {age} ms old > {limits.max_data_age_ms} ms",
                         view.coin))
    elif view.mid is None:
        out.append(Check(Reason.STALE_DATA, f"{view.coin}: no usable mid (book crossed, empty or zero)",
                         view.coin))
    if limits.max_atr_pct is not None and view.atr_pct is not None and view.atr_pct > limits.max_atr_pct:
        out.append(Check(Reason.VOL_PAUSE, f"{view.coin}: ATR {view.atr_pct:.2%} > pause threshold "
                                           f"{limits.max_atr_pct:.2%}", view.coin))
    return out


def _f(x: Any) -> float:
    return float(x) if not isinstance(x, float) else x


_FLOATS: dict[Decimal, float] = {}


def _dec_float(x: Decimal) -> float:
    """float(x), remembered: a Decimal converts through its string (~0.2 µs), and quote prices and sizes sit on
    the tick and lot grids and recur from decision to decision. Equal Decimals have the same float whatever
    their exponent, so the value is a sound key."""
    try:
        f = _FLOATS.get(x)
    except TypeError:  # a signalling NaN cannot be hashed: let float() refuse it as it always did
        return float(x)
    if f is None:
        if len(_FLOATS) >= 4096:
            _FLOATS.clear()
        f = _FLOATS[x] = float(x)
    return f


def check_order(order: OrderLike, view: MarketView | None, limits: RiskLimits) -> Check | None:
    """Stateless checks for one order: notional cap and price band."""
    return _check_order(order.coin, _f(order.px), _f(order.sz), view, limits)


def _check_order(coin: str, px: float, sz: float, view: MarketView | None, limits: RiskLimits) -> Check | None:
    notional = px * sz
    if notional > limits.max_order_notional:
        return Check(Reason.ORDER_NOTIONAL, f"{coin}: order notional {notional:.2f} > max "
                                            f"{limits.max_order_notional:.2f}", coin)
    ref = None if view is None else (view.oracle_px or view.mid)
    if ref is None:
        return Check(Reason.PRICE_BAND, f"{coin}: no oracle or mid to bound the price", coin)
    dev = abs(px / ref - 1)
    if dev > limits.price_band_frac:
        return Check(Reason.PRICE_BAND, f"{coin}: price {px} is {dev:.2%} from reference {ref} "
                                        f"(band {limits.price_band_frac:.2%})", coin)
    return None


_OPTIONAL_FIELDS: dict[type, tuple[bool, bool]] = {}
_NEITHER = (False, False)


def _order_flags(o: OrderLike) -> tuple[bool, str]:
    """(reduce_only, tif) of an order; types without those fields (Quote) are Alo and not reduce-only.
    Whether a type has them is looked up once per type: a getattr that misses costs an exception."""
    cls = type(o)
    has = _OPTIONAL_FIELDS.get(cls)
    if has is None:
        per_instance = cls.__dictoffset__ != 0  # instances with a __dict__ may carry the fields themselves
        has = (per_instance or hasattr(cls, "reduce_only"), per_instance or hasattr(cls, "tif"))
        _OPTIONAL_FIELDS[cls] = has = _NEITHER if has == _NEITHER else has  # `is _NEITHER` tests the common case
    return (bool(getattr(o, "reduce_only", False)) if has[0] else False,
            getattr(o, "tif", "Alo") if has[1] else "Alo")


def _position_cap(coin: str, limits: RiskLimits, view: MarketView | None) -> float | None:
    """The tighter of the coin cap and the USD cap converted at the reference price (oracle, else mid)."""
    caps = [c for c in (limits.max_position.get(coin, limits.default_max_position),) if c is not None]
    ref = None if view is None else (view.oracle_px or view.mid)
    if limits.max_position_usd is not None and ref:
        caps.append(limits.max_position_usd / ref)
    return min(caps) if caps else None


def evaluate(orders: Sequence[OrderLike], ctx: RiskContext, limits: RiskLimits, kill: KillSwitch,
             mode: VenueMode = VenueMode()) -> RiskDecision:
    """Decide a batch. Orders are considered in the given order (inside levels first), so when a cumulative
    limit (position, open orders, address budget) runs out it is the outer levels that are refused."""
    halts: list[Check] = []
    if kill.engaged:
        halts.append(Check(Reason.KILL_SWITCH, f"kill switch engaged by {kill.who}: {kill.why}"))
        return RiskDecision((), tuple((o, halts[0]) for o in orders), tuple(halts), True, frozenset())
    if mode.maintenance:
        halts.append(Check(Reason.MAINTENANCE, "venue maintenance: no new orders"))
        return RiskDecision((), tuple((o, halts[0]) for o in orders), tuple(halts), False, frozenset())

    coin_checks: dict[str, list[Check]] = {}
    for coin in {o.coin for o in orders} | set(ctx.markets):
        view = ctx.markets.get(coin)
        cs = coin_halts(view, ctx.now_ms, limits) if view is not None else [
            Check(Reason.STALE_DATA, f"{coin}: no market data", coin)]
        if cs:
            coin_checks[coin] = cs
            halts.extend(cs)
    paused = frozenset(coin_checks)

    accepted: list[OrderLike] = []
    rejected: list[tuple[OrderLike, Check]] = []
    worst_long = dict(ctx.positions)  # position if every accepted buy (and every pending buy) fills
    worst_short = dict(ctx.positions)  # ... if every accepted and pending sell fills
    for coin, (buy, sell) in ctx.pending.items():
        worst_long[coin] = worst_long.get(coin, 0.0) + buy
        worst_short[coin] = worst_short.get(coin, 0.0) - sell
    open_orders = ctx.open_orders
    budget = ctx.address_budget_remaining

    views = ctx.markets
    max_notional, band = limits.max_order_notional, limits.price_band_frac
    post_only = mode.post_only
    caps: dict[str, float | None] = {}  # per coin: the cap depends only on the coin and its view
    for o in orders:
        coin = o.coin
        if _OPTIONAL_FIELDS.get(type(o)) is _NEITHER:  # e.g. Quote: Alo, not reduce-only (no getattr)
            reduce_only, tif = False, "Alo"
        else:
            reduce_only, tif = _order_flags(o)
        checks = coin_checks.get(coin)
        if checks:
            halt = next((c for c in checks if not (reduce_only and c.reason == Reason.VOL_PAUSE)), None)
            if halt is not None:
                rejected.append((o, halt))
                continue
        if post_only and tif != "Alo":
            rejected.append((o, Check(Reason.POST_ONLY, f"{coin}: venue is post-only, {tif} order refused",
                                      coin)))
            continue
        view = views.get(coin)
        px, sz = o.px, o.sz  # as _f, Decimals through the memo
        px = _dec_float(px) if type(px) is Decimal else _f(px)
        sz = _dec_float(sz) if type(sz) is Decimal else _f(sz)
        ref = None if view is None else (view.oracle_px or view.mid)
        # _check_order's two tests inlined; its message-building path runs only for a refusal
        if px * sz > max_notional or ref is None or abs(px / ref - 1) > band:
            rejected.append((o, _check_order(coin, px, sz, view, limits)))
            continue
        if budget is not None and budget - 1 < limits.min_address_budget:
            rejected.append((o, Check(Reason.ADDRESS_BUDGET, f"address budget {budget} at reserve "
                                                             f"{limits.min_address_budget}", coin)))
            continue
        rests = tif != "Ioc"
        if rests and open_orders + 1 > limits.max_open_orders:
            rejected.append((o, Check(Reason.OPEN_ORDERS, f"open orders would exceed {limits.max_open_orders}",
                                      coin)))
            continue
        if coin in caps:
            cap = caps[coin]
        else:
            cap = caps[coin] = _position_cap(coin, limits, view)
        if cap is not None and not reduce_only:
            if o.is_buy:
                after = worst_long.get(coin, 0.0) + sz
                if after > cap:
                    rejected.append((o, Check(Reason.POSITION_LIMIT, f"{coin}: long {after:g} would exceed "
                                                                     f"limit {cap:g}", coin)))
                    continue
                worst_long[coin] = after
            else:
                after = worst_short.get(coin, 0.0) - sz
                if -after > cap:
                    rejected.append((o, Check(Reason.POSITION_LIMIT, f"{coin}: short {-after:g} would "
                                                                     f"exceed limit {cap:g}", coin)))
                    continue
                worst_short[coin] = after
        accepted.append(o)
        if rests:
            open_orders += 1
        if budget is not None:
            budget -= 1
    return RiskDecision(tuple(accepted), tuple(rejected), tuple(halts), False, paused)

