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
from decimal import Decimal
from typing import Any

from engine.clock import Clock, WallClock
from engine.execution.deadman import DeadMan
from engine.execution.diff import CloidFactory, Tolerance, diff_orders
from engine.execution.executor import CoinSpec, Executor
from engine.execution.hedger import Hedger
from engine.execution.inventory import Inventory
from engine.execution.markets import INTERVAL_MS, MarketRuntime, StartupError, resolve_markets
from engine.execution.orders import OrderTracker
from engine.execution.reconcile import is_ours, live_order, make_run_id, reconcile_orders
from engine.ledger_writer import KILL_SWITCH, Controls, LedgerWriter
from engine.market.book import BookStore, L2Book
from engine.market.candles import Candle
from engine.market.state import leg_state
from engine.monitoring import Timings, TimedSigner
from engine.risk import KillSwitch, MarketView, RiskContext, RiskLimits, evaluate
from engine.strategy.carry import CarryParams, carry_target
from engine.strategy.hedge import HedgeParams, LegMarket
from engine.strategy.quotes import QuoteParams, quotes
from engine.strategy.rounding import round_price, round_size

log = logging.getLogger(__name__)
HOUSEKEEPING_S = 0.25
TAKER_FEE = {"perp": 0.00045, "spot": 0.0007}  # base tier (protocol §7); the hedger compares legs with them


