"""The engine's timers and the pieces of wiring `engine.loop.Engine` delegates: the REST client it builds,
its periodic duties, and the monitoring snapshot.

Periodic duties, each on its own timer (a slow one never delays another; the dead man's switch has its own
task in execution/deadman.py):
* controls and params from the ledger (`ledger_poll_ms`, 1 s live);
* positions and balances from the venue (after fills, debounced; and every `account_refresh_ms` as a net);
* our open orders from the venue (every `orders_refresh_ms`, quoting held meanwhile);
* the address budget (`userRateLimit`, every minute) and a warning when the IP-weight bucket runs low;
* equity marks and the drawdown guard (`equity_mark_every_ms`);
* funding: the trailing mean and the carry target at every venue hour (and after a funding payment).
"""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any, Awaitable, Callable

from engine.execution.deadman import DAY_MS, fires_in_history, fires_param_key
from engine.market.candles import Candle
from engine.market.markets import INTERVAL_MS, MarketRuntime
from engine.venue.facts import FUNDING_INTERVAL_MS

log = logging.getLogger("engine.runtime")
DEBOUNCE_MS = 250  # a burst of fills or funding rows is one venue re-read
LOW_WEIGHT_FRACTION = 0.1  # warn when the IP-weight bucket falls below this share of its capacity


def make_rest(cfg: Any, private_key: str | None, signer: Any, clock: Any, http_client: Any, timings: Any) -> Any:
    """The engine's venue client: limits and nonces on the engine's clock (simulated in a backtest), every
    signature timed."""
    from engine.monitoring import TimedSigner
    from engine.venue.limits import AddressBudget, NonceManager
    from engine.venue.rest import VenueRest
    from engine.venue.shared_bucket import make_bucket
    from engine.venue.signing import Signer

    if signer is None:
        if private_key is None:
            raise ValueError("Engine needs a private key (or a signer)")
        signer = Signer.for_url(private_key, cfg.venue.base_url)
    now_ms = clock.now_ms
    # the host's shared budget counts real requests only: an in-process transport (a backtest) sends none
    shared = cfg.limits.ip_weight_redis_url if http_client is None else None
    rest = VenueRest(cfg.venue.base_url, signer=TimedSigner(signer, timings),
                     account_address=cfg.venue.account_address, vault_address=cfg.venue.vault_address,
                     bucket=make_bucket(cfg.limits.ip_weight_per_min, shared, now_ms),
                     nonces=NonceManager(now_ms=now_ms), budget=AddressBudget(), exchange_timeout_s=5.0,
                     now_ms=now_ms, client=http_client)
    return rest


