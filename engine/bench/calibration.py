"""The calibrate flow's sweep on 1 and on 2 Dask workers (issue 15: 50 trials over 6 hours of one coin's
recordings in ≤ 5 min with 2 workers).

As an operator runs it across hosts: a Prefect server, a `dask scheduler` and `dask worker` processes (one
thread each), the flow run by `python -m flows.calibrate` with `[calibration] dask_scheduler` pointing at the
scheduler. The engine never imports Prefect, so everything is a subprocess. The same sweep (same data, windows
and seed, a fresh SQLite ledger each) runs first with one worker, then with a second one joined: the reference
is the one-worker run, and the two must give the same trial results.

The data is what we have: the BTC archive hour (../shared/data), 40 min in sample, 19 min out of sample (the hour spans 59.99 min). There
are no 6 hours of one coin's recordings here, so the 50-trial × 6 h figure is an extrapolation, said as such.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.bench import Result, figure
from engine.orchestrate import Supervisor, free_port

ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.lz4"
SWEEP = dict(in_sample_minutes=40, out_of_sample_minutes=19, start_offset_minutes=0, n_trials=20, batch_size=4,
             top_k=3, seed=0)
GOAL = "50 trials × 6 h of one coin in ≤ 300 s with 2 workers"


def _data() -> Path:
    from engine.bench.backtest import _shared_data  # the one place benches find ../shared/data

    path = _shared_data() / ARCHIVE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the BTC archive hour is missing (../shared/data beside the checkout)")
    return path


def _dask(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dask")), *args]


def _wait_workers(address: str, n: int, timeout_s: float = 120) -> None:
    from distributed import Client

    with Client(address, timeout=30) as c:
        c.wait_for_workers(n, timeout=timeout_s)


def _sweep(tmp: Path, env: dict[str, str], scheduler: str, tag: str) -> dict:
    """One calibrate run on the cluster; its JSON result (with the run's wall time)."""
    run = tmp / tag
    (run / "ledger").mkdir(parents=True)
    cfg = run / "hlmm.toml"
    cfg.write_text(f'[ledger]\nurl = "sqlite:///{run / "ledger" / "hlmm.db"}"\n\n'
                   f'[calibration]\ndask_scheduler = "{scheduler}"\n')
    params = {"recording": str(_data()), "report_dir": str(run / "reports"), "config_path": str(cfg), **SWEEP}
    subprocess.run([sys.executable, "-m", "engine.cli", "db", "upgrade", "--config", str(cfg)], env=env,
                   capture_output=True, check=True, timeout=120)
    r = subprocess.run([sys.executable, "-m", "flows.calibrate", json.dumps(params)], env=env, capture_output=True,
                       text=True, timeout=1800, cwd=str(Path(__file__).resolve().parents[2]))
    if r.returncode != 0:
        raise RuntimeError(f"calibrate ({tag}) failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _trial_results(res: dict) -> list:
    rows = [t["in_sample"] for t in res["trials"]] + [res["current"]["in_sample"], res["current"]["out_of_sample"]]
    rows += [c["out_of_sample"] for c in res["top"]]
    return [(r or {}).get("metrics") for r in rows]


@figure("calibrate_sweep", ("calibrate_sweep_2_workers_s", "calibrate_sweep_identical",
                            "calibrate_50x6h_2_workers_extrapolated_s"))
def bench_calibrate_sweep() -> list[Result]:
    from engine.bench.fleet_prefect import start_server

    with tempfile.TemporaryDirectory(prefix="hlmm-bench-calib-") as d:
        tmp = Path(d)
        sup = Supervisor(tmp / "logs", echo=lambda _: None)
        try:
            _, env = start_server(sup, tmp / "prefect", f"sqlite+aiosqlite:///{tmp / 'prefect.db'}")
            port = free_port()
            scheduler = f"tcp://127.0.0.1:{port}"
            sup.start("dask-scheduler", _dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                                              "--no-dashboard"), env=env)
            worker = ("worker", scheduler, "--nthreads", "1", "--nworkers", "1", "--no-dashboard")
            sup.start("dask-worker-1", _dask(*worker, "--name", "w1"), env=env)
            _wait_workers(scheduler, 1)
            one = _sweep(tmp, env, scheduler, "1-worker")
            sup.start("dask-worker-2", _dask(*worker, "--name", "w2"), env=env)
            _wait_workers(scheduler, 2)
            two = _sweep(tmp, env, scheduler, "2-workers")
        finally:
            sup.stop_all()
    n = SWEEP["n_trials"]
    hours = SWEEP["in_sample_minutes"] / 60
    replay = [t["in_sample"]["wall_s"] for t in two["trials"] if t["in_sample"]]
    per_trial = two["wall_s"] / (n + 2 + SWEEP["top_k"])  # the sweep's trials plus the out-of-sample replays
    same = _trial_results(one) == _trial_results(two) and [t["params"] for t in one["trials"]] == \
        [t["params"] for t in two["trials"]]
    return [
        Result("calibrate_sweep_2_workers_s", round(two["wall_s"], 1), "s",
               reference=f"the same sweep on 1 worker ({n} trials + {2 + SWEEP['top_k']} out-of-sample replays, "
                         f"{SWEEP['in_sample_minutes']} + {SWEEP['out_of_sample_minutes']} min of the BTC archive "
                         f"hour; median trial replay {sorted(replay)[len(replay) // 2]:.2f} s)",
               reference_value=round(one["wall_s"], 1)),
        Result("calibrate_sweep_identical", 1.0 if same else 0.0, "bool",
               reference="1 worker and 2 workers give the same trial params and results"),
        Result("calibrate_50x6h_2_workers_extrapolated_s", round(per_trial * 55 * 6 / hours, 1), "s",
               reference="extrapolated: the 2-worker run's wall per trial × 55 (50 + 5 out of sample) × "
                         f"(6 h / {hours:.2f} h in sample); linear in replayed time, overheads included",
               goal=GOAL),
    ]
