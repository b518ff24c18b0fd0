from decimal import Decimal

import pytest

from engine.strategy.carry import CarryParams, CarryTarget, carry_target

P = CarryParams(target_notional=10_000, entry_funding=0.00002, exit_funding=0.00001)


def test_enters_above_entry_with_equal_opposite_legs():
    t = carry_target(0.00003, P, None, mid=40.0, sz_decimals=2)
    assert t.active and t.spot_qty == Decimal("250") and t.perp_qty == -t.spot_qty


def test_hysteresis_between_thresholds():
    between = 0.000015
    assert not carry_target(between, P, None, 40.0, 2).active  # not entered from flat
    on = carry_target(0.00003, P, None, 40.0, 2)
    held = carry_target(between, P, on, 40.0, 2)  # but kept once active
    assert held.active and held.spot_qty == on.spot_qty
    off = carry_target(0.000009, P, held, 40.0, 2)
    assert not off.active and off.spot_qty == 0 and off.perp_qty == 0
    assert not carry_target(between, P, off, 40.0, 2).active  # and not re-entered until above entry


def test_size_scales_with_funding_and_respects_rebalance_band():
    p = CarryParams(10_000, entry_funding=0.00002, exit_funding=0.00001, full_funding=0.00005, rebalance_band=0.1)
    half = carry_target(0.00003, p, None, 40.0, 2)
    full = carry_target(0.00006, p, half, 40.0, 2)
    assert half.spot_qty == Decimal("125") and full.spot_qty == Decimal("250")
    moved = carry_target(0.00006, p, full, 41.0, 2)  # 2.5 % price move: inside the band, keep size
    assert moved.spot_qty == full.spot_qty
    big = carry_target(0.00006, p, full, 50.0, 2)
    assert big.spot_qty == Decimal("200")


def test_missing_funding_holds_current():
    on = carry_target(0.00003, P, None, 40.0, 2)
    assert carry_target(None, P, on, 40.0, 2) == CarryTarget(on.spot_qty, on.perp_qty, True, on.strength,
                                                             "funding mean unavailable: holding")
    assert not carry_target(None, P, None, 40.0, 2).active


def test_qty_rounds_to_lot():
    t = carry_target(0.00003, CarryParams(1000, 0.00002, 0.00001), None, mid=33.0, sz_decimals=1)
    assert t.spot_qty == Decimal("30.3")


def test_thresholds_must_leave_a_gap():
    with pytest.raises(ValueError, match="exit_funding"):
        CarryParams(1000, entry_funding=0.00001, exit_funding=0.00001)
