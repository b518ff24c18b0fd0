"""`hlmm backtest --l2`: the live engine (`engine.loop.Engine`) and the venue (`sim.venue.Venue`) in one process
on simulated time, replaying recorded books, trades and funding. No sockets.

Wiring (docs/backtesting.md has the picture):
* `vloop.VirtualTimeLoop` runs everything; every sleep, timeout and throttle of the engine is on replay time;
* the engine's REST client talks to the venue through `inproc.VenueClient`, its feed is `inproc.VenueFeed`;
* `venue_replay.MarketReplay` is the market: replayed snapshots → queue-model fills booked in the venue,
  oracle marks, funding hours, liquidity for post-only checks and taker orders, P&L attribution.
The engine runs unchanged: the same startup reconciliation, requote loop, executor, hedger, carry, dead man's
switch, housekeeping and ledger writes as `hlmm run` — only its clock, transport and feed are swapped.
"""
from __future__ import annotations

import asyncio
import logging
import pathlib
import secrets
import tempfile
import time
from decimal import Decimal
from typing import Any, Callable

from engine.backtest.data import DataError
from engine.backtest.history import load_funding
from engine.backtest.results import core_result
from engine.backtest.models import ConstantLatency, LatencyModel, LogNormalLatency, make_queue_model
from engine.backtest.streams import merge_events
from engine.backtest.venue_replay import MarketReplay, ReplayLeg, _num

log = logging.getLogger(__name__)
BASE_URL = "http://backtest.invalid"  # never dialled: the transport is in process
# nothing but the engine writes this ledger during a backtest, so the once-a-second re-read of controls and
# params (4-5 ms each here, most of the run's time) is relaxed to once a minute of replay time
LEDGER_POLL_MS = 60_000
MAX_LEVERAGE = {"BTC": 40, "ETH": 25, "SOL": 20, "HYPE": 10}


def _universe(perp: tuple[str, int, float], spot: tuple[str, int, float, str] | None):
    """A venue universe of exactly the replayed markets (perp asset 0, spot pair index 0 = asset 10000)."""
    from sim.markets import SPOT_ASSET_OFFSET, TOKENS, Market, Token, Universe

    coin, szd, px = perp
    markets = [Market(asset=0, coin=coin, sz_decimals=szd, is_spot=False, default_px=Decimal(repr(px)),
                      max_leverage=MAX_LEVERAGE.get(coin, 20))]
    tokens = (TOKENS[0],)
    if spot is not None:
        pair, sszd, spx, base = spot
        tokens = (TOKENS[0], Token(1, base, sszd, 8, "0x" + "00" * 15 + "01"))
        markets.append(Market(asset=SPOT_ASSET_OFFSET, coin=pair, sz_decimals=sszd, is_spot=True,
                              default_px=Decimal(repr(spx)), base_token=1, quote_token=0, spot_index=0))
    return Universe(markets, tokens)


def engine_config(opts: Any, perp_coin: str, spot_coin: str | None, address: str, ledger_url: str):
    """The user's config (or the embedded defaults) pointed at the in-process venue and the replayed markets."""
    from engine.config import default_config, load_config
    from engine.config.sections import MarketConfig

    base = load_config(opts.config) if opts.config is not None else default_config()
    # one market: the perp coin's name, its spot pair (spot base token = the perp coin) when spot data is given
    market = MarketConfig(coin=perp_coin, spot=spot_coin is not None, perp=True, spot_pair=spot_coin,
                          perp_name=perp_coin)
    carry = base.carry
    if opts.perp_leverage is not None:
        carry = carry.model_copy(update={"perp_leverage": max(1, int(opts.perp_leverage))})
    return base.model_copy(update={
        "markets": [market],
        "carry": carry,
        "venue": base.venue.model_copy(update={"network": "local", "base_url": BASE_URL, "account_address": address,
                                               "agent_address": None, "secret_env": None, "secret_file": None}),
        "ledger": base.ledger.model_copy(update={"url": ledger_url}),
        "alerts": base.alerts.model_copy(update={"targets": []}),
    })


def latency_model(opts: Any) -> LatencyModel:
    if opts.latency_ms < 0:
        raise ValueError(f"--latency-ms must be >= 0, got {opts.latency_ms}")
    if opts.latency_jitter > 0:
        return LogNormalLatency(entry_median=max(opts.latency_ms, 1e-3), md_median=max(opts.latency_ms / 10, 1e-3),
                                sigma=opts.latency_jitter, seed=opts.seed)
    return ConstantLatency(entry=int(round(opts.latency_ms)), market_data=0)


