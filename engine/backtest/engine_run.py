"""`hlmm backtest`: the live engine (`engine.loop.Engine`) and the venue (`sim.venue.Venue`) in one process on
simulated time, replaying recorded books, trades, funding and feed gaps. No sockets, no second engine.

Wiring (docs/backtesting.md has the picture):
* `vloop.VirtualTimeLoop` runs everything; every sleep, timeout and throttle of the engine is on replay time;
* the engine's REST client talks to the venue through `inproc.VenueClient`, its feed is `inproc.VenueFeed`,
  its signer is `UnsignedSigner` (the in-process venue verifies nothing) and its ledger writer runs inline;
* `venue_replay.MarketReplay` is the market: replayed snapshots → queue-model fills booked in the venue,
  oracle marks, funding hours, replayed liquidity where an order would cross it.
The engine runs unchanged: the same startup reconciliation, quoters, executor, carry manager, dead man's
switch, timers and ledger writes as `hlmm run` — only its clock, transport, feed, signer and ledger threading
are swapped. The driver applies each replayed event at its time and lets the loop run only when something
is due before it, so a quiet stretch of the replay costs no loop iterations.
"""
from __future__ import annotations

import gc
import pathlib
import secrets
import tempfile
import time
from decimal import Decimal
from typing import Any, Callable

from engine.backtest.data import DataError
from engine.backtest.latency import ConstantLatency, LatencyModel, LogNormalLatency
from engine.backtest.models import make_queue_model
from engine.backtest.results import engine_result
from engine.backtest.streams import BOOK, FUNDING, GAP, TRADE
from engine.backtest.venue_replay import MarketReplay, ReplayLeg, num
from engine.venue.facts import DEFAULT_MAX_LEVERAGE, MAX_LEVERAGE

BASE_URL = "http://backtest.invalid"  # never dialled: the transport is in process
# nothing but the engine writes a backtest's ledger, and the engine applies its own controls (a drawdown kill)
# the moment it writes them: re-reading controls and params once an hour of replay time, not once a second,
# only saves ~2 ms of SQL a poll
LEDGER_POLL_MS = 3_600_000
# the dead man's switch guards against an engine that dies while its orders rest; the in-process engine cannot
# die apart from its venue, so it arms an hour ahead (re-arming every 20 min of replay) rather than 15 s ahead
# every 5 s: the same code path, ~1,440 fewer scheduleCancel round trips per replayed hour (the venue sets no
# upper bound on the time, only a 5 s lower one)
DEADMAN_HORIZON_MS = 3_600_000


def _universe(perp: tuple[str, int, float], spot: tuple[str, int, float, str] | None):
    """A venue universe of exactly the replayed markets (perp asset 0, spot pair index 0 = asset 10000)."""
    from sim.markets import SPOT_ASSET_OFFSET, TOKENS, Market, Token, Universe

    coin, szd, px = perp
    markets = [Market(asset=0, coin=coin, sz_decimals=szd, is_spot=False, default_px=Decimal(repr(px)),
                      max_leverage=MAX_LEVERAGE.get(coin, DEFAULT_MAX_LEVERAGE))]
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
    strategy = base.strategy
    if getattr(opts, "strategy", None):
        # through the model, so a calibration trial's value gets the same range checks as the config file's
        strategy = type(strategy).model_validate({**strategy.model_dump(), **opts.strategy})
    if opts.perp_leverage is not None:
        carry = carry.model_copy(update={"perp_leverage": max(1, int(opts.perp_leverage))})
    return base.model_copy(update={
        "markets": [market],
        "carry": carry,
        "strategy": strategy,
        "venue": base.venue.model_copy(update={"network": "local", "base_url": BASE_URL, "account_address": address,
                                               "agent_address": None, "secret_env": None, "secret_file": None}),
        "ledger": base.ledger.model_copy(update={"url": ledger_url}),
        "alerts": base.alerts.model_copy(update={"targets": []}),
    })


_EMPTY_LEDGER: list[bytes] = []  # an empty SQLite ledger at the migrations' head, made once per process


def empty_ledger(path: pathlib.Path) -> None:
    """Start `path` as a copy of an empty ledger already at the migrations' head: the engine's own `upgrade`
    at start then finds nothing to do (a fresh schema costs ~50 ms of Alembic per run, a check ~10 ms)."""
    if not _EMPTY_LEDGER:
        from engine.ledger.db import upgrade

        with tempfile.TemporaryDirectory(prefix="hlmm-ledger-") as tmp:
            made = pathlib.Path(tmp) / "empty.db"
            upgrade(f"sqlite:///{made}")  # closes its connections: the WAL is checkpointed into the file
            if made.with_name("empty.db-wal").exists() and made.with_name("empty.db-wal").stat().st_size:
                raise RuntimeError("empty ledger template: its WAL was not checkpointed")
            _EMPTY_LEDGER.append(made.read_bytes())
    path.write_bytes(_EMPTY_LEDGER[0])


