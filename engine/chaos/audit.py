"""The chaos run's verdict (pure): what the venue recorded against what the engine's ledger holds, and the
limits the engine promised to keep. Every figure is computed from venue records (fills, order events) and
ledger rows collected after the run; nothing here trusts the engine's own counters.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

# order statuses after which an order no longer rests
_LIVE = {"open", "triggered"}


@dataclass(frozen=True)
class Limits:
    max_position_usd: float
    max_open_orders: int
    levels: int  # quotes per side per leg


@dataclass
class Evidence:
    """What the harness collected. `order_events`: the venue's status changes of our account's orders
    (`{"order": {...}, "status", "statusTimestamp"}`, oldest first); `venue_fills`: our account's fills;
    `ledger_fills`: the tids in the ledger's fills table (one per row); `ledger_orders`: (cloid, oid, status)
    rows; `alive`: (from_ms, to_ms) spans during which an engine process was running and had started;
    `kills`: (sigkill_ms, flat_ms or None) per SIGKILL; `coins`: wire coin -> leg name."""
    order_events: list[dict]
    venue_fills: list[dict]
    ledger_fills: list[int]
    ledger_orders: list[tuple[str | None, int | None, str]]
    alive: list[tuple[int, int]]
    kills: list[tuple[int, int | None]]
    deadman_horizon_ms: int
    limits: Limits
    coins: dict[str, str] = field(default_factory=dict)


def _worst_positions(fills: Iterable[dict]) -> dict[str, tuple[float, int]]:
    """Per coin, the largest |position| × price right after any of our fills (USD) and when it happened."""
    worst: dict[str, tuple[float, int]] = {}
    for f in sorted(fills, key=lambda f: (f["time"], f["tid"])):
        sz = float(f["sz"])
        after = float(f["startPosition"]) + (sz if f["side"] == "B" else -sz)
        usd = abs(after) * float(f["px"])
        if usd > worst.get(f["coin"], (0.0, 0))[0]:
            worst[f["coin"]] = (usd, f["time"])
    return worst


def _open_order_peaks(events: list[dict]) -> tuple[int, dict[tuple[str, str], int]]:
    """The most orders of ours resting at once, overall and per (coin, side), replaying the venue's events."""
    resting: dict[int, tuple[str, str]] = {}
    peak, per_side_peak = 0, Counter()
    for e in sorted(events, key=lambda e: e["statusTimestamp"]):
        o = e["order"]
        if e["status"] in _LIVE:
            resting[o["oid"]] = (o["coin"], o["side"])
        else:
            resting.pop(o["oid"], None)
        peak = max(peak, len(resting))
        for k, n in Counter(resting.values()).items():
            per_side_peak[k] = max(per_side_peak[k], n)
    return peak, dict(per_side_peak)


def _fires(events: list[dict]) -> list[int]:
    """Times at which the venue's scheduled cancel fired on our orders (one fire cancels many)."""
    return sorted({e["statusTimestamp"] for e in events if e["status"] == "scheduledCancel"})


