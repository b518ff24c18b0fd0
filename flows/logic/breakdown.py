"""The daily report's breakdowns (pure): P&L attribution by UTC day and instrument, and fill markouts.

Attribution by day and coin uses `engine.attribution.attribute_pnl` (the one attribution, shared with the
backtests) on one instrument and one day at a time: the instrument's quantity and mark at each day boundary
(the position rebuilt from the fills, the mark from a price the caller supplies) make a pair of sub-snapshots.
Each part is a sum over fills, funding rows or instruments, and the inventory term telescopes across the day
boundaries, so the parts of all (day, coin) cells add up exactly to the account's parts over the window, whatever
boundary marks are used (a test checks this).

Markouts: for a fill with side s (+1 buy, −1 sell) at price px, the markout after τ is s·(mid(t+τ) − px): what
the fill is worth τ later against the mid, in USD per unit; in bps it is divided by px. Positive means the
market moved our way after we traded; a market maker's maker fills typically show negative markouts
(adverse selection) that the spread has to pay for.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.attribution import AccountSnapshot, attribute_pnl
from engine.numbers import dec

ZERO = Decimal(0)
PARTS = ("spread_capture", "hedge_slippage", "fees", "funding", "inventory_mtm")
HORIZONS = (("0s", "mid_0"), ("1s", "mid_1s"), ("10s", "mid_10s"), ("60s", "mid_60s"))


def _t(ms: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.timezone.utc)


def _delta_q(f: Mapping[str, Any]) -> Decimal:
    """The quantity a fill adds, as attribute_pnl books it (a base-token fee shrinks a spot buy)."""
    q = (1 if f["side"] == "B" else -1) * dec(f["sz"], "sz")
    if (f.get("feeToken") or "USDC") != "USDC":
        q -= dec(f.get("fee", "0"), "fee")
    return q


def day_boundaries(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """start, every UTC midnight strictly inside (start, end), end."""
    out = [start]
    day = (start + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        out.append(day)
        day += dt.timedelta(days=1)
    return out + [end]


def attribution_by_day_and_coin(start: AccountSnapshot, end: AccountSnapshot, fills: Sequence[Mapping[str, Any]],
                                funding: Sequence[Mapping[str, Any]], reference_px: Mapping[Any, Any],
                                mark_at: Callable[[str, dt.datetime], Decimal | None]) -> list[dict[str, Any]]:
    """Rows {day, coin, <parts>, total}: one per (UTC day, instrument) with any activity or holding.

    `mark_at(coin, t)` prices an instrument at an inner day boundary; None falls back to the start mark."""
    bounds = day_boundaries(start.time, end.time)
    coins = sorted(set(start.positions) | set(end.positions) | {f["coin"] for f in fills}
                   | {(r.get("delta", r))["coin"] for r in funding})
    rows: list[dict[str, Any]] = []
    for coin in coins:
        cf = sorted((f for f in fills if f["coin"] == coin), key=lambda f: int(f["time"]))
        cr = [r for r in funding if (r.get("delta", r))["coin"] == coin]
        q = start.positions.get(coin, ZERO)
        m0 = start.marks.get(coin) or end.marks.get(coin) or (dec(cf[0]["px"], "px") if cf else ZERO)
        snap0 = AccountSnapshot(bounds[0], q * m0, {coin: q}, {coin: m0})
        for lo, hi in zip(bounds, bounds[1:]):
            lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
            day_fills = [f for f in cf if lo_ms < int(f["time"]) <= hi_ms]
            day_funding = [r for r in cr if lo_ms < int(r["time"]) <= hi_ms]
            q = q + sum((_delta_q(f) for f in day_fills), ZERO)
            if hi == end.time:
                q, m = end.positions.get(coin, ZERO), end.marks.get(coin) or snap0.marks[coin]
            else:
                m = mark_at(coin, hi) or snap0.marks[coin]
            snap1 = AccountSnapshot(hi, q * m, {coin: q}, {coin: m})
            a = attribute_pnl(snap0, snap1, day_fills, day_funding, reference_px=reference_px)
            if day_fills or day_funding or snap0.positions[coin] or q:
                rows.append({"day": lo.date().isoformat(), "coin": coin, **a.parts, "total": a.total})
            snap0 = snap1
    return rows


@dataclasses.dataclass(frozen=True)
class MarkoutStats:
    coin: str
    liquidity: str             # "maker" | "taker"
    fills: int
    mean_bps: dict[str, Decimal | None]   # horizon -> mean markout in bps (None: no sample)
    total_usd: dict[str, Decimal]         # horizon -> summed markout in USD over the fills with a sample


def markout_bps(side: str, px: Decimal, mid: Decimal) -> Decimal:
    s = 1 if side == "B" else -1
    return s * (mid - px) / px * 10_000


def markout_stats(rows: Sequence[Mapping[str, Any]]) -> list[MarkoutStats]:
    """Per (coin, maker/taker): mean markout in bps and total in USD at 0 / 1 / 10 / 60 s. `rows` carry
    coin, side, px, sz, crossed and the mid_* columns (None where the engine had no fresh book)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["coin"], "taker" if r["crossed"] else "maker"), []).append(r)
    out = []
    for (coin, liq), rs in sorted(groups.items()):
        mean: dict[str, Decimal | None] = {}
        total: dict[str, Decimal] = {}
        for label, col in HORIZONS:
            xs = [(markout_bps(r["side"], Decimal(r["px"]), Decimal(r[col])),
                   (1 if r["side"] == "B" else -1) * (Decimal(r[col]) - Decimal(r["px"])) * Decimal(r["sz"]))
                  for r in rs if r.get(col) is not None]
            mean[label] = sum((x for x, _ in xs), ZERO) / len(xs) if xs else None
            total[label] = sum((u for _, u in xs), ZERO)
        out.append(MarkoutStats(coin, liq, len(rs), mean, total))
    return out
