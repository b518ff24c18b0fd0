"""`hlmm chaos`: run the engine on the local venue under injected faults, SIGKILLs and a sweeping taker, then
print what the venue recorded against what the ledger holds (docs/operations.md, "Chaos run")."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("chaos", help="Fault-injection run of the engine on the local venue; prints the audit table.")
    def chaos_command(
        minutes: float = typer.Option(60.0, "--minutes", min=1.0, max=24 * 60,
                                      help="Length of the run in wall-clock minutes."),
        seed: int = typer.Option(0, "--seed", help="Seed of the fault schedule, the venue and the taker."),
        out: Optional[Path] = typer.Option(None, "--out", help="Directory for logs, the ledger and chaos.json."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        from engine.chaos.audit import failures, table
        from engine.chaos.plan import ChaosSettings
        from engine.chaos.run import ChaosRun

        workdir = out or Path(tempfile.mkdtemp(prefix="hlmm-chaos-"))
        say = (lambda _m: None) if as_json else (lambda m: typer.echo(m, err=True))
        say(f"hlmm chaos: {minutes:g} min, seed {seed}, files in {workdir}")
        report = ChaosRun(ChaosSettings(minutes=minutes, seed=seed), workdir, say).run()
        typer.echo(json.dumps(report, default=str) if as_json else table(report))
        raise typer.Exit(code=1 if failures(report) else 0)
