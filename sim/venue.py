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
from . import funding, info as info_mod, liquidation, persist
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


def _locked(fn):
    def wrapper(self, *args, **kwargs):
        with self._lock, decimal.localcontext(DECIMAL_CONTEXT):
            try:
                return fn(self, *args, **kwargs)
            finally:
                self._core.events.flush()
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
        self._core = Core(self.clock, seed, universe, max_order_events)

    @property
    def core(self) -> Core:
        return self._core

    # ------------------------------------------------------------------ API
    @_locked
    def info(self, body: dict) -> tuple[int, object]:
        return info_mod.handle(self._core, body)

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
        liquidation.check_all(self._core, self.clock.now_ms())

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
        u.add_spot(tok.index, value)
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
        core.events.notice("ctx", m.coin)
        if not m.is_spot:
            liquidation.check_all(core, self.clock.now_ms())

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
    """Number -> the minimal decimal string the SDK would send (floats via repr, no rounding)."""
    d = to_dec(x, "number")
    s = format(d.normalize(), "f")
    return s
