"""`hlmm backtest --l2 ...` glue: options → models + strategy parameters → data streams → Replay → results/charts."""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

from engine.backtest.cache import cached_books
from engine.backtest.data import iter_books, iter_trades
from engine.backtest.history import load_funding
from engine.backtest.models import ConstantLatency, FeeModel, LogNormalLatency, make_queue_model
from engine.backtest.replay import Replay, ReplayConfig, merge_events
from engine.strategy.quotes import QuoteParams

# szDecimals of the default markets (meta); other coins need --sz-decimals
SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "HYPE": 2, "@107": 2, "@1": 2, "HYPE/USDC": 2, "PURR/USDC": 0}


@dataclass
class ReplayOptions:
    l2: pathlib.Path
    trades: pathlib.Path | None = None
    funding: pathlib.Path | None = None
    spot_l2: pathlib.Path | None = None
    config: pathlib.Path | None = None
    latency_ms: float = 50.0
    latency_jitter: float = 0.0  # log-normal sigma; 0 = constant latency
    queue: str = "risk-averse"
    out: pathlib.Path | None = None
    seed: int = 0
    coin: str | None = None
    spot_coin: str | None = None
    sz_decimals: int | None = None
    cache: bool = True  # decoded-snapshot cache (engine/backtest/cache.py)
    fees_bp: tuple[float, float, float, float] = (1.5, 4.5, 4.0, 7.0)  # perp maker/taker, spot maker/taker
    # the replayed account's starting balances (engine/backtest/balances.py)
    start_spot_usdc: float = 10_000.0
    start_spot_base: float = 0.0
    start_perp_usdc: float = 10_000.0
    perp_leverage: float | None = None  # None: the config's carry.perp_leverage, else 10
    mode: str = "engine"  # "engine": Engine + in-process venue (engine_run.py); "fast": the pure replay.py


def _first_coin(path: pathlib.Path) -> str:
    for ev in iter_books(path):
        return ev.coin
    raise ValueError(f"{path}: no l2Book snapshots")


def build_config(opts: ReplayOptions) -> ReplayConfig:
    coin = opts.coin or _first_coin(opts.l2)
    spot_coin = (opts.spot_coin or _first_coin(opts.spot_l2)) if opts.spot_l2 else None
    sz = opts.sz_decimals if opts.sz_decimals is not None else SZ_DECIMALS.get(coin)
    if sz is None:
        raise ValueError(f"unknown szDecimals for coin {coin!r}; pass --sz-decimals")
    cfg = ReplayConfig(coin=coin, sz_decimals=sz, spot_coin=spot_coin,
                       spot_sz_decimals=SZ_DECIMALS.get(spot_coin or "", 2), fees=FeeModel(*opts.fees_bp),
                       start_spot_usdc=opts.start_spot_usdc, start_spot_base=opts.start_spot_base,
                       start_perp_usdc=opts.start_perp_usdc)
    for name in ("start_spot_usdc", "start_spot_base", "start_perp_usdc"):
        if getattr(opts, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(opts, name)}")
    if opts.config is not None:
        from engine.config import load_config
        from engine.strategy.carry import CarryParams
        from engine.strategy.hedge import HedgeParams

        hc = load_config(opts.config)
        s = hc.strategy
        cfg.quote = QuoteParams(base_spread=s.base_spread, atr_multiplier=s.atr_multiplier,
                                skew_model="glft" if s.skew_model == "glft" else "as", gamma=s.gamma,
                                levels=s.levels, level_spacing=s.level_spacing_bps / 10_000,
                                order_notional=s.order_size_usd)
        cfg.requote_tolerance_bps = s.requote_tolerance_bps
        cfg.min_requote_interval_ms = s.min_requote_interval_ms
        c = hc.carry
        if c.entry_threshold > c.exit_threshold:
            cfg.carry = CarryParams(target_notional=c.target_notional_usd, entry_funding=c.entry_threshold,
                                    exit_funding=c.exit_threshold)
        cfg.funding_lookback_hours = c.funding_lookback_hours
        cfg.perp_leverage = float(c.perp_leverage)
        cfg.hedge = HedgeParams(band_usd=c.hedge_band_usd)
        from engine.risk import RiskLimits

        cfg.risk = RiskLimits.from_config(hc.risk)
    elif spot_coin:
        from engine.strategy.carry import CarryParams

        cfg.carry = CarryParams(target_notional=1000.0, entry_funding=0.0000125, exit_funding=0.0)
    if opts.perp_leverage is not None:
        if opts.perp_leverage <= 0:
            raise ValueError(f"perp_leverage must be > 0, got {opts.perp_leverage}")
        cfg.perp_leverage = opts.perp_leverage
    return cfg


