"""Typed /exchange results: what happened to an action and to each order/cancel in it (protocol §4.4)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.venue.errors import Classified, Outcome, classify


class Resolution(enum.Enum):
    """How an ambiguous reply (timeout, dropped connection, HTTP 5xx) was settled by re-reading the venue.

    For an order: PLACED = it exists/existed on the venue (open, filled, cancelled later…); NOT_PLACED = it
    never will (nonce burned before it ran, or the venue has no record / rejected it). For a cancel: PLACED =
    the order is gone, NOT_PLACED = it is still open. For other actions: PLACED = the action executed.
    UNKNOWN = could not be settled; re-read open orders and fills before acting on that coin again.
    """
    RESOLVED_PLACED = "resolved_placed"
    RESOLVED_NOT_PLACED = "resolved_not_placed"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class OrderResult:
    """One entry of `statuses` (orders, modifies, cancels), or its resolution after an ambiguous reply."""
    kind: str                      # resting | filled | error | waitingForFill | waitingForTrigger | success | resolved
    oid: int | None = None
    cloid: str | None = None
    total_sz: Decimal | None = None
    avg_px: Decimal | None = None
    error: Classified | None = None
    resolution: Resolution | None = None
    status: str | None = None      # order-record status learned while resolving (open, filled, ...Rejected)

    @property
    def placed(self) -> bool:
        if self.resolution is not None:
            return self.resolution is Resolution.RESOLVED_PLACED
        return self.kind in ("resting", "filled", "waitingForFill", "waitingForTrigger", "success")


@dataclass(slots=True)
class ActionResult:
    action_type: str
    nonce: int
    ok: bool                                  # venue accepted the action (status ok), or resolution says it ran
    statuses: list[OrderResult] = field(default_factory=list)
    error: Classified | None = None           # top-level err / HTTP-level problem
    resolution: Resolution | None = None      # set only when the reply was ambiguous
    http_status: int | None = None
    raw: Any = field(default=None, repr=False)

    @property
    def outcome(self) -> Outcome:
        return self.error.outcome if self.error else Outcome.OK


def parse_status(entry: Any) -> OrderResult:
    """One element of response.data.statuses."""
    if isinstance(entry, str):  # "success", "waitingForFill", "waitingForTrigger"
        return OrderResult(kind=entry)
    if isinstance(entry, dict):
        if "resting" in entry:
            r = entry["resting"]
            return OrderResult("resting", oid=r.get("oid"), cloid=r.get("cloid"))
        if "filled" in entry:
            f = entry["filled"]
            try:
                return OrderResult("filled", oid=f.get("oid"), cloid=f.get("cloid"),
                                   total_sz=Decimal(str(f["totalSz"])) if "totalSz" in f else None,
                                   avg_px=Decimal(str(f["avgPx"])) if "avgPx" in f else None)
            except (ArithmeticError, AttributeError, TypeError):
                pass  # falls through to the unparseable-entry error below
        if "error" in entry:
            return OrderResult("error", error=classify(entry["error"]))
    return OrderResult("error", error=classify(f"unparseable status entry: {entry!r}"))


def parse_exchange_reply(action_type: str, nonce: int, payload: Any, batch_len: int | None = None
                         ) -> ActionResult:
    """HTTP-200 body → ActionResult (ok with statuses, or top-level err).

    With `batch_len`, `statuses` is made 1:1 with the batch: a pre-validated batch answers with a single
    error for all its entries (protocol §4.4), which is copied to each; any other count mismatch is an
    unparseable reply (UNKNOWN entries, so the caller re-reads instead of trusting an index)."""
    if not isinstance(payload, dict) or "status" not in payload:
        return ActionResult(action_type, nonce, False, error=classify(f"unparseable exchange reply: {payload!r}"),
                            http_status=200, raw=payload)
    if payload["status"] != "ok":
        return ActionResult(action_type, nonce, False, error=classify(payload.get("response")), http_status=200,
                            raw=payload)
    resp = payload.get("response") or {}
    data = resp.get("data") if isinstance(resp, dict) else None
    statuses = []
    if isinstance(data, dict) and isinstance(data.get("statuses"), list):
        statuses = [parse_status(e) for e in data["statuses"]]
    if batch_len is not None and statuses and len(statuses) != batch_len:
        if len(statuses) == 1 and statuses[0].kind == "error":
            statuses = [OrderResult("error", error=statuses[0].error) for _ in range(batch_len)]
        else:
            bad = classify(f"{len(statuses)} statuses for a batch of {batch_len}")
            statuses = [OrderResult("error", error=bad, resolution=Resolution.UNKNOWN) for _ in range(batch_len)]
    return ActionResult(action_type, nonce, True, statuses=statuses, http_status=200, raw=payload)
