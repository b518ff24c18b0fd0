"""Settling an /exchange action whose reply was lost (timeout, dropped connection, HTTP 5xx, lost WS post).

Never re-send: first *burn the action's nonce* with a `noop` signed with that same nonce. Accepted means the
original can never execute (nonces are single-use); "nonce already used" means it already did. Once the nonce
is used nothing is in flight any more, so the order records are decisive: `openOrders` (one read for a bigger
batch) and `orderStatus` by cloid/oid give each order's / cancel's fate. Mixed into `VenueRest`.
"""
from __future__ import annotations

import logging
from typing import Any

from engine.venue import wire
from engine.venue.account import OrderStatus, VenueDataError
from engine.venue.errors import Classified, Disposition, Outcome, classify_status
from engine.venue.results import ActionResult, OrderResult, Resolution, parse_exchange_reply

log = logging.getLogger(__name__)


class VenueError(Exception):
    """An info request failed for good (after retries, or with a non-retryable status)."""

    def __init__(self, classified: Classified, what: str) -> None:
        super().__init__(f"{what}: {classified.outcome.value}: {classified.message}")
        self.classified = classified


class Settlement:
    """Needs from VenueRest: _need_signer, _post_exchange, _sleep, _backoff, bucket, order_status,
    open_orders, account_address, resolve_attempts, stats."""

    stats: dict
    resolve_attempts: int
    account_address: Any

    # ---------------------------------------------------------------- resolution of ambiguous replies
    async def _burn_nonce(self, nonce: int, vault: str | None) -> str:
        """Send `noop` signed with the ambiguous action's nonce (safe to repeat: it can only use that nonce).

        "not_executed": a noop was accepted, so the original can never run;
        "executed": the first definitive reply was "nonce already used" and no earlier noop of ours can have
        used it, so the original ran; "consumed": used, by the original or by one of our noops whose reply was
        lost; "unknown": no definitive reply within `resolve_attempts`."""
        signer = self._need_signer()
        our_noop_maybe_applied = False
        for attempt in range(self.resolve_attempts):
            if attempt:
                await self._sleep(self._backoff(attempt - 1))
            env = signer.envelope(wire.noop_action(), nonce, vault, None)
            await self.bucket.acquire(1)
            status, payload, terr = await self._post_exchange(env)
            if status is None:
                our_noop_maybe_applied |= not (terr or "").startswith("not sent")
                continue
            if status >= 500:
                our_noop_maybe_applied = True
                continue
            if status != 200:  # 429 etc.: noop not applied
                if status == 429:
                    self.bucket.on_429()
                continue
            r = parse_exchange_reply("noop", nonce, payload)
            if r.ok:
                return "not_executed"
            if r.error is not None and r.error.outcome is Outcome.NONCE:
                return "consumed" if our_noop_maybe_applied else "executed"
            if r.error is not None and r.error.disposition() is Disposition.HALT:
                return "unknown"
        return "unknown"

    async def _lookup(self, ref: int | str, vault: str | None) -> OrderStatus | None:
        try:
            return await self.order_status(ref, user=vault or self.account_address)
        except (VenueError, VenueDataError) as exc:
            log.warning("orderStatus %s failed while resolving: %s", ref, exc)
            return None

    async def _resolve(self, action: dict, nonce: int, vault: str | None, why: str) -> ActionResult:
        kind = action.get("type", "?")
        refs = _refs(action)
        burn = await self._burn_nonce(nonce, vault)
        err = Classified(Outcome.RETRY_LATER, None, why)
        if burn in ("not_executed", "unknown"):
            res = Resolution.RESOLVED_NOT_PLACED if burn == "not_executed" else Resolution.UNKNOWN
            sts = [OrderResult("resolved", oid=ref if isinstance(ref, int) else None,
                               cloid=ref if isinstance(ref, str) else None, resolution=res) for ref in refs]
        # the nonce is used: nothing is in flight any more, so the order records are decisive
        elif kind in ("order", "batchModify", "cancel", "cancelByCloid"):
            # one openOrders read (weight 20) settles every still-open entry of a bigger batch; orderStatus
            # (weight 2 each) only for the rest
            live = await self._open_refs(vault) if len(refs) > 3 else None
            if kind in ("order", "batchModify"):
                sts = [await self._resolve_order(ref, vault, live) for ref in refs]
            else:
                sts = [await self._resolve_cancel(ref, vault, live) for ref in refs]
        else:
            sts = []
        if burn == "not_executed":
            res = Resolution.RESOLVED_NOT_PLACED
        elif burn == "unknown":
            res = Resolution.UNKNOWN
        elif kind in _BATCH_KINDS:
            res = _overall(sts)
        else:
            res = Resolution.RESOLVED_PLACED if burn == "executed" else Resolution.UNKNOWN
        self.stats["resolved_placed" if res is Resolution.RESOLVED_PLACED else
                   "resolved_not_placed" if res is Resolution.RESOLVED_NOT_PLACED else "resolved_unknown"] += 1
        log.info("exchange %s nonce %d resolved: %s (nonce %s)", kind, nonce, res.value, burn)
        return ActionResult(kind, nonce, res is Resolution.RESOLVED_PLACED, sts, error=err, resolution=res)

    async def _open_refs(self, vault: str | None) -> dict | None:
        """{oid: cloid, cloid: oid} of open orders, or None if the read failed."""
        try:
            orders = await self.open_orders(user=vault or self.account_address)
        except (VenueError, VenueDataError) as exc:
            log.warning("openOrders failed while resolving: %s", exc)
            return None
        live: dict = {}
        for o in orders:
            live[o.oid] = o.cloid
            if o.cloid:
                live[o.cloid] = o.oid
        return live

    async def _resolve_order(self, cloid: int | str | None, vault: str | None, live: dict | None) -> OrderResult:
        if not isinstance(cloid, str):
            return OrderResult("resolved", resolution=Resolution.UNKNOWN)
        if live is not None and cloid in live:
            return OrderResult("resolved", oid=live[cloid], cloid=cloid, status="open",
                               resolution=Resolution.RESOLVED_PLACED)
        st = await self._lookup(cloid, vault)
        if st is None:
            return OrderResult("resolved", cloid=cloid, resolution=Resolution.UNKNOWN)
        if not st.found:
            return OrderResult("resolved", cloid=cloid, resolution=Resolution.RESOLVED_NOT_PLACED)
        outcome = classify_status(st.status or "")
        if outcome is not Outcome.OK:
            return OrderResult("resolved", oid=st.order.oid if st.order else None, cloid=cloid, status=st.status,
                               error=Classified(outcome, None, st.status or ""),
                               resolution=Resolution.RESOLVED_NOT_PLACED)
        return OrderResult("resolved", oid=st.order.oid if st.order else None, cloid=cloid, status=st.status,
                           resolution=Resolution.RESOLVED_PLACED)

    async def _resolve_cancel(self, ref: int | str, vault: str | None, live: dict | None) -> OrderResult:
        oid = ref if isinstance(ref, int) else None
        cloid = ref if isinstance(ref, str) else None
        if live is not None:  # an order not open any more is gone: the cancel (or a fill) took it
            return OrderResult("resolved", oid=oid, cloid=cloid, status="open" if ref in live else None,
                               resolution=Resolution.RESOLVED_NOT_PLACED if ref in live
                               else Resolution.RESOLVED_PLACED)
        st = await self._lookup(ref, vault)
        if st is None:
            return OrderResult("resolved", oid=oid, cloid=cloid, resolution=Resolution.UNKNOWN)
        still_open = st.found and st.status == "open"
        return OrderResult("resolved", oid=oid, cloid=cloid, status=st.status,
                           resolution=Resolution.RESOLVED_NOT_PLACED if still_open else Resolution.RESOLVED_PLACED)

_BATCH_KINDS = frozenset({"order", "batchModify", "cancel", "cancelByCloid"})


def _refs(action: dict) -> list:
    """Per-entry lookup keys of a batch action: cloids of orders/modifies, oids or cloids of cancels."""
    kind = action.get("type")
    if kind == "order":
        return [o.get("c") for o in action["orders"]]
    if kind == "batchModify":
        return [m["order"].get("c") for m in action["modifies"]]
    if kind == "cancel":
        return [c["o"] for c in action["cancels"]]
    if kind == "cancelByCloid":
        return [c["cloid"] for c in action["cancels"]]
    return []


def _overall(sts: list[OrderResult]) -> Resolution:
    rs = {s.resolution for s in sts}
    if Resolution.UNKNOWN in rs or not rs:
        return Resolution.UNKNOWN
    if Resolution.RESOLVED_PLACED in rs:
        return Resolution.RESOLVED_PLACED
    return Resolution.RESOLVED_NOT_PLACED

