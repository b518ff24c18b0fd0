"""Deployments: prefect.yaml matches the catalog serve.py uses; `prefect deploy --all` registers every
deployment on a real server; a process worker runs a manual `prefect deployment run 'rebalance/manual'`."""
from __future__ import annotations

import asyncio
import datetime as dt
import pathlib

import pytest
import yaml

from deployments.catalog import DEPLOYMENTS, WORK_POOL

REPO = pathlib.Path(__file__).resolve().parents[2]


def _yaml():
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


def test_prefect_yaml_matches_catalog():
    got = {}
    for d in _yaml()["deployments"]:
        flow = d["entrypoint"].rsplit(":", 1)[1]
        sched = d.get("schedules") or []
        got[f"{flow}/{d['name']}"] = (d["entrypoint"], d["work_pool"]["name"], d.get("parameters") or {},
                                      [(s.get("cron"), s.get("interval"), s.get("timezone")) for s in sched])
    want = {}
    for d in DEPLOYMENTS:
        sched = [(d.cron, None, "UTC")] if d.cron else [(None, d.interval_s, None)] if d.interval_s else []
        want[d.full_name] = (d.entrypoint, WORK_POOL, d.parameters, sched)
    assert got == want


def test_serve_builds_every_deployment_with_schedules():
    from deployments.serve import build

    prod = {f"{d.flow_name}/{d.name}": d for d in build()}
    assert set(prod) == {d.full_name for d in DEPLOYMENTS}
    assert prod["drawdown_audit/every-5m"].schedules[0].schedule.interval.total_seconds() == 300
    assert prod["daily_report/daily"].schedules[0].schedule.cron == "5 0 * * *"
    assert prod["rebalance/manual"].schedules in (None, [])
    demo = {f"{d.flow_name}/{d.name}": d for d in build(demo=True, config_path="/x/hlmm.toml")}
    assert demo["drawdown_audit/every-5m"].schedules[0].schedule.interval.total_seconds() == 30
    assert not demo["rebalance/daily"].schedules  # the demo never trades on a timer
    assert demo["vol_regime/every-15m"].parameters["config_path"] == "/x/hlmm.toml"
    assert demo["vol_regime/every-15m"].parameters["interval"] == "1m"
    assert prod["vol_regime/every-15m"].parameters["interval"] == "15m"


def test_serve_takes_production_schedules_from_the_config_file(tmp_path):
    from deployments.serve import build

    cfg = tmp_path / "hlmm.toml"
    cfg.write_text('[flows]\ndrawdown_audit = 120\ndaily_report = "10 1 * * *"\n')
    prod = {f"{d.flow_name}/{d.name}": d for d in build(config_path=str(cfg))}
    assert prod["drawdown_audit/every-5m"].schedules[0].schedule.interval.total_seconds() == 120
    assert prod["daily_report/daily"].schedules[0].schedule.cron == "10 1 * * *"
    assert prod["ledger_audit/hourly"].schedules[0].schedule.cron == "15 * * * *"  # not in the file: default
    bad = tmp_path / "bad.toml"
    bad.write_text('[flows]\ndrawdown_audit = "every minute"\n')
    with pytest.raises(Exception, match="flows.drawdown_audit"):
        build(config_path=str(bad))


def _deployments(prefect_server) -> dict:
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as c:
            deps = await c.read_deployments()
            flows = {f.id: f.name for f in await c.read_flows()}
            return {f"{flows[d.flow_id]}/{d.name}": d for d in deps}

    return asyncio.run(read())


