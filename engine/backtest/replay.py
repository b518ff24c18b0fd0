"""L2 replay on the simulated clock: real book snapshots in, the engine's pure quoting rule, simulated fills out.

What is wired to what (and what is not):

* quotes come from `engine.strategy.quotes.quotes` (the live strategy function) fed with a `LegState` built
  from the replayed book, the shared inventory (spot + perp) and `engine.market.state.CoinVol` (ATR / EWMA σ
  from 1-minute bars of the replayed mid) — the same inputs the live loop gives it;
* carry size comes from `engine.strategy.carry.carry_target` at each funding hour (two-leg replays with
  `--funding`), executed as taker orders on both legs; the delta hedger is `engine.strategy.hedge.hedge_decision`;
* every batch of quotes goes through `engine.risk.evaluate` (price band, order notional, position caps,
  stale-data and volatility pauses: a paused coin has its orders cancelled) and then the live order manager's
  `engine.execution.diff.diff_orders` (keep within tolerance, modify, cancel, place) against our working
  orders; a modify is executed as cancel + new order (it loses queue priority); the minimum requote interval
  is applied here as the live loop does;
* the venue is simulated here, not `sim.venue.Venue`: post-only orders join the queue by `models.QueueModel`,
  actions and market data are delayed by `models.LatencyModel`, fees come from `models.FeeModel`, taker
  orders walk the visible levels of the current snapshot up to their limit.

Event order at one timestamp: internal actions due (decisions, orders going live, cancels) first, then the
market event. A decision is taken `market_data_ms` after the snapshot it reacts to; its orders and cancels take
effect `entry_ms` later, so an order can be filled while its cancel is in flight.
"""
from __future__ import annotations

import heapq
import math
import time
from typing import Callable, Iterable

from engine.backtest.carry import trailing_mean_hourly
from engine.backtest.history import FundingRow
from engine.backtest.balances import Balances
from engine.backtest.legs import LegBook, ReplayConfig, carry_orders, live_order  # noqa: F401 - ReplayConfig re-exported
from engine.backtest.streams import merge_events  # noqa: F401 - re-exported for callers
from engine.backtest.metrics import Attribution, EquityCurve
from engine.backtest.results import replay_result
from engine.backtest.models import (BUY, SELL, BookView, ConstantLatency, LatencyModel, QueueModel, RiskAverseQueue,
                                    SimOrder)
from engine.clock import SimulatedClock
from engine.execution.diff import CloidFactory, Tolerance, diff_orders
from engine.risk import KillSwitch, MarketView, RiskContext, evaluate
from engine.strategy.carry import CarryTarget, carry_target
from engine.strategy.hedge import LegMarket, hedge_decision
from engine.strategy.quotes import LegState, quotes


