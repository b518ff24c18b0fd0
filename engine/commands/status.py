"""`hlmm status`: Show positions, open orders, PnL and funding today, kill switch and budget."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("status", help="Show positions, open orders, PnL and funding today, kill switch and budget.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def status_command() -> None:
        not_built("status", "issue 5")
