"""The scale-out bench's fleet: N accounts, each a real `hlmm run` engine on the same coins against one loopback
`hlmm sim` (one host, so one IP and one weight budget), all writing one PostgreSQL ledger and taking from one
Redis IP-weight budget, with a Prefect server and a process worker running every account's deployments.

Phases, each measured on its own so each figure has a reference from the same run:

1. before anything trades: PostgreSQL's insert rate on this machine (`pg_insert_rate`);
2. `solo`: account 0's engine alone, with only account 0's deployments registered → CPU, RSS, ledger writes,
   IP weight of one engine, and the latency of its flow runs;
3. the other engines start, every account's deployments are registered, then `window`: the whole fleet →
   the same figures per engine and in total, plus the flow runs due in the window.

Every child runs under the supervisor's guard (engine/orchestrate.py), so none outlives the bench even if the
bench is killed; `run()` stops them all in a `finally`, engines first (they cancel their quotes).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from engine.bench import fleet_prefect
from engine.bench.fleet_probe import (CpuMeter, children_of, machine_busy, metric_values, pg_connections,
                                      pg_insert_rate, pg_writes, scratch_database)
from engine.orchestrate import OrchestrationError, Supervisor, free_port, hlmm_argv, http_ok
from engine.paper import DEMO_QUOTING, DEMO_TAKER_INTENSITY, PAPER_HYPE_SPOT, PAPER_USDC_PERP, PAPER_USDC_SPOT

# the coins, in the order a fleet takes them: HYPE quotes both legs (spot @1 and perp), the others their perp
# (the sim lists spot pairs for HYPE and PURR only, and PURR has no perp)
COINS = ("HYPE", "BTC", "ETH", "SOL")
REDIS_URL = os.environ.get("HLMM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")  # not the tests' db 0
SAMPLE_S = 2.0
SOLO_LEAD_S = 30.0  # account 0's interval runs this long after its deploy starts (a deploy takes ~10-20 s)
OTHERS = ("sim", "prefect-server", "prefect-worker")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Plan:
    accounts: int
    coins: int
    window_s: float          # the fleet's measured window
    solo_s: float            # account 0 alone, the reference
    ip_budget: int           # weight per minute: the venue's limit and the engines' shared bucket
    seed: int = 16


@dataclasses.dataclass
class Window:
    """What one phase measured."""
    seconds: float
    engines: dict[int, CpuMeter]                 # account index → its engine's CPU/RSS
    writes: dict[str, float]                     # table → rows inserted + updated
    commits: float
    weight: float                                # IP weight the venue charged
    refused: int                                 # 429s the venue answered
    peak_window_weight: float                    # most weight seen in one rolling 60 s window
    bucket_min: float | None                     # lowest level of the shared Redis bucket
    machine_pct: float                           # all cores busy, % of one core
    pg_conns_peak: int = 0                       # most connections to the ledger database at one sample
    pg_max_connections: int = 0
    others: dict[str, CpuMeter] = dataclasses.field(default_factory=dict)
    metrics: dict[int, dict[str, float]] = dataclasses.field(default_factory=dict)
    runs: list[dict] = dataclasses.field(default_factory=list)   # flow runs due in the window
    end: dt.datetime = dataclasses.field(default_factory=lambda: _now())


@dataclasses.dataclass
class Outcome:
    plan: Plan
    pg_insert_rows_per_s: float
    solo: Window
    fleet: Window
    deploy_s: float
    deployments: int


def _config(path: Path, *, address: str, key_file: Path, sim_url: str, ledger: str, coins: tuple[str, ...],
            budget: int, metrics_port: int, label: str) -> Path:
    legs = {"HYPE": 'spot_pair = "HYPE/USDC"\n'}  # the others quote their perp alone
    markets = "".join(f'\n[[markets]]\ncoin = "{c}"\n' + legs.get(c, "spot = false\n") for c in coins)
    path.write_text(
        "# written by the scale-out bench (engine/bench/fleet.py)\n"
        f'[venue]\nnetwork = "local"\nbase_url = "{sim_url}"\naccount_address = "{address}"\n'
        f'secret_file = "{key_file}"\n{markets}\n{DEMO_QUOTING}\n'
        f'[limits]\nip_weight_per_min = {budget}\nip_weight_redis_url = "{REDIS_URL}"\n'
        f'\n[monitoring]\nmetrics_bind = "127.0.0.1:{metrics_port}"\n'
        f'\n[ledger]\nurl = "{ledger}"\n'
        f'\n[deployment]\nlabel = "{label}"\nwork_pool = "{fleet_prefect.POOL}"\n')
    return path


def _accounts(n: int, workdir: Path) -> list[tuple[str, Path]]:
    """n fresh paper accounts: (address, key file written 0600 from the start)."""
    from eth_account import Account

    out = []
    for i in range(n):
        acct = Account.create()
        key_file = workdir / f"acct{i:02d}.key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("0x" + acct.key.hex().removeprefix("0x"))
        out.append((acct.address.lower(), key_file))
    return out


class _Fleet:
    def __init__(self, plan: Plan, workdir: Path, sup: Supervisor, ledger: str) -> None:
        self.plan, self.workdir, self.sup, self.ledger = plan, workdir, sup, ledger
        self.accounts = _accounts(plan.accounts, workdir)
        self.coins = COINS[:plan.coins]
        self.configs: list[Path] = []
        self.metrics: list[str] = []
        self.engine_pid: dict[int, int] = {}
        self.http = httpx.Client(timeout=10)
        self.sim_url = ""
        self.penv: dict[str, str] = {}
        self.deployments = 0

    def start_sim(self) -> None:
        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        argv = hlmm_argv("sim", "--port", str(port), "--seed", str(self.plan.seed), "--taker-intensity",
                         str(DEMO_TAKER_INTENSITY), "--ip-weight-per-min", str(self.plan.ip_budget))
        for address, _ in self.accounts:
            argv += ["--fund", f"{address}={PAPER_USDC_PERP}", "--fund-spot", f"{address}=USDC:{PAPER_USDC_SPOT}",
                     "--fund-spot", f"{address}=HYPE:{PAPER_HYPE_SPOT}"]
        self.sup.start("sim", argv, ready=http_ok(f"{self.sim_url}/info", method="POST", json={"type": "meta"}),
                       last=True, linger_s=5.0)
        for i, (address, key_file) in enumerate(self.accounts):
            mport = free_port()
            self.metrics.append(f"http://127.0.0.1:{mport}/metrics")
            self.configs.append(_config(self.workdir / f"acct{i:02d}.toml", address=address, key_file=key_file,
                                        sim_url=self.sim_url, ledger=self.ledger, coins=self.coins,
                                        budget=self.plan.ip_budget, metrics_port=mport, label=f"acct{i:02d}"))

    def start_engines(self, which: range) -> None:
        for i in which:
            self.sup.start(f"engine-{i:02d}", hlmm_argv("run", "--config", str(self.configs[i])))
        deadline = time.monotonic() + 60 + 10 * len(which)
        for i in which:  # quoting: its metrics answer and the venue holds its orders
            while not (http_ok(self.metrics[i])() and self._open_orders(i)):
                if time.monotonic() > deadline:
                    raise OrchestrationError(f"engine {i} was not quoting in time; see {self.sup.log_dir}")
                time.sleep(0.5)
            guard = next(c for c in self.sup.children if c.name == f"engine-{i:02d}").process.pid
            self.engine_pid[i] = children_of(guard)[0]

    def _open_orders(self, i: int) -> int:
        r = self.http.post(f"{self.sim_url}/info", json={"type": "openOrders", "user": self.accounts[i][0]})
        return len(r.json()) if r.status_code == 200 else 0

    def _usage(self) -> dict:
        u = self.http.get(f"{self.sim_url}/admin/limits").json()["usage"].get("127.0.0.1", {})
        return {"window": u.get("window", 0), "spent": u.get("spent", 0), "refused": u.get("refused_429", 0)}

    def _bucket_level(self) -> float | None:
        import redis

        from engine.venue.shared_bucket import host_key

        try:
            level = redis.Redis.from_url(REDIS_URL, socket_timeout=1).hget(host_key(), "level")
        except (redis.RedisError, OSError):
            return None
        return None if level is None else float(level)

    def _scrape(self, i: int) -> dict[str, float]:
        try:
            text = self.http.get(self.metrics[i]).text
        except httpx.HTTPError:
            return {}
        exec_ = metric_values(text, "hlmm_exec_total")
        out = {k.split('"')[1]: v for k, v in exec_.items() if '"' in k}
        venue = metric_values(text, "hlmm_venue_requests_total")
        out.update({f"venue_{k.split(chr(34))[1]}": v for k, v in venue.items() if '"' in k})
        return out

    def measure(self, seconds: float, which: list[int], others: dict[str, int]) -> Window:
        """Run for `seconds`, sampling RSS, the venue's weight window and the Redis bucket every SAMPLE_S."""
        meters = {i: CpuMeter(self.engine_pid[i]) for i in which}
        extra = {name: CpuMeter(pid) for name, pid in others.items()}
        if "prefect-worker" in others:  # the flow-run processes it started and reaped in the window
            extra["flow-runs"] = CpuMeter(others["prefect-worker"], children=True)
        m0 = {i: self._scrape(i) for i in which}
        w0, x0 = pg_writes(self.ledger)
        u0, (busy0, total0) = self._usage(), machine_busy()
        for m in (*meters.values(), *extra.values()):
            m.start()
        t0 = time.monotonic()
        peak, low, conns, max_conns = 0.0, None, 0, 0
        while time.monotonic() - t0 < seconds:
            time.sleep(min(SAMPLE_S, max(0.0, seconds - (time.monotonic() - t0))))
            for m in (*meters.values(), *extra.values()):
                m.sample()
            peak = max(peak, self._usage()["window"])
            n_conns, max_conns = pg_connections(self.ledger)
            conns = max(conns, n_conns)
            level = self._bucket_level()
            if level is not None:
                low = level if low is None else min(low, level)
            dead = [c.name for c in self.sup.children if not c.alive()]
            if dead:
                raise OrchestrationError(f"{', '.join(dead)} exited during the run; logs in {self.sup.log_dir}")
        for m in (*meters.values(), *extra.values()):
            m.stop()
        elapsed = time.monotonic() - t0
        busy1, total1 = machine_busy()
        u1 = self._usage()
        w1, x1 = pg_writes(self.ledger)
        m1 = {i: self._scrape(i) for i in which}
        cores = os.cpu_count() or 1
        return Window(seconds=elapsed, engines=meters,
                      writes={t: w1.get(t, 0) - w0.get(t, 0) for t in w1}, commits=x1 - x0,
                      weight=u1["spent"] - u0["spent"], refused=u1["refused"] - u0["refused"],
                      peak_window_weight=peak, bucket_min=low, pg_conns_peak=conns, pg_max_connections=max_conns,
                      machine_pct=100 * cores * (busy1 - busy0) / max(1e-9, total1 - total0),
                      others=extra, metrics={i: {k: m1[i].get(k, 0) - m0[i].get(k, 0) for k in m1[i]} for i in which})

    def deploy(self, which: list[int], lead_s: float) -> float:
        """Register the deployments of accounts `which`, their interval schedules anchored `lead_s` from now."""
        out = self.workdir / "deploy" / f"fleet-{len(which)}.yaml"
        out.parent.mkdir(exist_ok=True)
        took, self.deployments = fleet_prefect.deploy([self.configs[i] for i in which], out, self.penv,
                                                      _now() + dt.timedelta(seconds=lead_s))
        return took

    def pid_of(self, name: str) -> int:
        guard = next(c for c in self.sup.children if c.name == name).process.pid
        kids = children_of(guard)
        return kids[0] if kids else guard


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # stderr: `hlmm bench --json` keeps stdout for the figures


