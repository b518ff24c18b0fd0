"""`hlmm backtest`: Replay real L2/funding data through the engine on the simulated clock."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    @app.command("backtest", help="Replay real L2/funding data through the engine on the simulated clock.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def backtest_command() -> None:
        not_built("backtest", "issue 7")
