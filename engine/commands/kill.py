"""`hlmm kill`: Set the kill switch: the engine pulls every quote and stops trading."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("kill", help="Set the kill switch: the engine pulls every quote and stops trading.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def kill_command() -> None:
        not_built("kill", "issue 5")
