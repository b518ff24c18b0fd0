"""OrderPlan → the exchange actions that carry it out (pure; signing and sending are the venue client's job).

Order of actions: cancels first (they free open-order slots and margin for what follows), then one
batchModify, then new orders. Each kind is chunked to `max_batch` orders: an action's IP weight is
1 + floor(n / 40) (protocol §9), so 39 per action is the cheapest chunk, and the venue refuses batches over
200 outright. Every new or modified order carries the plan's cloid so an ambiguous outcome (timeout,
dropped connection) is resolved by looking the cloid up, never by sending again.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

from engine.execution.diff import OrderPlan
from engine.venue.wire import Tif, batch_modify_action, cancel_action, order_action, order_wire

DEFAULT_MAX_BATCH = 39


def _chunks(items: Sequence, n: int) -> Iterator[Sequence]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _asset(asset_of: Mapping[str, int], coin: str) -> int:
    try:
        return asset_of[coin]
    except KeyError:
        raise ValueError(f"plan_actions: no asset id for coin {coin!r} (known: {sorted(asset_of)})") from None


def plan_actions(plan: OrderPlan, asset_of: Mapping[str, int], tif: Tif = "Alo",
                 max_batch: int = DEFAULT_MAX_BATCH) -> list[dict]:
    """Unsigned actions for `plan`, in send order. All wire conversion happens before anything is returned,
    so a bad coin or price raises here and no partial list reaches the signer."""
    if not 1 <= max_batch <= 200:
        raise ValueError(f"plan_actions: max_batch must be in 1..200, got {max_batch}")
    if any(m.cloid is None for m in plan.modifies) or any(p.cloid is None for p in plan.places):
        raise ValueError("plan_actions: an order has no cloid (stamp the plan first: OrderPlan.stamp)")
    cancels = [(_asset(asset_of, c.live.coin), c.live.oid) for c in plan.cancels]
    modifies = [(m.live.oid, order_wire(_asset(asset_of, m.quote.coin), m.quote.is_buy, m.quote.px, m.quote.sz,
                                        cloid=m.cloid, tif=tif)) for m in plan.modifies]
    places = [order_wire(_asset(asset_of, p.quote.coin), p.quote.is_buy, p.quote.px, p.quote.sz, cloid=p.cloid,
                         tif=tif) for p in plan.places]
    actions = [cancel_action(chunk) for chunk in _chunks(cancels, max_batch)]
    actions += [batch_modify_action(chunk) for chunk in _chunks(modifies, max_batch)]
    actions += [order_action(chunk) for chunk in _chunks(places, max_batch)]
    return actions
