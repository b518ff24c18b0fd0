"""calibrate (nightly, and by hand from the UI): search `[strategy]` params on recordings with the live engine's
backtest, validate walk-forward, and adopt them only under the guard.

1. The recording's last `in_sample_minutes + out_of_sample_minutes` (or from `start_offset_minutes`) are split
   into an in-sample window and the out-of-sample window after it (engine/calibration/walkforward.py).
2. An Optuna study in the ledger's database (flows/calibrate_study.py) asks `n_trials` points of the declared
   space (engine/calibration/space.py) in batches of `batch_size`; each trial is a Prefect task running
   `hlmm backtest`'s engine on the in-sample window (engine/backtest/trial.py), on a Dask cluster
   (prefect-dask: a LocalCluster, or `[calibration] dask_scheduler`). Scores: engine/calibration/objective.py.
3. The `top_k` in-sample candidates and the current params are replayed on the out-of-sample window.
4. The best in-sample candidate is adopted (a `calibration.<COIN>` params row and an info alert) only when
   `dry_run` is false and its out-of-sample score beats the current params' by the margin with every step
   within bounds (engine/calibration/adoption.py). The `calibration` artifact shows the table, a chart and why.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from engine.calibration.adoption import Guard, decide
from engine.calibration.objective import Weights, score
from engine.calibration.space import SPACE, check_params, current_params
from engine.calibration.walkforward import walk_forward
from flows.hooks import HOOKS

PARAM_KEY = "calibration.{coin}"  # the ledger params row an adoption writes


@task(name="calibration-trial", cache_policy=NO_CACHE)
def trial(data: dict[str, Any], window: list[int], strategy: dict[str, Any], weights: dict[str, Any]) -> dict:
    """One backtest of `window` with `strategy` over the config's [strategy]; adds its score."""
    from engine.backtest.trial import metrics_of, run_trial

    res = run_trial(data["recording"], (window[0], window[1]), strategy, coin=data["coin"], trades=data["trades"],
                    config=data["config_path"], seed=data["seed"])
    res["score"] = score(metrics_of(res), Weights(**weights))
    res["ran_on"] = _where()
    return res


def _where() -> dict[str, Any]:
    """Which host and Dask worker ran a trial (the artifact and an operator can tell a cluster's hosts apart)."""
    import os
    import socket

    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):  # not in a Dask worker (a direct call)
        worker = None
    return {"host": socket.gethostname(), "pid": os.getpid(), "worker": worker}


@flow(name="calibrate-search", description="The calibrate flow's trials on the Dask cluster")
def search(data: dict[str, Any], windows: dict[str, list[int]], storage_url: str, study_name: str, n_trials: int,
           batch_size: int, top_k: int, current: dict[str, Any], weights: dict[str, Any]) -> dict:
    from flows.calibrate_study import open_study, storage_for, sweep

    ins, oos = windows["in_sample"], windows["out_of_sample"]

    def run_batch(points: list[dict]) -> list:
        futures = [trial.submit(data, ins, p, weights) for p in points]
        return [_result(f) for f in futures]

    study = open_study(storage_for(storage_url), study_name, data["seed"])
    done = sweep(study, n_trials, batch_size, run_batch)
    finished = sorted((r for r in done if isinstance(r[2], dict)), key=lambda r: (-r[2]["score"], r[0]))
    top = finished[:top_k]
    # the current params on both windows and the top candidates out of sample, in one parallel batch
    futures = [trial.submit(data, ins, current, weights), trial.submit(data, oos, current, weights)]
    futures += [trial.submit(data, oos, p, weights) for _, p, _ in top]
    res = [_result(f) for f in futures]
    for r in res[:2]:
        if not isinstance(r, dict):  # the current params must replay: else nothing can be compared
            raise RuntimeError(f"the current params' backtest failed: {r}") from r
    return {"trials": [{"number": n, "params": p, "in_sample": r if isinstance(r, dict) else None,
                        "error": None if isinstance(r, dict) else str(r)} for n, p, r in done],
            "current": {"params": current, "in_sample": res[0], "out_of_sample": res[1]},
            "top": [{"number": n, "params": p, "in_sample": r, "out_of_sample": o if isinstance(o, dict) else None}
                    for (n, p, r), o in zip(top, res[2:])]}


