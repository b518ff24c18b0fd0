"""Scale-out figures (issue 16): a simulated fleet of accounts × coins, each account a real `hlmm run` engine on
one loopback `hlmm sim`, one PostgreSQL ledger, one Redis IP-weight budget, a Prefect server and a process worker
running every account's deployments (engine/bench/fleet.py runs it).

Each figure's reference is measured in the same run:

* per engine (CPU, RSS, ledger rows, IP weight, actions): account 0's engine alone before the others start;
  the fleet's totals are compared with that engine × the number of accounts (ratio < 1: the fleet costs more
  than N lone engines would);
* `scale_ledger_rows_per_s`: the insert rate one connection gets from this PostgreSQL (5-row transactions);
  the ratio is how many times the fleet's write rate it could take;
* flow-run latency (scheduled → running): account 0's flows alone, in the solo phase;
* IP weight: the budget (`HLMM_BENCH_SCALE_IP_BUDGET`, the venue's limit and the shared bucket's capacity);
* machine CPU: all cores (100 % per core).

Environment: HLMM_BENCH_SCALE_S (fleet window, default 60 s; the recorded figure uses 600),
HLMM_BENCH_SCALE_ACCOUNTS (10), HLMM_BENCH_SCALE_COINS (3: HYPE spot + perp, BTC perp, ETH perp),
HLMM_BENCH_SCALE_SOLO_S (account 0 alone; default window/5 within 45..120 s), HLMM_BENCH_SCALE_IP_BUDGET (1200,
Hyperliquid's per-IP weight per minute).
"""
from __future__ import annotations

import os
import statistics

from engine.bench import Result, figure
from engine.bench.fleet import COINS, Plan, run
from engine.bench.fleet_prefect import latencies
from engine.bench.fleet_probe import percentile

# The venue's limit and the shared bucket's capacity by default: large enough never to bind, so the figures are
# the fleet's demand (one demo engine on one coin asks about half of Hyperliquid's 1,200 a minute, so ten
# engines at 1,200 would measure a throttled fleet); the weight figures compare that demand with 1,200.
# HLMM_BENCH_SCALE_IP_BUDGET=1200 measures the fleet held to the real per-IP budget instead.
DEMAND_BUDGET = 100_000
REAL_IP_BUDGET = 1200
TABLES = ("orders", "fills", "equity_marks", "markouts", "funding_payments", "params", "controls", "alerts")
NAMES = ("scale_ledger_rows_per_s", "scale_ledger_rows_per_s_per_engine", "scale_ledger_commits_per_s",
         "scale_ledger_connections",
         *(f"scale_ledger_{t}_rows_per_s" for t in TABLES),
         "scale_flow_latency_p50_s", "scale_flow_latency_p95_s", "scale_flow_latency_max_s", "scale_flow_runs",
         "scale_engine_cpu_pct", "scale_engine_cpu_pct_max", "scale_engine_rss_mb", "scale_engine_rss_mb_max",
         "scale_machine_cpu_pct", "scale_sim_cpu_pct", "scale_prefect_server_cpu_pct", "scale_prefect_worker_cpu_pct",
         "scale_flow_runs_cpu_pct",
         "scale_ip_weight_per_min", "scale_ip_weight_peak_60s", "scale_ip_weight_per_min_per_engine",
         "scale_ip_bucket_min_level", "scale_rate_limited_429", "scale_engine_throttled", "scale_actions_per_min",
         "scale_info_reads_per_min")


