"""`hlmm paper`: a local venue plus the engine against it, in one command (no Prefect).

With `--market mirror:URL` the local venue copies a real venue's public book and trades and matches
our quotes locally: paper trading on live Hyperliquid data (e.g. mirror:https://api.hyperliquid.xyz)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("paper", help="Run a local venue plus the engine against it in one command.")
    def paper_command(
        market: str = typer.Option("synthetic", help="synthetic | replay:PATH | mirror:URL"),
        workdir: Path = typer.Option(Path("var/paper"), help="Where the paper key, ledger, venue state and logs live."),
        sim_port: int = typer.Option(8765, min=1, max=65535, help="Port of the local venue."),
        seed: int = typer.Option(0, help="Seed of the synthetic market."),
        duration: Optional[float] = typer.Option(None, min=1, help="Stop by itself after this many seconds."),
    ) -> None:
        from engine.commands.sim import check_market
        from engine.orchestrate import OrchestrationError, Supervisor, port_is_free, tail
        from engine.paper import prepare, start_venue_and_engine

        market = check_market(market)
        if not port_is_free(sim_port):
            typer.echo(f"hlmm paper: port {sim_port} is in use; pick another with --sim-port", err=True)
            raise typer.Exit(code=2)
        setup = prepare(workdir, sim_port)
        sup = Supervisor(setup.workdir / "logs", echo=typer.echo)
        status = 0
        try:
            start_venue_and_engine(sup, setup, sim_port, market, seed)
            typer.echo(f"venue  {setup.sim_url}  (market {market}; paper account {setup.address})")
            typer.echo(f"ledger {setup.ledger_url}\nlogs   {sup.log_dir}/\nCtrl-C stops everything.")
            exited = sup.wait(duration)
            if exited is not None:
                typer.echo(f"hlmm paper: {exited.name} exited with status {exited.process.returncode}; "
                           f"stopping. Last lines of {exited.log_path}:\n{tail(exited.log_path)}", err=True)
                status = 1
        except OrchestrationError as exc:
            typer.echo(f"hlmm paper: {exc}", err=True)
            status = 1
        finally:
            statuses = sup.stop_all()
            typer.echo("stopped: " + ", ".join(f"{n} ({s})" for n, s in statuses.items()))
        raise typer.Exit(code=status)
