"""daily_report (00:05 UTC): PnL attribution since the previous report, fills, maker ratio, volume, uptime,
venue budget; PNG charts (equity, inventory, funding, spread); Prefect markdown + table artifacts; an Apprise
summary with the equity chart attached.

The window runs from the previous report's end snapshot (stored in the ledger's params as
``report.snapshot``) to now; the first run only records that baseline. Uptime is the share of 5-minute slots
in the window holding at least one equity mark (the engine and drawdown_audit write them).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from prefect import flow, get_run_logger

from flows.hooks import HOOKS
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.charts import line_chart
from engine.attribution import AccountSnapshot, AttributionError, attribute_pnl
from engine.numbers import dec
from flows.runtime import build_runtime
from flows.tasks import ms, read_account, read_candles, read_fills, read_user_funding

SNAPSHOT_KEY = "report.snapshot"
SLOT = dt.timedelta(minutes=5)


def _reference_prices(rt, fills: list[dict], log) -> dict:
    """Mid proxy at each fill: the close of the 1-minute candle holding it (falls back to the fill price)."""
    refs: dict = {}
    by_coin: dict[str, list[dict]] = {}
    for f in fills:
        by_coin.setdefault(f["coin"], []).append(f)
    for coin, fs in by_coin.items():
        lo, hi = min(int(f["time"]) for f in fs), max(int(f["time"]) for f in fs)
        try:
            rows = read_candles(rt.reader, coin, "1m", lo - 60_000, hi + 60_000)
        except Exception as exc:
            log.warning("no 1m candles for %s (%s): spread measured against fill prices", coin, exc)
            continue
        close = {int(r["t"]) // 60_000: dec(r["c"], f"candles.{coin}.c") for r in rows}
        for f in fs:
            c = close.get(int(f["time"]) // 60_000)
            if c is not None:
                refs[f["tid"]] = c
    return refs


def _uptime(marks: list[tuple[dt.datetime, Decimal]], start: dt.datetime, end: dt.datetime) -> float:
    slots = max(1, int((end - start) / SLOT))
    seen = {int((t - start) / SLOT) for t, _ in marks if start <= t < end}
    return min(1.0, len(seen) / slots)


@flow(name="daily_report", description="Daily PnL attribution, activity, charts; artifacts + Apprise summary",
      **HOOKS)
def daily_report(report_dir: str = "var/reports", config_path: str | None = None) -> dict:
    log = get_run_logger()
    with build_runtime(config_path) as rt:
        now = rt.now()
        end_snap, raw = read_account(rt.reader, rt.user, now)
        stored = rt.store.latest_param(SNAPSHOT_KEY)
        rt.store.record_equity_mark(rt.user, now, end_snap.equity, source="daily_report",
                                    perp_account_value=raw["perp_account_value"])
        if stored is None:
            rt.store.set_param(SNAPSHOT_KEY, end_snap.as_json(), reason="baseline", source="daily_report")
            create_markdown_artifact(key="daily-report", markdown=f"# Daily report\n\nBaseline recorded at "
                                     f"{now.isoformat()}: equity {end_snap.equity:,.2f} USDC.")
            return {"status": "baseline", "equity": str(end_snap.equity)}
        start_snap = AccountSnapshot.from_json(stored)
        s_ms, e_ms = ms(start_snap.time), ms(now)
        fills = [f for f in read_fills(rt.reader, rt.user, s_ms + 1, e_ms) if s_ms < int(f["time"]) <= e_ms]
        funding = [r for r in read_user_funding(rt.reader, rt.user, s_ms + 1, e_ms) if s_ms < int(r["time"]) <= e_ms]
        refs = _reference_prices(rt, fills, log)
        problem = None
        try:
            attr = attribute_pnl(start_snap, end_snap, fills, funding, reference_px=refs)
        except AttributionError as exc:  # a fill landed between the snapshot reads, or the ledger has gaps
            problem = str(exc)
            attr = None
        marks = rt.store.equity_curve(rt.user, start_snap.time, now)
        uptime = _uptime(marks, start_snap.time, now)
        try:
            budget = rt.reader.user_rate_limit(rt.user)
            used, cap = int(budget["nRequestsUsed"]), int(budget["nRequestsCap"])
        except Exception:
            used = cap = None
        out_dir = Path(report_dir) / now.strftime("%Y-%m-%d_%H%M")
        out_dir.mkdir(parents=True, exist_ok=True)
        charts = _charts(out_dir, start_snap, end_snap, fills, funding, refs, marks)

        volume = sum((dec(f["px"], "px") * dec(f["sz"], "sz") for f in fills), Decimal(0))
        n_maker = sum(1 for f in fills if not f.get("crossed"))
        result: dict = {"status": "ok" if problem is None else "incomplete", "start": start_snap.time.isoformat(),
                        "end": now.isoformat(), "equity_start": str(start_snap.equity), "equity_end": str(end_snap.equity),
                        "fills": len(fills), "maker_ratio": n_maker / len(fills) if fills else 0.0,
                        "volume_usd": str(volume), "uptime": uptime, "requests_used": used, "requests_cap": cap,
                        "rest_weight_used_by_report": rt.reader.weight_used, "charts": [str(c) for c in charts]}
        md = [f"# Daily report {start_snap.time:%Y-%m-%d %H:%M} → {now:%Y-%m-%d %H:%M} UTC", "",
              f"Equity {start_snap.equity:,.2f} → {end_snap.equity:,.2f} USDC; fills {len(fills)} "
              f"(maker {result['maker_ratio']:.1%}), volume {volume:,.2f} USD, uptime {uptime:.1%}, "
              f"venue requests {used}/{cap}.", ""]
        if attr is not None:
            parts = {**attr.parts, "unexplained": attr.unexplained, "equity_change": attr.equity_change}
            result["attribution"] = {k: str(v) for k, v in parts.items()}
            create_table_artifact(key="daily-pnl", table=[{"part": k, "usdc": f"{v:.6f}"} for k, v in parts.items()],
                                  description="PnL attribution (parts sum to the equity change)")
            md += ["| part | USDC |", "|---|---:|"] + [f"| {k} | {v:,.4f} |" for k, v in parts.items()]
        else:
            result["problem"] = problem
            md += [f"**Attribution skipped:** {problem}"]
        md += ["", "Charts: " + ", ".join(str(c) for c in charts)]
        create_markdown_artifact(key="daily-report", markdown="\n".join(md), description="daily report")
        summary = (f"Equity {end_snap.equity:,.2f} USDC ({end_snap.equity - start_snap.equity:+,.2f}); "
                   f"fills {len(fills)}, maker {result['maker_ratio']:.0%}, volume {volume:,.0f}, uptime {uptime:.0%}")
        if attr is not None:
            summary += "\n" + ", ".join(f"{k} {v:+,.2f}" for k, v in attr.parts.items())
        rt.alerter.send("info" if problem is None else "warning", "daily report", summary, attachments=charts[:1])
        rt.store.set_param(SNAPSHOT_KEY, end_snap.as_json(), reason="daily report end", source="daily_report")
        log.info("daily report: %s", summary)
        return result


def _charts(out: Path, start: AccountSnapshot, end: AccountSnapshot, fills, funding, refs, marks) -> list[Path]:
    def t(ms_: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(ms_) / 1000, tz=dt.timezone.utc)

    equity = [(ts, float(v)) for ts, v in marks] or [(start.time, float(start.equity)), (end.time, float(end.equity))]
    inv: dict[str, list] = {}
    pos = dict(start.positions)
    for k, q in pos.items():
        inv[k] = [(start.time, float(q))]
    for f in sorted(fills, key=lambda f: f["time"]):
        s = 1 if f["side"] == "B" else -1
        pos[f["coin"]] = pos.get(f["coin"], Decimal(0)) + s * dec(f["sz"], "sz")
        inv.setdefault(f["coin"], [(start.time, 0.0)]).append((t(f["time"]), float(pos[f["coin"]])))
    cum, fund = Decimal(0), []
    for r in sorted(funding, key=lambda r: r["time"]):
        cum += dec(r["delta"]["usdc"], "usdc")
        fund.append((t(r["time"]), float(cum)))
    spread: dict[str, list] = {}
    for f in fills:
        ref = refs.get(f["tid"])
        if ref is None or f.get("crossed"):
            continue
        s = 1 if f["side"] == "B" else -1
        spread.setdefault(f["coin"], []).append((t(f["time"]), float(s * (ref - dec(f["px"], "px")) / ref * 10_000)))
    return [
        line_chart(out / "equity.png", "Equity (USDC)", {"equity": equity}, "USDC"),
        line_chart(out / "inventory.png", "Inventory", inv, "quantity", step=True),
        line_chart(out / "funding.png", "Cumulative funding", {"funding": fund}, "USDC", step=True),
        line_chart(out / "spread.png", "Maker edge vs 1m close", spread, "bps", scatter=True),
    ]