def latency_model(opts: Any) -> LatencyModel:
    if opts.latency_ms < 0:
        raise ValueError(f"--latency-ms must be >= 0, got {opts.latency_ms}")
    if opts.latency_jitter > 0:
        return LogNormalLatency(entry_median=max(opts.latency_ms, 1e-3), md_median=max(opts.latency_ms / 10, 1e-3),
                                sigma=opts.latency_jitter, seed=opts.seed)
    return ConstantLatency(entry=int(round(opts.latency_ms)), market_data=0)


class EngineBacktest:
    """One run. `opts` is a `runner.ReplayOptions`; `events` the merged replay stream (streams.merge_events)."""

    def __init__(self, opts: Any, perp: tuple[str, int], spot: tuple[str, int] | None, events: Any,
                 funding: list | None = None, progress: Callable[[int, int], None] | None = None,
                 quality: Any = None) -> None:
        self.opts = opts
        self.perp_coin, self.perp_szd = perp
        self.spot_coin, self.spot_szd = spot if spot else (None, None)
        self.funding = funding
        self.events = iter(events)
        self.progress = progress
        self.quality = quality
        self.latency = latency_model(opts)
        self.queue = make_queue_model(opts.queue, opts.seed)
        for name in ("start_spot_usdc", "start_spot_base", "start_perp_usdc"):
            if getattr(opts, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(opts, name)}")
        self.market: MarketReplay | None = None
        self.engine: Any = None
        self.venue: Any = None
        self.status_ms: dict[str, int] = {}
        self.counts = {"books": 0, "trades": 0, "funding": 0, "gaps": 0, "before_first_book": 0}

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        from engine.backtest.vloop import VirtualTimeLoop

        first = next(self.events, None)
        while first is not None and first[1] != BOOK:  # trades before the first book have nothing to meet
            self.counts["before_first_book"] += 1
            first = next(self.events, None)
        if first is None:
            raise DataError(f"{self.opts.l2}: no l2Book snapshots for coin {self.perp_coin!r}")
        self._first = first
        with tempfile.TemporaryDirectory(prefix="hlmm-backtest-") as tmp:
            workdir = pathlib.Path(self.opts.out) if self.opts.out is not None else pathlib.Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            ledger = workdir / "ledger.db"
            for stale in (ledger, ledger.with_name("ledger.db-wal"), ledger.with_name("ledger.db-shm")):
                stale.unlink(missing_ok=True)  # a results directory holds one run's ledger
            self._ledger_path = ledger.resolve()
            self._ledger_url = f"sqlite:///{self._ledger_path}"
            loop = VirtualTimeLoop(max(0, first[0] - 1))
            # Everything alive now (the decoded replay, modules, config) stays alive for the whole run: frozen,
            # the cyclic garbage collector stops re-scanning it at every collection (≈ 0.2 s of a touch hour)
            gc.freeze()
            try:
                with loop.driving():
                    result = self._drive(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                gc.unfreeze()
            return result

    def _build(self, clock: Any) -> tuple[Any, str]:
        """The venue with a funded throwaway account, the replayed market around it. Returns (venue, address)."""
        from sim.venue import Venue

        opts = self.opts
        t0, _, _, ev0 = self._first
        px0 = _first_mid(ev0)
        spot = (self.spot_coin, self.spot_szd, px0, self.perp_coin) if self.spot_coin else None
        venue = self.venue = Venue(clock, seed=opts.seed, universe=_universe((self.perp_coin, self.perp_szd, px0),
                                                                             spot), nonce_window=False)
        pm, pt, sm, st = (Decimal(repr(x)) / 10_000 for x in opts.fees_bp)
        venue.set_fee_rates(perp_taker=pt, perp_maker=pm, spot_taker=st, spot_maker=sm)
        address = "0x" + secrets.token_hex(20)  # a throwaway account: nothing signs for it in process
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
        market.by_asset = {0: legs["perp"], **({10_000: legs["spot"]} if self.spot_coin else {})}
        market.step_funding(clock.now_ms())
        return venue, address

    def _drive(self, loop) -> dict:
        """Start the engine, apply every replayed event at its time (the loop runs whatever is due before it),
        then stop the engine as Ctrl-C would (cancel all, disarm) and collect the results."""
        from engine.backtest.inproc import VenueClient, VenueFeed
        from engine.backtest.vloop import LoopClock
        from engine.loop import Engine
        from engine.venue.signing import UnsignedSigner

        clock = LoopClock(loop)
        venue, address = self._build(clock)
        market = self.market
        cfg = engine_config(self.opts, self.perp_coin, self.spot_coin, address, self._ledger_url)
        client = VenueClient(venue, address, entry_ms=self.latency.entry_ms, before_call=market.before_call,
                             info_hook=self._info_hook)

        def make_feed(on_event):
            feed = market.feed = VenueFeed(venue, address, on_event, market_data_ms=self.latency.market_data_ms)
            return feed

        engine = self.engine = Engine(cfg, clock=clock, signer=UnsignedSigner(address), http_client=client,
                                      feed_factory=make_feed, ledger_poll_ms=LEDGER_POLL_MS, ledger_threaded=False,
                                      deadman_horizon_ms=DEADMAN_HORIZON_MS)
        wall0 = time.perf_counter()
        empty_ledger(self._ledger_path)  # in the timed part: the first run of a process makes the template
        self._apply(self._first)  # the first snapshot is in place before the engine reads the book
        self.start = market.snapshot_account(self._first[0])
        run = loop.create_task(engine.run(), name="hlmm-engine")
        loop.run_until(lambda: engine.started.is_set() or run.done())
        if run.done():
            run.result()  # a startup error (config, venue refusal) surfaces here
        self.phases = {"start_s": time.perf_counter() - wall0}
        first_t = last_t = self._first[0]
        n = 1
        status = self.status_ms
        rt = engine.markets[0]
        run_until_ms, apply, progress = loop.run_until_ms, self._apply, self.progress
        for ev in self.events:
            t = ev[0]
            run_until_ms(t)
            key = rt.status.split(":", 1)[0]
            status[key] = status.get(key, 0) + (t - last_t)
            apply(ev)
            last_t = t
            n += 1
            if progress is not None and not n & 1023:
                progress(n, t)
            if run.done():
                break
        # let the engine answer the last event, then stop it like Ctrl-C would (cancel all, disarm)
        run_until_ms(loop.now_ms() + max(self.latency.entry_ms(), 1) * 2)
        t_replayed = time.perf_counter()
        self.phases["replay_s"] = t_replayed - wall0 - self.phases["start_s"]
        written = engine.ledger.write_s
        engine.stop()
        loop.run_until(run.done)
        run.result()
        wall = time.perf_counter() - wall0
        self.phases["stop_s"] = wall - self.phases["start_s"] - self.phases["replay_s"]
        # the ledger writes queued during the replay and written at the stop (an inline writer holds up to
        # 20,000 order states): part of stop_s, but in a longer run they are written along the way
        self.phases["stop_ledger_s"] = engine.ledger.write_s - written
        if market.feed is not None and market.feed.stats["handler_errors"]:
            raise RuntimeError(f"the engine raised on {market.feed.stats['handler_errors']} feed events (see the log)")
        market.curve.force(last_t, market.equity(), market.net)
        self.end = market.snapshot_account(last_t)
        return engine_result(self, wall, first_t, last_t, n)

    def _apply(self, ev) -> None:
        t, kind, leg_name, payload = ev
        market = self.market
        market.step_funding(t)
        if kind == BOOK:
            self.counts["books"] += 1
            market.on_book(market.legs[leg_name], t, payload.bids, payload.asks)
        elif kind == TRADE:
            self.counts["trades"] += 1
            market.on_trade(market.legs[leg_name], payload.px, payload.sz)
        elif kind == GAP:
            self.counts["gaps"] += 1
            market.on_gap()
        elif kind == FUNDING:  # its rate is pinned for its hour by step_funding
            self.counts["funding"] += 1

    def _info_hook(self, body: dict) -> Any:
        """The engine's book reads see the replayed book (the venue's book holds our orders and, at times, a copy
        of the replayed levels)."""
        if body.get("type") != "l2Book":
            return None
        leg = self.market.by_coin.get(body.get("coin"))
        if leg is None or leg.view is None:
            return None

        def side(levels):
            return [{"px": num(p), "sz": num(s), "n": 1} for p, s in levels.tolist()]

        return {"coin": leg.coin, "time": leg.t_ms, "levels": [side(leg.bids), side(leg.asks)]}


def _first_mid(ev) -> float:
    bids, asks = ev.bids, ev.asks
    if len(bids) and len(asks):
        return float((bids.item(0) + asks.item(0)) / 2)
    return float(bids.item(0) if len(bids) else asks.item(0) if len(asks) else 1.0)
