"""`hlmm up`: Run the main job on embedded defaults: local venue, paper engine, Prefect server and flows."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("up", help="Run the main job on embedded defaults: local venue, paper engine, Prefect server and flows.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def up_command() -> None:
        not_built("up", "issue 6")