def run(plan: Plan, log=_log) -> Outcome:
    """Run the fleet per `plan` and return what it measured; every process it started is stopped on return."""
    import redis

    from engine.ledger.db import upgrade
    from engine.venue.shared_bucket import host_key

    with tempfile.TemporaryDirectory(prefix="hlmm-scale-") as tmp, \
            scratch_database("hlmm_bench_ledger") as ledger, scratch_database("hlmm_bench_prefect") as prefect_db:
        work = Path(tmp)
        sup = Supervisor(work / "logs", echo=log)
        rkey = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        rkey.delete(host_key())  # a full bucket to start from, whatever an earlier run left
        fleet = _Fleet(plan, work, sup, ledger)
        try:
            upgrade(ledger)
            pg_rate = pg_insert_rate(ledger)
            log(f"scale_out: PostgreSQL probe {pg_rate:,.0f} rows/s; starting the venue, Prefect and account 0")
            fleet.start_sim()
            api, fleet.penv = fleet_prefect.start_server(sup, work / "prefect", prefect_db)
            fleet_prefect.start_worker(sup, work / "prefect", fleet.penv)
            fleet.start_engines(range(1))
            # account 0's flows alone first: their interval runs fall early in the solo window (the reference)
            solo_deploy_s = fleet.deploy([0], lead_s=SOLO_LEAD_S)
            solo_start = _now()
            log(f"scale_out: account 0 alone for {plan.solo_s:.0f} s (its flows deployed in {solo_deploy_s:.0f} s)")
            solo = fleet.measure(plan.solo_s, [0], {n: fleet.pid_of(n) for n in OTHERS})
            solo.runs = fleet_prefect.flow_runs(api, solo_start, solo.end)
            log(f"scale_out: starting accounts 1..{plan.accounts - 1}, deploying every account's flows")
            fleet.start_engines(range(1, plan.accounts))
            # the whole fleet's deploy takes about accounts × account 0's; its interval runs fall just after it
            deploy_s = fleet.deploy(list(range(plan.accounts)), lead_s=1.5 * solo_deploy_s * plan.accounts + 15)
            start = _now()
            log(f"scale_out: deployed in {deploy_s:.0f} s; the fleet for {plan.window_s:.0f} s")
            window = fleet.measure(plan.window_s, list(range(plan.accounts)), {n: fleet.pid_of(n) for n in OTHERS})
            window.runs = fleet_prefect.flow_runs(api, start, window.end)
            return Outcome(plan, pg_rate, solo, window, deploy_s, fleet.deployments)
        finally:
            sup.stop_all(grace_s=20.0)
            keep = os.environ.get("HLMM_BENCH_SCALE_LOGS")
            if keep:  # the children's logs outlive the temporary directory when asked
                import shutil

                shutil.copytree(work / "logs", Path(keep), dirs_exist_ok=True)
            fleet.http.close()
            rkey.delete(host_key())
            rkey.close()
