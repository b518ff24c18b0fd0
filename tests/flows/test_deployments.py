"""Deployments: prefect.yaml matches the catalog serve.py uses; `prefect deploy --all` registers every
deployment on a real server; a process worker runs a manual `prefect deployment run 'rebalance/manual'`."""
from __future__ import annotations

import asyncio
import pathlib

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
