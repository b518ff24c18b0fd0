"""The replayed market around an in-process venue: book snapshots, queue-model fills, liquidity, funding hours.

`MarketReplay` is the backtest's market. For each replayed event it
* offers the snapshot (or trade) to the queue model for each of our resting orders — the model decides what
  reached them — and books those fills in the venue with `Venue.fill_resting` (maker fee, position, events:
  exactly what venue matching would have produced);
* marks the perp's oracle at the replayed mid (margin, unrealised PnL and funding use it);
* hands the snapshot to the engine's feed (after the market-data latency);
* keeps the P&L attribution and the equity curve from the venue's own fill and funding rows.

Lazily, right before the engine's requests reach the venue (`before_call`), it copies the current snapshot into
the venue as system liquidity (`sim.drivers.ladder.Ladder`), so post-only checks and the engine's taker orders
(hedges, carry) meet the replayed book. Levels at or through one of our resting orders are left out: the queue
model has already decided what such a level did to us. Hourly funding is pinned to the recorded rate of each
settlement (`Venue.set_funding_rate`) and settled by the venue on the hour.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from engine.backtest.history import FundingRow
from engine.backtest.metrics import Attribution, EquityCurve
from engine.backtest.models import BUY, SELL, BookView, QueueModel, SimOrder

HOUR_MS = 3_600_000
MIN_LEVEL_USD = 10.0  # the venue refuses resting orders below $10: such replayed levels cannot be copied
SYSTEM_TAKER = "0x0000000000000000000000000000000000007a7e"  # sim.drivers.ladder's accounts
SYSTEM_MAKER = "0x0000000000000000000000000000000000005151"
# the venue holds the best 5 replayed levels a side: enough for post-only checks and for hedge/carry orders of
# the sizes a market maker sends (copying all 20 made copying the book most of a run's time)
LADDER_DEPTH = 5
BOOK_ACTIONS = frozenset({"order", "batchModify", "modify"})  # the actions that can rest or trade


def _num(x: float) -> str:
    """A replayed float (parsed from a decimal string) back to its shortest decimal string."""
    text = repr(float(x))
    if "e" in text or "E" in text:
        text = format(Decimal(text).normalize(), "f")
    return text[:-2] if text.endswith(".0") else text


class ReplayLeg:
    """One leg's replayed book and our resting orders on it, as the queue model sees them."""

    def __init__(self, name: str, coin: str, sz_decimals: int, venue: Any) -> None:
        from sim.drivers.ladder import Ladder

        self.name = name
        self.coin = coin
        self.is_spot = name == "spot"
        self.sz_decimals = sz_decimals
        self.lot = 10 ** sz_decimals
        self.view: BookView | None = None
        self.bids = self.asks = None
        self.t_ms: int | None = None
        self.mid = 0.0
        self.position = 0.0
        self.orders: dict[int, SimOrder] = {}  # venue oid -> our resting order
        self.ladder = Ladder(venue, coin, SYSTEM_MAKER)
        self.ladder_dirty = False
        self.mids_seen: tuple[float, float] | None = None  # lowest bid / highest ask ever shown


