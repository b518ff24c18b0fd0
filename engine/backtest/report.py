"""The text summary `hlmm backtest` prints: the figures other backtesters print, in one screen."""
from __future__ import annotations

import datetime as dt


def _usd(x: float | None) -> str:
    return "—" if x is None else f"{x:,.2f}"


def _when(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def summary_table(r: dict) -> str:
    rows: list[tuple[str, str]] = []
    span_s = ((r.get("end_ms") or 0) - (r.get("start_ms") or 0)) / 1000
    rows.append(("replayed", f"{_when(r.get('start_ms'))} → {_when(r.get('end_ms'))} ({span_s / 60:,.1f} min)"))
    rows.append(("events", f"{r['events']:,} ({r['book_events']:,} books, {r['trade_events']:,} trades) "
                           f"in {r['wall_s']:.2f} s ({r['events_per_s']:,.0f}/s)"))
    if r.get("skipped_before_first_book"):
        rows.append(("  skipped", f"{r['skipped_before_first_book']:,} trades printed before the first book"))
    rows.append(("", ""))
    rows.append(("P&L total", f"{_usd(r['pnl_total_usd'])} USD"))
    for k, v in r["pnl_attribution"].items():
        rows.append((f"  {k.replace('_', ' ')}", f"{_usd(v)}"))
    rows.append(("  unexplained", f"{r['unexplained_usd']:.6f} (venue accounting vs the parts)"))
    rows.append(("max drawdown", f"{_usd(r['max_drawdown_usd'])} USD"))
    rows.append(("sharpe (per-minute P&L)", f"{r['sharpe']:.2f}"))
    rows.append(("", ""))
    rows.append(("fills", f"{r['fills']:,} ({r['maker_ratio']:.0%} maker), volume {_usd(r['volume_usd'])} USD, "
                          f"turnover {r['turnover'] or 0:.2f}×"))
    orders = r.get("orders") or {}
    rows.append(("orders placed", f"{orders.get('open', 0):,}; cancelled {orders.get('canceled', 0):,}, "
                                  f"post-only rejects {orders.get('badAloPxRejected', 0):,}"))
    shares = r.get("time_in_status") or {}
    rows.append(("time", ", ".join(f"{k} {v:.1%}" for k, v in shares.items()) or "—"))
    inv = r.get("final_inventory") or {}
    rows.append(("end inventory", ", ".join(f"{k} {v:+.6g}" for k, v in inv.items())))
    if r.get("feed_gaps"):
        rows.append(("feed gaps", f"{r['feed_gaps']} (replayed as disconnects)"))
    q = r.get("data_quality") or {}
    if any(q.values()):
        rows.append(("data cleaned", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in q.items() if v)))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:>{width}}  {v}" if k else "" for k, v in rows]
    if r.get("no_fill_reason"):
        lines += ["", r["no_fill_reason"]]
    return "\n".join(lines)
