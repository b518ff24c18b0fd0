"""The engine's slower duties, mixed into `engine.loop.Engine`: market warm-up and funding/carry refresh,
ledger polling (params and controls at most once a second, in a worker thread), equity marks and the
drawdown kill switch, the dead man's switch, periodic venue re-reads, alerts and the monitoring snapshot.

Kept apart from loop.py so the hot path (feed handlers, requote) reads on its own; everything here runs in
the housekeeping task or at start, never between a book update and the order it causes.
"""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from engine.execution.deadman import DAY_MS, fires_in_history, fires_param_key
from engine.execution.markets import INTERVAL_MS, MarketRuntime
from engine.ledger_writer import KILL_SWITCH
from engine.market.candles import Candle
from engine.strategy.carry import CarryParams, CarryTarget, carry_target
from engine.strategy.quotes import QuoteParams

log = logging.getLogger("engine.loop")
HOUSEKEEPING_S = 0.25


def unwind_after(prev: CarryTarget, new: CarryTarget, unwind_to: Decimal | None) -> Decimal | None:
    """What the spot-long/perp-short pair must be unwound down to after a carry decision (None: nothing).

    An exit (active → flat, trailing funding below the exit threshold or a carry_target control of 0) unwinds
    to zero; a smaller active target unwinds to that size; an active target at least as large as the last one
    ends any unwind (the top-up takes over). A flat decision keeps an unwind in progress going."""
    if prev.active and not new.active:
        return Decimal(0)
    if new.active:
        if prev.active and new.spot_qty < prev.spot_qty:
            return new.spot_qty
        return None
    return unwind_to


_FLAT_STATE = {"active": False, "spot_qty": "0", "unwind_to": None}


