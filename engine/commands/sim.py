"""`hlmm sim`: Run the local Hyperliquid venue (REST + WebSocket) that the official SDK trades against."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("sim", help="Run the local Hyperliquid venue (REST + WebSocket) that the official SDK trades against.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def sim_command() -> None:
        not_built("sim", "issue 3")
