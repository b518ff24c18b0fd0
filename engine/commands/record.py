"""`hlmm record`: Record l2Book, trades, bbo and asset contexts from a venue's WebSocket."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("record", help="Record l2Book, trades, bbo and asset contexts from a venue's WebSocket.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def record_command() -> None:
        not_built("record", "issue 7")
