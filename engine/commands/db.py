"""`hlmm db`: ledger database maintenance (migrations)."""
from __future__ import annotations

import typer

from engine.commands import not_built


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Ledger database: migrations.", no_args_is_help=True)

    @db_app.command("upgrade", help="Apply Alembic migrations to the ledger database (head by default).")
    def upgrade() -> None:
        not_built("db upgrade", "issue 2")

    app.add_typer(db_app, name="db")
