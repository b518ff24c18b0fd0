"""`hlmm config`: validate and show the effective configuration (secrets masked)."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Configuration: validate and print the effective config.", no_args_is_help=True)

    @config_app.command("check", help="Validate FILE (default hlmm.toml) + HLMM_* env; print it with secrets masked.")
    def check() -> None:
        not_built("config check", "issue 2")

    app.add_typer(config_app, name="config")