def audit(ev: Evidence) -> dict[str, Any]:
    venue_tids = Counter(f["tid"] for f in ev.venue_fills)
    ledger_tids = Counter(ev.ledger_fills)
    lost = sorted(set(venue_tids) - set(ledger_tids))
    duplicated = sorted(t for t, n in ledger_tids.items() if n > 1)
    phantom = sorted(set(ledger_tids) - set(venue_tids))

    final: dict[int, dict] = {}
    cloids_of: dict[str, set[int]] = {}
    for e in sorted(ev.order_events, key=lambda e: e["statusTimestamp"]):
        o = e["order"]
        final[o["oid"]] = e
        if o.get("cloid"):
            cloids_of.setdefault(o["cloid"], set()).add(o["oid"])
    by_oid = {oid: status for _, oid, status in ev.ledger_orders if oid is not None}
    by_cloid = {cloid: status for cloid, _, status in ev.ledger_orders if cloid}
    orphans, disagree = [], []
    for oid, e in final.items():
        cloid = e["order"].get("cloid")
        mine = by_oid.get(oid) if oid in by_oid else by_cloid.get(cloid) if cloid else None
        if mine is None:
            orphans.append(oid)
        elif mine != e["status"]:
            disagree.append((oid, mine, e["status"]))
    # a modify keeps the cloid on the venue's side only when the new order has none; ours always carries its
    # own, so two oids under one cloid mean a cloid sent twice
    dup_cloids = sorted(c for c, oids in cloids_of.items() if len(oids) > 1)

    worst = _worst_positions(ev.venue_fills)
    peak, per_side = _open_order_peaks(ev.order_events)
    fires = _fires(ev.order_events)
    live_fires = [t for t in fires if any(a <= t <= b for a, b in ev.alive)]
    flat_budget = ev.deadman_horizon_ms + 10_000
    to_flat = [None if flat is None else flat - k for k, flat in ev.kills]
    self_trade = sum(1 for e in final.values() if e["status"] == "selfTradeCanceled")
    return {
        "fills_venue": sum(venue_tids.values()), "fills_ledger": sum(ledger_tids.values()),
        "lost": len(lost), "duplicated": len(duplicated), "phantom": len(phantom),
        "orders_venue": len(final), "orphans": len(orphans), "duplicate_cloids": len(dup_cloids),
        "worst_position_usd": {ev.coins.get(c, c): round(v, 2) for c, (v, _) in worst.items()},
        "position_limit_usd": ev.limits.max_position_usd,
        "position_breaches": sum(1 for v, _ in worst.values() if v > ev.limits.max_position_usd),
        "peak_open_orders": peak, "open_order_limit": ev.limits.max_open_orders,
        "peak_per_side": max(per_side.values(), default=0), "levels": ev.limits.levels,
        "open_order_breaches": int(peak > ev.limits.max_open_orders),
        "deadman_fires": len(fires), "deadman_fires_live": len(live_fires),
        "kills": len(ev.kills), "time_to_flat_s": [None if d is None else round(d / 1000, 1) for d in to_flat],
        "flat_budget_s": flat_budget / 1000,
        "slow_to_flat": sum(1 for d in to_flat if d is None or d > flat_budget),
        "self_trade_cancels": self_trade, "status_disagreements": len(disagree),
        "examples": {"lost": lost[:5], "orphans": orphans[:5], "disagreements": disagree[:5],
                     "duplicate_cloids": dup_cloids[:5], "live_fires": live_fires[:5],
                     "kills": ev.kills, "fires": fires[:20]},
    }


GOALS = {"lost": 0, "duplicated": 0, "phantom": 0, "orphans": 0, "duplicate_cloids": 0, "position_breaches": 0,
         "open_order_breaches": 0, "deadman_fires_live": 0, "slow_to_flat": 0, "self_trade_cancels": 0,
         "status_disagreements": 0}


def failures(report: dict[str, Any]) -> list[str]:
    """The goals the run missed, one line each (empty: every goal met)."""
    return [f"{k} = {report[k]} (goal {v})" for k, v in GOALS.items() if report[k] != v]


def table(report: dict[str, Any]) -> str:
    r = report
    rows = [
        ("fills on the venue / in the ledger", f"{r['fills_venue']:,} / {r['fills_ledger']:,}"),
        ("lost / duplicated / not on the venue", f"{r['lost']} / {r['duplicated']} / {r['phantom']}"),
        ("orders on the venue; orphans (not in the ledger)", f"{r['orders_venue']:,}; {r['orphans']}"),
        ("duplicate cloids", str(r["duplicate_cloids"])),
        ("worst position (USD) vs limit", ", ".join(f"{c} {v:,.0f}" for c, v in r["worst_position_usd"].items())
         + f" vs {r['position_limit_usd']:,.0f} ({r['position_breaches']} breaches)"),
        ("peak open orders vs limit", f"{r['peak_open_orders']} vs {r['open_order_limit']}; "
                                      f"peak per side {r['peak_per_side']} (levels {r['levels']})"),
        ("dead man's fires: all / on a live engine", f"{r['deadman_fires']} / {r['deadman_fires_live']}"),
        ("time to flat after each SIGKILL (s)", ", ".join("never" if d is None else f"{d}"
                                                          for d in r["time_to_flat_s"]) or "-"),
        ("  budget (horizon + 10 s)", f"{r['flat_budget_s']:.0f} s; {r['slow_to_flat']} over"),
        ("self-trade cancels", str(r["self_trade_cancels"])),
        ("ledger statuses that disagree with the venue", str(r["status_disagreements"])),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    missed = failures(r)
    lines.append("")
    lines.append("every goal met" if not missed else "missed: " + "; ".join(missed))
    return "\n".join(lines)
