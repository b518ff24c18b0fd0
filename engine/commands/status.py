"""`hlmm status`: Show positions, open orders, PnL and funding today, engine liveness, kill switch and budget.

Reads the venue (the truth for positions, orders, fills, funding, rate-limit budget) and the ledger (kill
switch, pause, today's first equity mark); no engine process is needed. PnL today = current equity −
the first equity mark of the day (when the engine has written one), and separately realized today =
Σ closedPnl − Σ fees of today's fills; funding today = Σ userFunding usdc since 00:00 UTC. Exact decimals in
`--json`; money rounded to cents on screen. Engine liveness is the age of the newest equity mark the engine
wrote (every 10 s while it runs). An unreachable venue is one line on stderr and exit status 1.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer


HEARTBEAT_STALE_S = 60  # the engine marks equity every 10 s: a minute without a mark means it is not running


def _usd(x: Any) -> str:
    """Money for people: cents and thousands separators (the JSON keeps the exact decimals)."""
    from decimal import Decimal

    return "-" if x is None else f"{Decimal(str(x)):,.2f}"


async def gather_status(cfg: Any, user: str) -> dict[str, Any]:
    import datetime as dt
    from decimal import Decimal

    from engine.venue.rest import VenueRest

    now = dt.datetime.now(dt.timezone.utc)
    # one retry: a person waiting on `status` wants a prompt answer, not the engine's patient backoff
    async with VenueRest(cfg.venue.base_url, account_address=user, info_retries=1, timeout_s=5.0) as rest:
        chs = await rest.clearinghouse_state()
        spot = await rest.spot_clearinghouse_state()
        orders = await rest.open_orders()
        rate = await rest.user_rate_limit()
        venue_now = chs.time or int(now.timestamp() * 1000)
        day_start = venue_now - venue_now % 86_400_000
        fills = await rest.user_fills_by_time(day_start, None)
        funding = await rest.user_funding(day_start, None)
        mids = await rest.all_mids()
        spot_meta = await rest.info({"type": "spotMeta"})
    tokens = {t["index"]: t["name"] for t in spot_meta.get("tokens", [])}
    pair_name = {u["name"]: "/".join(tokens.get(i, "?") for i in u["tokens"]) for u in spot_meta.get("universe", [])}
    usdc_pair = {name.split("/")[0]: coin for coin, name in pair_name.items() if name.endswith("/USDC")}
    realized = sum((f.closed_pnl - f.fee for f in fills), Decimal(0))
    funding_today = sum((r.usdc for r in funding), Decimal(0))
    spot_value = Decimal(0)
    spot_rows = []
    for name, b in spot.items():
        if name == "USDC":
            value = b.total
        else:
            px = mids.get(usdc_pair.get(name, ""))  # the token's own USDC pair ("@1"), never a perp of that name
            value = b.total * Decimal(repr(px)) if px is not None else None
        if value is not None:
            spot_value += value
        spot_rows.append({"token": name, "pair": f"{name}/USDC" if name in usdc_pair else None,
                          "total": str(b.total), "hold": str(b.hold), "value_usd": None if value is None else str(value)})
    equity = spot_value + chs.account_value
    out: dict[str, Any] = {
        "user": user, "venue": cfg.venue.network, "venue_url": cfg.venue.base_url, "time_ms": venue_now,
        "positions": [{"coin": p.coin, "szi": str(p.szi), "entry_px": str(p.entry_px) if p.entry_px else None,
                       "unrealized_pnl": str(p.unrealized_pnl), "leverage": p.leverage} for p in chs.positions],
        "spot": spot_rows,
        "open_orders": [{"coin": o.coin, "name": pair_name.get(o.coin, o.coin), "side": o.side, "px": str(o.limit_px),
                         "sz": str(o.sz), "oid": o.oid, "cloid": o.cloid} for o in orders],
        "perp_account_value": str(chs.account_value), "equity_usd": str(equity),
        "realized_today": str(realized), "funding_today": str(funding_today), "fills_today": len(fills),
        "budget": {"used": rate.n_requests_used, "cap": rate.n_requests_cap,
                   "remaining": rate.n_requests_cap - rate.n_requests_used, "cum_volume": str(rate.cum_vlm)},
    }
    out.update(_ledger_status(cfg, user, equity))
    return out


def _ledger_status(cfg: Any, user: str, equity: Any) -> dict[str, Any]:
    import datetime as dt

    from sqlalchemy import select

    from engine.ledger import repo
    from engine.ledger.db import make_engine, session_scope
    from engine.ledger.models import EquityMark

    engine = make_engine(cfg.ledger.url)
    now = dt.datetime.now(dt.timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        with session_scope(engine) as s:
            controls = repo.active_controls(s, account=user)  # this account's and the all-accounts ones
            marks = repo.equity_curve(s, start, now + dt.timedelta(seconds=1), user=user)
            beat = s.execute(select(EquityMark.time).where(EquityMark.source == "engine", EquityMark.user == user)
                             .order_by(EquityMark.time.desc()).limit(1)).scalar()
    except Exception as exc:  # no ledger yet: say so, the venue part is still useful
        return {"kill_switch": None, "engine": None, "ledger_error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        engine.dispose()
    kill = next((c for c in controls if c.kind == "kill_switch" and c.data), None)
    return {
        "kill_switch": {"engaged": kill is not None, "who": kill.who if kill else None,
                        "why": kill.why if kill else None,
                        "since": kill.time.isoformat() if kill else None},
        "controls": [{"kind": c.kind, "scope": c.scope, "account": c.account, "value": c.data, "who": c.who}
                     for c in controls],
        "pnl_today": str(equity - marks[0].equity) if marks else None,
        "equity_marks_today": len(marks),
        "engine": {"last_heartbeat": beat.isoformat() if beat else None,
                   "age_s": round((now - beat).total_seconds(), 1) if beat else None,
                   "alive": beat is not None and (now - beat).total_seconds() < HEARTBEAT_STALE_S},
    }


def _print_human(st: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    kill = st.get("kill_switch") or {}
    con.print(f"[bold]hlmm status[/bold]  user {st['user']}  venue {st['venue']} ({st['venue_url']})")
    eng = st.get("engine") or {}
    if eng.get("alive"):
        con.print(f"engine: [green]running[/green] (last heartbeat {eng['age_s']:.0f} s ago)")
    elif eng.get("last_heartbeat"):
        con.print(f"engine: [red]not running?[/red] last heartbeat {eng['age_s']:.0f} s ago ({eng['last_heartbeat']})")
    else:
        con.print("engine: [yellow]no heartbeat in the ledger[/yellow] (never started against this ledger)")
    if kill.get("engaged"):
        con.print(f"kill switch: [red]ENGAGED[/red] by {kill.get('who')} since {kill.get('since')}: {kill.get('why')}"
                  "  (clear with `hlmm resume --why ...`)")
    else:
        con.print("kill switch: off")
    con.print(f"equity {_usd(st['equity_usd'])} USD   PnL today {_usd(st.get('pnl_today'))}   realized today "
              f"{_usd(st['realized_today'])}   funding today {_usd(st['funding_today'])}   fills today {st['fills_today']}")
    b = st["budget"]
    con.print(f"address budget: {b['used']:,}/{b['cap']:,} used ({b['remaining']:,} left)")
    t = Table("coin", "size", "entry", "uPnL USD", title="perp positions")
    for p in st["positions"]:
        t.add_row(p["coin"], p["szi"], str(p["entry_px"] or "-"), _usd(p["unrealized_pnl"]))
    con.print(t)
    t = Table("token", "pair", "total", "hold", "value USD", title="spot balances")
    for r in st["spot"]:
        t.add_row(r["token"], r["pair"] or "-", r["total"], r["hold"], _usd(r["value_usd"]))
    con.print(t)
    t = Table("market", "side", "px", "sz", "oid", title=f"open orders ({len(st['open_orders'])})")
    for o in st["open_orders"]:
        t.add_row(o["name"], "buy" if o["side"] == "B" else "sell", o["px"], o["sz"], str(o["oid"]))
    con.print(t)


def register(app: typer.Typer) -> None:
    @app.command("status", help="Show positions, open orders, PnL and funding today, kill switch and budget.")
    def status_command(
        config: Optional[Path] = typer.Option(None, "--config", "-c"),
        as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    ) -> None:
        import asyncio

        from engine.config import ConfigError, load_config

        try:
            cfg = load_config(config)
        except ConfigError as exc:
            typer.echo(f"invalid configuration:\n{exc}", err=True)
            raise typer.Exit(code=2)
        user = cfg.venue.trading_account
        if user is None:
            try:  # local venue: the address may only be implied by the key
                from eth_account import Account

                from engine.config import resolve_private_key

                user = Account.from_key(resolve_private_key(cfg.venue)).address
            except ConfigError as exc:
                typer.echo(f"set venue.account_address (or a key source): {exc}", err=True)
                raise typer.Exit(code=2)
        import httpx

        from engine.venue.rest import VenueError

        try:
            st = asyncio.run(gather_status(cfg, user.lower()))
        except (VenueError, httpx.HTTPError, OSError) as exc:  # one line a person can act on, not a traceback
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            typer.echo(f"hlmm status: venue {cfg.venue.base_url} ({cfg.venue.network}) unreachable: {reason}. "
                       "Is it running (hlmm up / hlmm sim) and is venue.base_url right?", err=True)
            raise typer.Exit(code=1)
        if as_json:
            typer.echo(json.dumps(st, default=str))
        else:
            _print_human(st)