class EngineTimers:
    def __init__(self, engine: Any) -> None:
        self.e = engine
        self._tasks: set[asyncio.Task] = set()
        self._soon: dict[str, asyncio.TimerHandle] = {}
        self._stop = asyncio.Event()
        self._waiters: set[asyncio.Future] = set()  # timers sleeping in `_stopped_within`
        self._fires_saved: tuple[int, int] | None = None
        self._low_weight_warned = False
        self.last_mark: tuple[float, float] | None = None  # (unix s, equity USD) of the newest mark: metrics

    # ------------------------------------------------------------------ tasks
    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=f"hlmm-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    def start(self) -> None:
        e = self.e
        self.spawn(e.switch.run(self._stop), "deadman")
        p = e.periods
        self.spawn(self._every(p["controls"], self.poll_controls), "controls")
        self.spawn(self._every(p["account"], e.account.refresh_account), "account")
        self.spawn(self._every(p["orders"], self.refresh_orders), "orders")
        self.spawn(self._every(p["rate_limit"], self.read_budget), "rate-limit")
        self.spawn(self._every(p["equity_mark"], self.equity_mark), "equity")
        self.spawn(self._hourly_funding(), "funding")

    async def stop(self) -> None:
        self._stop.set()
        for w in self._waiters:
            _wake(w)
        for h in self._soon.values():
            h.cancel()
        self._soon.clear()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down: already logged
                pass

    async def _stopped_within(self, seconds: float) -> bool:
        """True as soon as the timers stop, False once `seconds` passed first: what `wait_for(stop.wait(), s)`
        tells, without the task it starts and the cancellation it runs on every timeout."""
        if self._stop.is_set():
            return True
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.add(waiter)
        timer = loop.call_later(seconds, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiters.discard(waiter)
        return self._stop.is_set()

    async def _every(self, period_ms: int, job: Callable[[], Awaitable[Any]]) -> None:
        while not self._stop.is_set():
            if await self._stopped_within(period_ms / 1000):
                return
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed duty is logged and tried again next period
                log.exception("periodic %s failed", getattr(job, "__name__", job))

    def _debounced(self, key: str, job: Callable[[], Awaitable[Any]]) -> None:
        if key in self._soon or self._stop.is_set():
            return

        def fire() -> None:
            self._soon.pop(key, None)
            self.spawn(job(), key)
        self._soon[key] = asyncio.get_running_loop().call_later(DEBOUNCE_MS / 1000, fire)

    def account_soon(self) -> None:
        self._debounced("account", self.e.account.refresh_account)

    def funding_soon(self) -> None:
        self._debounced("funding", self.refresh_funding)

    # ------------------------------------------------------------------ duties
    async def poll_controls(self) -> None:
        e = self.e
        changes = await e.controls.poll()
        if changes.carry:  # the rebalance flow moved the carry target: size it now, not at the next hour
            for m in e.markets:
                e.carry.update_target(m)
        if changes.any:
            e.poke_all()

    async def refresh_orders(self) -> None:
        e = self.e
        await e.exclusive()
        try:
            await e.account.refresh_orders()
        finally:
            e._hold -= 1
        e.poke_all()

    async def read_budget(self) -> None:
        e = self.e
        await e.rest.user_rate_limit()
        bucket = e.rest.bucket
        level = bucket.level
        if level < bucket.capacity * LOW_WEIGHT_FRACTION:
            if not self._low_weight_warned:
                log.warning("IP-weight bucket low: %.0f of %.0f left this minute (%d waits so far)", level,
                            bucket.capacity, bucket.throttled)
                self._low_weight_warned = True
        else:
            self._low_weight_warned = False

    async def equity_mark(self) -> None:
        e = self.e
        spot_value = 0.0
        now = e.clock.now_ms()
        for token, qty in e.inventory.spot.items():
            if token == "USDC":
                spot_value += float(qty)
                continue
            pair = next((leg for m in e.markets for leg in m.legs if leg.is_spot and leg.base == token), None)
            mid = e.data.mid(pair.coin, now, 10 ** 12) if pair else None
            if mid:
                spot_value += float(qty) * mid
        net = sum(float(e.inventory.qty(c)) for m in e.markets for c in m.coins)
        mids = {c: e.data.mid(c, now, 10 ** 12) for c in e.inventory.perp}
        perp_value = Decimal(repr(round(e.inventory.perp_value(mids), 6)))
        self.last_mark = (now / 1000, spot_value + float(perp_value))
        if e.drawdown.mark(spot_value, perp_value, net):
            e.controls.written = True  # the next poll reads it back rather than clearing it
            e.poke_all()
        self.save_deadman_fires()

    async def refresh_funding(self) -> None:
        e = self.e
        for m in await e.carry.refresh_funding(e.markets):
            e.quoters[m.coin].poke()
        await e.account.backfill()

    async def _hourly_funding(self) -> None:
        e = self.e
        while not self._stop.is_set():
            now = e.venue_now_ms()
            nxt = (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS + 10_000  # after the settlement
            if await self._stopped_within((nxt - now) / 1000):
                return
            try:
                await self.refresh_funding()
            except Exception:  # noqa: BLE001 - the next hour tries again; the carry keeps its last decision
                log.exception("hourly funding refresh failed")

    # ------------------------------------------------------------------ startup helpers
    async def warm_vol(self, m: MarketRuntime) -> None:
        e = self.e
        interval = e.cfg.strategy.atr_timeframe
        span = INTERVAL_MS[interval] * (e.cfg.strategy.atr_window * 3 + 2)
        now = e.venue_now_ms()
        try:
            bars = await e.rest.candle_snapshot(m.vol_coin, interval, now - span, now)
        except Exception as exc:  # noqa: BLE001 - quoting starts on the base spread instead
            log.warning("candle warm-up for %s failed (quoting starts on the base spread): %s", m.coin, exc)
            return
        m.vol.warm_up([Candle(b.t, INTERVAL_MS[interval], b.o, b.h, b.l, b.c, b.v, b.n) for b in bars if b.T < now])

    async def restore_deadman_fires(self) -> None:
        """Today's scheduleCancel fires survive a restart (the venue allows 10 a day): re-derived from the
        venue's historicalOrders and from the count this engine persisted in params; the larger wins."""
        e = self.e
        now = e.venue_now_ms()
        day = now // DAY_MS
        from_venue = 0
        try:
            from_venue = fires_in_history(await e.rest.info({"type": "historicalOrders", "user": e.user}), day)
        except Exception as exc:  # noqa: BLE001 - the persisted count still counts
            log.warning("historicalOrders for the dead man's fire count failed: %s", exc)
        stored = await asyncio.get_running_loop().run_in_executor(None, e.ledger.read_param, fires_param_key(day))
        persisted = stored.get("fires", 0) if isinstance(stored, dict) else 0
        if not isinstance(persisted, int) or isinstance(persisted, bool) or persisted < 0:
            log.warning("params %s: fires %r ignored (needs an integer >= 0)", fires_param_key(day), persisted)
            persisted = 0
        e.deadman.seed_fires(now, max(from_venue, persisted))
        self._fires_saved = (day, max(from_venue, persisted))

    def save_deadman_fires(self) -> None:
        st = self.e.deadman.state
        if st.fires_day is None or (st.fires_day, st.fires) == self._fires_saved:
            return
        self._fires_saved = (st.fires_day, st.fires)
        self.e.ledger.param(fires_param_key(st.fires_day), {"fires": st.fires}, "dead man's switch fires today")


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def snapshot(e: Any) -> dict[str, Any]:
    """What the metrics endpoint and `status` show: timings, caches, gauges, positions, market states."""
    bucket, budget = e.rest.bucket, e.rest.budget
    venue = {f"rest_{k}": v for k, v in e.rest.stats.items()}
    if e.feed is not None:
        venue.update({f"feed_{k}": v for k, v in e.feed.stats.items()})
    mark = e._timers.last_mark
    gauges = {"open_orders": len(e.orders), "kill_switch": 1 if e.kill.engaged else 0,
              "ip_weight_level": bucket.level, "address_budget_remaining": budget.remaining() if budget else None,
              "ip_weight_capacity": bucket.capacity, "equity_usd": mark[1] if mark else None,
              "heartbeat_s": mark[0] if mark else None,
              "equity_peak_usd": e.drawdown.peak if e.drawdown is not None else None,
              "deadman_fires_today": e.deadman.state.fires if e.deadman else None,
              **{f"exec_{k}": v for k, v in (e.executor.stats.as_dict() if e.executor else {}).items()},
              **{f"engine_{k}": v for k, v in e.stats.items()}, **venue}
    positions = {c: e.inventory.qty(c) for m in e.markets for c in m.coins}
    return {"timings": e.timings.summary(), "gauges": gauges, "positions": positions,
            "markets": {m.coin: m.status for m in e.markets}}