def make_replay(opts: ReplayOptions) -> tuple[Replay, object]:
    cfg = build_config(opts)
    if opts.latency_ms < 0:
        raise ValueError(f"--latency-ms must be >= 0, got {opts.latency_ms}")
    if opts.latency_jitter > 0:
        latency = LogNormalLatency(entry_median=max(opts.latency_ms, 1e-3), md_median=max(opts.latency_ms / 10, 1e-3),
                                   sigma=opts.latency_jitter, seed=opts.seed)
    else:
        latency = ConstantLatency(entry=int(round(opts.latency_ms)), market_data=0)
    queue = make_queue_model(opts.queue, opts.seed)
    funding = load_funding(opts.funding, cfg.coin) if opts.funding else None
    replay = Replay(cfg, queue=queue, latency=latency, funding=funding)
    read = cached_books if opts.cache else iter_books
    books = {"perp": read(opts.l2, cfg.coin)}
    if opts.spot_l2:
        books["spot"] = read(opts.spot_l2, cfg.spot_coin)
    trades = {"perp": iter_trades(opts.trades, cfg.coin)} if opts.trades else None
    return replay, merge_events(books, trades, funding)


def run_engine_cli(opts: ReplayOptions, progress: bool = True) -> dict:
    """The full engine against the in-process venue (engine_run.py): the default `hlmm backtest --l2` mode."""
    from engine.backtest.engine_run import EngineBacktest

    cfg = build_config(opts)  # coins and lot sizes (and the config file checked) exactly as the fast mode
    read = cached_books if opts.cache else iter_books
    books = {"perp": read(opts.l2, cfg.coin)}
    if opts.spot_l2:
        books["spot"] = read(opts.spot_l2, cfg.spot_coin)
    trades = {"perp": iter_trades(opts.trades, cfg.coin)} if opts.trades else None
    spot = (cfg.spot_coin, cfg.spot_sz_decimals) if cfg.spot_coin else None

    def execute(update) -> tuple[dict, EngineBacktest]:
        bt = EngineBacktest(opts, (cfg.coin, cfg.sz_decimals), spot, books, trades, progress=update)
        return bt.run(), bt

    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("backtest (engine + venue)"), BarColumn(bar_width=None),
                      TextColumn("{task.completed:,} events"), TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("replay", total=None)
            result, bt = execute(lambda n: bar.update(task, completed=n))
    else:
        result, bt = execute(None)
    result["queue_model"] = opts.queue
    result["latency_ms"] = opts.latency_ms
    result["seed"] = opts.seed
    if opts.out is not None:
        from engine.backtest.charts import write_charts

        m = bt.market
        result["charts"] = write_charts(opts.out, m.curve.t, m.curve.equity, m.curve.net_delta,
                                        result["pnl_attribution"])
        (opts.out / "results.json").write_text(json.dumps(result, indent=2))
        (opts.out / "fills.jsonl").write_text("".join(json.dumps(f) + "\n" for f in m.fills))
    return result


def run_replay_cli(opts: ReplayOptions, progress: bool = True) -> dict:
    if opts.mode == "engine":
        return run_engine_cli(opts, progress)
    replay, events = make_replay(opts)
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("replay"), BarColumn(bar_width=None), TextColumn("{task.completed:,} events"),
                      TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("replay", total=None)
            result = replay.run(events, progress=lambda n: bar.update(task, completed=n))
    else:
        result = replay.run(events)
    if not result["events"] or replay.legs["perp"].book_ms is None:
        raise ValueError(f"{opts.l2}: no l2Book snapshots for coin {replay.cfg.coin!r}")
    result["mode"] = "fast"
    result["queue_model"] = opts.queue
    result["latency_ms"] = opts.latency_ms
    result["seed"] = opts.seed
    if opts.out is not None:
        from engine.backtest.charts import write_charts

        opts.out.mkdir(parents=True, exist_ok=True)
        result["charts"] = write_charts(opts.out, replay.curve.t, replay.curve.equity, replay.curve.net_delta,
                                        result["pnl_attribution"])
        (opts.out / "results.json").write_text(json.dumps(result, indent=2))
        (opts.out / "fills.jsonl").write_text("".join(json.dumps(f) + "\n" for f in replay.fills))
    return result
