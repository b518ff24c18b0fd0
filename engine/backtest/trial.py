"""One calibration trial: the `hlmm backtest` of a window of a recording with some `[strategy]` keys replaced,
reduced to the figures the calibration's objective and report use (engine/calibration/objective.py).

No second simulator: this is `runner.run_backtest` (the live Engine on the in-process venue on virtual time)
with `ReplayOptions.start_ms/end_ms/strategy` set. Everything returned is plain JSON (a trial may run in a
Dask worker process and come back through pickling).
"""
from __future__ import annotations

import math
import pathlib
from typing import Any

from engine.backtest.recordings import files_of
from engine.backtest.runner import ReplayOptions, _first_coin, prepare, run_backtest
from engine.calibration.objective import TrialMetrics, markouts, mean_abs_exposure


def data_span(l2: str | pathlib.Path, coin: str | None = None) -> tuple[int, int]:
    """(first, last) snapshot time of a recording, exchange ms."""
    p = prepare(ReplayOptions(l2=pathlib.Path(l2), coin=coin, gaps=False))
    return p["span"]


def recording_files(directory: str | pathlib.Path, coin: str) -> list[pathlib.Path]:
    """A directory's finished `hlmm record` files of `coin`, oldest first (one recording to a trial)."""
    return files_of(directory, coin)


def first_coin(l2: str | pathlib.Path) -> str:
    """The coin of a recording's first snapshot."""
    return _first_coin(pathlib.Path(l2))


def run_trial(l2: str, window: tuple[int, int], strategy: dict[str, Any], *, coin: str | None = None,
              trades: str | None = None, config: str | None = None, seed: int = 0, queue: str = "risk-averse",
              latency_ms: float = 50.0) -> dict[str, Any]:
    """Replay [window) of `l2` (and `trades`) with `strategy` over the config's `[strategy]`; returns
    {"metrics": TrialMetrics as a dict, "wall_s", "no_fill_reason", "median_quote_distance_bp", ...}."""
    opts = ReplayOptions(l2=pathlib.Path(l2), trades=pathlib.Path(trades) if trades else None,
                         config=pathlib.Path(config) if config else None, coin=coin, seed=seed, queue=queue,
                         latency_ms=latency_ms, start_ms=window[0], end_ms=window[1], strategy=dict(strategy))
    prepared = prepare(opts)
    books = prepared["books"]["perp"]
    mid_t = [b.t_ms for b in books]
    mids = [_mid(b) for b in books]
    result, bt = run_backtest(opts, prepared=prepared)
    m = bt.market
    fills = sorted((int(f["time"]), 1 if f["side"] == "B" else -1, float(f["px"]), float(f["sz"])) for f in m.fills)
    markout_bp, adverse = markouts(fills, mid_t, mids)
    end_mid = mids[-1] if mids else 0.0
    metrics = TrialMetrics(
        pnl_usd=result["pnl_total_usd"], fees_usd=result["pnl_attribution"]["fees"], fills=result["fills"],
        maker_ratio=result["maker_ratio"], volume_usd=result["volume_usd"],
        mean_abs_inventory_usd=mean_abs_exposure(list(m.curve.t), list(m.curve.net_delta), mid_t, mids),
        end_inventory_usd=abs(result["final_inventory"].get("net", 0.0)) * end_mid,
        max_drawdown_usd=result["max_drawdown_usd"], markout_bp=markout_bp, adverse_usd=adverse)
    return {"metrics": metrics.as_dict(), "wall_s": result["wall_s"], "window": list(window),
            "no_fill_reason": result["no_fill_reason"], "unexplained_usd": result["unexplained_usd"],
            "median_quote_distance_bp": result["median_quote_distance_bp"],
            "median_book_half_spread_bp": result["median_book_half_spread_bp"]}


def metrics_of(trial: dict[str, Any]) -> TrialMetrics:
    return TrialMetrics(**trial["metrics"])


def _mid(b: Any) -> float:
    if len(b.bids) and len(b.asks):
        return float((b.bids.item(0) + b.asks.item(0)) / 2)
    side = b.bids if len(b.bids) else b.asks
    return float(side.item(0)) if len(side) else math.nan