class MarketReplay:
    def __init__(self, venue: Any, user: str, legs: dict[str, ReplayLeg], queue: QueueModel,
                 funding: list[FundingRow] | None, start_spot_base: float, sample_ms: int = 1000,
                 record_fills: bool = True) -> None:
        self.venue = venue
        self.user = user.lower()
        self.legs = legs
        self.by_coin = {leg.coin: leg for leg in legs.values()}
        self.queue = queue
        self.book_fills = getattr(queue, "book_fills", None)
        self.feed: Any = None  # the engine's VenueFeed once it has started
        self.attr = Attribution()
        self.curve = EquityCurve(sample_ms)
        self.cash = 0.0
        self.start_spot_base = start_spot_base
        if "spot" in legs:
            legs["spot"].position = start_spot_base
        self.record_fills = record_fills
        self.fills: list[dict] = []
        self.n_fills = self.n_maker = 0
        self.volume = 0.0
        self.funding_paid = 0.0
        self.events = 0
        self.queue_fills = 0
        self.price_range: dict[str, list[float]] = {}  # coin -> [lowest, highest] price shown on any side
        self._stale_ladder: set[int] = set()
        self._rates: dict[int, Decimal] = {}
        for row in funding or []:  # the rate settled at each hour (8-hourly history spread over its hours)
            self._rates[row.time_ms // HOUR_MS * HOUR_MS] = row.rate / row.interval_hours
        self._perp = legs["perp"].coin if "perp" in legs else None
        self._next_hour: int | None = None
        self._rate_set: Decimal | None = None
        self.missing_funding_hours = 0
        self.first_spot_mid = 0.0
        venue.subscribe(self._on_venue_event)

    # ------------------------------------------------------------------ accounting
    @property
    def net(self) -> float:
        return sum(leg.position for leg in self.legs.values())

    def equity(self) -> float:
        held = 0.0
        for leg in self.legs.values():
            held += leg.position * leg.mid
        return self.cash + held

    def _on_venue_event(self, ev: Any) -> None:
        ch = ev.channel
        if ch == "orderUpdates":
            for u in ev.data:
                o = u["order"]
                leg = self.by_coin.get(o["coin"])
                if leg is None:
                    continue
                if ev.key == SYSTEM_MAKER:
                    if u["status"] != "open":
                        leg.ladder.forget(o["oid"])
                    continue
                if ev.key != self.user:
                    continue
                if u["status"] == "open":
                    self._order_live(leg, o)
                else:
                    leg.orders.pop(o["oid"], None)
        elif ch == "userFills":
            if ev.key == self.user:
                for f in ev.data:
                    self._on_fill(f)
            elif ev.key == SYSTEM_MAKER:  # a partly taken system level no longer matches its snapshot size
                self._stale_ladder.update(f["oid"] for f in ev.data)
        elif ch == "userFundings" and ev.key == self.user:
            for r in ev.data:
                pay = float(r["usdc"])
                self.cash += pay
                self.attr.funding += pay
                self.funding_paid += pay

    def _order_live(self, leg: ReplayLeg, o: dict) -> None:
        sz = float(o["sz"])
        order = SimOrder(o["oid"], BUY if o["side"] == "B" else SELL, float(o["limitPx"]), sz,
                         live_ms=self.venue.clock.now_ms(), meta={"lots": round(sz * leg.lot)})
        if leg.view is not None:
            self.queue.on_live(order, leg.view)
        leg.orders[order.oid] = order

    def _on_fill(self, f: dict) -> None:
        leg = self.by_coin.get(f["coin"])
        if leg is None:
            return
        px, sz, fee = float(f["px"]), float(f["sz"]), float(f["fee"])
        is_buy = f["side"] == "B"
        signed = sz if is_buy else -sz
        self.cash -= signed * px + fee
        self.attr.spread += signed * (leg.mid - px)
        self.attr.fees -= fee
        leg.position += signed
        self.volume += px * sz
        self.n_fills += 1
        maker = not f["crossed"]
        self.n_maker += maker
        if self.record_fills:
            self.fills.append({"t": f["time"], "leg": leg.name, "side": f["side"], "px": px, "sz": sz,
                               "maker": maker, "fee": fee, "oid": f["oid"], "mid": leg.mid})

    def _mark(self, leg: ReplayLeg, mid: float) -> None:
        old = leg.mid
        if not old and leg.is_spot:  # the starting coin enters the equity change at its first mark
            self.cash -= self.start_spot_base * mid
            self.first_spot_mid = mid
        if old and mid != old:
            d = mid - old
            if leg.is_spot:
                self.attr.basis += leg.position * d
            else:
                self.attr.inventory += self.net * d
                spot = self.legs.get("spot")
                if spot is not None:
                    self.attr.basis -= spot.position * d
        leg.mid = mid

    # ------------------------------------------------------------------ the venue side
    def before_call(self, kind: str) -> None:
        """Bring the venue to the replay's present before it sees a request of type `kind`: funding hours
        passed, and — for actions that can meet the book — the liquidity of the current snapshot."""
        self.step_funding(self.venue.clock.now_ms())
        if kind not in BOOK_ACTIONS:
            return
        for leg in self.legs.values():
            if leg.ladder_dirty or self._stale_ladder:
                self._sync_ladder(leg)
        self._stale_ladder.clear()

    def _sync_ladder(self, leg: ReplayLeg) -> None:
        leg.ladder_dirty = False
        if leg.view is None:
            return
        for oid in [oid for oid in self._stale_ladder if oid in leg.ladder._by_oid]:
            self.venue.system_cancel(SYSTEM_MAKER, leg.coin, oid)
            leg.ladder.forget(oid)
        lowest_ask = min((o.px for o in leg.orders.values() if o.side == SELL), default=math.inf)
        highest_bid = max((o.px for o in leg.orders.values() if o.side == BUY), default=-math.inf)
        lot = leg.lot

        def levels(rows, keep) -> dict[str, str]:
            out = {}
            for p, s in rows[:LADDER_DEPTH]:
                lots = math.floor(s * lot + 1e-9)  # sizes off the lot grid (synthetic data) are cut to it
                if keep(p) and lots and p * lots / lot >= MIN_LEVEL_USD:
                    out[_num(p)] = _num(lots / lot)
            return out

        leg.ladder.sync(levels(leg.bids.tolist(), lambda p: p < lowest_ask),
                        levels(leg.asks.tolist(), lambda p: p > highest_bid))

    def step_funding(self, now: int) -> None:
        """Settle every funding hour up to `now` at its recorded rate; pin the coming hour's rate."""
        if self._perp is None:
            return
        if self._next_hour is None:
            self._next_hour = (now // HOUR_MS + 1) * HOUR_MS
        while self._next_hour <= now:
            if self._rates and self._next_hour not in self._rates:
                self.missing_funding_hours += 1  # settled at 0: the history has no row for this hour
            self._pin_rate(self._next_hour)
            self.venue.tick()  # the venue settles the hour that has passed at the pinned rate
            self._next_hour += HOUR_MS
        self._pin_rate(self._next_hour)

    def _pin_rate(self, hour_ms: int) -> None:
        rate = self._rates.get(hour_ms, Decimal(0))
        if rate != self._rate_set:
            self._rate_set = rate
            self.venue.set_funding_rate(self._perp, rate)

    # ------------------------------------------------------------------ replayed events
    def on_book(self, leg: ReplayLeg, t: int, bids, asks) -> None:
        self.events += 1
        view = BookView(bids, asks)
        if leg.orders:
            if self.book_fills is not None:
                fills = self.book_fills(list(leg.orders.values()), view)
            else:
                fills = [(o, q) for o in list(leg.orders.values()) if (q := self.queue.on_book(o, view)) > 0]
            if fills:
                self._book_fills(leg, fills)
        bb, ba = view.best_bid, view.best_ask
        rng = self.price_range.get(leg.coin)
        lo = min(bids.item(2 * len(bids) - 2) if len(bids) else math.inf,
                 asks.item(0) if len(asks) else math.inf)
        hi = max(asks.item(2 * len(asks) - 2) if len(asks) else -math.inf,
                 bids.item(0) if len(bids) else -math.inf)
        if rng is None:
            self.price_range[leg.coin] = [lo, hi]
        else:
            rng[0], rng[1] = min(rng[0], lo), max(rng[1], hi)
        leg.view, leg.bids, leg.asks, leg.t_ms = view, bids, asks, t
        leg.ladder_dirty = True
        if bb is not None and ba is not None:
            mid = (bb + ba) * 0.5
            if mid != leg.mid and not leg.is_spot:
                self.venue.set_oracle(leg.coin, _num(mid))
            self._mark(leg, mid)
        if self.feed is not None:
            self.feed.push_book(leg.coin, t, bids, asks)
        if t >= self.curve.next_ms:
            self.curve.maybe_sample(t, self.equity(), self.net)

    def on_trade(self, leg: ReplayLeg, px: float, sz: float) -> None:
        self.events += 1
        fills = [(o, q) for o in list(leg.orders.values()) if (q := self.queue.on_trade(o, px, sz)) > 0]
        if fills:
            self._book_fills(leg, fills)

    def _book_fills(self, leg: ReplayLeg, fills: list[tuple[SimOrder, float]]) -> None:
        """Book the queue model's fills in the venue, in the order the model produced them."""
        for order, q in fills:
            lots = min(round(q * leg.lot), order.meta["lots"])
            if lots <= 0 or order.oid not in leg.orders:
                continue
            try:
                self.venue.fill_resting(order.oid, _num(lots / leg.lot), SYSTEM_TAKER)
            except ValueError:  # the order left the venue's book (cancelled) before the event reached it
                leg.orders.pop(order.oid, None)
                continue
            order.meta["lots"] -= lots
            self.queue_fills += 1
