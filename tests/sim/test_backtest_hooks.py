"""The venue entry points a queue-model backtest drives: fill_resting, set_fee_rates, seed_funding_history."""
from __future__ import annotations

from decimal import Decimal

import pytest

from sim.clock import SimClock
from sim.venue import Venue

USER = "0x" + "11" * 20
TAKER = "0x" + "7a7e".rjust(40, "0")
T0 = 1_700_000_000_000


def rest_bid(v: Venue, px="99000", sz="0.01") -> int:
    status, r = v.exchange_as(USER, {"type": "order", "grouping": "na", "orders": [
        {"a": 0, "b": True, "p": px, "s": sz, "r": False, "t": {"limit": {"tif": "Alo"}}}]})
    assert status == 200, r
    return r["response"]["data"]["statuses"][0]["resting"]["oid"]


@pytest.fixture
def venue():
    v = Venue(SimClock(T0, speed=0))
    v.fund_perp(USER, 10_000)
    return v


def test_fill_resting_partial_then_full_books_like_matching(venue):
    events = []
    venue.subscribe(events.append)
    oid = rest_bid(venue)
    f1 = venue.fill_resting(oid, "0.004", TAKER)
    assert (f1["px"], f1["sz"], f1["side"], f1["crossed"], f1["oid"]) == ("99000.0", "0.004", "B", False, oid)
    assert Decimal(f1["fee"]) == Decimal("99000") * Decimal("0.004") * Decimal("0.00015")  # base maker rate
    _, opens = venue.info({"type": "openOrders", "user": USER})
    assert [(o["oid"], o["sz"]) for o in opens] == [(oid, "0.006")]  # still resting, same oid
    venue.fill_resting(oid, "0.006", TAKER)
    _, opens = venue.info({"type": "openOrders", "user": USER})
    assert opens == []
    _, st = venue.info({"type": "orderStatus", "user": USER, "oid": oid})
    assert st["order"]["status"] == "filled"
    _, chs = venue.info({"type": "clearinghouseState", "user": USER})
    assert chs["assetPositions"][0]["position"]["szi"] == "0.01"
    _, fills = venue.info({"type": "userFills", "user": USER})
    assert len(fills) == 2
    channels = [e.channel for e in events]
    assert channels.count("trades") == 2 and "orderUpdates" in channels
    # the book no longer holds the order: nothing rests at 99000
    _, book = venue.info({"type": "l2Book", "coin": "BTC"})
    assert all(l["px"] != "99000.0" for l in book["levels"][0])


def test_fill_resting_refuses_bad_requests_without_changing_anything(venue):
    oid = rest_bid(venue)
    with pytest.raises(ValueError, match="not a positive multiple of the lot"):
        venue.fill_resting(oid, "0.000001", TAKER)
    with pytest.raises(ValueError, match="exceeds the order's remaining"):
        venue.fill_resting(oid, "0.02", TAKER)
    with pytest.raises(ValueError, match="is not a resting order"):
        venue.fill_resting(12345, "0.001", TAKER)
    _, opens = venue.info({"type": "openOrders", "user": USER})
    assert [(o["oid"], o["sz"]) for o in opens] == [(oid, "0.01")]
    _, fills = venue.info({"type": "userFills", "user": USER})
    assert fills == []


def test_fee_rates_can_be_set_to_another_tier(venue):
    venue.set_fee_rates(perp_taker="0.0004", perp_maker="-0.00002", spot_taker="0.0006", spot_maker="0.0003")
    oid = rest_bid(venue)
    f = venue.fill_resting(oid, "0.01", TAKER)
    assert Decimal(f["fee"]) == -Decimal("990") * Decimal("0.00002")  # a rebate
    with pytest.raises(ValueError, match="taker fee cannot be negative"):
        venue.set_fee_rates(perp_taker="-0.0001", perp_maker="0", spot_taker="0", spot_maker="0")
    with pytest.raises(ValueError, match=r"spot_maker: fee rate must be within"):
        venue.set_fee_rates(perp_taker="0", perp_maker="0", spot_taker="0", spot_maker="0.5")


def test_seeded_funding_history_precedes_the_venues_own(venue):
    rows = [{"time": T0 - 2 * 3_600_000, "fundingRate": "0.00001", "premium": "0"},
            {"time": T0 - 3_600_000, "fundingRate": "0.00002"}]
    venue.seed_funding_history("BTC", rows)
    _, hist = venue.info({"type": "fundingHistory", "coin": "BTC", "startTime": 0})
    assert [(r["time"], r["fundingRate"]) for r in hist] == [(T0 - 2 * 3_600_000, "0.00001"),
                                                             (T0 - 3_600_000, "0.00002")]
    with pytest.raises(ValueError, match="needs time and fundingRate"):
        venue.seed_funding_history("BTC", [{"time": 1}])
    with pytest.raises(ValueError, match="spot"):
        venue.seed_funding_history("@1", rows)
