"""The dead man's switch against a slow or refusing `hlmm sim` — the two faults behind the one-hour chaos run's
scheduled-cancel fires on a live engine (2026-12-07):

* a refused arm must be re-tried after the short back-off, not at the next refresh: the switch's task slept
  until its next timer whatever the reply said, so one refused arm followed by a 6 s latency burst let the
  venue's armed time run out;
* a confirmed arm that runs out while a later arm is unanswered (it may have landed in time) is a suspected
  fire, not a counted one: counted, such false fires spent the day's budget of 10 in the engine's books and
  the engine stopped arming — and quoted without the switch.
"""
from __future__ import annotations

import asyncio
import time

import httpx

from engine.execution.deadman import DeadMan, DeadManSwitch
from engine.venue import wire
from engine.venue.limits import IpWeightBucket
from engine.venue.rest import VenueRest


def _now() -> int:
    return int(time.time() * 1000)  # the shared venue's clock is wall time


async def test_a_refused_arm_is_retried_after_the_back_off(sim_server, fresh_account):
    address, key = fresh_account
    rest = VenueRest(sim_server.url, private_key=key, bucket=IpWeightBucket(capacity=1_000_000))
    dm = DeadMan(rest, _now, horizon_ms=15_000)  # re-arms every 5 s while arms succeed
    switch = DeadManSwitch(dm, lambda armed: None, lambda why: None)
    stop = asyncio.Event()
    task = asyncio.create_task(switch.run(stop))
    faults = f"{sim_server.url}/admin/faults"
    try:
        deadline = time.monotonic() + 10
        while not dm.state.arms:
            assert time.monotonic() < deadline, "the first arm never got through"
            await asyncio.sleep(0.02)
        # the next arm (due ~5 s after the first) is refused with a 429; then the venue accepts again
        r = httpx.patch(faults, json={"http_429_p": 1.0, "target_users": [address.lower()]})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        while not dm.state.refusals:
            assert time.monotonic() < deadline, "no arm was refused"
            await asyncio.sleep(0.01)
        refused_at = time.monotonic()
        httpx.patch(faults, json={"http_429_p": 0.0, "target_users": None})
        arms = dm.state.arms
        while dm.state.arms == arms:
            assert time.monotonic() - refused_at < 10, "the switch never re-armed"
            await asyncio.sleep(0.01)
        # the back-off starts at 250 ms; waiting for the 5 s refresh is the fault being tested
        assert time.monotonic() - refused_at < 2.0
        assert dm.state.refusals == 1 and switch.armed()
    finally:
        httpx.patch(faults, json={"http_429_p": 0.0, "target_users": None})
        stop.set()
        await task
        await dm.disarm()
        await rest.aclose()


async def test_an_arm_out_of_time_with_a_later_one_unanswered_is_suspected_not_counted(sim_server,
                                                                                      fresh_account):
    address, key = fresh_account
    # our actions time out after 2 s; the venue will wait 3 s before handling each of our requests
    rest = VenueRest(sim_server.url, private_key=key, bucket=IpWeightBucket(capacity=1_000_000),
                     exchange_timeout_s=2.0)
    dm = DeadMan(rest, _now, horizon_ms=10_000)
    faults = f"{sim_server.url}/admin/faults"
    try:
        assert await dm.arm()
        armed_until = dm.state.armed_until  # T
        r = httpx.patch(faults, json={"latency_ms": 3000, "target_users": [address.lower()]})
        assert r.status_code == 200, r.text
        await asyncio.sleep(max(0.0, (armed_until - 4_000 - _now()) / 1000))
        # at T - 4 s a second arm: the venue runs it at T - 1 s (armed until T + 6 s, no fire at T); our
        # request times out at T - 2 s and the nonce-burning noop runs at T + 1 s, so the answer comes after T
        later = asyncio.create_task(dm.arm())
        await asyncio.sleep(max(0.0, (armed_until + 500 - _now()) / 1000))
        assert not later.done(), "the second arm was answered before T: the test proves nothing"
        what = dm.account(_now())
        assert what is not None and "may have fired" in what
        assert dm.state.fires == 0 and dm.state.suspected == 1  # suspected, not counted
        assert await later  # it had landed: the venue holds our arm
        assert dm.state.armed_until > armed_until and dm.state.fires == 0 and dm.state.disabled_reason is None
    finally:
        httpx.patch(faults, json={"latency_ms": 0, "target_users": None})
        await dm.disarm()
        await rest.aclose()


