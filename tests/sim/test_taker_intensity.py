"""The synthetic market's background taker intensity (`hlmm sim --taker-intensity`, market spec
`synthetic:takers=RATE`): the default prints exactly the trades it always printed, a higher rate prints that
many more, and a bad value is refused naming the option."""
from __future__ import annotations

import pytest
import typer

from engine.commands.sim import check_market
from sim.clock import SimClock
from sim.drivers import make_driver
from sim.drivers.ladder import SYSTEM_TAKER
from sim.venue import Venue

T0 = 1_700_000_000_000


def system_trades(spec: str, steps: int = 120) -> int:
    """Orders the system taker sent over `steps` one-second steps of the driver on an in-process venue
    (distinct order ids among its fills: one order eating two levels is one trade decision)."""
    clock = SimClock(T0, speed=0)
    venue = Venue(clock, seed=3)
    orders: set[int] = set()

    def on_event(ev) -> None:
        if ev.channel == "userFills" and (ev.key or "").lower() == SYSTEM_TAKER:
            fills = ev.data.get("fills", []) if isinstance(ev.data, dict) else ev.data
            orders.update(f["oid"] for f in fills)
    venue.subscribe(on_event)
    driver = make_driver(spec, venue=venue, clock=clock, seed=3)
    for step in range(1, steps + 1):
        driver.apply(driver.path.at(step), trade=True)
    return len(orders)


def test_taker_rate_scales_the_trades_and_the_default_is_unchanged():
    default = system_trades("synthetic")
    assert default == system_trades("synthetic:takers=0.25")  # the default is the old fixed 25 % per step
    markets = len(make_driver("synthetic", venue=Venue(SimClock(T0, speed=0), seed=3),
                              clock=SimClock(T0, speed=0), seed=3).ladders)
    expected = 0.25 * 120 * markets
    assert 0.6 * expected < default < 1.4 * expected, (default, expected)
    assert system_trades("synthetic:takers=0") == 0
    busy = system_trades("synthetic:takers=2")
    assert 2 * 120 * markets * 0.9 < busy <= 2 * 120 * markets, busy  # whole part: every step, every market


def test_bad_taker_intensity_is_refused_naming_the_option():
    with pytest.raises(ValueError, match="takers=RATE"):
        make_driver("synthetic:takers=lots", venue=None, clock=None)
    with pytest.raises(ValueError, match="takers=RATE"):
        make_driver("synthetic:takers=99", venue=None, clock=None)
    with pytest.raises(typer.BadParameter, match="--taker-intensity applies to the synthetic market only"):
        check_market("mirror:http://127.0.0.1:1", 1.0)
    assert check_market("synthetic", 1.5) == "synthetic:takers=1.5"
