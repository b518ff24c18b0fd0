"""`hlmm resume`: Clear the kill switch so the engine quotes again (the configured account's; `--all-accounts`:
every switch on the ledger)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("resume", help="Clear the kill switch so the engine quotes again.")
    def resume_command(
        why: str = typer.Option(..., "--why", help="Reason (recorded in the ledger)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c"),
        all_accounts: bool = typer.Option(False, "--all-accounts", help="Clear every account's kill switch."),
    ) -> None:
        from engine.commands.kill import set_kill_switch

        typer.echo(set_kill_switch(config, False, why, "hlmm resume", all_accounts))
