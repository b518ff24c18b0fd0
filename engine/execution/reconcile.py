"""Which orders are ours: the engine tag in every cloid this engine makes.

Our cloids carry a fixed 16-bit engine tag in the run prefix (`make_run_id`), so a restarted engine can tell
orders placed by *any* earlier run of this engine (adopted: they become live orders the next diff keeps,
modifies or cancels — no duplicates) from orders it did not place on the coins it quotes (cancelled at
start: they would distort inventory and risk). `execution/account.py` does the reconciliation.
"""
from __future__ import annotations

import secrets
from typing import Any

from engine.execution.diff import LiveOrder, parse_cloid

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
