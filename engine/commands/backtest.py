"""`hlmm backtest`: replay real L2/funding data on the simulated clock; `hlmm backtest carry`: the carry leg alone."""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Optional

import typer


def _dec(name: str, value: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{name} must be a decimal number, got {value!r}") from None
    if not d.is_finite():
        raise typer.BadParameter(f"{name} must be finite, got {value!r}")
    return d


def register(app: typer.Typer) -> None:
    bt = typer.Typer(
        name="backtest",
        help="Replay recorded books, trades, funding and feed gaps through the live engine against the local "
             "venue, in one process on simulated time (`carry`: the carry leg alone).",
        invoke_without_command=True,
        no_args_is_help=False,
    )

    @bt.callback()
    def backtest_replay(
        ctx: typer.Context,
        l2: Optional[Path] = typer.Option(None, "--l2", help="L2 snapshots: archive .lz4, .jsonl(.gz), a recording "
                                                             "(`hlmm record`) or a CSV capture directory."),
        trades: Optional[Path] = typer.Option(None, "--trades", help="Trades: a recording or a CSV capture directory."),
        funding: Optional[Path] = typer.Option(None, "--funding", help="Funding history (hourly, perp leg)."),
        spot_l2: Optional[Path] = typer.Option(None, "--spot-l2", help="Spot-leg L2 snapshots."),
        config: Optional[Path] = typer.Option(None, "--config", help="hlmm TOML config (strategy section)."),
        latency_ms: float = typer.Option(50.0, "--latency-ms", help="Order-entry and market-data latency (ms)."),
        queue: str = typer.Option("risk-averse", "--queue", help="Queue model: risk-averse | probabilistic."),
        out: Optional[Path] = typer.Option(None, "--out", help="Directory for results.json and PNG charts."),
        as_json: bool = typer.Option(False, "--json", help="Print the results JSON (no progress bar)."),
        seed: int = typer.Option(0, "--seed", help="Seed for the latency / queue randomness."),
        coin: Optional[str] = typer.Option(None, "--coin", help="Perp coin (default: the first snapshot's)."),
        sz_decimals: Optional[int] = typer.Option(None, "--sz-decimals", help="Perp szDecimals for unknown coins."),
        latency_jitter: float = typer.Option(0.0, "--latency-jitter",
                                             help="Log-normal sigma of latency (0 = constant, seeded otherwise)."),
        fees_bp: str = typer.Option("1.5,4.5,4,7", "--fees-bp",
                                    help="perp maker, perp taker, spot maker, spot taker fees in bp."),
        cache: bool = typer.Option(True, "--cache/--no-cache",
                                   help="Keep decoded snapshots in $HLMM_CACHE_DIR (~/.cache/hlmm/books)."),
        spot_usdc: float = typer.Option(10_000.0, "--spot-usdc", help="Starting spot USDC (bounds spot bids)."),
        spot_base: float = typer.Option(0.0, "--spot-base", help="Starting spot coin held (bounds spot asks)."),
        perp_usdc: float = typer.Option(10_000.0, "--perp-usdc", help="Starting perp USDC (margin)."),
        leverage: Optional[float] = typer.Option(None, "--leverage",
                                                 help="Perp leverage for margin (default: config "
                                                      "carry.perp_leverage, else 10)."),
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        if l2 is None:
            typer.echo("hlmm backtest: pass --l2 PATH (L2 replay) or use `hlmm backtest carry --funding PATH`.",
                       err=True)
            raise typer.Exit(code=2)
        from engine.backtest.data import DataError
        from engine.backtest.runner import ReplayOptions, run_replay_cli

        try:
            fee_values = [float(x) for x in fees_bp.split(",")]
        except ValueError:
            fee_values = []
        if len(fee_values) != 4:
            raise typer.BadParameter(f"--fees-bp needs four numbers (perp maker, perp taker, spot maker, spot taker), "
                                     f"got {fees_bp!r}")
        opts = ReplayOptions(l2=l2, trades=trades, funding=funding, spot_l2=spot_l2, config=config,
                             latency_ms=latency_ms, latency_jitter=latency_jitter, queue=queue, out=out,
                             seed=seed, coin=coin, sz_decimals=sz_decimals, cache=cache,
                             fees_bp=tuple(fee_values), start_spot_usdc=spot_usdc, start_spot_base=spot_base,
                             start_perp_usdc=perp_usdc, perp_leverage=leverage)
        try:
            result = run_replay_cli(opts, progress=not as_json)
        except (DataError, ValueError) as exc:
            typer.echo(f"hlmm backtest: {exc}", err=True)
            raise typer.Exit(code=1) from None
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            from engine.backtest.report import summary_table

            typer.echo(summary_table(result))

    @bt.command("carry", help="Funding carry alone (long spot + short perp) over hourly funding history.")
    def carry_command(
        funding: Path = typer.Option(..., "--funding", help="fundingHistory JSON / JSONL or CSV."),
        candles: Optional[Path] = typer.Option(None, "--candles", help="Perp candles for prices (else notional-based)."),
        coin: Optional[str] = typer.Option(None, "--coin", help="Coin to take from a multi-coin file."),
        notional: str = typer.Option("10000", "--notional", help="Carry notional per leg, USD."),
        hold: bool = typer.Option(False, "--hold", help="Hold the carry for the whole file at constant notional."),
        entry: str = typer.Option("0.000015", "--entry", help="Open when the trailing mean hourly rate is above this."),
        exit_: str = typer.Option("0.000005", "--exit", help="Close when the trailing mean hourly rate is below this."),
        lookback: int = typer.Option(168, "--lookback", help="Trailing window, hours."),
        perp_taker_bp: str = typer.Option("4.5", "--perp-taker-bp", help="Perp taker fee, bp."),
        spot_taker_bp: str = typer.Option("7", "--spot-taker-bp", help="Spot taker fee, bp."),
        rebalance_band: str = typer.Option("0.05", "--rebalance-band",
                                           help="Rebalance when leg value drifts this fraction from notional."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        from engine.backtest.carry import CarryParams, run_carry
        from engine.backtest.data import DataError
        from engine.backtest.history import load_candles, load_funding

        try:
            params = CarryParams(
                notional_usd=_dec("--notional", notional), hold=hold, entry_rate=_dec("--entry", entry),
                exit_rate=_dec("--exit", exit_), lookback_hours=lookback,
                perp_taker_bp=_dec("--perp-taker-bp", perp_taker_bp),
                spot_taker_bp=_dec("--spot-taker-bp", spot_taker_bp),
                rebalance_band=_dec("--rebalance-band", rebalance_band),
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        try:
            rows = load_funding(funding, coin)
            bars = load_candles(candles) if candles else None
            result = run_carry(rows, params, bars)
        except DataError as exc:
            typer.echo(f"hlmm backtest carry: {exc}", err=True)
            raise typer.Exit(code=1) from None
        payload = result.as_json()
        payload["mode"] = "hold" if hold else "entry-exit"
        payload["prices"] = "candles" if (bars and not hold) else "notional"
        if as_json:
            typer.echo(json.dumps(payload))
            return
        from engine.clock import ms_to_datetime

        typer.echo(f"carry {result.coin or '?'} {payload['mode']} ({payload['prices']}), "
                   f"{ms_to_datetime(result.start_ms):%Y-%m-%d %H:%M} → {ms_to_datetime(result.end_ms):%Y-%m-%d %H:%M} UTC")
        for k in ("hours", "hours_in_position", "entries", "exits", "rebalances"):
            typer.echo(f"  {k:<18} {payload[k]}")
        typer.echo(f"  {'funding_pnl_usd':<18} {result.funding_pnl_usd:.4f}")
        typer.echo(f"  {'fees_usd':<18} {result.fees_usd:.4f}")
        typer.echo(f"  {'net_pnl_usd':<18} {result.net_pnl_usd:.4f}")
        typer.echo(f"  {'apr':<18} {float(result.apr) * 100:.3f} %")

    app.add_typer(bt)
