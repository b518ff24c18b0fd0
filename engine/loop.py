"""`Engine`: wires the engine's components together and runs their timers. It decides nothing itself.

    feed events ─▶ FeedRouter ─▶ MarketData / OurOrders / Inventory ─▶ MarketQuoter.poke
                 MarketQuoter ─▶ decide (pure) ─▶ Executor ─▶ venue;  CarryManager (taker steps) ─▶ Executor
    timers: ControlsPoller (ledger) · AccountSync (venue re-reads) · DrawdownGuard (equity marks)
    own task: DeadManSwitch (re-arms on schedule; quoting is paused while it is not armed)

Live trading, paper trading and backtests run this same class: only the clock, the REST transport
(`http_client`), the feed (`feed_factory`), the signer and the ledger writer's threading differ. Feed
handlers only update state and poke quoters; every venue request runs as a task, never inside a handler.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from engine.clock import Clock, WallClock
from engine.control.controls import ControlsPoller
from engine.control.drawdown import DrawdownGuard
from engine.runtime import EngineTimers, make_rest, snapshot
from engine.execution.account import AccountSync
from engine.execution.carry import CarryManager
from engine.execution.deadman import DeadMan, DeadManSwitch, loop_ms
from engine.execution.diff import CloidFactory, Tolerance
from engine.execution.executor import CoinSpec, Executor
from engine.execution.feed_router import FeedRouter
from engine.execution.hedger import Hedger
from engine.execution.inventory import Inventory
from engine.execution.order_state import OrderState, OurOrder
from engine.execution.orders import OurOrders
from engine.execution.quoting import MarketQuoter, QuotingContext
from engine.execution.reconcile import is_ours, make_run_id
from engine.market.marketdata import MarketData
from engine.market.markets import INTERVAL_MS, MarketRuntime, StartupError, resolve_markets
from engine.monitoring import Timings
from engine.risk import KillSwitch, RiskLimits
from engine.strategy.hedge import HedgeParams
from engine.strategy.quotes import QuoteParams

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, cfg: Any, private_key: str | None = None, *, clock: Clock | None = None,
                 signer: Any = None, deadman_horizon_ms: int = 15_000, metrics_port: int | None = None,
                 equity_mark_every_ms: int = 10_000, account_refresh_ms: int = 30_000,
                 orders_refresh_ms: int = 30_000, http_client: Any = None,
                 feed_factory: Callable[[Callable[[Any], None]], Any] | None = None,
                 ledger_poll_ms: int = 1_000, ledger_threaded: bool = True) -> None:
        """`http_client` (httpx.AsyncClient-shaped), `feed_factory` (on_event -> a Feed-like object) and
        `signer` replace the sockets and the key: the in-process backtest passes all three; live trading
        passes none. `ledger_poll_ms`: how often controls and params are re-read."""
        self.cfg = cfg
        self.clock = clock or WallClock()
        self.timings = Timings()
        self.rest = make_rest(cfg, private_key, signer, self.clock, http_client, self.timings)
        self.user = self.rest.user.lower()
        # counter starts at the start time in µs: unique across restarts even if two runs draw the same run id
        self.cloids = CloidFactory(make_run_id(), start=self.clock.now_ms() * 1_000)
        self.kill = KillSwitch()
        self.inventory = Inventory()
        self.orders = OurOrders(on_change=self._order_changed)
        self.limits = RiskLimits.from_config(cfg.risk)
        self.tolerance = Tolerance(cfg.strategy.requote_tolerance_bps, 0.1)
        self.base_params = QuoteParams.from_config(cfg.strategy)
        self.deadman_horizon_ms = deadman_horizon_ms
        self.metrics_port = metrics_port
        self.periods = {"equity_mark": equity_mark_every_ms, "account": account_refresh_ms,
                        "orders": orders_refresh_ms, "controls": ledger_poll_ms, "rate_limit": 60_000}
        self.ledger_threaded = ledger_threaded
        self._feed_factory = feed_factory
        self.stats = {"requotes": 0, "plans_sent": 0, "resyncs": 0, "book_events": 0, "fill_events": 0,
                      "paused_evals": 0, "kill_cancels": 0, "deadman_fires_live": 0}
        self.markets: list[MarketRuntime] = []
        self.quoters: dict[str, MarketQuoter] = {}
        self._quoter_of: dict[str, MarketQuoter] = {}  # leg coin -> its market's quoter
        self.data: MarketData | None = None
        self.ledger: Any = None
        self.executor: Executor | None = None
        self.carry: CarryManager | None = None
        self.account: AccountSync | None = None
        self.controls: ControlsPoller | None = None
        self.drawdown: DrawdownGuard | None = None
        self.deadman: DeadMan | None = None
        self.switch: DeadManSwitch | None = None
        self.router: FeedRouter | None = None
        self.feed: Any = None
        self.metrics: Any = None
        self.alerter: Any = None
        self.markouts: Any = None  # engine.monitoring.MarkoutRecorder, live/paper only (ops #14)
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._hold = 0  # > 0 while the engine does something exclusive (start, resync, shutdown)
        self._timers = EngineTimers(self)
        self._handler_us = 0.0
        if cfg.alerts.targets:
            from engine.alerts import Alerter

            from engine.ledger.db import make_engine  # alert dedup state shared with the flows (ops #14)

            self.alerter = Alerter.from_config(cfg.alerts, self.clock.now, source="engine", account=self.user,
                                               ledger=make_engine(cfg.ledger.url) if ledger_threaded else None)

    # ------------------------------------------------------------------ readings (tests, status, metrics)
    @property
    def books(self):
        return self.data.books

    @property
    def params(self) -> dict[str, QuoteParams]:
        return self.controls.params if self.controls is not None else {}

    def venue_now_ms(self) -> int:
        return self.data.venue_now_ms() if self.data is not None else self.clock.now_ms()

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self)

    # ------------------------------------------------------------------ wiring (called by start())
    def _wire(self, meta: Any, spot_meta: Any) -> None:
        cfg = self.cfg
        vol_ms = INTERVAL_MS[cfg.strategy.atr_timeframe]
        self.markets = resolve_markets(cfg.markets, meta, spot_meta, vol_ms, cfg.strategy.atr_window)
        specs: dict[str, CoinSpec] = {}
        for m in self.markets:
            for leg in m.legs:
                if leg.coin in specs:
                    raise StartupError(f"markets: coin {leg.coin!r} is quoted by two markets")
                specs[leg.coin] = CoinSpec(leg.coin, leg.asset, leg.sz_decimals, leg.is_spot)
                if leg.is_spot:
                    self.inventory.spot_base[leg.coin] = leg.base
                    self.inventory.spot_quote[leg.coin] = leg.quote
        coins = set(specs)
        now = self.clock.now_ms
        self.data = MarketData(self.clock, self.markets, self.limits.max_data_age_ms)
        self.executor = Executor(self.rest, self.orders, specs, self.timings, self.cloids.next, now)
        self.account = AccountSync(self.rest, self.inventory, self.orders, self.ledger, now, self.venue_now_ms,
                                   coins, {c: s.asset for c, s in specs.items()})
        self.account.on_change = self.poke_all
        self.controls = ControlsPoller(self.ledger, self.kill, self.base_params, cfg.strategy,
                                       [m.coin for m in self.markets], now, self.alert)
        self.drawdown = DrawdownGuard(cfg.risk, self.kill, self.ledger, now, self.alert)
        hedger = Hedger(self.executor, HedgeParams(band_usd=cfg.carry.hedge_band_usd), self.limits, self.kill)
        self.carry = CarryManager(cfg.carry, self.data, self.inventory, self.orders, self.executor, hedger,
                                  self.limits, self.kill, self.clock, self.ledger, self.rest,
                                  self.account.refresh_account, lambda: self.controls.carry_notional)
        self.deadman = DeadMan(self.rest, self.venue_now_ms, self.deadman_horizon_ms, local_now_ms=loop_ms)
        self.switch = DeadManSwitch(self.deadman, self._deadman_changed, self._deadman_fired)
        ctx = QuotingContext(
            clock=self.clock, data=self.data, inventory=self.inventory, orders=self.orders,
            executor=self.executor, carry=self.carry, limits=self.limits, kill=self.kill,
            tolerance=self.tolerance, min_interval_ms=cfg.strategy.min_requote_interval_ms,
            params_for=self.controls.params_for, paused=self._paused,
            address_budget=lambda: self.rest.budget.remaining() if self.rest.budget is not None else None,
            ready=self.ready, refresh_orders=self.account.refresh_orders, refresh_account=self.account.refresh_account,
            timings=self.timings, stats=self.stats, on_status=self._status_changed)
        for m in self.markets:
            q = self.quoters[m.coin] = MarketQuoter(m, ctx)
            for coin in m.coins:
                self._quoter_of[coin] = q
        timers = self._timers
        self.router = FeedRouter(
            clock=self.clock, data=self.data, orders=self.orders, inventory=self.inventory, ledger=self.ledger,
            deadman=self.deadman, quoter_of=self._quoter_of, stats=self.stats, on_deadman_fired=self._deadman_fired,
            account_soon=timers.account_soon, funding_soon=timers.funding_soon,
            resync=lambda reason: timers.spawn(self.resync(reason), "resync"),
            on_fill=lambda f: self.markouts.on_fill(f) if self.markouts is not None else None)

    def ready(self) -> bool:
        return self.started.is_set() and not self._hold

    def _paused(self, m: MarketRuntime) -> str | None:
        """Why `m` has no quotes, or None: a pause control covers it, or the dead man's switch is not armed
        (quotes come off before the venue would cancel them, and go back on once an arm is confirmed)."""
        if self.controls.paused((m.coin, *m.coins)):
            return "a pause control covers it"
        if not self.switch.armed():
            return "the dead man's switch is not armed"
        return None

    def poke_all(self) -> None:
        for q in self.quoters.values():
            q.poke()

    # ------------------------------------------------------------------ component callbacks
    def _order_changed(self, o: OurOrder) -> None:
        if self.ledger is not None:
            self.ledger.order({"time_ms": o.updated_ms, "cloid": o.cloid, "oid": o.oid, "coin": o.coin,
                               "side": "B" if o.is_buy else "A", "px": o.px, "sz": o.orig_sz, "tif": o.tif,
                               "status": o.status, "reason": o.reason, "reduce_only": o.reduce_only})

    def _deadman_changed(self, armed: bool) -> None:
        if not armed and self.started.is_set():
            self.alert("warning", "dead man's switch not armed",
                       "no confirmed scheduleCancel arm: our quotes are pulled until the venue accepts one. "
                       f"State: {self.deadman.as_dict()}. What to do: usually nothing (it re-arms when the venue "
                       "answers again); if it lasts, check the venue's status and our IP weight (`hlmm status`).")
            # pulled now, on a task of their own: a market's quoter may be busy with a slow venue job (a hedge
            # waiting out 429s, an ambiguous reply being settled), and the venue's cancel must not come first
            self._timers.spawn(self._pull_quotes(), "pull quotes")
        self.poke_all()

    async def _pull_quotes(self) -> None:
        resting = [o.live_order() for o in self.orders.live() if o.state is OrderState.OPEN and o.oid is not None
                   and o.coin in self._quoter_of and o.tif == "Alo"]
        if resting:
            log.warning("pulling %d quotes while the dead man's switch is not armed", len(resting))
            await self.executor.cancel_all(resting)

    def _status_changed(self, m: MarketRuntime, before: str, now: str) -> None:
        """A market stopped quoting (stale or crossed data, volatility, a pause control, the kill switch) or
        started again after an alert said it had stopped."""
        if now.startswith("paused"):
            self.alert("warning", f"{m.coin}: quoting paused", f"{now}. Our quotes on {', '.join(m.coins)} are "
                       "pulled until it clears; check the venue's feed and `hlmm status`.")
        elif now == "quoting" and before.startswith("paused"):
            self.alert("info", f"{m.coin}: quoting again", f"was {before}")

    def _deadman_fired(self, why: str) -> None:
        self.stats["deadman_fires_live"] += 1
        self.alert("warning", "dead man's switch may have fired" if "may have" in why else "dead man's switch fired",
                   f"{why}. A fire cancels every resting order of the account; the engine pulls its own quotes "
                   "before a confirmed arm runs out and quotes again once re-armed. What to do: check the engine's "
                   "log for slow or refused venue requests; the venue allows 10 fires a day, after which the "
                   "switch is off for the rest of the UTC day.")

    def alert(self, severity: str, title: str, body: str) -> None:
        """Delivery blocks on the network: it runs in a worker thread, never on the loop."""
        if self.alerter is None:
            return
        text = f"{body}\naccount {self.user}, markets {', '.join(m.coin for m in self.markets) or '-'}"
        try:
            fut = asyncio.get_running_loop().run_in_executor(None, self.alerter.send, severity, title, text, title)
        except RuntimeError:  # no loop (shutdown): deliver inline
            self.alerter.send(severity, title, text, title)
            return
        fut.add_done_callback(lambda f: f.exception() and log.warning("alert %r failed: %s", title, f.exception()))

    # ------------------------------------------------------------------ feed events (sync, hot path)
    def on_feed_event(self, ev: Any) -> None:
        t0 = time.perf_counter_ns()
        try:
            self.router.on_event(ev)
        finally:
            self._handler_us = (time.perf_counter_ns() - t0) / 1_000

    def inject_book(self, coin: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
                    venue_ms: int | None = None) -> None:
        """Install a book as if the feed had pushed it (tests of the stale/crossed/zero-book pause)."""
        self.router.on_book(coin, tuple(bids), tuple(asks), self.venue_now_ms() if venue_ms is None else venue_ms)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Read the venue, then quote: markets, ledger, controls (a persisted kill switch is in force before
        the first quote), leverage, books and volatility, carry, our orders and positions, the feed, and the
        dead man's switch armed before anything can rest."""
        from engine.ledger.db import upgrade
        from engine.ledger_writer import LedgerWriter

        cfg, loop = self.cfg, asyncio.get_running_loop()
        self._hold += 1
        meta, spot_meta = await self.rest.meta(), await self.rest.spot_meta()
        await loop.run_in_executor(None, upgrade, cfg.ledger.url)
        self.ledger = LedgerWriter(cfg.ledger.url, self.user, threaded=self.ledger_threaded, now=self.clock.now)
        self.ledger.start()
        if self.ledger_threaded:  # ops #14: fill markouts (a backtest has no wall clock to sample them on)
            from engine.monitoring import MarkoutRecorder

            self.markouts = MarkoutRecorder(cfg.ledger.url, self.user,
                                            lambda c: self.data.mid(c, self.clock.now_ms()))
        self._wire(meta, spot_meta)
        await self.controls.poll()
        peak, _ = await loop.run_in_executor(None, self.ledger.peak_equity_today, self.clock.now_ms())
        self.drawdown.seed(peak)
        for m in self.markets:  # leverage first: the venue refuses changes later with a position open
            perp = m.leg("perp")
            if perp is not None:
                lev = min(cfg.carry.perp_leverage, perp.max_leverage or cfg.carry.perp_leverage)
                r = await self.rest.update_leverage(perp.asset, lev, is_cross=True)
                if not r.ok:
                    log.warning("updateLeverage %s %dx refused: %s", perp.coin, lev,
                                r.error.message if r.error else r)
        for m in self.markets:
            for leg in m.legs:
                b = await self.rest.l2_book(leg.coin)
                self.data.on_book(b.coin, tuple((lv[0], lv[1]) for lv in b.bids),
                                  tuple((lv[0], lv[1]) for lv in b.asks), b.time)
            await self._timers.warm_vol(m)
        await self.carry.restore(self.markets)
        await self.carry.refresh_funding(self.markets)
        await self.account.reconcile_start()
        await self.account.record_history()
        await self.account.refresh_account()
        await self.account.backfill()
        self._start_feed()
        if self.metrics_port is not None:
            from engine.monitoring import MetricsServer

            self.metrics = MetricsServer(self.snapshot, self.metrics_port, timings=self.timings)
            log.info("metrics on 127.0.0.1:%d", self.metrics.start())
        await self._timers.restore_deadman_fires()
        await self.deadman.tick()  # armed before the first quote can rest
        self.switch.check()
        self._timers.start()
        self.started.set()
        self._hold -= 1
        log.info("engine started: user %s, markets %s, kill switch %s", self.user,
                 [m.coins for m in self.markets], "ENGAGED" if self.kill.engaged else "off")
        self.poke_all()

    def _start_feed(self) -> None:
        from engine.venue.feed import Feed

        engine = self

        class _TimedFeed(Feed):
            def _on_frame(self, frame: Any) -> None:  # decode time = frame time minus our handler's time
                t0 = time.perf_counter_ns()
                engine._handler_us = 0.0
                super()._on_frame(frame)
                total = (time.perf_counter_ns() - t0) / 1_000
                engine.timings.add("feed_decode", max(0.0, total - engine._handler_us))

        if self._feed_factory is not None:
            self.feed = self._feed_factory(self.on_feed_event)
        else:
            self.feed = _TimedFeed(self.cfg.venue.base_url, self.on_feed_event)
        for coin in self._quoter_of:
            self.feed.subscribe({"type": "l2Book", "coin": coin})
        for kind in ("orderUpdates", "userFills", "userFundings"):
            self.feed.subscribe({"type": kind, "user": self.user})
        self.feed.start()

    async def exclusive(self) -> None:
        """Hold quoting and wait until no market has a venue job running (resync, shutdown)."""
        self._hold += 1
        for _ in range(600):  # bounded: a job stuck on the venue does not stop a shutdown
            if not any(q.busy for q in self.quoters.values()):
                return
            await asyncio.sleep(0.05)
        log.warning("proceeding while a market's venue job is still running")

    async def resync(self, reason: str) -> None:
        """Feed (re)connected: events may have been missed. Re-read everything, then quote."""
        if not self.started.is_set() and reason == "connect":
            return  # start() has just read all of it
        await self.exclusive()
        try:
            await self.account.refresh_orders()
            await self.account.refresh_account()
            await self.account.backfill()
        except Exception:  # noqa: BLE001 - timers retry: orders every orders_refresh_ms, account after fills
            log.exception("resync after %s failed; the periodic re-reads retry", reason)
        finally:
            self._hold -= 1
        self.poke_all()

    async def run(self) -> None:
        """Start, run until `stop()`, then shut down cleanly (cancel all, disarm, flush)."""
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        self._stop.set()
        await self._timers.stop()
        for q in self.quoters.values():
            q.cancel_timers()
        try:
            if self.executor is not None:
                await self.exclusive()
                orders = [o for o in await self.rest.open_orders() if o.coin in self._quoter_of and is_ours(o.cloid)]
                if orders:
                    from engine.execution.reconcile import live_order

                    await self.executor.cancel_all([live_order(o) for o in orders])
                log.info("clean exit: cancelled %d orders", len(orders))
                await self.account.settle_statuses()
                await self.account.record_history()  # the ledger ends the run holding the venue's word
            if self.deadman is not None:
                await self.deadman.disarm()
        except Exception:  # noqa: BLE001 - process edge: the dead man's switch cancels what we could not
            log.exception("cancel-all on exit failed (the dead man's switch will cancel)")
        if self.feed is not None:
            await self.feed.close()
        if self.metrics is not None:
            self.metrics.stop()
        if self.markouts is not None:
            self.markouts.close()
        if self.ledger is not None:
            self.ledger.flush()
            self.ledger.close()
        await self.rest.aclose()
