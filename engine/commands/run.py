"""`hlmm run`: Run the quoting engine against the configured venue.

Refuses to start on an invalid config or a missing key with a message naming the setting (exit 2).
SIGINT/SIGTERM stop it cleanly: every quote is cancelled and the dead man's switch disarmed. A SIGKILL
leaves the dead man's switch armed, so the venue cancels the quotes within the horizon.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def load_engine_config(config: Optional[Path], paper: bool):
    """(config, private key) or exit 2 with the config error (no secrets in it)."""
    from engine.config import ConfigError, DEFAULT_BASE_URLS, load_config, resolve_private_key

    try:
        cfg = load_config(config)
        if paper and cfg.venue.network != "local":
            venue = cfg.venue.model_copy(update={"network": "local", "base_url": DEFAULT_BASE_URLS["local"]})
            cfg = cfg.model_copy(update={"venue": venue})
        key = resolve_private_key(cfg.venue)
    except ConfigError as exc:
        typer.echo(f"hlmm run: invalid configuration, not starting:\n{exc}", err=True)
        raise typer.Exit(code=2)
    return cfg, key


def register(app: typer.Typer) -> None:
    @app.command("run", help="Run the quoting engine against the configured venue.")
    def run_command(
        config: Optional[Path] = typer.Option(None, "--config", "-c",
                                              help="TOML config (default ./hlmm.toml or $HLMM_CONFIG)."),
        paper: bool = typer.Option(False, "--paper", help="Paper trading: force venue.network = local (hlmm sim)."),
        metrics_port: Optional[int] = typer.Option(
            None, "--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT (off by default)."),
        deadman_s: float = typer.Option(
            15.0, "--deadman-s", min=6.0,
            help="Dead man's switch horizon in seconds (>= 6; the venue needs 5 s lead)."),
        log_level: str = typer.Option("INFO", "--log-level"),
    ) -> None:
        import asyncio
        import logging
        import signal

        from engine.monitoring import setup_logging

        cfg, key = load_engine_config(config, paper)
        setup_logging(log_level.upper())
        from engine.market.markets import StartupError
        from engine.loop import Engine

        engine = Engine(cfg, key, metrics_port=metrics_port, deadman_horizon_ms=int(deadman_s * 1000))
        del key

        async def main() -> int:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, engine.stop)
            try:
                await engine.run()
            except StartupError as exc:
                logging.getLogger("hlmm.run").error("not starting: %s", exc)
                typer.echo(f"hlmm run: not starting: {exc}", err=True)
                return 2
            return 0

        code = asyncio.run(main())
        if code:
            raise typer.Exit(code=code)
