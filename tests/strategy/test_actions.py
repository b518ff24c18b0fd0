from decimal import Decimal

import pytest

from engine.execution.actions import plan_actions
from engine.execution.diff import CloidFactory, LiveOrder, Tolerance, diff_orders
from engine.strategy.quotes import LegState, QuoteParams, quotes


def test_plan_becomes_cancel_modify_order_actions_with_venue_strings():
    desired = quotes(LegState("HYPE", "perp", 2, 40.0, 0.0), QuoteParams(levels=2))
    live = [LiveOrder(11, "HYPE", True, Decimal("39.5"), Decimal("2.5")),
            LiveOrder(12, "HYPE", False, Decimal("41"), Decimal("2.5")),
            LiveOrder(13, "HYPE", False, Decimal("42"), Decimal("2.5")),
            LiveOrder(14, "HYPE", False, Decimal("43"), Decimal("2.5"))]
    plan = diff_orders(desired, live, Tolerance()).stamp(CloidFactory(5).next)
    actions = plan_actions(plan, {"HYPE": 3})
    assert [a["type"] for a in actions] == ["cancel", "batchModify", "order"]
    assert actions[0]["cancels"] == [{"a": 3, "o": 14}]
    mod = actions[1]["modifies"][0]
    assert mod["oid"] in (11, 12, 13) and mod["order"]["t"] == {"limit": {"tif": "Alo"}}
    assert all(m["order"]["c"].startswith("0x00000005") for m in actions[1]["modifies"])
    placed = actions[2]["orders"]
    assert len(placed) == 1 and placed[0]["a"] == 3 and placed[0]["b"] is True
    assert placed[0]["p"] == str(desired[1].px) and "." in placed[0]["p"] and not placed[0]["p"].endswith("0")
    assert actions[2]["grouping"] == "na"


def test_chunking_and_unknown_coin():
    desired = quotes(LegState("HYPE", "perp", 2, 40.0, 0.0), QuoteParams(levels=20))
    with pytest.raises(ValueError, match="no cloid"):  # an unstamped plan never reaches the wire
        plan_actions(diff_orders(desired, [], Tolerance()), {"HYPE": 3})
    plan = diff_orders(desired, [], Tolerance()).stamp(CloidFactory(1).next)
    actions = plan_actions(plan, {"HYPE": 3}, max_batch=15)
    assert [len(a["orders"]) for a in actions] == [15, 15, 10]
    with pytest.raises(ValueError, match="no asset id for coin 'HYPE'"):
        plan_actions(plan, {"BTC": 0})
