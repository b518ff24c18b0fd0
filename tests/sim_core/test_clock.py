"""SimClock: frozen, manual advance, speed changes never jump, never goes back."""
from __future__ import annotations

import time

import pytest

from sim.clock import SimClock


def test_frozen_clock_moves_only_by_advance():
    c = SimClock(start_ms=1_000, speed=0)
    assert c.now_ms() == 1_000
    c.advance(250)
    assert c.now_ms() == 1_250
    with pytest.raises(ValueError, match="advance_ms"):
        c.advance(-1)


def test_running_clock_scales_wall_time_and_speed_changes_are_continuous():
    c = SimClock(start_ms=0, speed=1000.0)
    t0 = c.now_ms()
    time.sleep(0.002)  # a real clock is what is under test; 2 ms at 1000x is >= 2 s simulated
    t1 = c.now_ms()
    assert t1 - t0 >= 2_000
    c.set_speed(0)
    frozen = c.now_ms()
    assert frozen >= t1 and c.now_ms() == frozen
    with pytest.raises(ValueError, match="speed"):
        c.set_speed(-2)
