"""Parsing /exchange replies (protocol §4.4 shapes)."""
from __future__ import annotations

from decimal import Decimal

from engine.venue.errors import Outcome
from engine.venue.results import Resolution, parse_exchange_reply


def _ok(statuses, kind="order"):
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}


def test_order_statuses_one_to_one():
    r = parse_exchange_reply("order", 7, _ok([
        {"resting": {"oid": 77738308, "cloid": "0x" + "1" * 32}},
        {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314}},
        {"error": "Order must have minimum value of $10. asset=4"},
        "waitingForFill", "waitingForTrigger"]), 5)
    assert r.ok and r.nonce == 7 and [s.kind for s in r.statuses] == [
        "resting", "filled", "error", "waitingForFill", "waitingForTrigger"]
    assert r.statuses[0].cloid == "0x" + "1" * 32 and r.statuses[0].placed
    assert r.statuses[1].total_sz == Decimal("0.02") and r.statuses[1].avg_px == Decimal("1891.4")
    assert r.statuses[2].error.outcome is Outcome.MIN_NOTIONAL and r.statuses[2].error.asset == 4
    assert not r.statuses[2].placed


def test_cancel_statuses_and_default_and_err():
    r = parse_exchange_reply("cancel", 1, _ok(["success", {
        "error": "Order was never placed, already canceled, or filled. asset=4"}], "cancel"), 2)
    assert r.statuses[0].kind == "success" and r.statuses[1].error.outcome is Outcome.UNKNOWN_ORDER
    d = parse_exchange_reply("updateLeverage", 1, {"status": "ok", "response": {"type": "default"}})
    assert d.ok and d.statuses == [] and d.outcome is Outcome.OK
    e = parse_exchange_reply("order", 1, {"status": "err", "response": "Signed action over weight limit of 200."})
    assert not e.ok and e.outcome is Outcome.BATCH_TOO_LARGE


def test_single_prevalidation_error_applies_to_the_whole_batch():
    r = parse_exchange_reply("order", 1, _ok([{"error": "Order has invalid price."}]), 3)
    assert len(r.statuses) == 3 and all(s.error.outcome is Outcome.INVALID_TICK for s in r.statuses)


def test_count_mismatch_and_garbage_are_unknown_never_placed():
    r = parse_exchange_reply("order", 1, _ok([{"resting": {"oid": 1}}, {"resting": {"oid": 2}}]), 3)
    assert len(r.statuses) == 3 and all(s.resolution is Resolution.UNKNOWN and not s.placed for s in r.statuses)
    g = parse_exchange_reply("order", 1, _ok([{"filled": {"totalSz": "x", "avgPx": "1", "oid": 3}}]), 1)
    assert g.statuses[0].error.outcome is Outcome.UNKNOWN
    assert parse_exchange_reply("order", 1, None).outcome is Outcome.UNKNOWN
    assert parse_exchange_reply("order", 1, "text").outcome is Outcome.UNKNOWN
