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
        from engine.orchestrate import Supervisor, port_is_free, run_supervised
        from engine.paper import prepare, start_venue_and_engine

        market = check_market(market)
        if not port_is_free(sim_port):
            typer.echo(f"hlmm paper: port {sim_port} is in use; pick another with --sim-port", err=True)
            raise typer.Exit(code=2)
        setup = prepare(workdir, sim_port)

        def start(sup: Supervisor) -> list[str]:
            start_venue_and_engine(sup, setup, sim_port, market, seed)
            return [f"venue  {setup.sim_url}  (market {market}; paper account {setup.address})",
                    f"ledger {setup.ledger_url}", f"logs   {setup.workdir / 'logs'}/"]

        status = run_supervised("hlmm paper", setup.workdir / "logs", start, duration, typer.echo)
        raise typer.Exit(code=status)
