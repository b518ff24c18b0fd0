"""One module per `hlmm` command. Each exposes `register(app)`; heavy imports stay inside the
command body so `hlmm --help` does not pay for Prefect, pandas or the venue."""
from __future__ import annotations

import typer


def not_built(command: str, issue: str) -> None:
    """Say plainly that a command is not built yet and exit non-zero."""
    typer.echo(f"hlmm {command}: not built yet ({issue}).", err=True)
    raise typer.Exit(code=2)
