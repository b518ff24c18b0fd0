"""Two accounts on two hosts: one Prefect server and one ledger on PostgreSQL, a process worker per host, an
engine per account, the deployments rendered per account (`hlmm deployments render --code package`) and
registered with `prefect deploy --all`.

The hosts are network namespaces (tests/flows/netns.py) that reach the root namespace's PostgreSQL, Prefect
server and `hlmm sim` only across their veth link. Account A (label desk-a) runs on host 1: its engine, and the
worker of pool hlmm-host1 holding only A's key. B likewise on host 2. Checked: A's flow run goes to host 1's
pool and worker and B's to host 2's; the workers run from a directory of their own (the code comes from the
installed package, not a checkout); `hlmm kill` for A and SIGKILL of A's engine leave B quoting, B's controls
clear, and B's flows running.
"""
from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.fixtures.sim import account_from_label, free_port, start_sim
from tests.flows.netns import hosts, relay, stop
from tests.sim.helpers import wait_for

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _write_config(path: pathlib.Path, *, label: str, pool: str, address: str, key_env: str, sim_url: str,
                  ledger_url: str) -> pathlib.Path:
    path.write_text(f"""
[venue]
network = "local"
base_url = "{sim_url}"
account_address = "{address}"
secret_env = "{key_env}"

[[markets]]
coin = "HYPE"
spot_pair = "HYPE/USDC"

[strategy]
min_requote_interval_ms = 100

[risk]
max_position_usd = 100000
max_order_notional_usd = 50000
max_drawdown_usd = 100000
stale_data_ms = 3000

[monitoring]
metrics_bind = ""

[ledger]
url = "{ledger_url}"

[deployment]
label = "{label}"
work_pool = "{pool}"
""")
    return path


def _open_orders(sim, address: str) -> int:
    return len(sim.info({"type": "openOrders", "user": address}))


