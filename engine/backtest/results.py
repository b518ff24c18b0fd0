"""The results of a backtest (`hlmm backtest --json`): counts, P&L and its attribution, risk figures, time
spent quoting or paused, the engine's own counters, the account's end state, data quality and, when nothing
filled, why.

The attribution is `engine.attribution.attribute_pnl` — the same function the daily report uses — over the
venue's own fills and funding rows, the replayed mid at each fill as its reference, and the account as the
venue holds it at the first and the last event; `unexplained_usd` is what the venue's accounting disagrees
with the parts by (0 when every fill and funding row is accounted).
"""
from __future__ import annotations

from typing import Any

from engine.attribution import attribute_pnl
from engine.backtest.metrics import max_drawdown, sharpe


def _median_bp(hist: dict[int, int]) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    seen = 0
    for key in sorted(hist):
        seen += hist[key]
        if seen * 2 >= total:
            return key / 10
    return None


def no_fill_reason(bt: Any, fills: int) -> str | None:
    """One line saying why a run filled nothing (None when something filled)."""
    if fills:
        return None
    m = bt.market
    placed = sum(m.quote_bp.values())
    book = _median_bp(m.book_bp)
    if not placed:
        shares = time_shares(bt.status_ms)
        quoting = shares.get("quoting", 0.0)
        return (f"no fills: the engine placed no orders (quoting {quoting:.0%} of the time; "
                f"{', '.join(f'{k} {v:.0%}' for k, v in shares.items() if k != 'quoting') or 'never paused'})")
    ours = _median_bp(m.quote_bp)
    trades = bt.counts["trades"]
    why = (f"no fills: our quotes rested a median {ours:.2f} bp from mid while the book's median half-spread "
           f"was {book:.2f} bp")
    if not trades:
        why += "; the data has no trades, so only a book crossing our price could fill us"
    elif ours is not None and book is not None and ours > 3 * max(book, 0.05):
        why += f" — {trades:,} trades printed, none reached that far (narrow strategy.base_spread to quote nearer)"
    return why


def time_shares(status_ms: dict[str, int]) -> dict[str, float]:
    total = sum(status_ms.values())
    return {k: v / total for k, v in sorted(status_ms.items())} if total else {}


def engine_result(bt: Any, wall: float, first_t: int, last_t: int, n: int) -> dict:
    m, venue, engine = bt.market, bt.venue, bt.engine
    opts = bt.opts
    attr = attribute_pnl(bt.start, bt.end, m.fills, m.funding_rows, m.fill_mids)
    gauges = engine.snapshot()["gauges"]
    counts: dict[str, int] = {}
    for row in venue.order_events():
        if row["user"] == m.user:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    start_value = float(bt.start.equity)
    fills = m.n_fills
    _, chs = venue.info({"type": "clearinghouseState", "user": m.user, "dex": ""})
    _, spot_state = venue.info({"type": "spotClearinghouseState", "user": m.user})
    return {
        "engine": "the live Engine against the in-process venue",
        "events": n, "book_events": bt.counts["books"], "trade_events": bt.counts["trades"],
        "skipped_before_first_book": bt.counts["before_first_book"],
        "events_per_s": n / wall if wall > 0 else 0.0, "wall_s": wall,
        "wall_phases_s": getattr(bt, "phases", None),  # engine start (venue reads, ledger schema), replay, stop
        "start_ms": first_t, "end_ms": last_t,
        "fills": fills, "maker_fills": m.n_maker, "maker_ratio": m.n_maker / fills if fills else 0.0,
        "volume_usd": m.volume, "turnover": m.volume / start_value if start_value else None,
        "pnl_total_usd": float(attr.total), "equity_change_usd": float(attr.equity_change),
        "unexplained_usd": float(attr.unexplained),
        "pnl_attribution": {k: float(v) for k, v in attr.parts.items()},
        "max_drawdown_usd": max_drawdown(m.curve.equity), "sharpe": sharpe(m.curve.t, m.curve.equity),
        "time_in_status": time_shares(bt.status_ms),
        "orders": counts,
        "counters": {k: gauges[k] for k in sorted(gauges) if k.startswith(("engine_", "exec_"))},
        "queue_fills": m.queue_fills, "funding_usd": float(attr.funding),
        "missing_funding_hours": m.missing_funding_hours, "feed_gaps": m.gaps,
        "final_inventory": {**{name: q for name, q in m.positions.items()}, "net": m.net},
        "balances": {"perp_account_value": float(chs["marginSummary"]["accountValue"]),
                     "spot": {b["coin"]: float(b["total"]) for b in spot_state["balances"]},
                     "perp_position": {p["position"]["coin"]: float(p["position"]["szi"])
                                       for p in chs["assetPositions"]}},
        "data_quality": bt.quality.as_dict() if bt.quality is not None else None,
        "median_quote_distance_bp": _median_bp(m.quote_bp), "median_book_half_spread_bp": _median_bp(m.book_bp),
        "no_fill_reason": no_fill_reason(bt, fills),
        "queue_model": opts.queue, "latency_ms": opts.latency_ms, "seed": opts.seed,
    }
