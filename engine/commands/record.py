"""`hlmm record`: record l2Book, trades, bbo and asset contexts from a venue's WebSocket into JSONL.gz files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

MAINNET = "https://api.hyperliquid.xyz"


def register(app: typer.Typer) -> None:
    @app.command("record", help="Record l2Book, trades, bbo and asset contexts from a venue's WebSocket.")
    def record_command(
        coins: str = typer.Option(..., "--coins", help="Comma-separated coins, e.g. BTC,HYPE (spot: @107)."),
        out: Path = typer.Option(..., "--out", help="Directory for <COIN>_<start>.jsonl.gz files."),
        base_url: str = typer.Option(MAINNET, "--base-url", help="Venue REST base URL (WS is derived)."),
        duration: Optional[float] = typer.Option(None, "--duration", help="Seconds to record; default until Ctrl-C."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        import asyncio

        from engine.backtest.recorder import Recorder

        coin_list = [c.strip() for c in coins.split(",") if c.strip()]
        if duration is not None and duration <= 0:
            raise typer.BadParameter("--duration must be > 0 seconds")
        try:
            rec = Recorder(base_url, coin_list, out)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        try:
            summary = asyncio.run(rec.run(duration))
        except KeyboardInterrupt:
            summary = {"files": {c: str(p) for c, p in rec.paths.items()}, "messages": rec.counts,
                       "reconnects": rec.reconnects, "interrupted": True}
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            for coin, path in summary["files"].items():
                typer.echo(f"{coin}: {path}")
            typer.echo("messages: " + ", ".join(f"{k}={v}" for k, v in summary["messages"].items())
                       + f"; reconnects={summary['reconnects']}")
