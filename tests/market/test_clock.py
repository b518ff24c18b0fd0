import pytest

from engine.clock import Clock, SimulatedClock, WallClock


def test_simulated_clock_moves_only_forward():
    c = SimulatedClock(1_000)
    c.advance(500)
    c.set(2_000)
    assert c.now_ms() == 2_000 and c.now().year == 1970
    with pytest.raises(ValueError, match="backwards"):
        c.set(1_999)
    assert isinstance(c, Clock) and isinstance(WallClock(), Clock)
    assert WallClock().now_ms() > 1_700_000_000_000 and WallClock().now().tzinfo is not None
