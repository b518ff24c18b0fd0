"""`hlmm config`: validate and show the effective configuration (secrets masked)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Configuration: validate and print the effective config.", no_args_is_help=True)

    @config_app.command("check", help="Validate FILE (default hlmm.toml) + HLMM_* env; print it with secrets masked. "
                        "Exits 2 on an invalid config.")
    def check(
        file: Optional[Path] = typer.Argument(None, help="config file (default ./hlmm.toml, or $HLMM_CONFIG)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of TOML"),
    ) -> None:
        import os

        from engine.config import ConfigError, load_config, to_json, to_toml

        try:
            cfg = load_config(file, os.environ)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=2)

        notes = [f"config: {cfg.source_path}" if cfg.source_path else
                 "config: no hlmm.toml found; using the built-in defaults"]
        if cfg.env_overrides:
            notes.append("environment overrides: " + ", ".join(cfg.env_overrides))
        notes.append(_key_source_note(cfg, os.environ))
        if as_json:
            for note in notes:
                typer.echo(note, err=True)  # stdout stays pure JSON
            typer.echo(to_json(cfg))
        else:
            typer.echo(to_toml(cfg, header=["effective hlmm configuration (secrets masked)", *notes]), nl=False)

    app.add_typer(config_app, name="config")


def _key_source_note(cfg, env) -> str:
    """Where the private key would come from, and whether it is there; never the key itself."""
    venue = cfg.venue
    if venue.secret_env:
        state = "set" if env.get(venue.secret_env, "").strip() else "NOT SET"
        return f"private key: environment variable {venue.secret_env} ({state})"
    if venue.secret_file:
        return f"private key: file {venue.secret_file} (mode checked: owner only)"
    return "private key: no source configured (venue.secret_env / venue.secret_file)"