def _env_number(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number in {lo:g}..{hi:g}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be a number in {lo:g}..{hi:g}, got {raw!r}")
    return value


def plan_from_env() -> Plan:
    window = _env_number("HLMM_BENCH_SCALE_S", 60, 10, 7200)
    return Plan(accounts=int(_env_number("HLMM_BENCH_SCALE_ACCOUNTS", 10, 1, 200)),
                coins=int(_env_number("HLMM_BENCH_SCALE_COINS", 3, 1, len(COINS))), window_s=window,
                solo_s=_env_number("HLMM_BENCH_SCALE_SOLO_S", min(120, max(45, window / 5)), 10, 3600),
                ip_budget=int(_env_number("HLMM_BENCH_SCALE_IP_BUDGET", DEMAND_BUDGET, 1, 1_000_000)))


def results(o) -> list[Result]:
    """The figures of one fleet run (`fleet.Outcome`)."""
    p, s, f = o.plan, o.solo, o.fleet
    n, per_min = p.accounts, 60.0 / f.seconds
    shape = f"{n} accounts × {p.coins} coins, {f.seconds:.0f} s"
    solo_rate = {t: v / s.seconds for t, v in s.writes.items()}
    fleet_rate = {t: v / f.seconds for t, v in f.writes.items()}
    rows, rows_solo = sum(fleet_rate.values()), sum(solo_rate.values())
    out = [
        Result("scale_ledger_rows_per_s", rows, "rows/s",
               "PostgreSQL insert rate on this machine, one connection, 5-row transactions", o.pg_insert_rows_per_s,
               f"rows inserted + updated (pg_stat_user_tables), {shape}"),
        Result("scale_ledger_rows_per_s_per_engine", rows / n, "rows/s", "account 0's engine alone", rows_solo),
        Result("scale_ledger_commits_per_s", f.commits / f.seconds, "commits/s", f"account 0 alone × {n}",
               n * s.commits / s.seconds),
    ]
    out.append(Result("scale_ledger_connections", float(f.pg_conns_peak), "connections",
                      "PostgreSQL's max_connections", float(f.pg_max_connections),
                      f"most connections to the ledger database at one sample (engines and flow runs); account 0 "
                      f"alone: {s.pg_conns_peak}"))
    out += [Result(f"scale_ledger_{t}_rows_per_s", fleet_rate.get(t, 0.0), "rows/s", f"account 0 alone × {n}",
                   n * solo_rate.get(t, 0.0)) for t in TABLES]

    lat, pending = latencies(f.runs, f.end)
    ref, ref_pending = latencies(s.runs, s.end)
    note = (f"{len(lat)} runs due in the window ({pending} not running by its end, counted with their wait so "
            f"far); schedules of prefect.yaml, interval ones anchored after the deploy; 1 process worker")
    ref_what = f"account 0's flows alone ({len(ref)} runs, {ref_pending} not running by the solo phase's end)"
    for name, q in (("p50", 0.5), ("p95", 0.95), ("max", 1.0)):
        out.append(Result(f"scale_flow_latency_{name}_s", percentile(lat, q) if lat else float("nan"), "s",
                          ref_what, percentile(ref, q) if ref else None, note if name == "p50" else None))
    by_flow: dict[str, int] = {}
    for r in f.runs:
        if r["expected"] < f.end:
            by_flow[r["flow"]] = by_flow.get(r["flow"], 0) + 1
    out.append(Result("scale_flow_runs", float(len(lat)), "runs", None, None,
                      f"{', '.join(f'{k} {v}' for k, v in sorted(by_flow.items()))}; "
                      f"{sum(1 for r in f.runs if r['state'] == 'COMPLETED')} completed, "
                      f"{sum(1 for r in f.runs if r['state'] in ('FAILED', 'CRASHED'))} failed/crashed; "
                      f"{o.deployments} deployments registered in {o.deploy_s:.0f} s"))

    cpu = [m.cpu_pct for m in f.engines.values() if m.cpu_pct is not None]
    rss = [m.rss_last for m in f.engines.values() if m.rss_last is not None]
    solo0 = s.engines[0]
    out += [
        Result("scale_engine_cpu_pct", statistics.fmean(cpu), "% of a core", "account 0's engine alone",
               solo0.cpu_pct, f"mean over {len(cpu)} engines; {os.cpu_count()} cores on this machine"),
        Result("scale_engine_cpu_pct_max", max(cpu), "% of a core", "account 0's engine alone", solo0.cpu_pct),
        Result("scale_engine_rss_mb", statistics.fmean(rss), "MB", "account 0's engine alone", solo0.rss_last,
               "resident set at the end of the window, the engine process only"),
        Result("scale_engine_rss_mb_max", max(m.rss_peak for m in f.engines.values()), "MB",
               "account 0's engine alone (peak)", solo0.rss_peak),
        Result("scale_machine_cpu_pct", f.machine_pct, "% of a core", "the machine's capacity",
               100.0 * (os.cpu_count() or 1), f"all processes, the other jobs on the machine included; solo phase "
               f"{s.machine_pct:.0f} %"),
    ]
    for key, name in (("sim", "scale_sim_cpu_pct"), ("prefect-server", "scale_prefect_server_cpu_pct"),
                      ("prefect-worker", "scale_prefect_worker_cpu_pct"), ("flow-runs", "scale_flow_runs_cpu_pct")):
        m, m0 = f.others.get(key), s.others.get(key)
        out.append(Result(name, m.cpu_pct if m and m.cpu_pct is not None else float("nan"), "% of a core",
                          "solo phase (account 0 only)", m0.cpu_pct if m0 else None,
                          {"prefect-worker": "the worker's own process; its flow runs are the next figure",
                           "flow-runs": "CPU of the flow-run processes the worker started and reaped in the window "
                                        "(one Python process per run), averaged over the window"}.get(key)))

    weight = f.weight * per_min
    solo_weight = s.weight * 60.0 / s.seconds
    throttled = sum(m.get("rate_limited", 0) for m in f.metrics.values())
    actions = sum(m.get("actions", 0) for m in f.metrics.values()) * per_min
    out += [
        Result("scale_ip_weight_per_min", weight, "weight/min", "Hyperliquid's per-IP budget", float(REAL_IP_BUDGET),
               f"charged by the venue to this host's IP (every engine and flow run); venue limit and shared "
               f"bucket {p.ip_budget:,}/min; ratio = budget ÷ use"),
        Result("scale_ip_weight_peak_60s", f.peak_window_weight, "weight", "Hyperliquid's per-IP budget",
               float(REAL_IP_BUDGET), "the fullest rolling 60 s window, sampled every 2 s"),
        Result("scale_ip_weight_per_min_per_engine", weight / n, "weight/min", "account 0's engine alone",
               solo_weight),
        Result("scale_ip_bucket_min_level", f.bucket_min if f.bucket_min is not None else float("nan"), "weight",
               "the shared bucket's capacity", float(p.ip_budget),
               "lowest level of the Redis bucket all engines and flows take from (headroom left)"),
        Result("scale_rate_limited_429", float(f.refused), "count", "account 0 alone", float(s.refused),
               "requests the venue refused with 429 in the window; goal 0"),
        Result("scale_engine_throttled", float(throttled), "count", None, None,
               "actions the engines' executors counted as rate-limited (IP or address budget)"),
        Result("scale_actions_per_min", actions, "actions/min", f"account 0 alone × {n}",
               n * s.metrics[0].get("actions", 0) * 60.0 / s.seconds,
               "exchange actions sent by all engines"),
        Result("scale_info_reads_per_min", sum(m.get("venue_rest_info", 0) for m in f.metrics.values()) * per_min,
               "requests/min", f"account 0 alone × {n}", n * s.metrics[0].get("venue_rest_info", 0) * 60.0 / s.seconds,
               "REST /info requests sent by all engines (account, orders, fills, candles, budget reads)"),
    ]
    return out


@figure("scale_out", names=NAMES)
def bench_scale_out() -> list[Result]:
    return results(run(plan_from_env()))
