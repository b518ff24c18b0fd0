"""The scale-out bench's Prefect side: a server on its own PostgreSQL database and one process worker (children
of the fleet's supervisor), the fleet's deployments rendered per account and registered with `prefect deploy`,
and the flow runs' scheduled → running latency read back from the server's REST API.

The engine never imports Prefect (tests/test_architecture.py), so this module drives it as an operator does:
the `prefect` CLI in subprocesses, and plain HTTP to /api.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.orchestrate import OrchestrationError, Supervisor, free_port, hlmm_argv, http_ok

POOL = "hlmm-bench"
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}


def _prefect() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def start_server(sup: Supervisor, home: Path, db_url: str) -> tuple[str, dict[str, str]]:
    """`prefect server start` on a free port over `db_url` (a psycopg URL; the server wants asyncpg), then a
    process work pool. Returns (api URL, the environment a Prefect CLI or worker needs to reach it)."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**QUIET, "PREFECT_HOME": str(home), "PREFECT_SERVER_UI_ENABLED": "false",
           "PREFECT_API_DATABASE_CONNECTION_URL": db_url.replace("postgresql+psycopg://", "postgresql+asyncpg://")}
    sup.start("prefect-server", [_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-ui", "--analytics-off"], env=env, ready=http_ok(f"{api}/health"),
              ready_timeout_s=120, last=True)
    client_env = {**env, "PREFECT_API_URL": api}
    _cli(client_env, home, "work-pool", "create", POOL, "--type", "process")
    return api, client_env


def start_worker(sup: Supervisor, home: Path, env: dict[str, str]) -> None:
    """One process worker for the pool, at Prefect's default polling (what a production worker runs with)."""
    wdir = home / "worker"
    wdir.mkdir(exist_ok=True)
    sup.start("prefect-worker", [_prefect(), "worker", "start", "--pool", POOL, "--type", "process",
                                 "--name", "bench-worker"], env={**env, "PREFECT_HOME": str(wdir)})


def deploy(configs: list[Path], out: Path, env: dict[str, str], anchor: dt.datetime) -> tuple[float, int]:
    """Render every account's deployments (`hlmm deployments render --code package`) and register them
    (`prefect deploy --all`). Interval schedules get `anchor` as their anchor date: Prefect otherwise anchors
    them at the deploy instant, so a run shorter than the interval (5 min for drawdown_audit) would see none of
    them; the interval itself and every cron stay as rendered. Returns (seconds the deploy took, deployments)."""
    import yaml

    argv = hlmm_argv("deployments", "render", "--code", "package", "--out", str(out))
    for c in configs:
        argv[-2:-2] = ["--config", str(c)]
    _run(argv, env, out.parent, "hlmm deployments render")
    doc = yaml.safe_load(out.read_text())
    for d in doc["deployments"]:
        d["work_pool"]["name"] = POOL
        for s in d.get("schedules") or []:
            if "interval" in s:
                s["anchor_date"] = anchor.isoformat()
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    t0 = time.monotonic()
    _cli(env, out.parent, "--no-prompt", "deploy", "--all", "--prefect-file", str(out), timeout=600)
    return time.monotonic() - t0, len(doc["deployments"])


def flow_runs(api: str, since: dt.datetime, until: dt.datetime) -> list[dict]:
    """Every flow run expected to start in [since, until): its deployment and flow, expected start, actual start
    (None while not running yet) and state."""
    body = {"flow_runs": {"expected_start_time": {"after_": since.isoformat(), "before_": until.isoformat()}},
            "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
    out: list[dict] = []
    with httpx.Client(timeout=30) as c:
        deployments = {d["id"]: d["name"] for d in _all(c, f"{api}/deployments/filter", {})}
        flows = {f["id"]: f["name"] for f in _all(c, f"{api}/flows/filter", {})}
        for r in _all(c, f"{api}/flow_runs/filter", body):
            out.append({"deployment": deployments.get(r["deployment_id"], r["deployment_id"]),
                        "flow": flows.get(r["flow_id"], r["flow_id"]),
                        "expected": _ts(r["expected_start_time"]), "start": _ts(r.get("start_time")),
                        "state": r.get("state_type")})
    return out


def latencies(runs: list[dict], until: dt.datetime) -> tuple[list[float], int]:
    """Scheduled → running seconds per run due before `until`; a run not running by then counts with the time
    it had waited so far (a lower bound), so a stalled worker shows up instead of vanishing. Returns
    (latencies, how many of them are such lower bounds)."""
    lat, pending = [], 0
    for r in runs:
        if r["expected"] >= until:
            continue
        if r["start"] is None:
            pending += 1
            lat.append((until - r["expected"]).total_seconds())
        else:
            lat.append(max(0.0, (r["start"] - r["expected"]).total_seconds()))
    return lat, pending


def _all(c: httpx.Client, url: str, body: dict) -> list[dict]:
    rows, offset = [], 0
    while True:
        page = c.post(url, json={**body, "offset": offset, "limit": 200})
        page.raise_for_status()
        got = page.json()
        rows += got
        if len(got) < 200:
            return rows
        offset += len(got)


def _ts(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> None:
    _run([_prefect(), *args], env, cwd, f"prefect {args[0] if args[0] != '--no-prompt' else args[1]}", timeout)


def _run(argv: list[str], env: dict[str, str], cwd: Path, what: str, timeout: float = 120) -> None:
    import os

    r = subprocess.run(argv, env={**os.environ, **env}, cwd=str(cwd), capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise OrchestrationError(f"{what} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