@pytest.mark.slow
def test_prefect_deploy_all_and_a_worker_runs_manual_rebalance(prefect_server, venue_env):
    """The production path end to end: work pool, `prefect deploy --all`, a process worker subprocess, and
    `prefect deployment run 'rebalance/manual'` completing against the sim."""
    import subprocess
    import sys

    r = prefect_server.cli("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
    assert r.returncode == 0, r.stdout + r.stderr
    env = {**prefect_server.env, "PWD": str(REPO)}
    r = subprocess.run([str(pathlib.Path(sys.executable).with_name("prefect")), "--no-prompt", "deploy", "--all"],
                       cwd=str(REPO), env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    registered = _deployments(prefect_server)
    assert {d.full_name for d in DEPLOYMENTS} <= set(registered)
    assert registered["rebalance/manual"].parameters["dry_run"] is True
    assert registered["drawdown_audit/every-5m"].work_pool_name == WORK_POOL

    worker_env = {**prefect_server.env, venue_env.key_env: venue_env.key, "PREFECT_WORKER_QUERY_SECONDS": "1",
                  "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    log = open(prefect_server.home / "worker.log", "wb")
    worker = subprocess.Popen([str(pathlib.Path(sys.executable).with_name("prefect")), "worker", "start", "--pool",
                               WORK_POOL, "--limit", "1"], cwd=str(REPO), env=worker_env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        r = prefect_server.cli("deployment", "run", "rebalance/manual", "--param",
                               f"config_path={venue_env.config_path}", "--param", "target_carry_notional=2000",
                               "--watch", "--watch-interval", "1", "--watch-timeout", "150", timeout=200)
        out = r.stdout + r.stderr
        assert r.returncode == 0 and "Completed" in out, out[-3000:] + \
            (prefect_server.home / "worker.log").read_text()[-3000:]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()


def _delete_deployments(prefect_server) -> None:
    from prefect.client.orchestration import get_client

    async def delete():
        async with get_client() as c:
            for d in await c.read_deployments():
                await c.delete_deployment(d.id)

    asyncio.run(delete())


@pytest.mark.slow
def test_serve_demo_schedules_run_flows(prefect_server, venue_env):
    """`python -m deployments.serve --demo` (what `hlmm up` runs): it registers every deployment, the server's
    scheduler creates runs from the demo schedules, and the serve process executes them — drawdown_audit's
    equity marks reach the ledger without anyone triggering anything."""
    import subprocess
    import sys
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter

    from flows.store import Store

    Store.init(venue_env.ledger_url)  # SQLite (the flow tests cover PostgreSQL)
    _delete_deployments(prefect_server)  # a clean slate: the deploy test registers the same names on a pool
    env = {**prefect_server.env, venue_env.key_env: venue_env.key, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log_path = prefect_server.home / "serve.log"

    async def drawdown_runs():
        async with get_client() as c:
            return await c.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=["every-5m"])), flow_run_filter=FlowRunFilter())

    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "deployments.serve", "--demo", "--config",
                                 venue_env.config_path], cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while True:
            runs = asyncio.run(drawdown_runs())
            if any(r.state and r.state.is_completed() for r in runs):
                break
            assert not any(r.state and r.state.is_failed() for r in runs), log_path.read_text()[-3000:]
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "no scheduled drawdown_audit run completed:\n" + \
                log_path.read_text()[-3000:] + prefect_server.log_path.read_text()[-3000:]
            time.sleep(1)
        assert {d.full_name for d in DEPLOYMENTS} <= set(_deployments(prefect_server))
        assert all(r.auto_scheduled or r.state.is_scheduled() for r in runs if r.state and r.state.is_completed())
        marks = venue_env.store().equity_curve(venue_env.address, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
                                               dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))
        assert marks and marks[0][1] > 1_000_000
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.postgres
def test_prefect_server_on_postgresql_takes_every_deployment(tmp_path):
    """The documented production server: `prefect server start` with PREFECT_API_DATABASE_CONNECTION_URL on
    PostgreSQL (asyncpg), then the work pool and `prefect deploy --all` against it."""
    import subprocess
    import sys

    from tests.fixtures.db import fresh_ledger_url
    from tests.fixtures.prefect import start_prefect_server, stop_server

    with fresh_ledger_url("postgres", tmp_path) as url:      # a fresh, empty PostgreSQL database
        db_url = url.replace("postgresql+psycopg://", "postgresql+asyncpg://").replace("postgresql://",
                                                                                      "postgresql+asyncpg://")
        assert db_url.startswith("postgresql+asyncpg://")
        proc, server = start_prefect_server(tmp_path, db_url=db_url, timeout_s=120)
        try:
            assert server.cli("work-pool", "create", WORK_POOL, "--type", "process").returncode == 0
            r = subprocess.run([str(pathlib.Path(sys.executable).with_name("prefect")), "--no-prompt", "deploy",
                                "--all"], cwd=str(REPO), env={**server.env, "PWD": str(REPO)},
                               capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                registered = _deployments(server)
            assert {d.full_name for d in DEPLOYMENTS} == set(registered)
        finally:
            stop_server(proc)
        # the server really used PostgreSQL: its tables are in the fresh database
        from sqlalchemy import create_engine, inspect

        eng = create_engine(url)
        try:
            assert "deployment" in inspect(eng).get_table_names()
        finally:
            eng.dispose()
