"""The calibrate flow's sweep on 1 and on 2 Dask workers (issue 15: 50 trials over 6 hours of one coin's
recordings in ≤ 5 min with 2 workers).

As an operator runs it across hosts: a Prefect server, a `dask scheduler` and `dask worker` processes (one
thread each), the flow run by `python -m flows.calibrate` with `[calibration] dask_scheduler` pointing at the
scheduler. The engine never imports Prefect, so everything is a subprocess. The same sweep (same data, windows
and seed, a fresh SQLite ledger each) runs first with one worker, then with a second one joined: the reference
is the one-worker run, and the two must give the same trial results.

The data is what we have: the BTC archive hour (../shared/data), 40 min in sample, 19 min out of sample (the hour
spans 59.99 min). There are no 6 hours of one coin's recordings here. The goal's sweep is therefore measured on the
archive hour repeated six times, each copy shifted by one more hour, written as a directory of `hlmm record` files
(`_six_hours`): the same kind of data at the same rate, six hours of it, read the way the nightly flow reads the
recorder's directory (5 h in sample, 59 min out of sample, 50 trials, on the 2 workers). Its market content is one
real hour six times over, so its trial results say nothing about parameters; only its wall time is the figure.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from engine.bench import Result, figure
from engine.orchestrate import Supervisor, free_port

ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.lz4"
SWEEP = dict(in_sample_minutes=40, out_of_sample_minutes=19, start_offset_minutes=0, n_trials=20, batch_size=4,
             top_k=3, seed=0)
SWEEP_6H = dict(in_sample_minutes=300, out_of_sample_minutes=59, start_offset_minutes=0, n_trials=50, batch_size=4,
                top_k=3, seed=0)
GOAL = "50 trials × 6 h of one coin in ≤ 300 s with 2 workers"
HOUR_MS = 3_600_000


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


def _six_hours(out: Path) -> Path:
    """The archive hour six times over, copy k shifted by k hours, as six `hlmm record` files of BTC's l2Book
    channel (one per hour, as the recorder rotates them) in `out`."""
    from engine.backtest.data import load_books
    from engine.backtest.recordings import file_name

    books = load_books(_data())
    out.mkdir(parents=True)
    for k in range(6):
        shift = k * HOUR_MS
        with gzip.open(out / file_name("BTC", books[0].t_ms + shift), "wb", compresslevel=1) as f:
            for b in books:
                t = b.t_ms + shift
                levels = [[{"px": repr(px), "sz": repr(sz), "n": 1} for px, sz in side.tolist()]
                          for side in (b.bids, b.asks)]
                f.write(orjson.dumps({"t": t, "channel": "l2Book",
                                      "data": {"coin": "BTC", "time": t, "levels": levels}}) + b"\n")
    return out


def _sweep(tmp: Path, env: dict[str, str], scheduler: str, tag: str, data: dict | None = None,
           sweep: dict | None = None) -> dict:
    """One calibrate run on the cluster (the archive hour and SWEEP unless told otherwise); its JSON result
    (with the run's wall time)."""
    run = tmp / tag
    (run / "ledger").mkdir(parents=True)
    cfg = run / "hlmm.toml"
    cfg.write_text(f'[ledger]\nurl = "sqlite:///{run / "ledger" / "hlmm.db"}"\n\n'
                   f'[calibration]\ndask_scheduler = "{scheduler}"\n')
    params = {**(data or {"recording": str(_data())}), "report_dir": str(run / "reports"), "config_path": str(cfg),
              **(sweep or SWEEP)}
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
                            "calibrate_50x6h_2_workers_s"))
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
            six = _sweep(tmp, env, scheduler, "6h-2-workers", {"data_dir": str(_six_hours(tmp / "six-hours")),
                                                                  "coin": "BTC"}, SWEEP_6H)
        finally:
            sup.stop_all()
    n = SWEEP["n_trials"]
    hours = SWEEP["in_sample_minutes"] / 60
    replay = [t["in_sample"]["wall_s"] for t in two["trials"] if t["in_sample"]]
    per_trial = two["wall_s"] / (n + 2 + SWEEP["top_k"])  # the sweep's trials plus the out-of-sample replays
    replay6 = sorted(t["in_sample"]["wall_s"] for t in six["trials"] if t["in_sample"])
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
        Result("calibrate_50x6h_2_workers_s", round(six["wall_s"], 1),
               f"s (measured: {SWEEP_6H['n_trials']} trials + {2 + SWEEP_6H['top_k']} out-of-sample replays on 2 "
               f"workers, {SWEEP_6H['in_sample_minutes']} + {SWEEP_6H['out_of_sample_minutes']} min of the archive "
               f"hour repeated six times, read as a directory of recorder files; {len(replay6)} trials replayed, "
               f"median trial replay {replay6[len(replay6) // 2] if replay6 else float('nan'):.2f} s)",
               reference="the same run's short sweep extrapolated: its wall per trial × 55 × "
                         f"(6 h / {hours:.2f} h in sample), linear in replayed time, overheads included",
               reference_value=round(per_trial * 55 * 6 / hours, 1), goal=GOAL),
    ]
