"""`hlmm chaos`: the engine quoting HYPE spot + perp on the local venue while the plan's faults hit it, a second
account sweeps its quotes and it is SIGKILLed and restarted; then the venue's records against the ledger.

Everything is real: `hlmm sim` and `hlmm run` are processes on loopback sockets, the taker is the official
SDK, faults are the venue's own (`PATCH /admin/faults`, aimed at the engine's account only), the kill switch
goes through `hlmm kill` / `hlmm resume`. Wall time is the run's time: a 60-minute run takes an hour.
"""
from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from engine.chaos.audit import Evidence, Limits, audit
from engine.chaos.parts import SPOT, EngineProcess, Taker, Venue, Watcher, engine_env, now_ms
from engine.chaos.plan import ChaosSettings, Step, make_plan
from engine.orchestrate import hlmm_argv

log = logging.getLogger(__name__)
KEY_ENV = "HLMM_CHAOS_KEY"
LIMITS = Limits(max_position_usd=2_500.0, max_open_orders=12, levels=2)
DEADMAN_S = 15.0


def _key_and_address() -> tuple[str, str]:
    from eth_account import Account

    acct = Account.create()
    key = acct.key.hex()
    return (key if key.startswith("0x") else "0x" + key), acct.address.lower()


def write_config(path: Path, url: str, address: str, ledger_url: str) -> None:
    path.write_text(f"""# written by hlmm chaos
[venue]
network = "local"
base_url = "{url}"
account_address = "{address}"
secret_env = "{KEY_ENV}"

[[markets]]
coin = "HYPE"
spot_pair = "HYPE/USDC"

[strategy]
base_spread = 0.0001
atr_multiplier = 0.0
levels = {LIMITS.levels}
order_size_usd = 150
min_requote_interval_ms = 250

[carry]
target_notional_usd = 1000

[risk]
max_position_usd = {LIMITS.max_position_usd}
max_open_orders = {LIMITS.max_open_orders}
max_order_notional_usd = 1000
max_drawdown_usd = 100000
max_drawdown_pct = 0.5
stale_data_ms = 5000

[ledger]
url = "{ledger_url}"
""")


