"""`hlmm` command line: one Typer app; each command lives in `engine/commands/<name>.py`.

Commands are registered lazily by name so `hlmm --help` stays fast and one room's import
errors cannot break another room's command. A command module exposes `register(app)`.
"""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="hlmm",
    help="Market maker and delta-neutral funding carry for Hyperliquid.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)

# name -> module under engine.commands; order is the order shown in --help
COMMAND_MODULES = [
    "up", "sim", "paper", "run", "backtest", "bench", "chaos", "status", "kill", "resume",
    "record", "fetch", "db", "config", "deployments",
]

for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"engine.commands.{_name}")
    _module.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
