"""`hlmm backtest --l2 ...` glue: options → data streams → the engine backtest → results, charts and files.

There is one backtest: the live engine against the in-process venue (engine_run.py). This module only reads
the data (books, trades, gaps, funding), picks the coins and lot sizes, and writes what the run produced.
"""
from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass
from typing import Any, Callable

from engine.backtest.cache import cached_books
from engine.backtest.data import DataError, DataQuality, iter_books, iter_trades
from engine.backtest.gaps import iter_gaps
from engine.backtest.history import load_funding
from engine.backtest.streams import merge_events
from engine.venue.facts import SZ_DECIMALS


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
    # the replayed account's starting balances
    start_spot_usdc: float = 10_000.0
    start_spot_base: float = 0.0
    start_perp_usdc: float = 10_000.0
    perp_leverage: float | None = None  # None: the config's carry.perp_leverage
    gaps: bool = True  # replay recorded feed gaps as disconnects
    # replay only [start_ms, end_ms) of the data (exchange ms; None = from the start / to the end): the
    # calibrate flow's walk-forward windows are slices of one recording
    start_ms: int | None = None
    end_ms: int | None = None
    # `[strategy]` keys replacing the config's (validated by the config model): one calibration trial
    strategy: dict[str, Any] | None = None


def _first_coin(path: pathlib.Path) -> str:
    for ev in iter_books(path):
        return ev.coin
    raise DataError(f"{path}: no l2Book snapshots")


def sz_decimals_of(coin: str, given: int | None) -> int:
    sz = given if given is not None else SZ_DECIMALS.get(coin)
    if sz is None:
        raise ValueError(f"unknown szDecimals for coin {coin!r}; pass --sz-decimals")
    return sz


def prepare(opts: ReplayOptions) -> dict[str, Any]:
    """Coins, lot sizes and the merged event stream of a run (raises DataError / ValueError on bad input)."""
    for name in ("start_spot_usdc", "start_spot_base", "start_perp_usdc"):
        if getattr(opts, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(opts, name)}")
    if opts.perp_leverage is not None and opts.perp_leverage <= 0:
        raise ValueError(f"perp_leverage must be > 0, got {opts.perp_leverage}")
    if opts.config is not None:
        from engine.config import load_config

        load_config(opts.config)  # a bad config file is reported before any data is read
    coin = opts.coin or _first_coin(opts.l2)
    spot_coin = (opts.spot_coin or _first_coin(opts.spot_l2)) if opts.spot_l2 else None
    perp = (coin, sz_decimals_of(coin, opts.sz_decimals))
    spot = (spot_coin, SZ_DECIMALS.get(spot_coin, 2)) if spot_coin else None
    read = cached_books if opts.cache else iter_books
    lo, hi = _window(opts)
    books = {"perp": [b for b in read(opts.l2, coin) if lo <= b.t_ms < hi]}
    if opts.spot_l2:
        books["spot"] = [b for b in read(opts.spot_l2, spot_coin) if lo <= b.t_ms < hi]
    if not books["perp"]:
        raise DataError(f"{opts.l2}: no l2Book snapshots for coin {coin!r}" + _window_text(opts))
    quality = DataQuality()
    trades = {"perp": (t for t in iter_trades(opts.trades, coin, quality=quality) if lo <= t.t_ms < hi)} \
        if opts.trades else None
    gaps = {"perp": [g for g in iter_gaps(opts.l2, coin, quality=quality) if lo <= g.t_ms < hi]} \
        if opts.gaps else None
    funding = load_funding(opts.funding, coin) if opts.funding else None
    t0 = min(b[0].t_ms for b in books.values() if b)
    t1 = max(b[-1].t_ms for b in books.values() if b)
    events = merge_events({k: iter(v) for k, v in books.items()}, trades, funding, gaps)
    return {"perp": perp, "spot": spot, "events": events, "funding": funding, "quality": quality,
            "span": (t0, t1), "snapshots": sum(len(b) for b in books.values()), "books": books}


def _window(opts: ReplayOptions) -> tuple[float, float]:
    lo = -math.inf if opts.start_ms is None else opts.start_ms
    hi = math.inf if opts.end_ms is None else opts.end_ms
    if lo >= hi:
        raise ValueError(f"start_ms ({opts.start_ms}) must be before end_ms ({opts.end_ms})")
    return lo, hi


def _window_text(opts: ReplayOptions) -> str:
    if opts.start_ms is None and opts.end_ms is None:
        return ""
    return f" in the window [{opts.start_ms}, {opts.end_ms})"


def run_backtest(opts: ReplayOptions, progress: Callable[[int, int], None] | None = None,
                 prepared: dict[str, Any] | None = None) -> tuple[dict, Any]:
    """Run one backtest; returns (results, the EngineBacktest) — files are written by `write_outputs`.
    `progress(events, replay_ms)` is called every 1,024 events."""
    from engine.backtest.engine_run import EngineBacktest

    p = prepared or prepare(opts)
    bt = EngineBacktest(opts, p["perp"], p["spot"], p["events"], funding=p["funding"], progress=progress,
                        quality=p["quality"])
    result = bt.run()
    result["span_ms"] = list(p["span"])
    return result, bt


def run_replay_cli(opts: ReplayOptions, progress: bool = True) -> dict:
    prepared = prepare(opts)
    if not progress:
        result, bt = run_backtest(opts, prepared=prepared)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        t0, t1 = prepared["span"]
        with Progress(TextColumn("backtest"), BarColumn(bar_width=None),
                      TextColumn("{task.percentage:>5.1f}% of the replayed time · {task.fields[events]:,} events"),
                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task("replay", total=max(1, t1 - t0), events=0)

            def update(n: int, t: int) -> None:
                bar.update(task, completed=t - t0, events=n)
            result, bt = run_backtest(opts, update, prepared)
    write_outputs(opts, result, bt)
    return result


def write_outputs(opts: ReplayOptions, result: dict, bt: Any) -> None:
    if opts.out is None:
        return
    from engine.backtest.charts import write_charts

    m = bt.market
    result["charts"] = write_charts(opts.out, m.curve.t, m.curve.equity, m.curve.net_delta,
                                    result["pnl_attribution"])
    (opts.out / "results.json").write_text(json.dumps(result, indent=2))
    (opts.out / "fills.jsonl").write_text("".join(json.dumps({**f, "mid": m.fill_mids.get(f["tid"])}) + "\n"
                                                 for f in m.fills))