class Replay:
    def __init__(self, cfg: ReplayConfig, queue: QueueModel | None = None, latency: LatencyModel | None = None,
                 funding: list[FundingRow] | None = None):
        self.cfg = cfg
        self.queue = queue or RiskAverseQueue()
        self.latency = latency or ConstantLatency()
        self.legs: dict[str, LegBook] = {"perp": LegBook("perp", cfg.coin, cfg.sz_decimals, cfg.vol_interval_ms, cfg.fees)}
        self.bal = Balances(cfg.start_spot_usdc, cfg.start_perp_usdc, cfg.perp_leverage)
        if cfg.spot_coin:
            self.legs["spot"] = LegBook("spot", cfg.spot_coin, cfg.spot_sz_decimals, cfg.vol_interval_ms, cfg.fees)
            self.legs["spot"].position = cfg.start_spot_base  # the spot leg's position is the coin balance
        self.funding = funding or []
        self._funding_means = (trailing_mean_hourly(self.funding, cfg.funding_lookback_hours)
                               if self.funding else [])
        self._funding_index = {r.time_ms: i for i, r in enumerate(self.funding)}
        self.cash = 0.0
        self.attr = Attribution()
        self.curve = EquityCurve(cfg.sample_ms)
        self.clock = SimulatedClock(0)  # engine.clock's manual clock: moved only by replayed event times
        self.events = 0
        self.fills: list[dict] = []
        self.n_fills = self.n_maker = self.n_rejects = 0
        self.volume = 0.0
        self.carry = CarryTarget.flat()
        self.carry_qty = 0.0
        self._pending: list[tuple[int, int, str, str, object]] = []
        self._seq = 0
        self._oid = 0
        self._net = cfg.start_spot_base if cfg.spot_coin else 0.0
        self.tolerance = Tolerance(cfg.requote_tolerance_bps, cfg.size_tolerance_frac)
        self.cloids = CloidFactory(1)
        self.kill = KillSwitch()
        self.risk_rejects = 0
        self.paused_decisions = 0
        self.orders_sent = self.cancels_sent = 0  # post-only quotes placed / cancelled (a modify counts as both)

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    # ------------------------------------------------------------ accounting
    @property
    def net_delta(self) -> float:
        return self._net  # kept up to date by _fill (read on every snapshot)

    def equity(self) -> float:
        held = 0.0  # the same left-to-right float sum as sum(); a loop, not a generator: sampled every second
        for leg in self.legs.values():
            held += leg.position * leg.mid
        return self.cash + held

    def _fill(self, leg: LegBook, is_buy: bool, px: float, qty: float, maker: bool, oid: int | None) -> None:
        signed = qty if is_buy else -qty
        notional = px * qty
        fee = notional * (leg.maker_fee if maker else leg.taker_fee)
        self.cash -= signed * px + fee
        self.attr.spread += signed * (leg.mid - px)
        self.attr.fees -= fee
        leg.position += signed
        self.bal.on_fill(leg.is_spot, signed, px, fee)
        self._net = sum(l.position for l in self.legs.values())
        self.volume += notional
        self.n_fills += 1
        self.n_maker += maker
        if self.cfg.record_fills:
            self.fills.append({"t": self.now, "leg": leg.name, "side": "B" if is_buy else "A", "px": px, "sz": qty,
                               "maker": maker, "fee": fee, "oid": oid, "mid": leg.mid})

    def _mark(self, leg: LegBook, new_mid: float) -> None:
        """Move a leg's mark and attribute the value change of the held positions (inventory / basis)."""
        old = leg.mid
        if not old and leg.is_spot:  # the starting coin enters the equity change at its first mark
            self.cash -= self.cfg.start_spot_base * new_mid
        if old and new_mid != old:
            d = new_mid - old
            if leg.is_spot:
                self.attr.basis += leg.position * d
            else:
                spot = self.legs.get("spot")
                self.attr.inventory += self.net_delta * d
                if spot is not None:
                    self.attr.basis -= spot.position * d
        leg.mid = new_mid

    # ------------------------------------------------------------ internal events
    def _push(self, due: int, kind: str, leg: str, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (due, self._seq, kind, leg, payload))

    def _drain(self, t: int) -> None:
        while self._pending and self._pending[0][0] <= t:
            due, _, kind, leg_name, payload = heapq.heappop(self._pending)
            if due > self.clock.now_ms():
                self.clock.set(due)
            leg = self.legs[leg_name]
            if kind == "decide":
                leg.decide_pending = False
                self._decide(leg)
            elif kind == "place":
                self._activate(leg, payload)
            elif kind == "cancel":
                leg.live.pop(payload.oid, None)
            elif kind == "taker":
                self._taker(leg, *payload)

    def _activate(self, leg: LegBook, order: SimOrder) -> None:
        if order.oid not in leg.working:
            return  # cancelled while in flight: never reaches the book
        opp = leg.view.opposite_best(order.side)
        if opp is not None and (order.px >= opp if order.side == BUY else order.px <= opp):
            self.n_rejects += 1  # Alo would cross the book now: the venue rejects it (badAloPx)
            del leg.working[order.oid]
            leg.work_dirty = True
            leg.decision_key = None
            return
        if not self.bal.accepts(order, leg.is_spot, leg.position, leg.mid, leg.live.values(), leg.taker_fee):
            del leg.working[order.oid]  # insufficient balance / margin: the venue rejects it
            leg.work_dirty = True
            leg.decision_key = None
            return
        order.live_ms = self.now
        self.queue.on_live(order, leg.view)
        leg.live[order.oid] = order

    def _taker(self, leg: LegBook, is_buy: bool, qty: float, limit_px: float, reason: str) -> None:
        """IOC: walk the current snapshot's levels up to the limit; the rest is cancelled."""
        levels = leg.asks if is_buy else leg.bids
        room = self.bal.taker_qty(leg.is_spot, is_buy, qty, limit_px, leg.position, leg.mid, leg.live.values(),
                                  leg.taker_fee)
        if room < qty:  # the venue lets through what the free balance / margin covers, on the lot grid
            qty = float(math.floor(room * 10 ** leg.sz_decimals + 1e-9)) / 10 ** leg.sz_decimals
        left = qty
        for px, sz in levels.tolist():
            if left <= 1e-12 or (px > limit_px if is_buy else px < limit_px):
                break
            take = min(left, sz)
            self._fill(leg, is_buy, float(px), float(take), False, None)
            left -= take
        if reason == "carry":  # the spot leg of a carry top-up (buy) or unwind (sell)
            done = qty - left
            self.carry_qty += done if is_buy else -done

    def _order_fills(self, leg: LegBook, fn: Callable[..., float], *args) -> bool:
        """Offer one market event to every live order of a leg (`fn` is the queue model's on_book/on_trade)."""
        fills = []
        for order in leg.live.values():
            q = fn(order, *args)
            if q > 0:
                fills.append((order, q))
        return self._apply_fills(leg, fills)

    def _apply_fills(self, leg: LegBook, fills: list[tuple[SimOrder, float]] | None) -> bool:
        """Book the fills of one market event in the order the queue model produced them."""
        if not fills:
            return False
        for order, q in fills:
            self._fill(leg, order.side == BUY, order.px, q, True, order.oid)
            if order.qty <= 1e-12:
                del leg.live[order.oid]
                leg.working.pop(order.oid, None)
                leg.work_dirty = True
        return True

    # ------------------------------------------------------------ strategy
    def _decide(self, leg: LegBook) -> None:
        bb, ba = leg.view.best_bid, leg.view.best_ask
        if bb is None or ba is None:
            return
        net = self._net
        key = (net, leg.vol.bars, self.carry.strength)  # ATR / σ only change when a bar closes
        if key == leg.decision_key and abs(leg.mid - leg.gate_mid) <= self._gate_frac * leg.mid:
            hi_bid, lo_ask = leg.working_extremes()
            if hi_bid < ba and lo_ask > bb:  # none of our orders is at/through the opposite best
                return  # inputs (nearly) unchanged: the quotes would be kept by the tolerance anyway
        atr = leg.vol.atr_pct(leg.mid)
        buy_cap = sell_cap = None
        if leg.is_spot:  # what engine.loop.Engine.decide passes: spot USDC / mid and the coin held
            buy_cap, sell_cap = self.bal.spot_usdc / leg.mid, leg.position
        state = LegState(leg.coin, leg.name, leg.sz_decimals, leg.mid, net, atr, leg.vol.sigma, bb, ba,
                         self.carry.strength, buy_cap, sell_cap)
        desired = quotes(state, self.cfg.quote)
        others = 0
        for other in self.legs.values():
            if other is not leg:
                others += len(other.working)
        ctx = RiskContext(self.now, {leg.coin: MarketView(leg.coin, leg.mid, None, atr, leg.book_ms)},
                          {leg.coin: leg.position}, open_orders=others)
        decision = evaluate(desired, ctx, self.cfg.risk, self.kill)
        self.risk_rejects += len(decision.rejected)
        accepted = decision.accepted
        if decision.cancel_all or leg.coin in decision.paused_coins:
            accepted = ()
            self.paused_decisions += 1
        live = [live_order(leg, o) for o in leg.working.values()]
        plan = diff_orders(accepted, live, self.tolerance, self.cloids)
        if not plan.is_empty and leg.working and self.now - leg.last_action_ms < self.cfg.min_requote_interval_ms:
            return  # throttled: leave decision_key stale so the next snapshot retries
        leg.decision_key = key
        leg.gate_mid = leg.mid
        if plan.is_empty:
            return
        leg.last_action_ms = self.now
        due = self.now + self.latency.entry_ms()
        leg.work_dirty = True
        for lo in [m.live for m in plan.modifies] + [c.live for c in plan.cancels]:
            old = leg.working.pop(lo.oid)
            self.cancels_sent += 1
            self._push(due, "cancel", leg.name, old)
        for q in [m.quote for m in plan.modifies] + [p.quote for p in plan.places]:
            self._oid += 1
            self.orders_sent += 1
            order = SimOrder(self._oid, BUY if q.is_buy else SELL, float(q.px), float(q.sz),
                             meta={"px": q.px, "sz": q.sz, "level": q.level})
            leg.working[order.oid] = order
            self._push(due, "place", leg.name, order)

    def _hedge(self) -> None:
        spot, perp = self.legs.get("spot"), self.legs["perp"]
        if spot is None or self.cfg.hedge is None or abs(spot.position + perp.position) * perp.mid <= self.cfg.hedge.band_usd:
            return  # inside the band (cheap pre-check of what hedge_decision would conclude)
        if not (len(spot.bids) and len(spot.asks) and len(perp.bids)
                                                           and len(perp.asks)):
            return
        markets = [LegMarket(l.coin, l.name, l.sz_decimals, l.view.best_bid, l.view.best_ask, l.taker_fee)
                   for l in (spot, perp)]
        order = hedge_decision(spot.position - self.carry_qty, perp.position + self.carry_qty, markets[0],
                               markets[1], self.cfg.hedge)
        if order is not None:
            leg = spot if order.leg == "spot" else perp
            ctx = RiskContext(self.now, {leg.coin: MarketView(leg.coin, leg.mid, None, leg.vol.atr_pct(leg.mid),
                                                              leg.book_ms)}, {leg.coin: leg.position})
            if not evaluate([order], ctx, self.cfg.risk, self.kill).accepted:
                self.risk_rejects += 1  # e.g. notional above max_order_notional: the live hedger is refused too
                return
            self._push(self.now + self.latency.entry_ms(), "taker", order.leg,
                       (order.is_buy, float(order.sz), float(order.px), "hedge"))

    def _on_funding(self, row: FundingRow) -> None:
        perp = self.legs["perp"]
        if perp.mid <= 0:
            return
        pay = -perp.position * perp.mid * float(row.rate)  # the short side receives a positive rate
        self.cash += pay
        self.bal.perp_usdc += pay
        self.attr.funding += pay
        spot = self.legs.get("spot")
        if self.cfg.carry is None or spot is None or spot.mid <= 0:
            return
        mean = self._funding_means[self._funding_index[row.time_ms]]
        self.carry = carry_target(None if mean is None else float(mean), self.cfg.carry, self.carry, perp.mid,
                                  min(spot.sz_decimals, perp.sz_decimals))
        delta = float(self.carry.spot_qty) - self.carry_qty
        if abs(delta) * perp.mid >= 10.0:
            orders, refused = carry_orders(delta, spot, perp, self.now, self.cfg.risk, self.kill)
            self.risk_rejects += refused
            due = self.now + self.latency.entry_ms()
            for o in orders:
                self._push(due, "taker", o.leg, (o.is_buy, float(o.sz), float(o.px), o.reason))

    # ------------------------------------------------------------ main loop
    def run(self, events: Iterable[tuple[int, int, str, object]], progress: Callable[[int], None] | None = None) -> dict:
        """`events`: (t_ms, kind, leg, payload) sorted by time, as `streams.merge_events` yields them: kind 0 a
        TradeEvent, 1 a BookEvent, 2 a FundingRow.

        This loop runs once per replayed event (millions in a month), so it keeps the hot attributes in
        locals and inlines what is cheap and certain: the due-check of the action heap, the one-leg mark
        (`_mark`), the hedger's no-spot-leg exit, and the decision scheduling (at once when the market-data
        latency is 0, else through the heap).
        """
        wall0 = time.perf_counter()
        cfg = self.cfg
        gate = cfg.requote_tolerance_bps if cfg.requote_gate_bps is None else cfg.requote_gate_bps
        self._gate_frac = gate * 1e-4
        first_t = last_t = None
        pending = self._pending
        legs = self.legs
        clock = self.clock
        now_ms, set_clock = clock.now_ms, clock.set
        curve = self.curve
        attr = self.attr
        queue = self.queue
        book_fills = getattr(queue, "book_fills", None)
        latency = self.latency
        two_legs = "spot" in legs
        spot_leg, perp_leg, hedge = legs.get("spot"), legs["perp"], cfg.hedge
        n = self.events
        for t, kind, leg_name, payload in events:
            if pending and pending[0][0] <= t:
                self._drain(t)
            if t > now_ms():
                set_clock(t)
            if first_t is None:
                first_t = t
            last_t = t
            n += 1
            if kind == 1:  # book snapshot (streams.merge_events priorities: 0 trade, 1 book, 2 funding)
                leg = legs[leg_name]
                bids, asks = payload.bids, payload.asks
                view = BookView(bids, asks)
                if leg.live:
                    if book_fills is not None:
                        self._apply_fills(leg, book_fills(leg.live.values(), view))
                    else:
                        self._order_fills(leg, queue.on_book, view)
                bb, ba = view.best_bid, view.best_ask
                if bb is not None and ba is not None:
                    mid = (bb + ba) * 0.5
                    if two_legs:
                        self._mark(leg, mid)
                    else:  # _mark for the lone perp leg: every mid move is inventory
                        old = leg.mid
                        if old and mid != old:
                            attr.inventory += self._net * (mid - old)
                        leg.mid = mid
                    leg.vol.on_price(t, mid)
                leg.bids, leg.asks, leg.view, leg.book_ms = bids, asks, view, t
                # _hedge's own band pre-check, inlined: it is outside the band on a small share of snapshots
                if two_legs and hedge is not None and \
                        abs(spot_leg.position + perp_leg.position) * perp_leg.mid > hedge.band_usd:
                    self._hedge()
                if not leg.decide_pending:
                    delay = latency.market_data_ms()
                    if delay == 0:  # same instant: what the heap round trip would do, without it
                        self._decide(leg)
                    else:
                        leg.decide_pending = True
                        self._push(t + delay, "decide", leg_name, None)
            elif kind == 0:
                leg = legs[leg_name]
                if leg.live and self._order_fills(leg, queue.on_trade, payload.px, payload.sz):
                    self._hedge()
            else:
                self._on_funding(payload)
            if pending and pending[0][0] <= t:
                self._drain(t)
            if t >= curve.next_ms:
                curve.maybe_sample(t, self.equity(), self._net)
            if progress is not None and n % 4096 == 0:
                progress(n)
        self.events = n
        wall = time.perf_counter() - wall0
        if last_t is not None:
            self.curve.force(last_t, self.equity(), self.net_delta)
        return self.result(wall, first_t, last_t)

    def result(self, wall_s: float, first_t: int | None, last_t: int | None) -> dict:
        return replay_result(self, wall_s, first_t, last_t)
