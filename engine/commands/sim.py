"""`hlmm sim`: Run the local Hyperliquid venue (REST + WebSocket) that the official SDK trades against."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import List, Optional

import typer


def _address(value: str, flag: str) -> str:
    if len(value) != 42 or not value.startswith("0x"):
        raise typer.BadParameter(f"{flag}: address must be 0x + 40 hex chars, got {value!r}")
    try:
        int(value[2:], 16)
    except ValueError:
        raise typer.BadParameter(f"{flag}: address must be 0x + 40 hex chars, got {value!r}") from None
    return value.lower()


def _amount(value: str, flag: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{flag}: amount must be a number, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise typer.BadParameter(f"{flag}: amount must be > 0, got {value!r}")
    return amount


def parse_fund(items: list[str]) -> list[tuple[str, Decimal]]:
    """--fund ADDRESS=USDC"""
    out = []
    for item in items:
        address, sep, usdc = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--fund expects ADDRESS=USDC, got {item!r}")
        out.append((_address(address, "--fund"), _amount(usdc, "--fund")))
    return out


def parse_fund_spot(items: list[str]) -> list[tuple[str, str, Decimal]]:
    """--fund-spot ADDRESS=TOKEN:AMOUNT"""
    out = []
    for item in items:
        address, sep, rest = item.partition("=")
        token, sep2, amount = rest.partition(":")
        if not sep or not sep2 or not token:
            raise typer.BadParameter(f"--fund-spot expects ADDRESS=TOKEN:AMOUNT, got {item!r}")
        out.append((_address(address, "--fund-spot"), token, _amount(amount, "--fund-spot")))
    return out


def check_market(market: str, taker_intensity: float | None = None) -> str:
    """The market spec for the venue's driver; `taker_intensity` goes into a synthetic market's spec."""
    if taker_intensity is not None:
        if market != "synthetic":
            raise typer.BadParameter(f"--taker-intensity applies to the synthetic market only, not {market!r}")
        return f"synthetic:takers={taker_intensity:g}"
    if market == "synthetic" or market == "none":
        return market
    kind, sep, arg = market.partition(":")
    if sep and arg and kind in ("replay", "mirror"):
        return market
    raise typer.BadParameter(f"--market must be synthetic, none, replay:PATH or mirror:URL, got {market!r}")


def register(app: typer.Typer) -> None:
    @app.command("sim", help="Run the local Hyperliquid venue (REST + WebSocket) that the official SDK trades against.")
    def sim_command(
        host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
        port: int = typer.Option(8765, min=1, max=65535, help="TCP port."),
        seed: int = typer.Option(0, help="Seed for the venue and the synthetic market (same seed, same path)."),
        market: str = typer.Option("synthetic", help="synthetic | none | replay:PATH | mirror:URL"),
        speed: float = typer.Option(1.0, min=0.0, help="Simulated clock speed (0 = frozen, advance via /admin/clock)."),
        fund: Optional[List[str]] = typer.Option(None, help="ADDRESS=USDC perp balance to credit (repeatable)."),
        fund_spot: Optional[List[str]] = typer.Option(None, help="ADDRESS=TOKEN:AMOUNT spot balance (repeatable)."),
        state: Optional[Path] = typer.Option(None, help="Load venue state from FILE at start if it exists; save on exit."),
        ip_weight_per_min: int = typer.Option(1200, min=1, help="Per-IP REST weight budget per minute (429 beyond)."),
        ws_idle_timeout_s: float = typer.Option(60.0, min=0.1, help="Close WebSockets silent for this long."),
        taker_intensity: Optional[float] = typer.Option(
            None, min=0.0, max=50.0,
            help="Synthetic market only: background (system) taker trades per market per simulated second; "
                 "default 0.25. Each eats the book from the touch, so quotes at the touch get filled."),
    ) -> None:
        import asyncio

        from sim.server import ServerConfig, serve

        cfg = ServerConfig(
            host=host, port=port, seed=seed, market=check_market(market, taker_intensity), speed=speed,
            fund=parse_fund(fund or []), fund_spot=parse_fund_spot(fund_spot or []),
            state_file=state, ip_weight_per_min=ip_weight_per_min, ws_idle_timeout_s=ws_idle_timeout_s,
        )

        def ready(url: str) -> None:
            typer.echo(f"hlmm sim ready: {url}  (market {cfg.market}, seed {cfg.seed}, speed {cfg.speed}x)")
            funded = sorted({a for a, _ in cfg.fund} | {a for a, _, _ in cfg.fund_spot})
            for address in funded:
                typer.echo(f"funded account: {address}")
            typer.echo("admin API (loopback only): /admin/{fund,clock,faults,limits,snapshot,restore,events}")

        try:
            asyncio.run(serve(cfg, on_ready=ready))
        except KeyboardInterrupt:
            pass