async def test_an_unlucky_arm_in_a_latency_burst_neither_lets_the_venue_fire_nor_pulls_too_late(sim_server,
                                                                                               fresh_account):
    """The one-hour chaos run's last fire on a live engine (run 2, 2026-12-07): a 5.7 s latency burst began as an
    arm was sent, and that arm was answered HTTP 500. The next arm left a full refresh (5 s) later and reached
    the venue after the armed time had run out; the quotes were pulled 3 s ahead, but the cancels waited out the
    latency too and landed after the fire. Here the venue makes each of our requests wait 5.5 s and answers the
    first arm of the burst 500 (not applied). The switch must send the next arm while the first is still
    unanswered, and report itself unarmed early enough for a cancel to land in time at that latency."""
    address, key = fresh_account
    rest = VenueRest(sim_server.url, private_key=key, bucket=IpWeightBucket(capacity=1_000_000))
    faults = f"{sim_server.url}/admin/faults"
    me = [address.lower()]
    dm = DeadMan(rest, _now, horizon_ms=15_000)  # an arm is due when 10 s are left
    changes: list[tuple[int, bool]] = []
    switch = DeadManSwitch(dm, lambda armed: changes.append((_now(), armed)), lambda why: None)
    stop = asyncio.Event()
    task = oid = None
    try:
        # a resting order far from the market: if the venue's scheduled cancel fires, its status says so
        book = await rest.l2_book("ETH")
        placed = await rest.place_orders([wire.order_wire(1, True, round(book.bids[0][0] * 0.8, 1), 0.05,
                                                          tif="Alo")])
        assert placed.ok and placed.statuses[0].oid, placed
        oid = placed.statuses[0].oid
        # the venue holds an arm with 10.4 s left; the switch's first arm is due in 0.4 s and meets the burst
        armed_until = _now() + 10_400
        assert (await rest.schedule_cancel(armed_until)).ok
        dm.state.armed_until = armed_until
        r = httpx.patch(faults, json={"latency_ms": 5_500, "http_5xx_p": 1.0, "http_5xx_applied_p": 0.0,
                                      "target_users": me})
        assert r.status_code == 200, r.text
        task = asyncio.create_task(switch.run(stop))
        deadline = time.monotonic() + 5
        while not dm.unanswered:
            assert time.monotonic() < deadline, "the switch sent no arm"
            await asyncio.sleep(0.01)
        r = httpx.patch(faults, json={"http_5xx_p": 0.0})  # only that arm is refused; the latency stays
        assert r.status_code == 200, r.text
        await asyncio.sleep(max(0.0, (armed_until + 1_500 - _now()) / 1000))
        status = await rest.order_status(oid)
        assert status.status != "scheduledCancel", "the venue's scheduled cancel fired on a running switch"
        assert dm.state.armed_until > armed_until  # a later arm was confirmed before the old one ran out
        pulled = [t for t, armed in changes if not armed]
        # a cancel sent when the switch turned unarmed waits 5.5 s too: it must still land before the fire
        assert pulled and pulled[0] + 5_500 < armed_until, (pulled, armed_until)
    finally:
        httpx.patch(faults, json={"latency_ms": 0, "http_5xx_p": 0.0, "http_5xx_applied_p": 0.5,
                                  "target_users": None})
        stop.set()
        if task is not None:
            await task
        if oid is not None:
            await rest.cancel([(1, oid)])
        await dm.disarm()
        await rest.aclose()
