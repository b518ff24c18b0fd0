"""`hlmm run`: Run the quoting engine against the configured venue."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("run", help="Run the quoting engine against the configured venue.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run_command() -> None:
        not_built("run", "issue 5")
