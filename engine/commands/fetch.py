"""`hlmm fetch`: Download funding or candle history through /info."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("fetch", help="Download funding or candle history through /info.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def fetch_command() -> None:
        not_built("fetch", "issue 7")
