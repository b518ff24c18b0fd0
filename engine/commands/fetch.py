"""`hlmm fetch funding|candles`: download funding or candle history through /info into a file the backtests read."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import typer

MAINNET = "https://api.hyperliquid.xyz"


def parse_time_ms(name: str, value: str) -> int:
    """Epoch ms, or an ISO date / datetime (naive means UTC)."""
    v = value.strip()
    if v.isdigit():
        return int(v)
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{name} must be epoch ms or ISO-8601 (e.g. 2025-01-31T00:00Z), got {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _window(start: str, end: str | None) -> tuple[int, int]:
    s = parse_time_ms("--start", start)
    e = parse_time_ms("--end", end) if end else int(datetime.now(timezone.utc).timestamp() * 1000)
    if e < s:
        raise typer.BadParameter(f"--end ({end}) is before --start ({start})")
    return s, e


def _run(kind: str, coin: str, interval: str, start_ms: int, end_ms: int, out: Path, base_url: str,
         quiet: bool, weight_per_min: int) -> None:
    import asyncio

    from engine.backtest.fetcher import (CANDLE_COLUMNS, FUNDING_COLUMNS, FetchError, fetch_candles, fetch_funding,
                                         write_rows)
    from engine.venue.limits import IpWeightBucket
    from engine.venue.rest import VenueRest

    async def go() -> tuple[list[dict], VenueRest]:
        client = VenueRest(base_url, bucket=IpWeightBucket(capacity=weight_per_min))
        progress = None if quiet else (lambda n: typer.echo(f"\r{kind}: {n} rows", nl=False, err=True))
        try:
            if kind == "funding":
                rows = await fetch_funding(client, coin, start_ms, end_ms, progress)
            else:
                rows = await fetch_candles(client, coin, interval, start_ms, end_ms, progress)
        finally:
            await client.aclose()
        return rows, client

    try:
        rows, client = asyncio.run(go())
        write_rows(out, rows, FUNDING_COLUMNS if kind == "funding" else CANDLE_COLUMNS)
    except (FetchError, ValueError) as exc:
        typer.echo(f"\nhlmm fetch {kind}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    if not quiet:
        typer.echo("", err=True)
    typer.echo(f"{kind} {coin}: {len(rows)} rows → {out} ({client.stats['info']} requests, "
               f"{client.stats['info_retries']} retries, throttled {client.bucket.throttled}× by the weight budget)")


def register(app: typer.Typer) -> None:
    fetch = typer.Typer(name="fetch", help="Download funding or candle history through /info.", no_args_is_help=True)

    @fetch.command("funding", help="fundingHistory, paged by last time + 1 (≤500 rows per reply).")
    def fetch_funding_cmd(
        coin: str = typer.Option(..., "--coin"),
        start: str = typer.Option(..., "--start", help="Epoch ms or ISO-8601 (UTC)."),
        end: str = typer.Option(None, "--end", help="Epoch ms or ISO-8601 (UTC); default now."),
        out: Path = typer.Option(..., "--out", help=".json / .jsonl / .csv, optionally .gz"),
        base_url: str = typer.Option(MAINNET, "--base-url"),
        weight_per_min: int = typer.Option(1200, "--weight-per-min", min=20, help="IP weight budget per minute."),
        quiet: bool = typer.Option(False, "--quiet", "-q"),
    ) -> None:
        s, e = _window(start, end)
        _run("funding", coin, "", s, e, out, base_url, quiet, weight_per_min)

    @fetch.command("candles", help="candleSnapshot (the venue keeps only the newest 5000 bars per interval).")
    def fetch_candles_cmd(
        coin: str = typer.Option(..., "--coin"),
        start: str = typer.Option(..., "--start", help="Epoch ms or ISO-8601 (UTC)."),
        end: str = typer.Option(None, "--end", help="Epoch ms or ISO-8601 (UTC); default now."),
        out: Path = typer.Option(..., "--out", help=".json / .jsonl / .csv, optionally .gz"),
        interval: str = typer.Option("1h", "--interval"),
        base_url: str = typer.Option(MAINNET, "--base-url"),
        weight_per_min: int = typer.Option(1200, "--weight-per-min", min=20, help="IP weight budget per minute."),
        quiet: bool = typer.Option(False, "--quiet", "-q"),
    ) -> None:
        s, e = _window(start, end)
        _run("candles", coin, interval, s, e, out, base_url, quiet, weight_per_min)

    app.add_typer(fetch)