class Engine:
    def __init__(self, cfg: Any, private_key: str, *, clock: Clock | None = None, deadman_horizon_ms: int = 15_000,
                 metrics_port: int | None = None, equity_mark_every_ms: int = 10_000,
                 account_refresh_ms: int = 5_000, orders_refresh_ms: int = 30_000) -> None:
        from engine.venue.limits import AddressBudget, IpWeightBucket
        from engine.venue.rest import VenueRest

        self.cfg = cfg
        self.clock = clock or WallClock()
        self.timings = Timings()
        self.rest = VenueRest(cfg.venue.base_url, private_key=private_key,
                              account_address=cfg.venue.account_address,
                              bucket=IpWeightBucket(capacity=cfg.limits.ip_weight_per_min),
                              budget=AddressBudget(), exchange_timeout_s=5.0)
        self.rest.signer = TimedSigner(self.rest.signer, self.timings)
        self.user = self.rest.user.lower()
        self.cloids = CloidFactory(make_run_id())
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
        self._venue_offset_ms = 0
        self._peak_equity: float | None = None
        self._handler_us = 0.0
        self._account_due = False
        self._funding_due = False
        self.started = asyncio.Event()
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
        await self._poll_ledger(force=True)  # a persisted kill switch is in force before the first quote
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
        self._tasks = [asyncio.create_task(self._requote_loop(), name="hlmm-requote"),
                       asyncio.create_task(self._housekeeping(), name="hlmm-housekeeping")]
        await self.deadman.tick()
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

        self.feed = _TimedFeed(self.cfg.venue.base_url, self.on_feed_event)
        for coin in self.by_coin:
            self.feed.subscribe({"type": "l2Book", "coin": coin})
        for kind in ("orderUpdates", "userFills", "userFundings"):
            self.feed.subscribe({"type": kind, "user": self.user})
        self.feed.start()

    async def _warm_vol(self, m: MarketRuntime) -> None:
        interval = self.cfg.strategy.atr_timeframe
        span = INTERVAL_MS[interval] * (self.cfg.strategy.atr_window * 3 + 2)
        now = self.venue_now_ms()
        try:
            bars = await self.rest.candle_snapshot(m.vol_coin, interval, now - span, now)
        except Exception as exc:
            log.warning("candle warm-up for %s failed (quoting starts on the base spread): %s", m.coin, exc)
            return
        closed = [Candle(b.t, INTERVAL_MS[interval], b.o, b.h, b.l, b.c, b.v, b.n) for b in bars if b.T < now]
        m.vol.warm_up(closed)

    async def _refresh_funding(self) -> None:
        """Trailing mean hourly funding per perp (fundingHistory over the lookback; the current predicted
        rate when the venue has no history yet) → carry target."""
        lookback_ms = self.cfg.carry.funding_lookback_hours * 3_600_000
        now = self.venue_now_ms()
        ctxs = {}
        try:
            _, perp_ctxs = await self.rest.meta_and_asset_ctxs()
            ctxs = {c.coin: c for c in perp_ctxs}
        except Exception as exc:
            log.warning("metaAndAssetCtxs failed: %s", exc)
        for m in self.markets:
            perp = m.leg("perp")
            if perp is None:
                continue
            try:
                rows = await self.rest.funding_history(perp.coin, now - lookback_ms, None, max_pages=5)
            except Exception as exc:
                log.warning("fundingHistory %s failed: %s", perp.coin, exc)
                rows = []
            rates = [r.funding_rate for r in rows]
            if not rates and perp.coin in ctxs:
                rates = [ctxs[perp.coin].funding]
            m.funding_mean = sum(rates) / len(rates) if rates else None
            self._update_carry(m)

    def _update_carry(self, m: MarketRuntime) -> None:
        spot, perp = m.leg("spot"), m.leg("perp")
        if spot is None or perp is None:
            return
        mid = self.books.mid(perp.coin, self.clock.now_ms(), self.limits.max_data_age_ms)
        if mid is None:
            return
        notional = self.cfg.carry.target_notional_usd
        if self.controls.carry_notional and m.coin in self.controls.carry_notional:
            notional = self.controls.carry_notional[m.coin]
        params = CarryParams.from_config(self.cfg.carry, target_notional=notional)
        if params.exit_funding >= params.entry_funding:  # config allows equal thresholds; carry needs a gap
            params = CarryParams(notional, params.entry_funding, params.entry_funding - 1e-9)
        m.carry = carry_target(m.funding_mean, params, m.carry, mid, min(spot.sz_decimals, perp.sz_decimals))

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
                asyncio.get_running_loop().create_task(self._resync(ev.reason))
        finally:
            self._handler_us = (time.perf_counter_ns() - t0) / 1_000

    def _on_book(self, b: Any) -> None:
        now = self.clock.now_ms()
        book = L2Book(b.coin, tuple((l[0], l[1]) for l in b.bids), tuple((l[0], l[1]) for l in b.asks), b.time, now)
        self.books.on_book(book)
        self._observe_venue_time(b.time)
        m = self.by_coin.get(b.coin)
        if m is None:
            return
        self.stats["book_events"] += 1
        if b.coin == m.vol_coin and book.mid is not None:
            m.vol.on_price(b.time, book.mid)
        self._mark(m, book.received_ms)

    def inject_book(self, coin: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
                    venue_ms: int | None = None) -> None:
        """Install a book as if the feed had pushed it (tests of the stale/crossed/zero-book pause)."""
        from engine.venue.types import L2Book as WireBook

        t = self.venue_now_ms() if venue_ms is None else venue_ms
        self.on_feed_event(WireBook(coin, t, tuple((p, s, 1) for p, s in bids), tuple((p, s, 1) for p, s in asks)))

    def _mark(self, m: MarketRuntime, t_ms: int | None = None) -> None:
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
        if ev.is_snapshot:
            return  # history: positions come from the REST snapshot taken at (re)connect
        for f in ev.fills:
            self.stats["fill_events"] += 1
            self.inventory.on_fill(f.coin, f.side, f.sz, f.px, f.fee, f.fee_token, f.start_position, f.tid)
            self.tracker.on_fill(f.oid, f.sz)
            m = self.by_coin.get(f.coin)
            if m is not None:
                self._mark(m)
        self._account_due = True

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
        for leg in m.legs:
            book = self.books.book(leg.coin)
            mid = book.mid if book is not None else None
            views[leg.coin] = MarketView(leg.coin, mid, None, m.vol.atr_pct(mid) if mid else None,
                                         book.received_ms if book is not None else None)
        return views

    def decide(self, m: MarketRuntime, now: int) -> tuple[Any, Any]:
        """The pure part of a requote: (risk decision, order plan) for one market, nothing sent."""
        inv = self.inventory
        net = float(sum(inv.qty(leg.coin) for leg in m.legs))
        params = self._quote_params(m.coin)
        desired = []
        for leg in m.legs:
            buy_cap = sell_cap = None
            book = self.books.book(leg.coin)
            if leg.is_spot and book is not None and book.mid:
                sell_cap = float(inv.spot.get(leg.base, 0))
                buy_cap = float(inv.spot.get(leg.quote, 0)) / book.mid
            # a leg's quotes depend only on these inputs: when a push moved the other leg, reuse them
            fresh = book is not None and book.is_fresh(now, self.limits.max_data_age_ms)
            key = (id(book), fresh, net, m.vol.bars, m.carry.strength, id(params), buy_cap, sell_cap)
            cached = self._desired.get(leg.coin)
            if cached is not None and cached[0] == key:
                desired.extend(cached[1])
                continue
            st = leg_state(leg.coin, leg.name, leg.sz_decimals, book, now, self.limits.max_data_age_ms, net,
                           m.vol, m.carry.strength, buy_cap, sell_cap)
            leg_quotes = quotes(st, params) if st is not None else []
            self._desired[leg.coin] = (key, leg_quotes, book)  # the book is kept so its id stays unique
            desired.extend(leg_quotes)
        positions = {leg.coin: float(inv.qty(leg.coin)) for leg in m.legs}
        others = len(self.tracker) - self.tracker.count(m.coins)
        budget = self.rest.budget.remaining() if self.rest.budget is not None else None
        ctx = RiskContext(now, self._views(m, now), positions, others, budget)
        decision = evaluate(desired, ctx, self.limits, self.kill)
        accepted = decision.accepted
        if "*" in self.controls.paused or m.coin in self.controls.paused or any(
                c in self.controls.paused for c in m.coins):
            accepted = ()
        # a coin whose accepted quotes and live orders are both unchanged since a diff that found nothing to
        # do would get the same empty answer again (diff is deterministic): leave it out
        by_coin: dict[str, list] = {c: [] for c in m.coins}
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

    # ------------------------------------------------------------------ hedging and carry
    def _leg_market(self, leg: Any) -> LegMarket | None:
        book = self.books.book(leg.coin)
        if book is None or not book.is_usable or not book.is_fresh(self.clock.now_ms(), self.limits.max_data_age_ms):
            return None
        return LegMarket(leg.coin, leg.name, leg.sz_decimals, book.best_bid, book.best_ask, TAKER_FEE[leg.name])

    async def _hedge(self, m: MarketRuntime) -> None:
        spot_leg, perp_leg = m.leg("spot"), m.leg("perp")
        if spot_leg is None or perp_leg is None or self.kill.engaged or m.hedge_busy:
            return
        spot, perp = self._leg_market(spot_leg), self._leg_market(perp_leg)
        if spot is None or perp is None:
            return
        now = self.clock.now_ms()
        spot_qty, perp_qty = float(self.inventory.qty(spot.coin)), float(self.inventory.qty(perp.coin))
        if m.carry.active and Decimal(repr(spot_qty)) < m.carry.spot_qty:  # carry: top the spot leg up
            deficit = round_size(m.carry.spot_qty - Decimal(repr(spot_qty)), spot.sz_decimals)
            px = round_price(spot.best_ask * 1.002, spot.sz_decimals, True, "up")
            if px is not None and deficit * px >= 10 and deficit * px <= Decimal(repr(self.limits.max_order_notional)):
                m.hedge_busy = True
                try:
                    await self.executor.send_ioc(spot.coin, True, px, deficit, False, "carry")
                    await self._refresh_account()
                finally:
                    m.hedge_busy = False
                spot_qty = float(self.inventory.qty(spot.coin))

        def ctx_for(coin: str) -> RiskContext:
            return RiskContext(now, self._views(m, now), {spot.coin: spot_qty, perp.coin: perp_qty})

        choice = self.hedger.decide(spot_qty, perp_qty, spot, perp, ctx_for)
        if choice is None:
            return
        m.hedge_busy = True
        try:
            await self.hedger.execute(*choice)
            await self._refresh_account()  # the venue's position, not our arithmetic, feeds the next decision
        finally:
            m.hedge_busy = False
        self._mark(m)

    # ------------------------------------------------------------------ venue re-reads
    async def _refresh_account(self) -> None:
        chs = await self.rest.clearinghouse_state()
        spot = await self.rest.spot_clearinghouse_state()
        self.inventory.on_snapshot(chs, spot, self.clock.now_ms())
        self._account_due = False

    async def _refresh_orders(self) -> None:
        orders = await self.rest.open_orders()
        self.tracker.replace_all(live_order(o) for o in orders if o.coin in self.by_coin and is_ours(o.cloid))
        self.executor.needs_refresh = False

    async def _backfill_fills(self) -> None:
        fills = await self.rest.user_fills()
        self.ledger.fills([f.raw for f in fills])
        start = self.venue_now_ms() - 7 * 86_400_000
        funding = await self.rest.user_funding(start)
        self.ledger.funding([r.raw for r in funding])

    async def _resync(self, reason: str) -> None:
        """Feed (re)connected: events may have been missed. Re-read everything, then quote."""
        if not self.started.is_set() and reason == "connect":
            return  # start() has just read all of it
        try:
            async with self._lock:
                await self._refresh_orders()
                await self._refresh_account()
                await self._backfill_fills()
        except Exception:
            log.exception("resync after %s failed; next housekeeping retries", reason)
            self._account_due = True
            self.executor.needs_refresh = True
        for m in self.markets:
            self._mark(m)

    # ------------------------------------------------------------------ housekeeping
    async def _poll_ledger(self, force: bool = False) -> None:
        loop = asyncio.get_running_loop()
        coins = [m.coin for m in self.markets]
        controls = await loop.run_in_executor(None, self.ledger.read_controls)
        params = await loop.run_in_executor(None, self.ledger.read_params, coins)
        now = self.clock.now_ms()
        if controls.kill and not self.kill.engaged:
            self.kill.engage(controls.kill[0] or "ledger", controls.kill[1] or "kill switch control", now)
            log.error("KILL SWITCH engaged by %s: %s", *controls.kill)
            for m in self.markets:
                self._mark(m)
        elif not controls.kill and self.kill.engaged:
            self.kill.clear("ledger", "kill switch control cleared (hlmm resume)", now)
            log.warning("kill switch cleared: quoting resumes")
            for m in self.markets:
                self._mark(m)
        if controls.paused != self.controls.paused:
            for m in self.markets:
                self._mark(m)
        self.controls = controls
        new_params = {}
        for coin, p in params.items():
            mult = p.get("spread_multiplier")
            if isinstance(mult, (int, float)) and mult > 0:
                new_params[coin] = QuoteParams.from_config(self.cfg.strategy, regime_multiplier=float(mult))
        if new_params.keys() != self.params.keys() or any(
                new_params[k].regime_multiplier != self.params[k].regime_multiplier for k in new_params):
            for m in self.markets:
                self._mark(m)
        self.params = new_params

    def _equity(self) -> tuple[float, float]:
        """(spot value at mids, perp account value)."""
        inv = self.inventory
        spot_value = 0.0
        for token, qty in inv.spot.items():
            if token in ("USDC",):
                spot_value += float(qty)
                continue
            pair = next((leg for m in self.markets for leg in m.legs if leg.is_spot and leg.base == token), None)
            mid = self.books.mid(pair.coin, self.clock.now_ms(), 10 ** 12) if pair else None
            if mid:
                spot_value += float(qty) * mid
        return spot_value, float(inv.perp_account_value)

    def _check_drawdown(self, equity: float) -> None:
        self._peak_equity = equity if self._peak_equity is None else max(self._peak_equity, equity)
        dd = self._peak_equity - equity
        risk = self.cfg.risk
        why = None
        if risk.max_drawdown_usd is not None and dd > risk.max_drawdown_usd:
            why = f"drawdown {dd:.2f} USD > max_drawdown_usd {risk.max_drawdown_usd}"
        elif risk.max_drawdown_pct is not None and self._peak_equity > 0 and dd / self._peak_equity > risk.max_drawdown_pct:
            why = f"drawdown {dd / self._peak_equity:.2%} > max_drawdown_pct {risk.max_drawdown_pct:.2%}"
        if why and not self.kill.engaged:
            self.kill.engage("engine", why, self.clock.now_ms())
            self.ledger.control(KILL_SWITCH, True, "engine", why)
            log.error("KILL SWITCH engaged: %s", why)
            for m in self.markets:
                self._mark(m)

    async def _housekeeping(self) -> None:
        last_poll = last_mark = last_account = last_orders = last_budget = 0
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), HOUSEKEEPING_S)
                break
            except asyncio.TimeoutError:
                pass
            now = self.clock.now_ms()
            try:
                for m in self.markets:  # a silent feed still gets evaluated (and paused when stale)
                    if now - m.last_eval_ms >= 1_000:
                        self._mark(m)
                if now - last_poll >= 1_000:
                    last_poll = now
                    await self._poll_ledger()
                await self.deadman.tick()
                if self._account_due or now - last_account >= self.account_refresh_ms:
                    last_account = now
                    await self._refresh_account()
                if now - last_orders >= self.orders_refresh_ms or self.executor.needs_refresh:
                    last_orders = now
                    async with self._lock:
                        await self._refresh_orders()
                if now - last_budget >= 60_000:
                    last_budget = now
                    await self.rest.user_rate_limit()
                if self._funding_due:
                    self._funding_due = False
                    await self._refresh_funding()
                    await self._backfill_fills()
                if now - last_mark >= self.equity_mark_every_ms:
                    last_mark = now
                    spot_value, perp_value = self._equity()
                    net = sum(float(self.inventory.qty(c)) for m in self.markets for c in m.coins)
                    self.ledger.equity_mark({"time_ms": now, "spot_value": Decimal(repr(round(spot_value, 6))),
                                             "perp_account_value": self.inventory.perp_account_value,
                                             "net_delta": Decimal(repr(round(net, 8)))})
                    self._check_drawdown(spot_value + perp_value)
            except Exception:
                log.exception("housekeeping step failed")

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

    # ------------------------------------------------------------------ monitoring
    def snapshot(self) -> dict[str, Any]:
        bucket = self.rest.bucket
        budget = self.rest.budget
        caches = {}
        gauges = {"open_orders": len(self.tracker), "kill_switch": 1 if self.kill.engaged else 0,
                  "ip_weight_level": bucket.level, "address_budget_remaining": budget.remaining() if budget else None,
                  "deadman_fires_today": self.deadman.state.fires if self.deadman else None,
                  **{f"exec_{k}": v for k, v in (self.executor.stats.as_dict() if self.executor else {}).items()},
                  **{f"engine_{k}": v for k, v in self.stats.items()}}
        positions = {c: self.inventory.qty(c) for m in self.markets for c in m.coins}
        return {"timings": self.timings.summary(), "caches": caches, "gauges": gauges, "positions": positions,
                "markets": {m.coin: m.status for m in self.markets}}
