"""The calibrate flow's Optuna study and Dask task runner.

Storage: the study lives with the ledger, so every run and worker that points at the ledger shares it. Optuna's
RDBStorage keeps its own Alembic revision in a table named `alembic_version` — the name the ledger's migrations
use — so it never shares a namespace with the ledger's tables: on PostgreSQL it lives in the ledger database's
`optuna` schema, on SQLite (no schemas) in a sibling file `<ledger>.optuna.db`.

Determinism: trials are asked in fixed-size batches, a batch runs in parallel, and results are told in ask order,
so the sampler sees the same history whatever order the workers finish in: the same seed gives the same study.
The sampler is seeded with seed + the number of trials already in the study, so a resumed study (a second run
with the same study name) continues deterministically instead of replaying its first random draws.
"""
from __future__ import annotations

import pathlib
from typing import Any

from engine.calibration.space import SPACE, Dimension

OPTUNA_SCHEMA = "optuna"


def storage_for(ledger_url: str):
    """An Optuna RDBStorage beside the ledger at `ledger_url` (see the module doc for where)."""
    import optuna
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from engine.ledger.db import normalize_url

    url = make_url(normalize_url(ledger_url))
    if url.get_backend_name() == "postgresql":
        admin = create_engine(url)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{OPTUNA_SCHEMA}"'))
        finally:
            admin.dispose()
        return optuna.storages.RDBStorage(
            url.render_as_string(hide_password=False),
            engine_kwargs={"connect_args": {"options": f"-csearch_path={OPTUNA_SCHEMA}"}, "pool_pre_ping": True})
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ValueError(f"ledger.url: the calibration study needs a PostgreSQL or SQLite file ledger, got "
                         f"{url.render_as_string(hide_password=True)}")
    db = pathlib.Path(url.database)
    sibling = db.with_name(db.stem + ".optuna" + (db.suffix or ".db"))
    sibling.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(f"sqlite:///{sibling}", engine_kwargs={"connect_args": {"timeout": 30}})


def distributions(space: tuple[Dimension, ...] = SPACE) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {d.name: IntDistribution(int(d.low), int(d.high)) if d.kind == "int"
            else FloatDistribution(d.low, d.high, log=d.log) for d in space}


def open_study(storage: Any, name: str, seed: int):
    """The study `name` (created if new), maximising, its TPE sampler seeded for where the study stands."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
    done = len(study.get_trials(deepcopy=False))
    # few startup trials: a nightly sweep is tens of trials, and TPE needs some history before it models
    study.sampler = optuna.samplers.TPESampler(seed=seed + done, n_startup_trials=min(10, max(2, done)))
    return study


def sweep(study: Any, n_trials: int, batch_size: int, run_batch, space: tuple[Dimension, ...] = SPACE) -> list:
    """Ask `n_trials` in batches of `batch_size`, run each batch with `run_batch([params, ...]) -> [result|None]`
    (None or an exception object: the trial failed), tell in ask order. Returns [(trial number, params, result)]."""
    from optuna.trial import TrialState

    dists = distributions(space)
    out = []
    for start in range(0, n_trials, batch_size):
        trials = [study.ask(dists) for _ in range(min(batch_size, n_trials - start))]
        results = run_batch([dict(t.params) for t in trials])
        for trial, res in zip(trials, results):  # ask order, whatever order the workers finished in
            if isinstance(res, dict) and res.get("score") is not None:
                study.tell(trial, res["score"])
            else:
                study.tell(trial, state=TrialState.FAIL)
            out.append((trial.number, dict(trial.params), res))
    return out


def task_runner(scheduler: str, local_workers: int):
    """prefect-dask's DaskTaskRunner: a running scheduler's address, or a LocalCluster of worker processes (a
    backtest is CPU-bound Python: threads would share one GIL)."""
    from prefect_dask import DaskTaskRunner

    if scheduler:
        return DaskTaskRunner(address=scheduler)
    return DaskTaskRunner(cluster_kwargs={"n_workers": local_workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})
