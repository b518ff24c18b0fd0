"""The scale-out bench's own arithmetic and plumbing (engine/bench/scale_out.py, fleet*.py), without a fleet: the
figures it runs are measured by `hlmm bench --only scale_out`, never asserted here."""
from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from engine.bench.fleet import Outcome, Plan, Window, _config
from engine.bench.fleet_prefect import latencies
from engine.bench.fleet_probe import CpuMeter, cpu_seconds, metric_values, percentile, rss_mb
from engine.bench.scale_out import NAMES, plan_from_env, results

T0 = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.timezone.utc)


def _at(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def test_latency_counts_a_run_not_started_with_its_wait_so_far():
    runs = [{"expected": _at(0), "start": _at(3), "state": "COMPLETED"},
            {"expected": _at(10), "start": None, "state": "SCHEDULED"},      # due, stuck: waited 50 s by the end
            {"expected": _at(70), "start": None, "state": "SCHEDULED"},      # not due yet: left out
            {"expected": _at(20), "start": _at(19.5), "state": "RUNNING"}]   # early start (prefetch): 0
    lat, pending = latencies(runs, _at(60))
    assert sorted(lat) == [0.0, 3.0, 50.0] and pending == 1


def test_percentile_is_nearest_rank():
    xs = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(xs, 0.5) == 3.0 and percentile(xs, 1.0) == 5.0 and percentile(xs, 0.0) == 1.0
    assert percentile(list(range(1, 101)), 0.95) == 95


def test_metric_values_reads_labels_and_skips_prefix_siblings():
    text = ('# HELP hlmm_exec_total x\nhlmm_exec_total{stat="actions"} 12.0\nhlmm_exec_total{stat="rate_limited"} 0.0\n'
            'hlmm_exec_totals 5\nhlmm_open_orders 4.0\n')
    assert metric_values(text, "hlmm_exec_total") == {'{stat="actions"}': 12.0, '{stat="rate_limited"}': 0.0}
    assert metric_values(text, "hlmm_open_orders") == {"": 4.0}


def test_proc_readers_see_this_process():
    assert cpu_seconds(os.getpid()) > 0 and rss_mb(os.getpid()) > 10
    assert cpu_seconds(2 ** 22 + 12345) is None  # beyond pid_max: gone
    m = CpuMeter(os.getpid())
    m.start()
    # /proc counts CPU time in clock ticks (10 ms): work until it has counted some (a fixed loop of ~10 ms read
    # 0.0 on a loaded machine), within a few seconds
    c0, t0 = cpu_seconds(os.getpid()), time.monotonic()
    while cpu_seconds(os.getpid()) - c0 < 0.05 and time.monotonic() - t0 < 5:
        sum(i * i for i in range(100_000))
    m.stop()
    assert m.cpu_pct is not None and m.cpu_pct > 0 and m.rss_peak > 0


def test_plan_from_env_defaults_and_bad_values(monkeypatch):
    for k in [k for k in os.environ if k.startswith("HLMM_BENCH_SCALE")]:
        monkeypatch.delenv(k)
    p = plan_from_env()
    assert (p.accounts, p.coins, p.window_s) == (10, 3, 60) and 45 <= p.solo_s <= 120
    monkeypatch.setenv("HLMM_BENCH_SCALE_S", "600")
    assert plan_from_env().solo_s == 120
    for name, bad in (("HLMM_BENCH_SCALE_ACCOUNTS", "0"), ("HLMM_BENCH_SCALE_COINS", "9"), ("HLMM_BENCH_SCALE_S", "x")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            plan_from_env()
        monkeypatch.delenv(name)


def test_an_account_config_loads(tmp_path):
    """What the fleet writes for each account is a valid config: its coins, the shared budget, its label."""
    from engine.config import load_config

    key = tmp_path / "k"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"0x" + b"11" * 32)
    os.close(fd)
    path = _config(tmp_path / "a.toml", address="0x" + "ab" * 20, key_file=key, sim_url="http://127.0.0.1:1",
                   ledger="postgresql+psycopg://postgres@127.0.0.1:5432/x", coins=("HYPE", "BTC", "ETH"),
                   budget=100_000, metrics_port=9999, label="acct03")
    cfg = load_config(path, {})
    assert [(m.coin, m.spot) for m in cfg.markets] == [("HYPE", True), ("BTC", False), ("ETH", False)]
    assert cfg.limits.ip_weight_redis_url.startswith("redis://") and cfg.limits.ip_weight_per_min == 100_000
    assert cfg.deployment.label == "acct03" and cfg.strategy.levels == 1  # the demo's quoting


def _window(n: int, seconds: float, runs: list[dict]) -> Window:
    engines = {}
    for i in range(n):
        m = CpuMeter(pid=1000 + i, cpu_pct=5.0 + i, rss_last=110.0, rss_peak=115.0)
        engines[i] = m
    others = {k: CpuMeter(pid=1, cpu_pct=3.0) for k in ("sim", "prefect-server", "prefect-worker", "flow-runs")}
    return Window(seconds=seconds, engines=engines, writes={"orders": 100.0 * n, "fills": 20.0 * n}, commits=90.0 * n,
                  weight=300.0 * n, refused=0, peak_window_weight=600.0 * n, bucket_min=99_000.0, machine_pct=80.0,
                  pg_conns_peak=4 * n,
                  pg_max_connections=100,
                  others=others, metrics={i: {"actions": 50.0, "rate_limited": 0.0, "venue_rest_info": 30.0}
                                          for i in range(n)}, runs=runs, end=_at(seconds))


def test_every_declared_figure_comes_out_with_its_reference():
    runs = [{"expected": _at(1), "start": _at(4), "state": "COMPLETED", "flow": "drawdown_audit"}]
    o = Outcome(Plan(accounts=3, coins=1, window_s=30, solo_s=30, ip_budget=100_000), 8000.0,
                _window(1, 30, runs), _window(3, 30, runs * 3), deploy_s=7.0, deployments=27)
    out = results(o)
    assert [r.name for r in out] == list(NAMES)
    by = {r.name: r for r in out}
    assert by["scale_ledger_rows_per_s"].value == pytest.approx(12.0) and by["scale_ledger_rows_per_s"].ratio > 1
    assert by["scale_ledger_orders_rows_per_s"].reference_value == pytest.approx(10.0)  # 100 rows / 30 s × 3
    assert by["scale_flow_latency_p50_s"].value == 3.0 and by["scale_flow_latency_p50_s"].reference_value == 3.0
    assert by["scale_engine_cpu_pct"].value == 6.0 and by["scale_engine_cpu_pct"].reference_value == 5.0
    assert by["scale_flow_runs"].goal.startswith("drawdown_audit 3;")
    assert by["scale_ip_weight_per_min"].reference_value == 1200  # Hyperliquid's, whatever the local venue allows