class Upkeep:
    """Mixin: expects the attributes `engine.loop.Engine.__init__` sets."""

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
        entry, exit_ = self.cfg.carry.entry_threshold, self.cfg.carry.exit_threshold
        if exit_ >= entry:  # the config allows equal thresholds; the hysteresis needs a gap
            exit_ = entry - 1e-9
        params = CarryParams.from_config(self.cfg.carry, target_notional=notional, exit_funding=exit_)
        prev = m.carry
        m.carry = carry_target(m.funding_mean, params, prev, mid, min(spot.sz_decimals, perp.sz_decimals))
        before, m.unwind_to = m.unwind_to, unwind_after(prev, m.carry, m.unwind_to)
        if m.unwind_to is not None and m.unwind_to != before:
            log.info("carry %s: %s -> unwind the spot/perp pair down to %s", m.coin, m.carry.reason, m.unwind_to)
        self._persist_carry(m)

    def _persist_carry(self, m: MarketRuntime) -> None:
        """The carry decision and a running unwind go to params `carry.<coin>` when they change, so a restart
        keeps the hysteresis and finishes an unwind (see _restore_carry)."""
        state = {"active": m.carry.active, "spot_qty": str(m.carry.spot_qty),
                 "unwind_to": None if m.unwind_to is None else str(m.unwind_to)}
        saved = self._carry_saved.get(m.coin)
        if saved != state and self.ledger is not None:
            self._carry_saved[m.coin] = state
            if saved is not None or state != _FLAT_STATE:  # nothing to remember about a carry never entered
                self.ledger.param(f"carry.{m.coin}", state, m.carry.reason)

    async def _restore_carry(self) -> None:
        """Seed each market's carry from its last persisted decision (before the first funding refresh)."""
        loop = asyncio.get_running_loop()
        for m in self.markets:
            if m.leg("spot") is None or m.leg("perp") is None:
                continue
            data = await loop.run_in_executor(None, self.ledger.read_param, f"carry.{m.coin}")
            if data is None:
                continue
            try:
                active, qty = data["active"], Decimal(data["spot_qty"])
                unwind = None if data.get("unwind_to") is None else Decimal(data["unwind_to"])
                if not isinstance(active, bool) or not qty.is_finite() or qty < 0 or (
                        unwind is not None and (not unwind.is_finite() or unwind < 0)):
                    raise ValueError("out of range")
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                log.warning("params carry.%s: %r ignored (%s)", m.coin, data, exc)
                continue
            m.carry = CarryTarget(qty, -qty, active, 1.0 if active else 0.0, "restored from the ledger")
            m.unwind_to = unwind
            self._carry_saved[m.coin] = {"active": active, "spot_qty": str(qty),
                                         "unwind_to": None if unwind is None else str(unwind)}
            log.info("carry %s restored: active=%s spot %s, unwind to %s", m.coin, active, qty, unwind)

    async def _restore_deadman_fires(self) -> None:
        """Today's scheduleCancel fires survive a restart (the venue allows 10 a day): re-derived from the
        venue's historicalOrders and from the count this engine persisted in params; the larger wins."""
        now = self.venue_now_ms()
        day = now // DAY_MS
        from_venue = 0
        try:
            from_venue = fires_in_history(await self.rest.info({"type": "historicalOrders", "user": self.user}),
                                          day)
        except Exception as exc:
            log.warning("historicalOrders for the dead man's fire count failed: %s", exc)
        stored = await asyncio.get_running_loop().run_in_executor(None, self.ledger.read_param,
                                                                  fires_param_key(day))
        persisted = stored.get("fires", 0) if isinstance(stored, dict) else 0
        if not isinstance(persisted, int) or isinstance(persisted, bool) or persisted < 0:
            log.warning("params %s: fires %r ignored (needs an integer >= 0)", fires_param_key(day), persisted)
            persisted = 0
        self.deadman.seed_fires(now, max(from_venue, persisted))
        self._fires_saved = (day, max(from_venue, persisted))

    def _persist_deadman_fires(self) -> None:
        st = self.deadman.state
        if st.fires_day is None or (st.fires_day, st.fires) == getattr(self, "_fires_saved", None):
            return
        self._fires_saved = (st.fires_day, st.fires)
        self.ledger.param(fires_param_key(st.fires_day), {"fires": st.fires}, "dead man's switch fires today")

    def _alert(self, severity: str, title: str, body: str) -> None:
        """Apprise delivery blocks: it runs in a worker thread, never on the loop."""
        if self.alerter is not None:
            fut = asyncio.get_running_loop().run_in_executor(None, self.alerter.send, severity, title, body, title)
            fut.add_done_callback(lambda f: f.exception() and log.warning("alert failed: %s", f.exception()))

    async def _poll_ledger(self) -> None:
        loop = asyncio.get_running_loop()
        coins = [m.coin for m in self.markets]
        if self._controls_written:
            # read our own writes: a kill switch the engine engaged a moment ago must be committed before the
            # controls are read back, or the read would find it off and clear it
            self._controls_written = False
            await loop.run_in_executor(None, self.ledger.flush)
        controls = await loop.run_in_executor(None, self.ledger.read_controls)
        params = await loop.run_in_executor(None, self.ledger.read_params, coins)
        now = self.clock.now_ms()
        if controls.kill and not self.kill.engaged:
            self.kill.engage(controls.kill[0] or "ledger", controls.kill[1] or "kill switch control", now)
            log.error("KILL SWITCH engaged by %s: %s", *controls.kill)
            self._alert("critical", "kill switch engaged", f"by {controls.kill[0]}: {controls.kill[1]}")
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
        carry_changed = controls.carry_notional != self.controls.carry_notional
        self.controls = controls
        if carry_changed:  # the rebalance flow moved the carry target: size it now, not at the next hour
            for m in self.markets:
                self._update_carry(m)
                self._mark(m)
        new_params = {}
        for coin, p in params.items():
            mult = p.get("spread_multiplier")
            if isinstance(mult, (int, float)) and not isinstance(mult, bool) and mult > 0:
                old = self.params.get(coin)  # keep the same object while unchanged (quote cache key)
                new_params[coin] = old if old is not None and old.regime_multiplier == float(mult) else \
                    QuoteParams.from_config(self.cfg.strategy, regime_multiplier=float(mult))
            elif (coin, repr(mult)) not in self._bad_params:  # once per bad value, not every second
                self._bad_params.add((coin, repr(mult)))
                log.warning("params regime.%s: spread_multiplier %r ignored (needs a number > 0)", coin, mult)
        if new_params.keys() != self.params.keys() or any(new_params[k] is not self.params[k] for k in new_params):
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
        elif (risk.max_drawdown_pct is not None and self._peak_equity > 0
              and dd / self._peak_equity > risk.max_drawdown_pct):
            why = f"drawdown {dd / self._peak_equity:.2%} > max_drawdown_pct {risk.max_drawdown_pct:.2%}"
        if why and not self.kill.engaged:
            self.kill.engage("engine", why, self.clock.now_ms())
            self.ledger.control(KILL_SWITCH, True, "engine", why)
            self._controls_written = True
            log.error("KILL SWITCH engaged: %s", why)
            self._alert("critical", "kill switch engaged", f"by engine: {why}")
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
                if now - last_poll >= self.ledger_poll_ms:
                    last_poll = now
                    await self._poll_ledger()
                disabled = self.deadman.state.disabled_reason
                await self.deadman.tick()
                self._persist_deadman_fires()
                if self.deadman.state.disabled_reason and not disabled:
                    self._alert("warning", "dead man's switch not armed", self.deadman.state.disabled_reason)
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

    def snapshot(self) -> dict[str, Any]:
        bucket = self.rest.bucket
        budget = self.rest.budget
        caches = {"leg_quotes": dict(self.quote_cache)}
        venue = {f"rest_{k}": v for k, v in self.rest.stats.items()}
        if self.feed is not None:
            venue.update({f"feed_{k}": v for k, v in self.feed.stats.items()})
        gauges = {"open_orders": len(self.tracker), "kill_switch": 1 if self.kill.engaged else 0,
                  "ip_weight_level": bucket.level, "address_budget_remaining": budget.remaining() if budget else None,
                  "deadman_fires_today": self.deadman.state.fires if self.deadman else None,
                  **{f"exec_{k}": v for k, v in (self.executor.stats.as_dict() if self.executor else {}).items()},
                  **{f"engine_{k}": v for k, v in self.stats.items()}, **venue}
        positions = {c: self.inventory.qty(c) for m in self.markets for c in m.coins}
        return {"timings": self.timings.summary(), "caches": caches, "gauges": gauges, "positions": positions,
                "markets": {m.coin: m.status for m in self.markets}}
