"""The replayed market around an in-process venue: book snapshots, queue-model fills, liquidity, funding hours.

`MarketReplay` is the backtest's market. For each replayed event it
* offers the snapshot (or trade) to the queue model for each of our resting orders — the model decides what
  reached them — and books those fills in the venue with `Venue.fill_resting` (maker fee, position, events:
  exactly what venue matching would have produced);
* marks the perp's oracle at the replayed mid, at most every `ORACLE_UPDATE_MS` (Hyperliquid's validators
  publish oracle prices about every 3 s; margin, unrealised P&L and funding use it);
* hands the snapshot to the engine's feed (after the market-data latency), and takes the feed down for a
  recorded gap (a recorder reconnect marker) until the next snapshot, when the engine gets a `Resync`;
* records our fills with the replayed mid at each (the reference of the P&L attribution) and samples equity.

Right before an order action reaches the venue (`before_call`), the replayed book is made visible to it where
it matters: when an order of the action would cross the replayed book (a hedge, a carry order, a post-only
quote the market moved through), the best `LADDER_DEPTH` replayed levels are copied into the venue as system
liquidity, so post-only checks reject and taker orders fill exactly against the replayed book. Levels at or
through one of our resting orders are left out (the queue model has already decided what such a level did to
us). After the market moves on, a stale copy is removed before the next action, so it never stands in for
liquidity the replay no longer shows. Hourly funding is pinned to the recorded rate of each settlement
(`Venue.set_funding_rate`) and settled by the venue on the hour.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from engine.backtest.history import FundingRow
from engine.backtest.metrics import EquityCurve
from engine.backtest.models import BUY, SELL, BookView, QueueModel, SimOrder
from engine.venue.facts import FUNDING_INTERVAL_MS, MIN_ORDER_NOTIONAL_USD, ORACLE_UPDATE_MS

SYSTEM_TAKER = "0x0000000000000000000000000000000000007a7e"  # the sim's internal accounts (sim.drivers.ladder)
SYSTEM_MAKER = "0x0000000000000000000000000000000000005151"
LADDER_DEPTH = 5  # enough for post-only checks and for hedge/carry orders of the sizes a market maker sends
BOOK_ACTIONS = frozenset({"order", "batchModify", "modify"})  # the actions that can rest or trade


def num(x: float) -> str:
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
        self.bids = self.asks = None  # (n, 2) arrays of the current snapshot
        self.t_ms: int | None = None
        self.snapshot = 0  # counts snapshots: which one the ladder copy was made from
        self.mid = 0.0
        self.first_mid = 0.0
        self.orders: dict[int, SimOrder] = {}  # venue oid -> our resting order
        self.ladder = Ladder(venue, coin, SYSTEM_MAKER)
        self.ladder_of: int | None = None  # snapshot the venue's copy shows; None: no copy
        self.oracle_ms = -10 ** 15


class MarketReplay:
    def __init__(self, venue: Any, user: str, legs: dict[str, ReplayLeg], queue: QueueModel,
                 funding: list[FundingRow] | None, start_spot_base: float, sample_ms: int = 1000) -> None:
        self.venue = venue
        self.user = user.lower()
        self.legs = legs
        self.by_coin = {leg.coin: leg for leg in legs.values()}
        self.by_asset: dict[int, ReplayLeg] = {}
        self.queue = queue
        self.book_fills = getattr(queue, "book_fills", None)
        self.feed: Any = None  # the engine's VenueFeed once it has started
        self.curve = EquityCurve(sample_ms)
        self.cash = 0.0
        self.positions = {name: 0.0 for name in legs}
        if "spot" in legs:
            self.positions["spot"] = start_spot_base
        self.start_spot_base = start_spot_base
        self.fills: list[dict] = []  # our venue fills, as userFills rows
        self.fill_mids: dict[int, str] = {}  # tid -> replayed mid at the fill (the attribution's reference)
        self.funding_rows: list[dict] = []
        self.n_fills = self.n_maker = 0
        self.volume = 0.0
        self.queue_fills = 0
        self.gaps = 0
        self.book_bp: dict[int, int] = {}  # book half-spread in 0.1 bp bins, one count per snapshot
        self.quote_bp: dict[int, int] = {}  # our resting orders' distance from mid when they went live
        self._stale_ladder: set[int] = set()
        self._rates: dict[int, Decimal] = {}
        for row in funding or []:  # the rate settled at each hour (8-hourly history spread over its hours)
            self._rates[row.time_ms // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS] = row.rate / row.interval_hours
        self._perp = legs["perp"].coin if "perp" in legs else None
        self._next_hour: int | None = None
        self._rate_set: Decimal | None = None
        self.missing_funding_hours = 0
        self._gap_open = False
        venue.subscribe(self._on_venue_event)

    # ------------------------------------------------------------------ the account, as the venue holds it
    def snapshot_account(self, t_ms: int):
        """An `AccountSnapshot` (engine.attribution) of our account: the venue's cash (spot USDC + the perp's
        raw USD) and positions, valued at the replayed mids."""
        import datetime as dt

        from engine.attribution import AccountSnapshot

        _, chs = self.venue.info({"type": "clearinghouseState", "user": self.user, "dex": ""})
        _, spot = self.venue.info({"type": "spotClearinghouseState", "user": self.user})
        cash = Decimal(chs["marginSummary"]["totalRawUsd"])
        positions: dict[str, Decimal] = {}
        for p in chs["assetPositions"]:
            positions[p["position"]["coin"]] = Decimal(p["position"]["szi"])
        spot_leg = self.legs.get("spot")
        for b in spot["balances"]:
            if b["coin"] == "USDC":
                cash += Decimal(b["total"])
            elif spot_leg is not None and b["coin"] == self.legs["perp"].coin:  # the spot pair's base token
                positions[spot_leg.coin] = Decimal(b["total"])
        marks = {leg.coin: Decimal(num(leg.mid)) for leg in self.legs.values() if leg.mid}
        equity = cash + sum((q * marks[c] for c, q in positions.items() if q), Decimal(0))
        return AccountSnapshot(dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.timezone.utc), equity, positions, marks)

    @staticmethod
    def _bp_histogram(hist: dict[int, int], bp: float) -> None:
        key = int(bp * 10 + 0.5)  # 0.1 bp bins: enough to say how far quotes sat from where the market traded
        hist[key] = hist.get(key, 0) + 1

    # ------------------------------------------------------------------ accounting (equity curve)
    @property
    def net(self) -> float:
        return sum(self.positions.values())

    def equity(self) -> float:
        held = 0.0
        for name, leg in self.legs.items():
            held += self.positions[name] * leg.mid
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
                self.cash += float(r["usdc"])
                self.funding_rows.append(r)

    def _order_live(self, leg: ReplayLeg, o: dict) -> None:
        if o["oid"] in leg.orders:  # a partial fill's update: the model already tracks it
            return
        sz = float(o["sz"])
        order = SimOrder(o["oid"], BUY if o["side"] == "B" else SELL, float(o["limitPx"]), sz,
                         live_ms=self.venue.clock.now_ms(), meta={"lots": round(sz * leg.lot)})
        if leg.mid:
            self._bp_histogram(self.quote_bp, abs(order.px - leg.mid) / leg.mid * 1e4)
        if leg.view is not None:
            self.queue.on_live(order, leg.view)
        leg.orders[order.oid] = order

    def _on_fill(self, f: dict) -> None:
        leg = self.by_coin.get(f["coin"])
        if leg is None:
            return
        px, sz, fee = float(f["px"]), float(f["sz"]), float(f["fee"])
        signed = sz if f["side"] == "B" else -sz
        # a spot buy pays its fee in the coin received (it arrives net of it), anything else in USDC
        in_usdc = f.get("feeToken", "USDC") == "USDC"
        self.cash -= signed * px + (fee if in_usdc else 0.0)
        self.positions[leg.name] += signed if in_usdc else signed - fee
        self.volume += px * sz
        self.n_fills += 1
        self.n_maker += not f["crossed"]
        self.fills.append(f)
        self.fill_mids[f["tid"]] = num(leg.mid) if leg.mid else f["px"]

    # ------------------------------------------------------------------ the venue side
    def before_call(self, kind: str, action: dict | None) -> None:
        """Bring the venue to the replay's present before it sees a request: funding hours passed, and — for
        actions that can meet the book — the replayed liquidity where an order would cross it."""
        self.step_funding(self.venue.clock.now_ms())
        if kind not in BOOK_ACTIONS or action is None:
            return
        if kind == "order":
            wires = action.get("orders") or ()
        else:
            wires = [m.get("order") or {} for m in action.get("modifies") or ()]
        crossing: set[ReplayLeg] = set()
        for w in wires:
            leg = self.by_asset.get(w.get("a"))
            if leg is None or leg.view is None:
                continue
            px = float(w.get("p", 0))
            if w.get("b"):
                if leg.view.best_ask is not None and px >= leg.view.best_ask:
                    crossing.add(leg)
            elif leg.view.best_bid is not None and px <= leg.view.best_bid:
                crossing.add(leg)
        for leg in self.legs.values():
            if leg in crossing:
                if leg.ladder_of != leg.snapshot or self._stale_ladder:
                    self._copy_book(leg)
            elif leg.ladder_of is not None and leg.ladder_of != leg.snapshot:
                leg.ladder.clear()  # a copy of an old snapshot must not stand in for today's book
                leg.ladder_of = None
        self._stale_ladder.clear()

    def _copy_book(self, leg: ReplayLeg) -> None:
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
                if keep(p) and lots and p * lots / lot >= MIN_ORDER_NOTIONAL_USD:
                    out[num(p)] = num(lots / lot)
            return out

        leg.ladder.sync(levels(leg.bids.tolist(), lambda p: p < lowest_ask),
                        levels(leg.asks.tolist(), lambda p: p > highest_bid))
        leg.ladder_of = leg.snapshot

    def step_funding(self, now: int) -> None:
        """Settle every funding hour up to `now` at its recorded rate; pin the coming hour's rate."""
        if self._perp is None:
            return
        if self._next_hour is None:
            self._next_hour = (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        if self._next_hour > now:
            return
        while self._next_hour <= now:
            if self._rates and self._next_hour not in self._rates:
                self.missing_funding_hours += 1  # settled at 0: the history has no row for this hour
            self._pin_rate(self._next_hour)
            self.venue.tick()  # the venue settles the hour that has passed at the pinned rate
            self._next_hour += FUNDING_INTERVAL_MS
        self._pin_rate(self._next_hour)

    def _pin_rate(self, hour_ms: int) -> None:
        rate = self._rates.get(hour_ms, Decimal(0))
        if rate != self._rate_set:
            self._rate_set = rate
            self.venue.set_funding_rate(self._perp, rate)

    # ------------------------------------------------------------------ replayed events
    def on_book(self, leg: ReplayLeg, t: int, bids, asks) -> None:
        view = BookView(bids, asks)
        if leg.orders:
            if self.book_fills is not None:
                fills = self.book_fills(list(leg.orders.values()), view)
            else:
                fills = [(o, q) for o in list(leg.orders.values()) if (q := self.queue.on_book(o, view)) > 0]
            if fills:
                self._book_fills(leg, fills)
        leg.view, leg.bids, leg.asks, leg.t_ms = view, bids, asks, t
        leg.snapshot += 1
        bb, ba = view.best_bid, view.best_ask
        if bb is not None and ba is not None:
            mid = (bb + ba) * 0.5
            if not leg.mid:
                leg.first_mid = mid
            leg.mid = mid
            self._bp_histogram(self.book_bp, (ba - bb) * 0.5 / mid * 1e4)
            if not leg.is_spot and t - leg.oracle_ms >= ORACLE_UPDATE_MS:
                leg.oracle_ms = t
                self.venue.set_oracle(leg.coin, num(mid))
        feed = self.feed
        if feed is not None:
            if self._gap_open:
                self._gap_open = False
                feed.reconnect()
            feed.push_book(leg.coin, t, tuple(bids.tolist()), tuple(asks.tolist()))
        if t >= self.curve.next_ms:
            self.curve.maybe_sample(t, self.equity(), self.net)

    def on_trade(self, leg: ReplayLeg, px: float, sz: float) -> None:
        if not leg.orders:
            return
        fills = [(o, q) for o in list(leg.orders.values()) if (q := self.queue.on_trade(o, px, sz)) > 0]
        if fills:
            self._book_fills(leg, fills)

    def on_gap(self) -> None:
        """A recorded feed gap: the engine's feed goes down until the next snapshot."""
        self.gaps += 1
        if self.feed is not None and not self._gap_open:
            self._gap_open = True
            self.feed.drop()

    def _book_fills(self, leg: ReplayLeg, fills: list[tuple[SimOrder, float]]) -> None:
        """Book the queue model's fills in the venue, in the order the model produced them."""
        for order, q in fills:
            lots = min(round(q * leg.lot), order.meta["lots"])
            if lots <= 0 or order.oid not in leg.orders:
                continue
            try:
                self.venue.fill_resting(order.oid, num(lots / leg.lot), SYSTEM_TAKER)
            except ValueError:  # the order left the venue's book (cancelled) before the event reached it
                leg.orders.pop(order.oid, None)
                continue
            order.meta["lots"] -= lots
            self.queue_fills += 1
