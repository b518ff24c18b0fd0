"""daily_report (00:05 UTC): what the account did since the previous report, as a page a person reads in the
Prefect UI (the `daily-report` markdown artifact) and an Apprise summary with the equity chart attached.

The page: equity curve; P&L attribution of the account and by UTC day and coin (`engine.attribution`, the one
attribution shared with the backtests); funding collected vs expected; fills with their markouts (the mid 0 /
1 / 10 / 60 s after each fill, measured by the engine); the venue-vs-ledger audit of the window; inventory and
maker-edge charts. Charts are PNGs embedded as data: URIs, so the UI shows them whichever worker ran the flow
(the files are also kept under `report_dir`).

The window runs from the previous report's end snapshot (stored in the ledger's params as ``report.snapshot``)
to now; the first run only records that baseline. Uptime is the share of 5-minute slots in the window holding at
least one equity mark (the engine and drawdown_audit write them).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from engine.attribution import AccountSnapshot, AttributionError, attribute_pnl
from engine.numbers import dec
from flows.charts import data_uri, line_chart
from flows.funding_accounting import realized_vs_expected
from flows.hooks import HOOKS
from flows.logic.audit import diff_fills, diff_funding
from flows.logic.breakdown import HORIZONS, PARTS, attribution_by_day_and_coin, markout_stats
from flows.report_page import render_page
from flows.runtime import build_runtime
from flows.tasks import ms, read_account, read_candles, read_fills, read_user_funding

SNAPSHOT_KEY = "report.snapshot"
READ_ATTEMPTS = 4  # account + fills re-read when a fill landed between them
SLOT = dt.timedelta(minutes=5)


def _candle_closes(rt, coin: str, lo_ms: int, hi_ms: int, log) -> dict[int, Decimal]:
    """minute -> close of the 1-minute candle (the mid proxy where the engine measured no mid)."""
    try:
        rows = read_candles(rt.reader, coin, "1m", lo_ms - 60_000, hi_ms + 60_000)
    except Exception as exc:
        log.warning("no 1m candles for %s (%s): spread measured against fill prices", coin, exc)
        return {}
    return {int(r["t"]) // 60_000: dec(r["c"], f"candles.{coin}.c") for r in rows}


def _reference_prices(rt, fills: list[dict], markouts: list[dict], log) -> dict:
    """Mid at each fill: the engine's own book mid when it measured one (markouts.mid_0), else the close of the
    1-minute candle holding the fill (else attribute_pnl falls back to the fill price)."""
    refs = {m["tid"]: m["mid_0"] for m in markouts if m.get("mid_0") is not None}
    by_coin: dict[str, list[dict]] = {}
    for f in fills:
        if f["tid"] not in refs:
            by_coin.setdefault(f["coin"], []).append(f)
    for coin, fs in by_coin.items():
        close = _candle_closes(rt, coin, min(int(f["time"]) for f in fs), max(int(f["time"]) for f in fs), log)
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
        stored = rt.store.latest_param(SNAPSHOT_KEY)
        start_snap = None if stored is None else AccountSnapshot.from_json(stored)
        problem, attr, by_day, names = None, None, [], rt.reader.coin_names()
        for attempt in range(READ_ATTEMPTS):
            # the window ends at the venue's time of the account read (the perp and spot states are read back to
            # back): the fills up to it are the ones the snapshot holds
            end_snap, raw = read_account(rt.reader, rt.user, rt.now())
            now = end_snap.time
            if start_snap is None:
                break
            s_ms, e_ms = ms(start_snap.time), ms(now)
            fills = [f for f in read_fills(rt.reader, rt.user, s_ms + 1, e_ms) if s_ms < int(f["time"]) <= e_ms]
            funding = [r for r in read_user_funding(rt.reader, rt.user, s_ms + 1, e_ms)
                       if s_ms < int(r["time"]) <= e_ms]
            markouts = [m for m in rt.store.markouts(rt.user, start_snap.time, now) if s_ms < ms(m["time"]) <= e_ms]
            refs = _reference_prices(rt, fills, markouts, log)
            try:
                attr = attribute_pnl(start_snap, end_snap, fills, funding, reference_px=refs)
                problem = None
                break
            except AttributionError as exc:  # a fill landed between two of the reads (an engine that trades)
                problem = str(exc)
                log.info("attempt %d: %s; reading the account again", attempt + 1, problem)
        rt.store.record_equity_mark(rt.user, now, end_snap.equity, source="daily_report",
                                    perp_account_value=raw["perp_account_value"])
        if start_snap is None:
            rt.store.set_param(SNAPSHOT_KEY, end_snap.as_json(), reason="baseline", source="daily_report")
            create_markdown_artifact(key="daily-report", markdown=f"# Daily report\n\nBaseline recorded at "
                                     f"{now.isoformat()}: equity {end_snap.equity:,.2f} USDC. The next run reports "
                                     "on everything from here.")
            return {"status": "baseline", "equity": str(end_snap.equity)}
        if attr is not None:
            closes: dict[str, dict[int, Decimal]] = {}

            def mark_at(coin: str, t: dt.datetime) -> Decimal | None:
                minute = ms(t) // 60_000 - 1  # the last full minute before the boundary
                if coin not in closes:
                    closes[coin] = _candle_closes(rt, coin, ms(t) - 120_000, ms(t), log)
                return closes[coin].get(minute)
            by_day = attribution_by_day_and_coin(start_snap, end_snap, fills, funding, refs, mark_at)
        marks = rt.store.equity_curve(rt.user, start_snap.time, now)
        uptime = _uptime(marks, start_snap.time, now)
        try:
            budget = rt.reader.user_rate_limit(rt.user)
            used, cap = int(budget["nRequestsUsed"]), int(budget["nRequestsCap"])
        except Exception:
            used = cap = None
        funding_cmp = realized_vs_expected(rt, funding, s_ms, e_ms, None, log)
        audit = (diff_fills(fills, rt.store.fills(rt.user, s_ms + 1, e_ms)),
                 diff_funding(funding, rt.store.funding(rt.user, s_ms + 1, e_ms)))
        out_dir = Path(report_dir) / now.strftime("%Y-%m-%d_%H%M%S")
        out_dir.mkdir(parents=True, exist_ok=True)
        stats = markout_stats(markouts)
        charts = _charts(out_dir, start_snap, end_snap, fills, funding, refs, marks, stats, names)

        volume = sum((dec(f["px"], "px") * dec(f["sz"], "sz") for f in fills), Decimal(0))
        n_maker = sum(1 for f in fills if not f.get("crossed"))
        result: dict = {"status": "ok" if problem is None else "incomplete", "start": start_snap.time.isoformat(),
                        "end": now.isoformat(), "equity_start": str(start_snap.equity),
                        "equity_end": str(end_snap.equity), "fills": len(fills),
                        "maker_ratio": n_maker / len(fills) if fills else 0.0, "volume_usd": str(volume),
                        "uptime": uptime, "requests_used": used, "requests_cap": cap,
                        "rest_weight_used_by_report": rt.reader.weight_used, "charts": [str(c) for c in charts.values()],
                        "markouts": len(markouts), "audit_clean": audit[0].clean and audit[1].clean,
                        "by_day_and_coin": [{k: str(v) for k, v in r.items()} for r in by_day]}
        if attr is not None:
            parts = {**attr.parts, "unexplained": attr.unexplained, "equity_change": attr.equity_change}
            result["attribution"] = {k: str(v) for k, v in parts.items()}
            create_table_artifact(key="daily-pnl", table=[{"part": k, "usdc": f"{v:.6f}"} for k, v in parts.items()],
                                  description="PnL attribution (parts sum to the equity change)")
        else:
            result["problem"] = problem
        md = render_page(rt, start_snap, end_snap, now, fills, attr, problem, by_day, funding_cmp, stats, markouts,
                         audit, {k: data_uri(p) for k, p in charts.items()}, result, names)
        create_markdown_artifact(key="daily-report", markdown=md, description="daily report")
        summary = (f"Equity {end_snap.equity:,.2f} USDC ({end_snap.equity - start_snap.equity:+,.2f}); "
                   f"fills {len(fills)}, maker {result['maker_ratio']:.0%}, volume {volume:,.0f}, uptime {uptime:.0%}")
        if attr is not None:
            summary += "\n" + ", ".join(f"{k} {v:+,.2f}" for k, v in attr.parts.items())
        rt.alert("info" if problem is None else "warning", "daily report", summary,
                 "read the daily-report artifact in the Prefect UI" if problem is None else
                 f"attribution skipped ({problem}): run the ledger_audit deployment", attachments=(charts["equity"],))
        rt.store.set_param(SNAPSHOT_KEY, end_snap.as_json(), reason="daily report end", source="daily_report")
        log.info("daily report: %s", summary)
        return result


def _charts(out: Path, start: AccountSnapshot, end: AccountSnapshot, fills, funding, refs, marks, stats,
            names) -> dict[str, Path]:
    def t(ms_: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(ms_) / 1000, tz=dt.timezone.utc)

    equity = [(ts, float(v)) for ts, v in marks] or [(start.time, float(start.equity)), (end.time, float(end.equity))]
    inv: dict[str, list] = {}
    pos = dict(start.positions)
    for k, q in pos.items():
        inv[names.get(k, k)] = [(start.time, float(q))]
    for f in sorted(fills, key=lambda f: f["time"]):
        s = 1 if f["side"] == "B" else -1
        pos[f["coin"]] = pos.get(f["coin"], Decimal(0)) + s * dec(f["sz"], "sz")
        inv.setdefault(names.get(f["coin"], f["coin"]), [(start.time, 0.0)]).append((t(f["time"]),
                                                                                     float(pos[f["coin"]])))
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
        spread.setdefault(names.get(f["coin"], f["coin"]), []).append(
            (t(f["time"]), float(s * (ref - dec(f["px"], "px")) / ref * 10_000)))
    seconds = {"0s": 0, "1s": 1, "10s": 10, "60s": 60}
    curves = {f"{names.get(st.coin, st.coin)} {st.liquidity}": [(seconds[h], float(st.mean_bps[h]))
                                                                for h, _ in HORIZONS if st.mean_bps[h] is not None]
              for st in stats}
    return {
        "equity": line_chart(out / "equity.png", "Equity (USDC)", {"equity": equity}, "USDC"),
        "markouts": line_chart(out / "markouts.png", "Mean markout after the fill", curves, "bps", x_label="seconds"),
        "inventory": line_chart(out / "inventory.png", "Inventory", inv, "quantity", step=True),
        "funding": line_chart(out / "funding.png", "Cumulative funding", {"funding": fund}, "USDC", step=True),
        "spread": line_chart(out / "spread.png", "Maker edge vs mid at the fill", spread, "bps", scatter=True),
    }


__all__ = ["daily_report", "PARTS"]
