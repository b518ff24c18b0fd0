"""`hlmm run`: Run the quoting engine against the configured venue.

Refuses to start on an invalid config or a missing key with a message naming the setting (exit 2).
Serves Prometheus metrics on `[monitoring] metrics_bind` (127.0.0.1:9108 by default; "" turns it off): this
command is that key's one reader. A taken port is logged and the engine trades on without metrics.
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


def start_metrics(engine, bind: str):
    """The engine's Prometheus endpoint on `bind` (HOST:PORT), or None when off or the port is taken."""
    import logging

    from engine.monitoring import MetricsServer, parse_bind

    if not bind:
        return None
    host, port = parse_bind(bind)
    server = MetricsServer(engine.snapshot, port, host, timings=engine.timings)
    try:
        logging.getLogger("hlmm.run").info("metrics on http://%s:%d/metrics", host, server.start())
    except OSError as exc:  # trading does not depend on being observed: say so loudly and go on
        logging.getLogger("hlmm.run").error("metrics endpoint %s not started (%s); set monitoring.metrics_bind",
                                            bind, exc)
        return None
    return server


def register(app: typer.Typer) -> None:
    @app.command("run", help="Run the quoting engine against the configured venue.")
    def run_command(
        config: Optional[Path] = typer.Option(None, "--config", "-c",
                                              help="TOML config (default ./hlmm.toml or $HLMM_CONFIG)."),
        paper: bool = typer.Option(False, "--paper", help="Paper trading: force venue.network = local (hlmm sim)."),
        deadman_s: float = typer.Option(
            15.0, "--deadman-s", min=6.0,
            help="Dead man's switch horizon in seconds (>= 6; the venue needs 5 s lead)."),
        log_level: str = typer.Option("INFO", "--log-level"),
    ) -> None:
        import asyncio
        import logging
        import signal

        from engine.monitoring import setup_logging

        try:
            cfg, key = load_engine_config(config, paper)
        except KeyboardInterrupt:  # stopped while starting (a supervisor's stop): nothing was sent yet
            raise typer.Exit(code=0)
        setup_logging(log_level.upper())
        from engine.market.markets import StartupError
        from engine.loop import Engine

        engine = Engine(cfg, key, deadman_horizon_ms=int(deadman_s * 1000))
        del key
        metrics = start_metrics(engine, cfg.monitoring.metrics_bind)

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

        try:
            code = asyncio.run(main())
        finally:
            if metrics is not None:
                metrics.stop()
        if code:
            raise typer.Exit(code=code)
