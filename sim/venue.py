"""`Venue`: the in-process Hyperliquid venue the HTTP/WS server, drivers and backtests build on.

Every public method runs under one re-entrant lock and a private Decimal context (50 digits, so
exact money arithmetic never rounds), and delivers the events it raised only after the state
change is complete.
"""
from __future__ import annotations

import decimal
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from . import exchange as exchange_mod
from . import funding, info as info_mod, liquidation, persist, trigger_orders
from .clock import SimClock
from .core import Core
from .events import Event
from .markets import Universe
from .numbers import dec_str, to_dec

DECIMAL_CONTEXT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)


@dataclass
class VenueOptions:
    nonce_window: bool = True  # enforce (now - 2 d, now + 1 d) on nonces (off for replays on old clocks)
    accept_mainnet: bool = True  # also accept mainnet-flavour signatures
    schedule_cancel_min_volume: Decimal | None = None  # live venue's volume gate; off by default


_getcontext, _setcontext = decimal.getcontext, decimal.setcontext


def _locked(fn):
    # the venue's own context object is made current and the caller's put back afterwards: the same arithmetic as
    # `localcontext(DECIMAL_CONTEXT)` without copying a context on every call. Only the thread holding the lock
    # runs on it, and nothing in the venue reads or changes the context (its sticky flags are never consulted).
    def wrapper(self, *args, **kwargs):
        with self._lock:
            outer = _getcontext()
            _setcontext(self._decimal)
            try:
                return fn(self, *args, **kwargs)
            finally:
                try:
                    self._core.events.flush()  # subscribers still run on the venue's context, as before
                finally:
                    _setcontext(outer)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