def _result(future) -> Any:
    """A trial's result, or the exception it raised (a failed trial is told to the study as failed)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one bad trial (e.g. a config range) must not end the sweep
        return exc


@flow(name="calibrate", description="Search strategy params on recordings (live engine backtests on Dask), "
      "validate walk-forward, adopt under a guard", **HOOKS)
def calibrate(recording: str | None = None, data_dir: str | None = None, coin: str | None = None,
              trades: str | None = None, in_sample_minutes: float = 240.0, out_of_sample_minutes: float = 120.0,
              start_offset_minutes: float | None = None, n_trials: int = 50, batch_size: int = 4, seed: int = 0,
              top_k: int = 3, dry_run: bool = True, margin_usd: float | None = None,
              max_step_fraction: float | None = None, study_name: str | None = None,
              report_dir: str = "var/reports", config_path: str | None = None) -> dict:
    from engine.config import load_config

    for name, value, lo, hi in (("n_trials", n_trials, 1, 10_000), ("batch_size", batch_size, 1, 256),
                                ("top_k", top_k, 1, 100)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name}: must be a whole number in [{lo}, {hi}], got {value!r}")
    log = get_run_logger()
    cfg = load_config(config_path)
    guard = Guard(cfg.calibration.margin_usd if margin_usd is None else margin_usd,
                  cfg.calibration.max_step_fraction if max_step_fraction is None else max_step_fraction)
    rec, coin, trades = _data(recording, data_dir, coin, trades)
    from engine.backtest.trial import data_span

    windows = walk_forward(*data_span(rec, coin), in_sample_minutes, out_of_sample_minutes, start_offset_minutes)
    coin = coin or _coin_of(rec)
    from flows.store import Store

    store = Store.from_url(cfg.ledger.url, account=cfg.venue.trading_account)  # this account's params, alerts
    try:
        adopted = store.latest_param(PARAM_KEY.format(coin=coin))
        current = {**current_params(cfg.strategy), **(check_params(adopted) if isinstance(adopted, dict) else {})}
        data = {"recording": str(rec), "coin": coin, "trades": trades, "config_path": config_path, "seed": seed}
        name = study_name or _study_name(coin, rec, windows.as_dict(), seed)
        from flows.calibrate_study import task_runner

        runner = task_runner(cfg.calibration.dask_scheduler, cfg.calibration.local_workers)
        out = search.with_options(task_runner=runner)(data, windows.as_dict(), cfg.ledger.url, name, n_trials,
                                                      batch_size, top_k, current, _weights())
        best = out["top"][0] if out["top"] and out["top"][0]["out_of_sample"] else None
        decision = decide(current, best and best["params"], out["current"]["out_of_sample"]["score"],
                          best and best["out_of_sample"]["score"], guard)
        written = None
        if decision.adopt and not dry_run:
            written = store.set_param(PARAM_KEY.format(coin=coin), best["params"], reason=decision.summary,
                                      source="calibrate")
            _alert(cfg, store, coin, best, decision, written)
        summary = ("dry run: " if dry_run and decision.adopt else "") + decision.summary
        log.info("%s: %s", coin, summary)
        from flows.calibrate_page import publish

        publish(out, decision, summary, coin, windows, name, dry_run, written, pathlib.Path(report_dir))
        return {"coin": coin, "study": name, "windows": windows.as_dict(), "adopt": decision.adopt,
                "dry_run": dry_run, "params_version": written, "decision": summary, **out}
    finally:
        store.close()


def _weights() -> dict[str, Any]:
    w = Weights()
    return {k: getattr(w, k) for k in w.__slots__}


def _data(recording: str | None, data_dir: str | None, coin: str | None,
          trades: str | None) -> tuple[pathlib.Path, str | None, str | None]:
    """(recording, coin, trades): a recording file or capture directory as given, or `data_dir`, a directory of
    `hlmm record` files `<COIN>_<start>.jsonl.gz`: the coin's files, oldest first, are read as one recording
    (the recorder service rotates them and deletes those past its retention), trades from the same files."""
    if (recording is None) == (data_dir is None):
        raise ValueError("recording / data_dir: give exactly one (a recording file or capture directory, or a "
                         "directory of `hlmm record` files)")
    if recording is not None:
        rec = pathlib.Path(recording)
        if not rec.exists():
            raise ValueError(f"recording: {recording} does not exist")
        return rec, coin, trades
    if not coin:
        raise ValueError("coin: needed with data_dir (which coin's recordings to use)")
    from engine.backtest.trial import recording_files

    d = pathlib.Path(data_dir)
    if not d.is_dir() or not recording_files(d, coin):
        raise ValueError(f"data_dir: no `hlmm record` files {coin}_*.jsonl.gz in {data_dir}")
    return d, coin, trades or str(d)


def _coin_of(rec: pathlib.Path) -> str:
    from engine.backtest.trial import first_coin

    return first_coin(rec)


def _study_name(coin: str, rec: pathlib.Path, windows: dict, seed: int) -> str:
    """Same data, windows, space and seed → the same study (a second run resumes it)."""
    key = json.dumps([str(rec.resolve()), windows, seed, [(d.name, d.low, d.high, d.log) for d in SPACE]])
    return f"calibrate-{coin}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _alert(cfg: Any, store: Any, coin: str, best: dict, decision: Any, version: int) -> None:
    from engine.alerts import Alerter, utc_now

    alerter = Alerter.from_config(cfg.alerts, clock=utc_now, source="hlmm flows", ledger=store.engine,
                                   account=store.account or "*")
    moves = ", ".join(f"{s.name} {s.current:g} -> {s.candidate:g}" for s in decision.steps if s.current != s.candidate)
    alerter.send("info", f"{coin}: calibrated strategy params adopted (params v{version})",
                 f"{decision.summary}\nchanged: {moves}\ncoin {coin}\nWhat to do: nothing; to undo, write the "
                 f"previous values to the ledger's params key {PARAM_KEY.format(coin=coin)}",
                 dedup_key=f"calibrate-adopt:{coin}:{version}")


def main(argv: list[str] | None = None) -> None:
    """`python -m flows.calibrate '<JSON parameters>'`: one run by hand, outside any deployment, its result as one
    JSON line on stdout with the run's wall time (`hlmm bench`'s calibrate sweep drives it this way: the engine
    never imports Prefect). The Prefect API is this process's (PREFECT_API_URL, or a temporary local server)."""
    import sys
    import time

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m flows.calibrate '{\"recording\": \"...\", \"n_trials\": 6, ...}'")
    try:
        params = json.loads(args[0])
    except json.JSONDecodeError as exc:
        raise SystemExit(f"parameters: not JSON ({exc})") from None
    if not isinstance(params, dict):
        raise SystemExit("parameters: must be a JSON object of the flow's parameters")
    began = time.monotonic()
    res = calibrate(**params)
    print(json.dumps({**res, "wall_s": time.monotonic() - began}, default=str))


if __name__ == "__main__":
    main()