class EngineBacktest:
    """One run. `opts` is a `runner.ReplayOptions`; `books`/`trades` are the event iterators per leg."""

    def __init__(self, opts: Any, perp: tuple[str, int], spot: tuple[str, int] | None, books: dict, trades: dict | None,
                 progress: Callable[[int], None] | None = None, funding: list | None = None) -> None:
        """`funding`: rows already loaded (else read from `opts.funding`)."""
        self.opts = opts
        self.perp_coin, self.perp_szd = perp
        self.spot_coin, self.spot_szd = spot if spot else (None, None)
        self.funding = funding if funding is not None else (
            load_funding(opts.funding, self.perp_coin) if opts.funding else None)
        self.events = merge_events(books, trades, self.funding)
        self.progress = progress
        self.latency = latency_model(opts)
        self.queue = make_queue_model(opts.queue, opts.seed)
        for name in ("start_spot_usdc", "start_spot_base", "start_perp_usdc"):
            if getattr(opts, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(opts, name)}")
        self.result: dict | None = None
        self.market: MarketReplay | None = None
        self.engine: Any = None
        self.venue: Any = None

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        from engine.backtest.vloop import run_virtual

        first = next(self.events, None)
        if first is None:
            raise DataError(f"{self.opts.l2}: no l2Book snapshots for coin {self.perp_coin!r}")
        self._first = first
        with tempfile.TemporaryDirectory(prefix="hlmm-backtest-") as tmp:
            workdir = pathlib.Path(self.opts.out) if self.opts.out is not None else pathlib.Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            ledger = workdir / "ledger.db"
            if ledger.exists():
                ledger.unlink()  # a results directory holds one run's ledger
            self._ledger_url = f"sqlite:///{ledger.resolve()}"
            return run_virtual(self._main, max(0, first[0] - 1))

    async def _main(self, loop) -> dict:
        from eth_account import Account

        from engine.backtest.inproc import VenueClient, VenueFeed
        from engine.backtest.vloop import LoopClock
        from engine.loop import Engine
        from sim.venue import Venue

        opts = self.opts
        clock = LoopClock(loop)
        t0, kind0, _, ev0 = self._first
        px0 = self._first_mid(ev0) if kind0 == 1 else 1.0
        spot = (self.spot_coin, self.spot_szd, px0, self.perp_coin) if self.spot_coin else None
        venue = self.venue = Venue(clock, seed=opts.seed, universe=_universe((self.perp_coin, self.perp_szd, px0),
                                                                             spot), nonce_window=False)
        pm, pt, sm, st = (Decimal(repr(x)) / 10_000 for x in opts.fees_bp)
        venue.set_fee_rates(perp_taker=pt, perp_maker=pm, spot_taker=st, spot_maker=sm)
        key = "0x" + secrets.token_hex(32)  # a throwaway account: the key lives in this process only
        address = Account.from_key(key).address.lower()
        venue.fund_perp(address, repr(opts.start_perp_usdc))
        if self.spot_coin:
            venue.fund_spot(address, "USDC", repr(opts.start_spot_usdc))
            if opts.start_spot_base:
                venue.fund_spot(address, self.perp_coin, repr(opts.start_spot_base))
        if self.funding:
            venue.seed_funding_history(self.perp_coin, [
                {"time": r.time_ms, "fundingRate": str(r.rate / r.interval_hours), "premium": "0"}
                for r in self.funding if r.time_ms < t0])
        legs = {"perp": ReplayLeg("perp", self.perp_coin, self.perp_szd, venue)}
        if self.spot_coin:
            legs["spot"] = ReplayLeg("spot", self.spot_coin, self.spot_szd, venue)
        market = self.market = MarketReplay(venue, address, legs, self.queue, self.funding,
                                            opts.start_spot_base if self.spot_coin else 0.0)
        market.step_funding(clock.now_ms())
        cfg = engine_config(opts, self.perp_coin, self.spot_coin, address, self._ledger_url)
        client = VenueClient(venue, address, entry_ms=self.latency.entry_ms, before_call=market.before_call,
                                   info_hook=self._info_hook)

        def make_feed(on_event):
            feed = VenueFeed(venue, address, on_event, market_data_ms=self.latency.market_data_ms)
            market.feed = feed
            return feed

        engine = self.engine = Engine(cfg, key, clock=clock, http_client=client, feed_factory=make_feed,
                                      ledger_poll_ms=LEDGER_POLL_MS)
        del key
        wall0 = time.perf_counter()
        self._apply(self._first)  # the first snapshot is in place before the engine reads the book
        run = asyncio.create_task(engine.run(), name="hlmm-engine")
        started = asyncio.create_task(engine.started.wait())
        await asyncio.wait({run, started}, return_when=asyncio.FIRST_COMPLETED)
        if run.done():
            started.cancel()
            run.result()  # a startup error (config, venue refusal) surfaces here
        first_t = last_t = t0
        n = 1
        self._status_ms: dict[str, int] = {}
        rt = engine.markets[0]
        try:
            for ev in self.events:
                t = ev[0]
                if t > clock.now_ms():
                    await asyncio.sleep((t - clock.now_ms()) / 1000)
                status = rt.status.split(":")[0]
                self._status_ms[status] = self._status_ms.get(status, 0) + (t - last_t)
                self._apply(ev)
                last_t = t
                n += 1
                if self.progress is not None and n % 1024 == 0:
                    self.progress(n)
                if run.done():
                    break
            # let the engine answer the last event, then stop it like Ctrl-C would (cancel all, disarm)
            await asyncio.sleep(max(self.latency.entry_ms(), 1) * 2 / 1000)
        finally:
            engine.stop()
            await run
        wall = time.perf_counter() - wall0
        errors = market.feed.stats["handler_errors"] if market.feed is not None else 0
        if errors:
            raise RuntimeError(f"the engine raised on {errors} feed events (see the log)")
        market.curve.force(last_t, market.equity(), market.net)
        return self._results(wall, first_t, last_t, n)

    def _first_mid(self, ev) -> float:
        if len(ev.bids) and len(ev.asks):
            return float((ev.bids.item(0) + ev.asks.item(0)) / 2)
        return float(ev.bids.item(0) if len(ev.bids) else ev.asks.item(0) if len(ev.asks) else 1.0)

    def _apply(self, ev) -> None:
        t, kind, leg_name, payload = ev
        market = self.market
        market.step_funding(t)
        leg = market.legs[leg_name]
        if kind == 1:
            market.on_book(leg, t, payload.bids, payload.asks)
        elif kind == 0:
            market.on_trade(leg, payload.px, payload.sz)
        # kind 2 (a funding row) needs nothing here: its rate is pinned for its hour by step_funding

    def _info_hook(self, body: dict) -> Any:
        """The engine's book reads see the replayed book (the venue's book holds copied levels and our orders)."""
        if body.get("type") != "l2Book":
            return None
        leg = self.market.by_coin.get(body.get("coin"))
        if leg is None or leg.view is None:
            return None

        def side(levels):
            return [{"px": _num(p), "sz": _num(s), "n": 1} for p, s in levels.tolist()]

        return {"coin": leg.coin, "time": leg.t_ms, "levels": [side(leg.bids), side(leg.asks)]}

    # ------------------------------------------------------------------ results
    def _results(self, wall: float, first_t: int, last_t: int, n: int) -> dict:
        m, venue, engine = self.market, self.venue, self.engine
        _, chs = venue.info({"type": "clearinghouseState", "user": m.user, "dex": ""})
        _, spot_state = venue.info({"type": "spotClearinghouseState", "user": m.user})
        spot_bal = {b["coin"]: float(b["total"]) for b in spot_state["balances"]}
        perp_value = float(chs["marginSummary"]["accountValue"])
        spot_leg = m.legs.get("spot")
        spot_value = spot_bal.get("USDC", 0.0) + (spot_bal.get(self.perp_coin, 0.0) * spot_leg.mid if spot_leg else 0.0)
        # the starting coin counts at its first mark, as in the attribution (its later moves are basis P&L)
        start_value = self.opts.start_perp_usdc + (
            self.opts.start_spot_usdc + self.opts.start_spot_base * m.first_spot_mid if spot_leg else 0.0)
        # the venue's own account value change at the last marks: equal to the attribution total when every
        # fill and funding row was accounted
        equity_change = perp_value + (spot_value if spot_leg else 0.0) - start_value
        gauges = engine.snapshot()["gauges"]
        return {
            "mode": "engine",
            **core_result(n, wall, first_t, last_t, m.n_fills, m.n_maker, m.volume, m.attr, m.curve),
            "queue_fills": m.queue_fills,
            "turnover": m.volume / start_value if start_value else None,
            "equity_change_usd": equity_change,
            "final_inventory": {**{name: leg.position for name, leg in m.legs.items()}, "net": m.net},
            "funding_usd": m.funding_paid,
            "missing_funding_hours": m.missing_funding_hours,
            "engine": {k: gauges[k] for k in sorted(gauges) if k.startswith(("engine_", "exec_"))},
            "orders": self._order_counts(),
            "time_in_status": self._status_share(),
            "balances": {"perp_account_value": perp_value, "spot": spot_bal,
                         "perp_position": {p["position"]["coin"]: float(p["position"]["szi"])
                                           for p in chs["assetPositions"]}},
        }

    def _order_counts(self) -> dict:
        """Our orders' status changes on the venue (placed, filled, cancelled, rejected) by status."""
        counts: dict[str, int] = {}
        for row in self.venue.order_events():
            if row["user"] == self.market.user:
                counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts

    def _status_share(self) -> dict:
        """Share of replayed time the engine's market spent quoting, paused (by reason kind) or killed."""
        total = sum(self._status_ms.values())
        return {k: v / total for k, v in sorted(self._status_ms.items())} if total else {}
