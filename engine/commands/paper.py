"""`hlmm paper`: Run a local venue plus the engine against it in one command."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("paper", help="Run a local venue plus the engine against it in one command.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def paper_command() -> None:
        not_built("paper", "issue 7")
