"""`hlmm resume`: Clear the kill switch."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("resume", help="Clear the kill switch.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def resume_command() -> None:
        not_built("resume", "issue 5")
