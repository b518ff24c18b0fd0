"""A real Dask cluster for the calibrate flow's tests: `dask scheduler` and `dask worker` processes, each its own
process (a worker's tasks run in a child of its nanny), as an operator runs them across hosts
(docs/operations.md "A Dask cluster across hosts"). The flow reaches it through `[calibration] dask_scheduler`.
"""
from __future__ import annotations

import contextlib
import pathlib
import socket
import subprocess
import sys
from collections.abc import Iterator

from tests.flows.netns import stop
from tests.sim.helpers import wait_for

DASK = pathlib.Path(sys.executable).with_name("dask")
REPO = pathlib.Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def scheduler_argv(host: str, port: int) -> list[str]:
    return [str(DASK), "scheduler", "--host", host, "--port", str(port), "--no-dashboard"]


def worker_argv(scheduler: str, name: str, host: str | None = None) -> list[str]:
    """One worker process with one thread (a trial is CPU-bound Python: one at a time per process)."""
    argv = [str(DASK), "worker", scheduler, "--name", name, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"]
    return argv + (["--host", host] if host else [])


def workers(address: str) -> dict[str, str]:
    """The scheduler's workers: {address: name}."""
    from distributed import Client

    with Client(address, timeout=20) as c:
        return {a: str(w.get("name")) for a, w in c.scheduler_info(n_workers=-1)["workers"].items()}


def wait_for_workers(address: str, names: set[str], timeout: float = 60) -> dict[str, str]:
    return wait_for(lambda: (lambda w: w if set(w.values()) == names else None)(workers(address)),
                    timeout=timeout, interval=0.5, what=f"Dask workers {sorted(names)}")


@contextlib.contextmanager
def processes(log_dir: pathlib.Path) -> Iterator[list[subprocess.Popen]]:
    """A list the test appends its Popen objects to; every one is stopped on exit (reverse order)."""
    procs: list[subprocess.Popen] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):
            stop(p)


def popen(argv: list[str], env: dict[str, str], log: pathlib.Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, env=env, cwd=str(REPO), stdout=fh, stderr=subprocess.STDOUT)


def write_config(path: pathlib.Path, ledger_url: str, scheduler: str) -> str:
    path.write_text(f'[ledger]\nurl = "{ledger_url}"\n\n[calibration]\ndask_scheduler = "{scheduler}"\n')
    return str(path)