class ChaosRun:
    def __init__(self, settings: ChaosSettings, workdir: Path, progress: Callable[[str], None] = print) -> None:
        self.s, self.dir, self.say = settings, workdir, progress
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key, self.user = _key_and_address()
        taker_key, self.taker_user = _key_and_address()
        self.taker_key = taker_key
        self.config = self.dir / "hlmm.toml"
        self.ledger_url = f"sqlite:///{(self.dir / 'ledger.db').resolve()}"
        self.engine_log = self.dir / "engine.log"
        self.engines: list[EngineProcess] = []
        self.kills: list[tuple[int, int | None]] = []
        self.plan = make_plan(settings)

    # ------------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        funding = ["--fund", f"{self.user}=100000", "--fund-spot", f"{self.user}=USDC:50000",
                   "--fund-spot", f"{self.user}=HYPE:35", "--fund", f"{self.taker_user}=1000000",
                   "--fund-spot", f"{self.taker_user}=USDC:1000000", "--fund-spot", f"{self.taker_user}=HYPE:30000"]
        venue = Venue(self.dir, self.s.seed, funding)
        taker = watcher = None
        try:
            write_config(self.config, venue.url, self.user, self.ledger_url)
            venue.patch_faults(target_users=[self.user], seed=self.s.seed)
            self._start_engine()
            watcher, taker = Watcher(venue, self.user), Taker(venue, self.taker_key, self.user, self.s.seed + 1)
            watcher.start()
            taker.start()
            t0 = time.monotonic()
            for step in self.plan:
                self._sleep_until(t0 + step.at_s)
                self._apply(step, venue, watcher)
            self._sleep_until(t0 + self.s.minutes * 60)
            taker.stop_flag.set()
            taker.join(10)
            code = self.engines[-1].stop()
            self.say(f"engine stopped (exit {code})")
            watcher.stop_flag.set()
            venue.patch_faults(http_5xx_p=0, http_429_p=0, ws_drop_every_s=0, latency_ms=0)
            report = audit(self._evidence(venue))
            report["taker_orders"] = taker.sent
            report["plan"] = [(round(st.at_s, 1), st.describe()) for st in self.plan]
            report["settings"] = asdict(self.s)
            (self.dir / "chaos.json").write_text(json.dumps(report, indent=1, default=str))
            return report
        finally:
            for e in self.engines:
                if e.running():
                    e.proc.kill()
            for t in (taker, watcher):
                if t is not None:
                    t.stop_flag.set()
            venue.stop()

    def _sleep_until(self, t: float) -> None:
        while True:
            left = t - time.monotonic()
            if left <= 0:
                return
            eng = self.engines[-1]
            if not eng.running() and eng.ended_ms is None:  # the engine died on its own: that is a finding
                raise RuntimeError(f"the engine exited by itself with {eng.proc.returncode}; see {self.engine_log}")
            eng.poll_started()
            time.sleep(min(left, 0.5))

    def _start_engine(self) -> None:
        e = EngineProcess(self.config, self.engine_log, DEADMAN_S, engine_env(KEY_ENV, self.key))
        self.engines.append(e)
        deadline = time.monotonic() + 90
        while not e.poll_started():
            if not e.running():
                raise RuntimeError(f"the engine exited with {e.proc.returncode} before it started; see {self.engine_log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engine did not start within 90 s; see {self.engine_log}")
            time.sleep(0.2)
        self.say(f"engine started (run {len(self.engines)})")

    def _apply(self, step: Step, venue: Venue, watcher: Watcher) -> None:
        self.say(f"t+{step.at_s:6.1f}s  {step.describe()}")
        if step.kind == "faults":
            venue.patch_faults(**dict(step.faults))
        elif step.kind == "sigkill":
            eng = self.engines[-1]
            eng.sigkill()
            t_kill = eng.ended_ms
            deadline = time.monotonic() + DEADMAN_S + 30  # flat is expected within the horizon + 10 s
            flat = None
            while time.monotonic() < deadline and flat is None:
                time.sleep(0.5)
                flat = watcher.flat_after(t_kill)
            self.kills.append((t_kill, flat))
            self.say(f"          flat after {(flat - t_kill) / 1000:.1f} s" if flat else "          never flat")
            self._start_engine()
        elif step.kind in ("kill_switch", "resume"):
            cmd = "kill" if step.kind == "kill_switch" else "resume"
            args = [cmd, "--config", str(self.config), "--why", f"hlmm chaos: {step.kind} drill"]
            r = subprocess.run(hlmm_argv(*args), capture_output=True, text=True, timeout=120,
                               env=engine_env(KEY_ENV, self.key))
            if r.returncode != 0:
                raise RuntimeError(f"hlmm {cmd} failed ({r.returncode}): {r.stderr[-2000:]}")

    # ------------------------------------------------------------------ evidence
    def _evidence(self, venue: Venue) -> Evidence:
        from sqlalchemy import create_engine, text

        fills, start = [], 0
        while True:  # the venue pages userFillsByTime by 2000
            page = venue.info({"type": "userFillsByTime", "user": self.user, "startTime": start})
            fills += page
            if len(page) < 2000:
                break
            start = max(f["time"] for f in page) + 1
        db = create_engine(self.ledger_url)
        with db.connect() as c:
            tids = [int(r[0]) for r in c.execute(text("select tid from fills where user = :u"), {"u": self.user})]
            orders = [(r[0], None if r[1] is None else int(r[1]), r[2]) for r in
                      c.execute(text("select cloid, oid, status from orders where user = :u"), {"u": self.user})]
        db.dispose()
        events = [e for e in venue.events() if e["user"].lower() == self.user]
        (self.dir / "venue-order-events.json").write_text(json.dumps(events))
        alive = [(e.started_ms, e.ended_ms or now_ms()) for e in self.engines if e.started_ms is not None]
        return Evidence(order_events=events, venue_fills=fills, ledger_fills=tids, ledger_orders=orders,
                        alive=alive, kills=self.kills, deadman_horizon_ms=int(DEADMAN_S * 1000), limits=LIMITS,
                        coins={"HYPE": "perp", SPOT: "spot"})
