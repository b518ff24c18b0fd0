"""Startup (and post-resync) reconciliation: the venue's open orders are the truth, our memory is not.

Our cloids carry a fixed 16-bit engine tag in the run prefix (`make_run_id`), so a restarted engine can tell
orders placed by *any* earlier run of this engine (adopt: they become live orders the next diff keeps,
modifies or cancels — no duplicates) from orders it did not place on the coins it quotes (orphans: manual
or foreign orders that would distort inventory and risk — cancelled). Orders on coins the engine does not
trade are left alone and reported.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable

from engine.execution.diff import LiveOrder, parse_cloid
from engine.execution.orders import OrderTracker
from engine.venue.wire import cancel_action

log = logging.getLogger(__name__)
ENGINE_TAG = 0x686C  # "hl": the first 4 hex digits of every cloid this engine makes


def make_run_id(rand16: int | None = None) -> int:
    """32-bit CloidFactory run id: engine tag in the high half, a per-process random low half."""
    low = secrets.randbits(16) if rand16 is None else rand16 & 0xFFFF
    return (ENGINE_TAG << 16) | low


def is_ours(cloid: str | None) -> bool:
    if not cloid:
        return False
    try:
        run_id, _ = parse_cloid(cloid)
    except ValueError:
        return False
    return run_id >> 16 == ENGINE_TAG


def live_order(o: Any) -> LiveOrder:
    """venue.account.OpenOrder → LiveOrder (remaining size)."""
    return LiveOrder(o.oid, o.coin, o.is_buy, o.limit_px, o.sz, o.cloid)


@dataclass(slots=True)
class ReconcileReport:
    adopted: list[LiveOrder] = field(default_factory=list)
    orphans_cancelled: list[LiveOrder] = field(default_factory=list)
    foreign_left: list[LiveOrder] = field(default_factory=list)
    cancel_failed: int = 0

    def as_dict(self) -> dict:
        return {"adopted": len(self.adopted), "orphans_cancelled": len(self.orphans_cancelled),
                "foreign_left": len(self.foreign_left), "cancel_failed": self.cancel_failed}


async def reconcile_orders(rest: Any, coins: Iterable[str], asset_of: dict[str, int], tracker: OrderTracker,
                           cancel_orphans: bool = True) -> ReconcileReport:
    coins = set(coins)
    report = ReconcileReport()
    for o in await rest.open_orders():
        lo = live_order(o)
        if o.coin not in coins:
            report.foreign_left.append(lo)
        elif is_ours(o.cloid) and not o.reduce_only and not o.is_trigger:
            report.adopted.append(lo)
        else:
            report.orphans_cancelled.append(lo)
    tracker.replace_all(report.adopted)
    if cancel_orphans and report.orphans_cancelled:
        for i in range(0, len(report.orphans_cancelled), 39):
            chunk = report.orphans_cancelled[i:i + 39]
            result = await rest.send_action(cancel_action([(asset_of[o.coin], o.oid) for o in chunk]))
            report.cancel_failed += sum(1 for s in result.statuses if not s.placed) if result.ok else len(chunk)
    if report.orphans_cancelled or report.adopted:
        log.info("reconcile: %s", report.as_dict())
    return report
