"""The dead man's switch under a refusal storm (issue 12, items 1 and 8): every scheduleCancel of our account
answered 429 by the real venue. The switch must re-try with a back-off (not hammer the venue every 50 ms),
say clearly in the log what was refused and how long the armed time has left, report itself unarmed before
the venue's cancel would fire (so the quoters pull our quotes first), and re-arm as soon as the venue accepts."""
from __future__ import annotations

import asyncio
import logging
import time

import httpx

from engine.execution.deadman import LAPSE_MARGIN_MS, DeadMan, DeadManSwitch
from engine.venue.limits import IpWeightBucket
from engine.venue.rest import VenueRest


async def test_refused_arms_back_off_pull_quotes_in_time_and_recover(sim_server, fresh_account, caplog):
    address, key = fresh_account
    rest = VenueRest(sim_server.url, private_key=key, bucket=IpWeightBucket(capacity=1_000_000))
    dm = DeadMan(rest, lambda: int(time.time() * 1000), horizon_ms=6_000)
    changes: list[tuple[int, bool]] = []
    switch = DeadManSwitch(dm, lambda armed: changes.append((int(time.time() * 1000), armed)), lambda why: None)
    stop = asyncio.Event()
    task = asyncio.create_task(switch.run(stop))
    faults = f"{sim_server.url}/admin/faults"
    try:
        deadline = time.monotonic() + 10
        while not switch.armed():  # armed for 6 s from now
            assert time.monotonic() < deadline, "the first arm never got through"
            await asyncio.sleep(0.05)
        armed_until = dm.state.armed_until
        caplog.set_level(logging.WARNING, logger="engine.execution.deadman")
        r = httpx.patch(faults, json={"http_429_p": 1.0, "target_users": [address.lower()]})
        assert r.status_code == 200, r.text
        refusals0 = dm.state.refusals
        # hold the storm until the confirmed arm is within the lapse margin, and a little past it
        await asyncio.sleep((armed_until - LAPSE_MARGIN_MS - int(time.time() * 1000)) / 1000 + 0.5)
        refused = dm.state.refusals - refusals0
        assert not switch.armed()
        pulled = [t for t, armed in changes if not armed]
        assert pulled and pulled[0] <= armed_until - LAPSE_MARGIN_MS + 200  # unarmed before the venue fires
        # re-tries, but backed off: 250 ms doubling, not one every loop turn (that was ~50 ms: 60+ here)
        assert 2 <= refused <= 8, refused
        text = caplog.text
        assert "scheduleCancel refused by HTTP 429 (rate_limited_ip" in text and "armed time left" in text
        assert "null" not in text
        httpx.patch(faults, json={"http_429_p": 0.0, "target_users": None})
        deadline = time.monotonic() + 10
        while not switch.armed():
            assert time.monotonic() < deadline, "the switch did not re-arm once the venue accepted again"
            await asyncio.sleep(0.05)
        assert dm.state.armed_until > armed_until and changes[-1][1] is True
    finally:
        httpx.patch(faults, json={"http_429_p": 0.0, "target_users": None})
        stop.set()
        await task
        await dm.disarm()
        await rest.aclose()
