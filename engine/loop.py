"""The engine loop: feed → state → strategy → risk → diff → send, event-driven with a minimum requote interval.

* Feed events (books, order updates, fills, funding) only update in-memory state and mark markets dirty;
  one requote task wakes up, and for each dirty market whose minimum interval has passed runs the pure
  core (leg_state → quotes → risk.evaluate → diff_orders) and sends the plan (one cancel / batchModify /
  order action at most). A housekeeping task marks markets dirty once a second anyway, so a feed that goes
  silent is noticed (stale data pauses the coin and cancels its quotes).
* Ledger reads (params, controls) happen at most once a second in a worker thread; ledger writes go through
  the writer thread's queue. The hot path never touches the database.
* "The venue decides": at start and after every feed (re)connect the engine re-reads open orders,
  positions/balances and fills by REST and only then quotes.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from engine.clock import Clock, WallClock
from engine.execution.deadman import DeadMan
from engine.execution.diff import CloidFactory, Tolerance, diff_orders
from engine.execution.executor import CoinSpec, Executor
from engine.execution.carrying import Carrying
from engine.execution.hedger import Hedger
from engine.execution.inventory import Inventory
from engine.execution.markets import INTERVAL_MS, MarketRuntime, StartupError, resolve_markets
from engine.execution.orders import OrderTracker
from engine.execution.reconcile import is_ours, live_order, make_run_id, reconcile_orders
from engine.execution.sync import VenueSync
from engine.execution.upkeep import Upkeep
from engine.ledger_writer import Controls, LedgerWriter
from engine.market.book import BookStore, L2Book
from engine.market.state import leg_state
from engine.monitoring import Timings, TimedSigner
from engine.risk import KillSwitch, MarketView, RiskContext, RiskLimits, evaluate
from engine.strategy.hedge import HedgeParams
from engine.strategy.quotes import QuoteParams, quotes

log = logging.getLogger(__name__)


class Engine(Upkeep, VenueSync, Carrying):
    def __init__(self, cfg: Any, private_key: str, *, clock: Clock | None = None, deadman_horizon_ms: int = 15_000,
                 metrics_port: int | None = None, equity_mark_every_ms: int = 10_000,
                 account_refresh_ms: int = 5_000, orders_refresh_ms: int = 30_000,
                 http_client: Any = None, feed_factory: Callable[[Callable[[Any], None]], Any] | None = None,
                 ledger_poll_ms: int = 1_000) -> None:
        """`http_client` (httpx.AsyncClient-shaped) and `feed_factory` (on_event -> a Feed-like object) replace
        the sockets: the in-process backtest (engine/backtest/inproc.py) passes both; live trading neither.
        `ledger_poll_ms`: how often controls and params are re-read (a backtest has no other ledger writer)."""
        from engine.venue.limits import AddressBudget, IpWeightBucket, NonceManager
        from engine.venue.rest import VenueRest

        self.cfg = cfg
        self.clock = clock or WallClock()
        self.timings = Timings()
        now_ms = self.clock.now_ms  # limits and nonces on the engine's clock (simulated in a backtest)
        self.rest = VenueRest(cfg.venue.base_url, private_key=private_key,
                              account_address=cfg.venue.account_address,
                              bucket=IpWeightBucket(capacity=cfg.limits.ip_weight_per_min, now_ms=now_ms),
                              nonces=NonceManager(now_ms=now_ms), budget=AddressBudget(),
                              exchange_timeout_s=5.0, now_ms=now_ms, client=http_client)
        self._feed_factory = feed_factory
        self.ledger_poll_ms = ledger_poll_ms
        self.rest.signer = TimedSigner(self.rest.signer, self.timings)
        self.user = self.rest.user.lower()
        # counter starts at the start time in µs: unique across restarts even if two runs draw the same run id
        self.cloids = CloidFactory(make_run_id(), start=self.clock.now_ms() * 1_000)
        self.tracker = OrderTracker()
        self.inventory = Inventory()
        self.books = BookStore()
        self.kill = KillSwitch()
        self.controls = Controls()
        self.limits = RiskLimits.from_config(cfg.risk)
        self.tolerance = Tolerance(cfg.strategy.requote_tolerance_bps, 0.1)
        self.base_params = QuoteParams.from_config(cfg.strategy)
        self.params: dict[str, QuoteParams] = {}
        self._desired: dict[str, tuple] = {}  # coin -> (inputs key, quotes, book) of the last evaluation
        self._clean: dict[str, tuple] = {}  # coin -> (accepted quotes, live version) of a no-op diff
        self._bad_params: set[tuple[str, str]] = set()
        self._planned: dict[str, tuple] = {}  # coin -> accepted quotes of the plan being executed
        self._carry_saved: dict[str, dict] = {}  # coin -> carry state last written to params
        self._view_cache: dict[str, tuple] = {}  # coin -> (book, closed bars, MarketView) (see _views)
        self.min_interval_ms = cfg.strategy.min_requote_interval_ms
        self.deadman_horizon_ms = deadman_horizon_ms
        self.metrics_port = metrics_port
        self.equity_mark_every_ms = equity_mark_every_ms
        self.account_refresh_ms = account_refresh_ms
        self.orders_refresh_ms = orders_refresh_ms
        self.markets: list[MarketRuntime] = []
        self.by_coin: dict[str, MarketRuntime] = {}
        self.ledger: LedgerWriter | None = None
        self.executor: Executor | None = None
        self.hedger: Hedger | None = None
        self.deadman: DeadMan | None = None
        self.feed: Any = None
        self.metrics: Any = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer of venue orders at a time (requote, resync, shutdown)
        self._tasks: list[asyncio.Task] = []
        self._bg: set[asyncio.Task] = set()
        self.quote_cache = {"hits": 0, "misses": 0}  # per-leg quote reuse (see decide)
        self._venue_offset_ms = 0
        self._peak_equity: float | None = None
        self._handler_us = 0.0
        self._account_due = False
        self._funding_due = False
        self._controls_written = False  # the engine wrote a control the next ledger poll must see
        self.started = asyncio.Event()
        self.alerter: Any = None
        if cfg.alerts.targets:
            from engine.alerts import Alerter

            self.alerter = Alerter.from_config(cfg.alerts, self.clock, source="engine")
        self.stats = {"requotes": 0, "plans_sent": 0, "resyncs": 0, "book_events": 0, "fill_events": 0,
                      "paused_evals": 0, "kill_cancels": 0}

    # ------------------------------------------------------------------ time
    def venue_now_ms(self) -> int:
        """Our clock shifted by the newest venue timestamp seen (the local venue's clock may run ahead)."""
        return self.clock.now_ms() + self._venue_offset_ms

    def _observe_venue_time(self, venue_ms: int) -> None:
        offset = venue_ms - self.clock.now_ms()
        if offset > self._venue_offset_ms or abs(offset - self._venue_offset_ms) > 60_000:
            self._venue_offset_ms = offset

    # ------------------------------------------------------------------ startup
    async def start(self) -> None:
        from engine.ledger.db import upgrade

        cfg = self.cfg
        meta, spot_meta = await self.rest.meta(), await self.rest.spot_meta()
        vol_ms = INTERVAL_MS[cfg.strategy.atr_timeframe]
        self.markets = resolve_markets(cfg.markets, meta, spot_meta, vol_ms, cfg.strategy.atr_window)
        specs = {}
        for m in self.markets:
            for leg in m.legs:
                if leg.coin in self.by_coin:
                    raise StartupError(f"markets: coin {leg.coin!r} is quoted by two markets")
                self.by_coin[leg.coin] = m
                specs[leg.coin] = CoinSpec(leg.coin, leg.asset, leg.sz_decimals, leg.is_spot)
                if leg.is_spot:
                    self.inventory.spot_base[leg.coin] = leg.base
                    self.inventory.spot_quote[leg.coin] = leg.quote
        await asyncio.get_running_loop().run_in_executor(None, upgrade, cfg.ledger.url)
        self.ledger = LedgerWriter(cfg.ledger.url, self.user)
        self.ledger.start()
        self.executor = Executor(self.rest, self.tracker, specs, self.timings, self.cloids.next, self.clock.now_ms,
                                 on_order=self.ledger.order)
        self.hedger = Hedger(self.executor, HedgeParams(band_usd=cfg.carry.hedge_band_usd), self.limits, self.kill)
        self.deadman = DeadMan(self.rest, self.venue_now_ms, self.deadman_horizon_ms)
        await self._poll_ledger()  # a persisted kill switch is in force before the first quote
        # the drawdown reference survives a restart: today's peak equity mark of this account
        self._peak_equity, _ = await asyncio.get_running_loop().run_in_executor(None, self.ledger.peak_equity_today)
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
                book = await self.rest.l2_book(leg.coin)
                self._on_book(book)
            await self._warm_vol(m)
        await self._restore_carry()  # hysteresis and a running unwind survive a restart
        await self._refresh_funding()
        async with self._lock:
            report = await reconcile_orders(self.rest, self.by_coin, {c: s.asset for c, s in specs.items()},
                                            self.tracker)
            log.info("startup reconciliation: %s", report.as_dict())
            await self._refresh_account()
            await self._backfill_fills()
        self._start_feed()
        if self.metrics_port is not None:
            from engine.monitoring import MetricsServer

            self.metrics = MetricsServer(self.snapshot, self.metrics_port)
            log.info("metrics on 127.0.0.1:%d", self.metrics.start())
        await self._restore_deadman_fires()  # the day's fire budget survives a restart
        await self.deadman.tick()  # armed before the first quote can rest
        self._tasks = [asyncio.create_task(self._requote_loop(), name="hlmm-requote"),
                       asyncio.create_task(self._housekeeping(), name="hlmm-housekeeping")]
        self.started.set()
        log.info("engine started: user %s, markets %s, kill switch %s", self.user,
                 [m.coins for m in self.markets], "ENGAGED" if self.kill.engaged else "off")

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
        for coin in self.by_coin:
            self.feed.subscribe({"type": "l2Book", "coin": coin})
        for kind in ("orderUpdates", "userFills", "userFundings"):
            self.feed.subscribe({"type": kind, "user": self.user})
        self.feed.start()

    # ------------------------------------------------------------------ feed events (sync, hot path)
    def on_feed_event(self, ev: Any) -> None:
        t0 = time.perf_counter_ns()
        kind = type(ev).__name__
        try:
            if kind == "L2Book":
                self._on_book(ev)
            elif kind == "OrderUpdates":
                self._on_order_updates(ev)
            elif kind == "UserFills":
                self._on_fills(ev)
            elif kind == "UserFundings":
                self._on_fundings(ev)
            elif kind == "Resync":
                self.stats["resyncs"] += 1
                task = asyncio.get_running_loop().create_task(self._resync(ev.reason))
                self._bg.add(task)  # keep a reference until done (the loop only holds weak ones)
                task.add_done_callback(self._bg.discard)
        finally:
            self._handler_us = (time.perf_counter_ns() - t0) / 1_000

    def _on_book(self, b: Any) -> None:
        now = self.clock.now_ms()
        book = L2Book(b.coin, tuple([(l[0], l[1]) for l in b.bids]), tuple([(l[0], l[1]) for l in b.asks]), b.time,
                      now)
        self.books.on_book(book)
        self._observe_venue_time(b.time)
        m = self.by_coin.get(b.coin)
        if m is None:
            return
        self.stats["book_events"] += 1
        if b.coin == m.vol_coin and book.mid is not None:
            m.vol.on_price(b.time, book.mid)
        self._mark(m)

    def inject_book(self, coin: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
                    venue_ms: int | None = None) -> None:
        """Install a book as if the feed had pushed it (tests of the stale/crossed/zero-book pause)."""
        from engine.venue.types import L2Book as WireBook

        t = self.venue_now_ms() if venue_ms is None else venue_ms
        self.on_feed_event(WireBook(coin, t, tuple((p, s, 1) for p, s in bids), tuple((p, s, 1) for p, s in asks)))

    def _mark(self, m: MarketRuntime) -> None:
        m.dirty = True
        self._wake.set()

    def _on_order_updates(self, ev: Any) -> None:
        for u in ev.updates:
            o = u.order
            if o.coin not in self.by_coin:
                continue
            if u.status == "scheduledCancel" and self.deadman is not None:
                self.deadman.observe_fire(u.status_timestamp)
            tracked = self.tracker.get(o.oid)
            if u.status == "open" and tracked is None and not is_ours(o.cloid):
                continue  # not ours: reconciliation decides about foreign orders
            self.tracker.on_update(o.oid, o.coin, o.is_buy, o.limit_px, o.sz, o.cloid, u.status)
            if u.status != "open":
                self._mark(self.by_coin[o.coin])

    def _on_fills(self, ev: Any) -> None:
        if self.ledger is not None:
            self.ledger.fills([f.raw for f in ev.fills])
        self._account_due = True  # positions are re-read from the venue (a snapshot may hold fills we missed)
        if ev.is_snapshot:
            return  # history: positions come from that REST read
        for f in ev.fills:
            self.stats["fill_events"] += 1
            self.inventory.on_fill(f.coin, f.side, f.sz, f.px, f.fee, f.fee_token, f.start_position, f.tid)
            self.tracker.on_fill(f.oid, f.sz)
            m = self.by_coin.get(f.coin)
            if m is not None:
                self._mark(m)

    def _on_fundings(self, ev: Any) -> None:
        if self.ledger is not None and ev.fundings:
            self.ledger.funding([{"time": r.time, "coin": r.coin, "usdc": str(r.usdc), "szi": str(r.szi),
                                  "fundingRate": str(r.funding_rate)} for r in ev.fundings])
        if not ev.is_snapshot:
            self._account_due = True
            self._funding_due = True  # a funding hour passed: re-read the trailing mean

    # ------------------------------------------------------------------ requote
    async def _requote_loop(self) -> None:
        while not self._stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            now = self.clock.now_ms()
            next_due = None
            for m in self.markets:
                if not m.dirty:
                    continue
                wait = m.last_send_ms + self.min_interval_ms - now
                if wait > 0 and not self.kill.engaged:
                    next_due = wait if next_due is None else min(next_due, wait)
                    continue
                m.dirty = False
                try:
                    async with self._lock:
                        await self._hedge(m)
                        await self.requote(m)
                except Exception:
                    log.exception("requote of %s failed", m.coin)
            if next_due is not None:
                asyncio.get_running_loop().call_later(next_due / 1000, self._wake.set)

    def _quote_params(self, coin: str) -> QuoteParams:
        return self.params.get(coin, self.base_params)

    def _views(self, m: MarketRuntime, now: int) -> dict[str, MarketView]:
        views = {}
        bars = m.vol.bars
        for leg in m.legs:
            book = self.books.book(leg.coin)
            # a view depends on the book snapshot and the closed bars only: reuse it while both are unchanged
            cached = self._view_cache.get(leg.coin)
            if cached is not None and cached[0] is book and cached[1] == bars:
                views[leg.coin] = cached[2]
                continue
            mid = book.mid if book is not None else None
            view = MarketView(leg.coin, mid, None, m.vol.atr_pct(mid) if mid else None,
                              book.received_ms if book is not None else None)
            self._view_cache[leg.coin] = (book, bars, view)
            views[leg.coin] = view
        return views

    def decide(self, m: MarketRuntime, now: int) -> tuple[Any, Any]:
        """The pure part of a requote: (risk decision, order plan) for one market, nothing sent."""
        inv = self.inventory
        qtys = [(leg.coin, inv.qty(leg.coin)) for leg in m.legs]
        net = float(sum(q for _, q in qtys))
        params = self._quote_params(m.coin)
        desired = []
        for leg in m.legs:
            buy_cap = sell_cap = None
            book = self.books.book(leg.coin)
            if leg.is_spot and book is not None and book.mid:
                sell_cap = float(inv.spot.get(leg.base, 0))
                buy_cap = float(inv.spot.get(leg.quote, 0)) / book.mid
                if m.unwind_to is not None:  # the coin being unwound is not offered: asks would hold it
                    sell_cap = max(0.0, sell_cap - self._unwind_excess(m))
            # a leg's quotes depend only on these inputs: when a push moved the other leg, reuse them
            fresh = book is not None and book.is_fresh(now, self.limits.max_data_age_ms)
            key = (id(book), fresh, net, m.vol.bars, m.carry.strength, id(params), buy_cap, sell_cap)
            cached = self._desired.get(leg.coin)
            if cached is not None and cached[0] == key:
                self.quote_cache["hits"] += 1
                desired.extend(cached[1])
                continue
            self.quote_cache["misses"] += 1
            st = leg_state(leg.coin, leg.name, leg.sz_decimals, book, now, self.limits.max_data_age_ms, net,
                           m.vol, m.carry.strength, buy_cap, sell_cap)
            leg_quotes = quotes(st, params) if st is not None else []
            self._desired[leg.coin] = (key, leg_quotes, book)  # the book is kept so its id stays unique
            desired.extend(leg_quotes)
        positions = {coin: float(q) for coin, q in qtys}
        coins = m.coins
        others = len(self.tracker) - self.tracker.count(coins)
        budget = self.rest.budget.remaining() if self.rest.budget is not None else None
        ctx = RiskContext(now, self._views(m, now), positions, others, budget)
        decision = evaluate(desired, ctx, self.limits, self.kill)
        accepted = decision.accepted
        paused = self.controls.paused
        if paused and ("*" in paused or m.coin in paused or any(c in paused for c in coins)):
            accepted = ()
        # a coin whose accepted quotes and live orders are both unchanged since a diff that found nothing to
        # do would get the same empty answer again (diff is deterministic): leave it out
        by_coin: dict[str, list] = {c: [] for c in coins}
        for q in accepted:
            by_coin[q.coin].append(q)
        todo = []
        for coin, qs in by_coin.items():
            key = (tuple(qs), self.tracker.coin_version.get(coin, 0))
            if self._clean.get(coin) != key:
                todo.append(coin)
        plan = diff_orders([q for c in todo for q in by_coin[c]], self.tracker.live(todo), self.tolerance,
                           self.cloids)
        touched = {x.quote.coin for x in plan.places} | {x.live.coin for x in plan.modifies} | {
            x.live.coin for x in plan.cancels}
        self._planned = {c: tuple(by_coin[c]) for c in touched}
        for coin in todo:
            if coin in touched:
                self._clean.pop(coin, None)
            else:
                self._clean[coin] = (tuple(by_coin[coin]), self.tracker.coin_version.get(coin, 0))
        return decision, plan

    async def requote(self, m: MarketRuntime) -> None:
        if self.executor.needs_refresh:
            await self._refresh_orders()
        now = self.clock.now_ms()
        t0 = time.perf_counter_ns()
        decision, plan = self.decide(m, now)
        self.timings.add("strategy", (time.perf_counter_ns() - t0) / 1_000)
        m.last_eval_ms = now
        self.stats["requotes"] += 1
        m.status = ("killed" if decision.cancel_all else
                    "paused: " + "; ".join(c.message for c in decision.halts) if decision.paused_coins else "quoting")
        if decision.paused_coins:
            self.stats["paused_evals"] += 1
        if plan.is_empty:
            return
        if decision.cancel_all:
            self.stats["kill_cancels"] += len(plan.cancels)
        m.last_send_ms = now
        self.stats["plans_sent"] += 1
        t1 = time.perf_counter_ns()
        await self.executor.execute(plan)
        self.timings.add("execute", (time.perf_counter_ns() - t1) / 1_000)
        if self.executor.last_as_planned:
            self.mark_executed()

    def mark_executed(self) -> None:
        """The last plan was carried out exactly (every order rests as planned, every cancel went through):
        the live orders of the coins it touched now equal their accepted quotes, so the next evaluation can
        skip diffing them until their quotes or orders change again."""
        for coin, accepted in self._planned.items():
            self._clean[coin] = (accepted, self.tracker.coin_version.get(coin, 0))
        self._planned = {}

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """Start, run until `stop()`, then shut down cleanly (cancel all, disarm, flush)."""
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        try:
            if self.executor is not None:
                async with self._lock:
                    orders = [live_order(o) for o in await self.rest.open_orders()
                              if o.coin in self.by_coin and is_ours(o.cloid)]
                    if orders:
                        await self.executor.cancel_all(orders)
                    log.info("clean exit: cancelled %d orders", len(orders))
            if self.deadman is not None:
                await self.deadman.disarm()
        except Exception:
            log.exception("cancel-all on exit failed (the dead man's switch will cancel)")
        if self.feed is not None:
            await self.feed.close()
        if self.metrics is not None:
            self.metrics.stop()
        if self.ledger is not None:
            self.ledger.flush()
            self.ledger.close()
        await self.rest.aclose()
