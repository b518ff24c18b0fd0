"""`hlmm kill`: Set the kill switch: the engine pulls every quote and stops trading.

The switch is a `controls` row in the ledger; a running engine reads it within a second, and an engine
started later finds it there (it survives restarts). Only `hlmm resume` clears it.

On a ledger shared by several accounts the switch belongs to the configured account (`venue.vault_address`,
else `venue.account_address`) and stops only that account's engine; `--all-accounts` sets (or, with resume,
clears) the one that stops every engine on the ledger. A config naming no account acts on all accounts, which is
what a single-account ledger always did.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

ALL_ACCOUNTS_HELP = "Every account on the ledger, not only the configured one."


def set_kill_switch(config: Optional[Path], engage: bool, why: str, who: str, all_accounts: bool = False) -> str:
    import datetime as dt

    from engine.config import ConfigError, load_config
    from engine.ledger import repo
    from engine.ledger.db import make_engine, session_scope, upgrade
    from engine.ledger.models import ALL_ACCOUNTS

    if not why.strip():
        typer.echo("--why must say why (it is the audit trail)", err=True)
        raise typer.Exit(code=2)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"invalid configuration:\n{exc}", err=True)
        raise typer.Exit(code=2)
    account = ALL_ACCOUNTS if all_accounts else (cfg.venue.trading_account or ALL_ACCOUNTS)
    whose = "every account" if account == ALL_ACCOUNTS else f"account {account}"
    upgrade(cfg.ledger.url)
    engine = make_engine(cfg.ledger.url)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with session_scope(engine) as s:
            if engage:
                repo.set_control(s, "kill_switch", True, who=who, why=why, time=now, account=account)
                return f"kill switch ENGAGED for {whose}"
            # resuming every account clears each account's switch too; one account clears only its own
            n = repo.clear_control(s, "kill_switch", who=who, why=why, time=now, scope=None,
                                   account=None if account == ALL_ACCOUNTS else account)
            out = f"kill switch cleared for {whose}" if n else f"kill switch was not engaged for {whose}"
            left = [c for c in repo.active_controls(s, "kill_switch", account=account) if c.data]
            if left:
                out += (f"; still engaged for every account by {left[0].who} ({left[0].why}): "
                        "clear it with --all-accounts")
            return out
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    @app.command("kill", help="Set the kill switch: the engine pulls every quote and stops trading.")
    def kill_command(
        why: str = typer.Option(..., "--why", help="Reason (recorded in the ledger)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c"),
        all_accounts: bool = typer.Option(False, "--all-accounts", help=ALL_ACCOUNTS_HELP),
    ) -> None:
        typer.echo(set_kill_switch(config, True, why, "hlmm kill", all_accounts))