class Venue:
    def __init__(self, clock: SimClock | None = None, seed: int = 0, *, universe: Universe | None = None,
                 nonce_window: bool = True, accept_mainnet: bool = True,
                 schedule_cancel_min_volume=None, max_order_events: int = 1_000_000) -> None:
        self.clock = clock or SimClock()
        self.seed = seed
        self.options = VenueOptions(nonce_window, accept_mainnet,
                                    to_dec(schedule_cancel_min_volume, "schedule_cancel_min_volume")
                                    if schedule_cancel_min_volume is not None else None)
        self._lock = threading.RLock()
        self._decimal = DECIMAL_CONTEXT.copy()  # current while a public method runs (see _locked)
        self._core = Core(self.clock, seed, universe, max_order_events)

    @property
    def core(self) -> Core:
        return self._core

    # ------------------------------------------------------------------ API
    @_locked
    def info(self, body: dict) -> tuple[int, object]:
        core = self._core
        if core.scheduled:  # a read at or after a scheduled cancel's time never sees the orders it cancelled
            exchange_mod.fire_scheduled(core, self.clock.now_ms())
        return info_mod.handle(core, body)

    def next_due_ms(self) -> int | None:
        """Sim time of the earliest scheduled cancel (the server wakes up for it instead of its next tick)."""
        with self._lock:
            due = [u.sched_cancel for a in self._core.scheduled
                   if (u := self._core.users.get(a)) is not None and u.sched_cancel is not None]
            return min(due) if due else None

    @_locked
    def exchange(self, body: dict) -> tuple[int, object]:
        self._run_due()
        return exchange_mod.handle(self._core, body, self.options)

    @_locked
    def exchange_as(self, user: str, action: dict) -> tuple[int, object]:
        """The /exchange processing without a signature: `user` acts directly (tests, benchmarks)."""
        u = self._core.user(user, create=False)
        if u is None:
            return 200, exchange_mod.refuse(f"L1 error: User or API Wallet {user.lower()} does not exist.")
        self._run_due()
        try:
            return 200, exchange_mod.act(self._core, u, action, self.clock.now_ms(), self.options)
        except exchange_mod.BadRequest:
            return 422, exchange_mod.DESERIALIZE

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        with self._lock:
            self._core.events.subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        with self._lock:
            if callback in self._core.events.subscribers:
                self._core.events.subscribers.remove(callback)

    @_locked
    def tick(self) -> None:
        """Run everything due up to clock.now_ms(): premium samples, hourly funding, scheduled
        cancels, liquidations."""
        self._run_due()
        now = self.clock.now_ms()
        liquidation.check_all(self._core, now)
        trigger_orders.check(self._core, now)

    def _run_due(self) -> None:
        """Timed work that must happen before an action at `now` is processed. Liquidation is
        checked here only after a funding payment: between oracle moves a user's value changes
        only through their own trades, which the margin check at placement already bounds."""
        core = self._core
        now = self.clock.now_ms()
        funding.sample(core, now)
        if funding.run_due(core, now):
            liquidation.check_all(core, now)
        if core.scheduled:
            exchange_mod.fire_scheduled(core, now)

    # ------------------------------------------------------------------ admin / drivers
    @_locked
    def fund_perp(self, user: str, usdc) -> None:
        amount = to_dec(usdc, "usdc")
        u = self._core.user(user)
        u.perp_usdc += amount
        u.inflow += amount
        if amount > 0:
            u.deposited = True
            self._core.new_tx()
            row = {"time": self.clock.now_ms(), "hash": self._core.tx_hash,
                   "delta": {"type": "deposit", "usdc": dec_str(amount)}}
            u.ledger.append(row)
            self._core.events.add("ledger", u.address, row)

    @_locked
    def fund_spot(self, user: str, token: str, amount) -> None:
        tok = self._core.u.token_by_name.get(token)
        if tok is None:
            raise ValueError(f"token: unknown spot token {token!r}; known: "
                             f"{', '.join(self._core.u.token_by_name)}")
        value = to_dec(amount, "amount")
        u = self._core.user(user)
        u.inflow += value * self._core.token_px(tok.index)
        if value >= 0:
            self._core.credit_spot(u, tok.index, value)
        else:
            self._core.debit_spot(u, tok.index, -value)
        if value > 0:
            u.deposited = True

    @_locked
    def system_order(self, account: str, coin: str, is_buy: bool, px, sz, tif: str = "Gtc",
                     reduce_only: bool = False, cloid: str | None = None) -> dict:
        """Order from an internal market-flow account: no signature, margin, balance or budget
        checks (its balances may go negative); tick/lot/min-notional rules still apply."""
        core = self._core
        m = core.u.market(coin)
        u = core.user(account)
        u.system = True
        self._run_due()
        core.new_tx()
        w = {"a": m.asset, "b": bool(is_buy), "p": _wire_num(px), "s": _wire_num(sz), "r": bool(reduce_only),
             "t": {"limit": {"tif": tif}}}
        if cloid:
            w["c"] = cloid
        return exchange_mod.place_wire(core, u, w, self.clock.now_ms())

    @_locked
    def system_cancel(self, account: str, coin: str, oid: int) -> bool:
        core = self._core
        u = core.user(account, create=False)
        if u is None:
            return False
        o = u.orders.get(oid)
        if o is None or o.market.coin != core.u.market(coin).coin:
            return False
        core.cancel(o, "canceled", self.clock.now_ms())
        return True

    @_locked
    def set_oracle(self, coin: str, px) -> None:
        """Set oracle (= mark) price; liquidations are checked at once."""
        core = self._core
        m = core.u.market(coin)
        value = to_dec(px, "px")
        if value <= 0:
            raise ValueError(f"px: oracle price must be > 0, got {px!r}")
        core.oracle[m.coin] = value
        core.bands.pop(m.coin, None)  # the price band follows the reference price
        core.events.notice("ctx", m.coin)
        if not m.is_spot:
            now = self.clock.now_ms()
            liquidation.check_all(core, now)
            if core.triggers.get(m.coin):
                trigger_orders.check(core, now)

    @_locked
    def set_funding_rate(self, coin: str, rate) -> None:
        """Fix the hourly funding rate of a perp (None: back to the premium-derived rate)."""
        m = self._core.u.market(coin)
        if m.is_spot:
            raise ValueError(f"coin: {coin} is spot; funding applies to perps only")
        if rate is None:
            self._core.funding_override.pop(m.coin, None)
        else:
            self._core.funding_override[m.coin] = to_dec(rate, "rate")
        self._core.events.notice("ctx", m.coin)

    @_locked
    def set_fee_rates(self, *, perp_taker, perp_maker, spot_taker, spot_maker) -> None:
        """Charge another fee tier than the base one (a backtest's configured tier). Rates are fractions
        (0.00045 = 4.5 bp); a maker rebate (negative maker rate) is allowed, a negative taker rate is not."""
        rates = {}
        for name, value in (("perp_taker", perp_taker), ("perp_maker", perp_maker), ("spot_taker", spot_taker),
                            ("spot_maker", spot_maker)):
            d = to_dec(value, name)
            if not (Decimal("-0.001") <= d <= Decimal("0.01")):
                raise ValueError(f"{name}: fee rate must be within [-0.001, 0.01] (a fraction), got {value!r}")
            if name.endswith("taker") and d < 0:
                raise ValueError(f"{name}: a taker fee cannot be negative, got {value!r}")
            rates[name] = d
        self._core.fee_override = {False: (rates["perp_taker"], rates["perp_maker"]),
                                   True: (rates["spot_taker"], rates["spot_maker"])}

    @_locked
    def fill_resting(self, oid: int, sz, taker: str) -> dict:
        """Trade `sz` of the resting order `oid` at its own price against the internal account `taker`.

        For backtests whose fill source is a queue-position model rather than the book: the model decides that
        flow reached our order, and this books the trade exactly as matching would (maker fee to the order's
        owner, taker fee to `taker`, userFills / trades / orderUpdates events); a partial fill keeps the order's
        place in the queue. Returns the maker's fill row."""
        from .book import Order
        from .matching import settle

        core = self._core
        self._run_due()
        mk = next((u.orders[oid] for u in core.users.values() if oid in u.orders), None)
        if mk is None or not mk.live:
            raise ValueError(f"oid: {oid} is not a resting order")
        m = mk.market
        d = to_dec(sz, "sz")
        f = d.scaleb(m.sz_decimals)
        if f != f.to_integral_value() or f <= 0:
            raise ValueError(f"sz: {sz!r} is not a positive multiple of the lot 1e-{m.sz_decimals}")
        f = int(f)
        if f > mk.sz:
            raise ValueError(f"sz: {sz!r} exceeds the order's remaining {m.sz_dec(mk.sz)}")
        now = self.clock.now_ms()
        tu = core.user(taker)
        tu.system = True
        core.new_tx()
        to = Order(core.new_oid(), tu.address, m, not mk.is_buy, mk.px, f, f, now, None, False, "Ioc", 0)
        mu = core.users[mk.user]
        settle(core, m, tu, to, mu, mk, f, mk.px, now)
        fill = mu.fills[-1]
        book = core.books[m.coin]
        if f == mk.sz:
            book.remove(mk)
            core.release(mu, mk, f)
            mk.sz = 0
            core.retire(mk, "filled", now)
        else:
            core.release(mu, mk, f)
            book.shrink(mk, mk.sz - f)
        core.events.notice("book", m.coin)
        core.events.notice("ctx", m.coin)
        if not m.is_spot:
            core.shrink_reduce_only(mu, m.coin, now)
        return fill

    @_locked
    def seed_funding_history(self, coin: str, rows: list[dict]) -> None:
        """Prepend recorded settlements ({time, fundingRate, premium}) older than the venue's own to a perp's
        fundingHistory, so a replay starts with the history a live venue would already have."""
        m = self._core.u.market(coin)
        if m.is_spot:
            raise ValueError(f"coin: {coin} is spot; funding history exists for perps only")
        own = self._core.funding_history[m.coin]
        first = own[0]["time"] if own else None
        seeded = []
        for i, r in enumerate(rows):
            try:
                t = int(r["time"])
                rate, prem = to_dec(r["fundingRate"], f"rows[{i}].fundingRate"), to_dec(r.get("premium", 0), f"rows[{i}].premium")
            except (KeyError, TypeError) as exc:
                raise ValueError(f"rows[{i}]: a funding row needs time and fundingRate ({exc})") from None
            if first is None or t < first:
                seeded.append({"coin": m.coin, "fundingRate": dec_str(rate), "premium": dec_str(prem), "time": t})
        seeded.sort(key=lambda r: r["time"])
        self._core.funding_history[m.coin] = seeded + own

    @_locked
    def snapshot(self) -> dict:
        return persist.dump(self._core)

    @_locked
    def restore(self, state: dict) -> None:
        self._core = persist.load(state, self.clock, self._core.events.subscribers, self._core.u)
        for m in self._core.u.markets:
            self._core.events.notice("book", m.coin)
            self._core.events.notice("ctx", m.coin)

    @_locked
    def order_events(self) -> list[dict]:
        """Every order status change so far (oldest first): {user, order, status, statusTimestamp}."""
        core = self._core
        return [core.order_event(row) for row in core.order_log]

    def weight_of(self, body, payload=None) -> int:
        return info_mod.weight_of(body, payload)


def _wire_num(x) -> str:
    """Number -> the minimal decimal string the SDK would send (floats via repr, no rounding). A string's answer
    is remembered: the ladder drivers re-send the same few price and size strings level after level."""
    if type(x) is str:
        s = _WIRE_NUM.get(x)
        if s is None:
            if len(_WIRE_NUM) >= 8192:
                _WIRE_NUM.clear()
            s = _WIRE_NUM[x] = format(to_dec(x, "number").normalize(), "f")  # raises for a non-number as before
        return s
    return format(to_dec(x, "number").normalize(), "f")


_WIRE_NUM: dict[str, str] = {}