async def _run_to_end(name: str, timeout: float):
    """Start a run of deployment `name` (this process's Prefect settings) and wait until it ends."""
    from prefect.client.orchestration import get_client

    async with get_client() as c:
        dep = await c.read_deployment_by_name(name)
        run = await c.create_flow_run_from_deployment(dep.id)
        deadline = time.monotonic() + timeout
        while not (run.state and run.state.is_final()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: run {run.id} still {run.state.name if run.state else None}")
            await asyncio.sleep(0.5)
            run = await c.read_flow_run(run.id)
        return run


async def _workers(pool: str):
    from prefect.client.orchestration import get_client

    async with get_client() as c:
        return await c.read_workers_for_work_pool(pool)


async def _pools_ready(names: list[str]) -> bool:
    """Each pool exists and has its worker's heartbeat."""
    from prefect.client.orchestration import get_client

    async with get_client() as c:
        from prefect.exceptions import PrefectHTTPStatusError

        for name in names:
            try:
                if not await c.read_workers_for_work_pool(name):
                    return False
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code != 404:
                    raise
                return False  # no such pool yet: its worker is still starting (it creates the pool)
        return True


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_accounts_on_two_hosts(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from sqlalchemy.engine import make_url

    from engine.ledger import repo
    from engine.ledger.db import make_engine, session_scope, upgrade
    from tests.fixtures.db import fresh_ledger_url
    from tests.fixtures.prefect import start_prefect_server, stop_server

    t0 = time.monotonic()
    accounts = {"a": account_from_label("hosts-a"), "b": account_from_label("hosts-b")}
    logs = tmp_path / "logs"
    logs.mkdir()

    def log(name: str):
        return open(logs / f"{name}.log", "wb")

    with hosts(2) as (h1, h2), fresh_ledger_url("postgres", tmp_path) as ledger_pg, \
            fresh_ledger_url("postgres", tmp_path) as prefect_pg:
        sim = start_sim(accounts=list(accounts.values()), log_dir=logs)
        server_proc = None
        try:
            upgrade(ledger_pg)
            sim_port = int(sim.url.rsplit(":", 1)[1])
            pg_port = free_port()
            pg = make_url(ledger_pg)
            configs, keys = {}, {}
            for acc, host in (("a", h1), ("b", h2)):
                relay(host, sim_port, sim_port, log(f"relay-sim-{acc}"))
                relay(host, pg_port, pg.port or 5432, log(f"relay-pg-{acc}"))
                address, key = accounts[acc]
                keys[acc] = (f"HLMM_KEY_{acc.upper()}", key)
                configs[acc] = _write_config(
                    tmp_path / f"desk-{acc}.toml", label=f"desk-{acc}", pool=f"hlmm-{host.hostname}",
                    address=address, key_env=keys[acc][0], sim_url=f"http://{host.gateway}:{sim_port}",
                    ledger_url=pg.set(host=host.gateway, port=pg_port).render_as_string(hide_password=False))
            for host in (h1, h2):
                wait_for(lambda: _port_open(host.gateway, pg_port) and _port_open(host.gateway, sim_port), 10,
                         what=f"the relays on {host.gateway}")

            # an engine per account, each on its host; nothing from the test's environment but the key
            base_env = {k: v for k, v in os.environ.items() if not k.startswith(("HLMM_", "PREFECT_"))}
            engines = {}
            for acc, host in (("a", h1), ("b", h2)):
                engines[acc] = host.popen([str(BIN / "hlmm"), "run", "--config", str(configs[acc])],
                                          env={**base_env, keys[acc][0]: keys[acc][1]}, cwd=str(tmp_path),
                                          stdout=log(f"engine-{acc}"), stderr=subprocess.STDOUT)

            # the Prefect server on PostgreSQL, relayed onto both links
            home = tmp_path / "prefect-server"
            home.mkdir()
            server_proc, server = start_prefect_server(home, db_url=prefect_pg.replace(
                "postgresql+psycopg://", "postgresql+asyncpg://"), timeout_s=90)
            api_port = int(server.api_url.rsplit(":", 1)[1].split("/")[0])
            for acc, host in (("a", h1), ("b", h2)):
                relay(host, api_port, api_port, log(f"relay-api-{acc}"))

            # a process worker per host, from a directory of its own (no checkout there), with its account's key
            for acc, host in (("a", h1), ("b", h2)):
                wdir = tmp_path / host.hostname
                wdir.mkdir()
                env = {**base_env, **QUIET, "PREFECT_HOME": str(wdir / ".prefect"),
                       "PREFECT_API_URL": f"http://{host.gateway}:{api_port}/api", keys[acc][0]: keys[acc][1],
                       "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
                host.popen([str(BIN / "prefect"), "worker", "start", "--pool", f"hlmm-{host.hostname}", "--type",
                            "process", "--name", f"{host.hostname}-worker"], env=env, cwd=str(wdir),
                           stdout=log(f"worker-{host.hostname}"), stderr=subprocess.STDOUT)

            # render per account and deploy, from a directory that is not the checkout either
            fleet = tmp_path / "deploy" / "prefect.yaml"
            fleet.parent.mkdir()
            r = subprocess.run([str(BIN / "hlmm"), "deployments", "render", "--config", str(configs["a"]),
                                "--config", str(configs["b"]), "--code", "package", "--out", str(fleet)],
                               capture_output=True, text=True, env=base_env, timeout=60)
            assert r.returncode == 0, r.stderr
            server_env = {**server.env, **QUIET}
            server_env.pop("PYTHONPATH", None)
            # the workers create their pools as they start; deploy once both exist
            pools = [f"hlmm-{h.hostname}" for h in (h1, h2)]
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                wait_for(lambda: asyncio.run(_pools_ready(pools)), 60, interval=1,
                         what="both work pools and their workers")
            r = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file",
                                str(fleet)], cwd=str(fleet.parent), env=server_env, capture_output=True, text=True,
                               timeout=180)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

            # both engines quote
            addr = {acc: accounts[acc][0] for acc in accounts}
            wait_for(lambda: _open_orders(sim, addr["a"]) and _open_orders(sim, addr["b"]), 60, interval=0.3,
                     what="both engines' quotes")

            # A's kill switch, then A's engine SIGKILLed: B never notices
            r = subprocess.run([str(BIN / "hlmm"), "kill", "--config", str(configs["a"]), "--why", "hosts test"],
                               capture_output=True, text=True, env=base_env, timeout=60)
            assert r.returncode == 0 and "ENGAGED" in r.stdout, r.stdout + r.stderr
            wait_for(lambda: _open_orders(sim, addr["a"]) == 0, 20, interval=0.3,
                     what="A's quotes pulled by its kill switch")
            engines["a"].send_signal(signal.SIGKILL)
            engines["a"].wait(timeout=10)

            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                async def both():
                    return await asyncio.gather(*(_run_to_end(f"drawdown_audit/desk-{acc}-every-5m", 90)
                                                  for acc in ("a", "b")))

                runs = dict(zip(("a", "b"), asyncio.run(both())))
                workers = {p: {w.name for w in asyncio.run(_workers(p))} for p in pools}
            assert workers == {"hlmm-host1": {"host1-worker"}, "hlmm-host2": {"host2-worker"}}
            for acc, host in (("a", h1), ("b", h2)):
                run = runs[acc]
                wlog = (logs / f"worker-{host.hostname}.log").read_text()
                assert run.state.is_completed(), f"{acc}: {run.state}\n{wlog[-3000:]}"
                assert run.work_pool_name == f"hlmm-{host.hostname}"
                assert run.parameters["config_path"] == str(configs[acc].resolve())
                other = h2 if host is h1 else h1
                assert str(run.id) in wlog  # this host's worker ran it ...
                assert str(run.id) not in (logs / f"worker-{other.hostname}.log").read_text()  # ... not the other

            # B quotes on, its engine alive, its controls clear; A's switch is A's alone
            assert engines["b"].poll() is None, (logs / "engine-b.log").read_text()[-3000:]
            time.sleep(2)
            assert _open_orders(sim, addr["b"]) > 0 and _open_orders(sim, addr["a"]) == 0
            eng = make_engine(ledger_pg)
            try:
                with session_scope(eng) as s:
                    stops = ("kill_switch", "pause")
                    assert [c for c in repo.active_controls(s, account=addr["b"].lower()) if c.kind in stops] == []
                    assert "kill_switch" in {c.kind for c in repo.active_controls(s, account=addr["a"].lower())}
            finally:
                eng.dispose()
            print(f"two hosts: {time.monotonic() - t0:.1f} s")
        finally:
            for proc in (*h1.procs, *h2.procs):
                if proc.args[-3:-1] == ["run", "--config"]:
                    stop(proc, signal.SIGINT, timeout=30)  # engines first: they cancel their quotes
            if server_proc is not None:
                stop_server(server_proc)
            sim.stop()
