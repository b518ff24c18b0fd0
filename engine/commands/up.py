"""`hlmm up`: the main job on embedded defaults — local venue (synthetic market, funded paper account),
the engine in paper mode against it, a local Prefect server (SQLite, telemetry off) and every flow
served on accelerated demo schedules. Ctrl-C stops everything cleanly."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("up", help="Run the main job on embedded defaults: local venue, paper engine, Prefect server and flows.")
    def up_command(
        workdir: Path = typer.Option(Path("var/up"), help="Where the paper key, ledger, venue state and logs live."),
        sim_port: int = typer.Option(8765, min=1, max=65535, help="Port of the local venue."),
        prefect_port: int = typer.Option(4200, min=1, max=65535, help="Port of the Prefect server / UI."),
        metrics_port: int = typer.Option(9108, min=1, max=65535, help="Port of the engine's Prometheus metrics."),
        market: str = typer.Option("synthetic", help="Venue market: synthetic | replay:PATH | mirror:URL."),
        seed: int = typer.Option(0, help="Seed of the synthetic market."),
        no_prefect: bool = typer.Option(False, "--no-prefect", help="Venue and engine only (same as hlmm paper)."),
        duration: Optional[float] = typer.Option(None, min=1, help="Stop by itself after this many seconds."),
    ) -> None:
        from engine.orchestrate import Supervisor, http_ok, port_is_free, run_supervised
        from engine.paper import DEMO_TAKER_INTENSITY, prepare, start_venue_and_engine

        ports = {"--sim-port": sim_port, "--metrics-port": metrics_port}
        if not no_prefect:
            ports["--prefect-port"] = prefect_port
        for flag, port in ports.items():
            if not port_is_free(port):
                typer.echo(f"hlmm up: port {port} is in use (another hlmm up?); pick another with {flag}", err=True)
                raise typer.Exit(code=2)
        demo = market == "synthetic"  # the demo strategy and takers fit the synthetic market only
        setup = prepare(workdir, sim_port, demo=demo, metrics_port=metrics_port)

        def start(sup: Supervisor) -> list[str]:
            start_venue_and_engine(sup, setup, sim_port, market, seed,
                                   taker_intensity=DEMO_TAKER_INTENSITY if demo else None)
            what = "SYNTHETIC market, demo strategy" if demo else f"market {market}"
            lines = [f"venue      {setup.sim_url}   ({what}; paper account {setup.address})"]
            if not no_prefect:
                api = f"http://127.0.0.1:{prefect_port}/api"
                prefect_env = {"PREFECT_HOME": str(setup.workdir / "prefect"), "PREFECT_API_URL": api}
                sup.start("prefect-server",
                          [str(Path(_venv_bin()) / "prefect"), "server", "start", "--host", "127.0.0.1",
                           "--port", str(prefect_port)],
                          env=prefect_env, ready=http_ok(f"{api}/health"), ready_timeout_s=120,
                          last=True, linger_s=5.0)  # the served flows pause their deployments through it
                # ready once this serve process registered the deployments (a restart finds last run's rows)
                sup.start("flows", [_python(), "-m", "deployments.serve", "--demo", "--config",
                                    str(setup.config_path)], env=prefect_env,
                          ready=_registered_since(f"{api}/deployments/name/daily_report/daily"), ready_timeout_s=120)
                kicked = _run_now(api)
                lines.append(f"Prefect UI http://127.0.0.1:{prefect_port}   (flows served on demo schedules, "
                             f"{kicked} started now; run 'rebalance/manual' from Deployments > Run)")
            return lines + [f"metrics    http://127.0.0.1:{metrics_port}/metrics", f"ledger     {setup.ledger_url}",
                            f"logs       {setup.workdir / 'logs'}/"]

        status = run_supervised("hlmm up", setup.workdir / "logs", start, duration, typer.echo)
        raise typer.Exit(code=status)


REPORT_AGAIN_S = 30  # the demo's second daily report: the first one only records the baseline


def _run_now(api: str) -> int:
    """Start one run of every scheduled demo deployment right away (the UI has runs to show from the first
    minute instead of after each interval), and a second daily report REPORT_AGAIN_S later (the first one
    records the baseline, the second has the fills since). Returns how many were started."""
    import datetime as dt
    import time

    import httpx

    from deployments.catalog import DEPLOYMENTS

    started = 0
    deadline = time.monotonic() + 30  # the served deployments register (and unpause) one by one: wait for each
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=REPORT_AGAIN_S)).isoformat()
    with httpx.Client(base_url=api, timeout=10) as c:
        for d in DEPLOYMENTS:
            if d.demo_interval_s is None:
                continue  # the rebalance trades: only by hand
            bodies = [{}] + ([{"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": later}}}]
                             if d.flow == "daily_report" else [])
            for body in bodies:
                while True:
                    r = c.get(f"/deployments/name/{d.flow}/{d.name}")
                    if r.status_code == 200 and not r.json().get("paused"):
                        if c.post(f"/deployments/{r.json()['id']}/create_flow_run", json=body).status_code == 201:
                            started += 1
                            break
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
    return started


def _registered_since(url: str):
    """A readiness probe: the deployment at `url` was created or updated after this call."""
    import datetime as dt

    import httpx

    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)

    def probe() -> bool:
        try:
            r = httpx.get(url, timeout=2.0)
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        return dt.datetime.fromisoformat(r.json()["updated"].replace("Z", "+00:00")) >= since
    return probe


def _python() -> str:
    import sys

    return sys.executable


def _venv_bin() -> str:
    import sys

    return str(Path(sys.executable).parent)
