"""`hlmm kill`: Set the kill switch: the engine pulls every quote and stops trading.

The switch is a `controls` row in the ledger; a running engine reads it within a second, and an engine
started later finds it there (it survives restarts). Only `hlmm resume` clears it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def set_kill_switch(config: Optional[Path], engage: bool, why: str, who: str) -> str:
    import datetime as dt

    from engine.config import ConfigError, load_config
    from engine.ledger import repo
    from engine.ledger.db import make_engine, session_scope, upgrade

    if not why.strip():
        typer.echo("--why must say why (it is the audit trail)", err=True)
        raise typer.Exit(code=2)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"invalid configuration:\n{exc}", err=True)
        raise typer.Exit(code=2)
    upgrade(cfg.ledger.url)
    engine = make_engine(cfg.ledger.url)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with session_scope(engine) as s:
            if engage:
                repo.set_control(s, "kill_switch", True, who=who, why=why, time=now)
                return "kill switch ENGAGED"
            n = repo.clear_control(s, "kill_switch", who=who, why=why, time=now, scope=None)
            return "kill switch cleared" if n else "kill switch was not engaged"
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    @app.command("kill", help="Set the kill switch: the engine pulls every quote and stops trading.")
    def kill_command(
        why: str = typer.Option(..., "--why", help="Reason (recorded in the ledger)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c"),
    ) -> None:
        typer.echo(set_kill_switch(config, True, why, "hlmm kill"))
