"""The /exchange answer envelopes shared by the action handlers (exchange, transfers, triggers)."""
from __future__ import annotations

DESERIALIZE = "Failed to deserialize the JSON body into the target type"


class BadRequest(Exception):
    """The body does not deserialize into the action it names: HTTP 422, nothing done."""


def ok(kind: str, statuses: list | None = None) -> dict:
    if statuses is None:
        return {"status": "ok", "response": {"type": kind}}
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}


def refuse(text: str) -> dict:
    return {"status": "err", "response": text}


def is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
