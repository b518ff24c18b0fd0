"""`hlmm db`: ledger database maintenance (Alembic migrations shipped in engine/ledger/migrations)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_URL_HELP = "database URL (sqlite:///PATH or postgresql+psycopg://...); default: ledger.url from the config"
_CONFIG_HELP = "config file (default ./hlmm.toml, or $HLMM_CONFIG) used when --url is not given"


def _resolve_url(url: Optional[str], config: Optional[Path]) -> str:
    """--url wins; otherwise ledger.url of the validated config (which has its own SQLite default)."""
    if url:
        return url
    import os

    from engine.config import ConfigError, load_config

    try:
        return load_config(config, os.environ).ledger.url
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2)


def _masked(url: str) -> str:
    from engine.config import mask_db_url

    return mask_db_url(url)


def _fail(command: str, target: str, exc: Exception) -> None:
    """One clear line instead of a traceback; the URL is shown with its password masked, and the driver's
    message is scrubbed of it too."""
    from sqlalchemy.engine import make_url

    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    password = make_url(target).password if "://" in target else None
    if password:
        reason = reason.replace(str(password), "****")
    typer.echo(f"hlmm db {command}: {_masked(target)}: {reason}", err=True)
    raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Ledger database: migrations.", no_args_is_help=True)

    @db_app.command("upgrade", help="Apply Alembic migrations to the ledger database (head by default).")
    def upgrade(
        url: Optional[str] = typer.Option(None, "--url", help=_URL_HELP),
        config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
        revision: str = typer.Option("head", "--revision", help="target revision"),
    ) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from engine.ledger.db import current_revision, make_engine
        from engine.ledger.db import upgrade as run_upgrade

        target = _resolve_url(url, config)
        try:
            run_upgrade(target, revision)
            engine = make_engine(target)
            try:
                now = current_revision(engine)
            finally:
                engine.dispose()
        except ValueError as exc:  # unsupported URL scheme, named by normalize_url
            typer.echo(f"hlmm db upgrade: {exc}", err=True)
            raise typer.Exit(code=2)
        except SQLAlchemyError as exc:  # cannot connect, permission denied...
            _fail("upgrade", target, exc)
        typer.echo(f"ledger {_masked(target)}: at revision {now}")

    @db_app.command("current", help="Print the ledger database's migration revision and the newest one shipped.")
    def current(
        url: Optional[str] = typer.Option(None, "--url", help=_URL_HELP),
        config: Optional[Path] = typer.Option(None, "--config", help=_CONFIG_HELP),
    ) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from engine.ledger.db import current_revision, head_revision, make_engine

        target = _resolve_url(url, config)
        try:
            engine = make_engine(target)
        except ValueError as exc:
            typer.echo(f"hlmm db current: {exc}", err=True)
            raise typer.Exit(code=2)
        try:
            now = current_revision(engine)
        except SQLAlchemyError as exc:
            _fail("current", target, exc)
        finally:
            engine.dispose()
        head = head_revision()
        typer.echo(f"ledger {_masked(target)}: revision {now or 'none (empty database)'}; head {head}")
        if now != head:
            raise typer.Exit(code=1)

    app.add_typer(db_app, name="db")
