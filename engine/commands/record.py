"""`hlmm record`: record l2Book, trades, bbo and asset contexts from a venue's WebSocket into JSONL.gz files.

Two ways to run it: by hand (`--coins`, `--out`, `--base-url`, optionally `--duration`), or as the recorder
service (`--config`: the venue, the coins, the directory, the rotation and the retention come from the config's
`[venue]`, `[[markets]]` and `[recorder]`; flags given on the command line win). SIGINT and SIGTERM finish the
current files before it exits, so a stopped service leaves only finished files behind.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

MAINNET = "https://api.hyperliquid.xyz"


def _service_settings(config: Optional[Path]) -> dict:
    """{base_url, coins, out, rotate_s, retention_s} from the config (exit 2 naming the key when it is bad)."""
    from engine.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"hlmm record: invalid configuration, not starting:\n{exc}", err=True)
        raise typer.Exit(code=2)
    rec = cfg.recorder
    return {"base_url": cfg.venue.base_url, "coins": _wire_coins(cfg, list(rec.coins)), "out": Path(rec.out_dir),
            "rotate_s": rec.rotate_minutes * 60, "retention_s": rec.retention_hours * 3600}


def _wire_coins(cfg, coins: list[str]) -> list[str]:
    """`recorder.coins`, or every configured market's legs, by their WS names; a spot pair `BASE/QUOTE` is looked
    up in the venue's spotMeta (Hyperliquid names spot books `@N`, except PURR/USDC)."""
    import httpx

    from engine.backtest.recordings import wire_coins

    spot_meta = None
    if any("/" in c for c in coins) or (not coins and any(m.spot for m in cfg.markets)):
        try:
            r = httpx.post(cfg.venue.base_url.rstrip("/") + "/info", json={"type": "spotMeta"}, timeout=10)
            r.raise_for_status()
            spot_meta = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            typer.echo(f"hlmm record: cannot read spotMeta from {cfg.venue.base_url} to name the spot legs "
                       f"({type(exc).__name__}); set recorder.coins to venue names (e.g. @107)", err=True)
            raise typer.Exit(code=2)
    try:
        return wire_coins(cfg.markets, spot_meta, coins)
    except ValueError as exc:
        typer.echo(f"hlmm record: {exc}", err=True)
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    @app.command("record", help="Record l2Book, trades, bbo and asset contexts from a venue's WebSocket "
                 "(by hand, or as the rotating recorder service with --config).")
    def record_command(
        coins: Optional[str] = typer.Option(None, "--coins",
                                            help="Comma-separated coins, e.g. BTC,HYPE (spot: @107). "
                                                 "Default with --config: recorder.coins or every market leg."),
        out: Optional[Path] = typer.Option(None, "--out", help="Directory for <COIN>_<start>.jsonl.gz files "
                                           "(default with --config: recorder.out_dir)."),
        base_url: Optional[str] = typer.Option(None, "--base-url",
                                               help="Venue REST base URL (WS is derived); default mainnet, or "
                                                    "the config's venue with --config."),
        config: Optional[Path] = typer.Option(None, "--config", "-c",
                                              help="Run as the recorder service from this TOML config."),
        duration: Optional[float] = typer.Option(None, "--duration", help="Seconds to record; default until "
                                                 "Ctrl-C / SIGTERM."),
        rotate_minutes: Optional[float] = typer.Option(None, "--rotate-minutes",
                                                       help="A new file per coin this often (0 = one file)."),
        retention_hours: Optional[float] = typer.Option(None, "--retention-hours",
                                                        help="Delete finished files older than this (0 = keep)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        import asyncio
        import signal

        from engine.backtest.recorder import Recorder

        if duration is not None and duration <= 0:
            raise typer.BadParameter("--duration must be > 0 seconds")
        for name, value in (("--rotate-minutes", rotate_minutes), ("--retention-hours", retention_hours)):
            if value is not None and value < 0:
                raise typer.BadParameter(f"{name} must be >= 0 (0 = off), got {value}")
        if config is not None:
            s = _service_settings(config)
        elif coins is None or out is None:
            raise typer.BadParameter("give --coins and --out, or --config (the recorder service)")
        else:
            s = {"base_url": MAINNET, "coins": [], "out": out, "rotate_s": 0.0, "retention_s": 0.0}
        coin_list = [c.strip() for c in coins.split(",") if c.strip()] if coins is not None else s["coins"]
        try:
            rec = Recorder(base_url or s["base_url"], coin_list, out or s["out"],
                           rotate_s=s["rotate_s"] if rotate_minutes is None else rotate_minutes * 60,
                           retention_s=s["retention_s"] if retention_hours is None else retention_hours * 3600)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

        async def main() -> dict:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):  # finish the files, then exit 0: a clean service stop
                loop.add_signal_handler(sig, rec.stop)
            return await rec.run(duration)

        summary = asyncio.run(main())
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            for coin, path in summary["files"].items():
                typer.echo(f"{coin}: {path}")
            typer.echo("messages: " + ", ".join(f"{k}={v}" for k, v in summary["messages"].items())
                       + f"; reconnects={summary['reconnects']}; rotations={summary['rotations']}; "
                         f"deleted={len(summary['deleted'])}")
