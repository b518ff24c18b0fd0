"""Tests that move the simulated clock (funding hours, scheduleCancel). They run on their own
`hlmm sim`: jumping the shared session venue's clock ahead of wall time would make other rooms'
wall-clock-based nonces and expiresAfter look stale."""
from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
from eth_account import Account
from hyperliquid.info import Info

from tests.fixtures.sim import start_sim
from tests.sim.helpers import exchange, info, mid, round_px, statuses, wait_for
from tests.sim.test_ws import Inbox


@pytest.fixture(scope="module")
def clock_sim(tmp_path_factory):
    sim = start_sim(seed=21, log_dir=tmp_path_factory.mktemp("clock-sim"))
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def clock_account(clock_sim):
    key = "0x" + secrets.token_hex(32)
    address = Account.from_key(key).address
    clock_sim.fund(address)
    return address, key


@pytest.fixture
def clock_ws_info(clock_sim):
    inf = Info(clock_sim.url, skip_ws=False)
    wait_for(lambda: inf.ws_manager.ws_ready, what="SDK websocket to open")
    yield inf
    inf.disconnect_websocket()


def test_funding_arrives_on_ws_and_in_user_funding(clock_sim, clock_account, clock_ws_info):
    address, key = clock_account
    m = mid(clock_ws_info, "HYPE")
    statuses(exchange(clock_sim, key).order("HYPE", True, 10.0, round_px(m * 1.01, "HYPE"), {"limit": {"tif": "Ioc"}}))
    fundings, events = Inbox(), Inbox()
    clock_ws_info.subscribe({"type": "userFundings", "user": address}, fundings)
    clock_ws_info.subscribe({"type": "userEvents", "user": address}, events)
    snap = wait_for(lambda: fundings.where(lambda m: m["data"].get("isSnapshot")), what="userFundings snapshot")
    assert snap[0]["data"]["fundings"] == []

    now = clock_sim.admin("clock")["now"]
    clock_sim.admin("clock", {"advance_ms": 3_600_000 - now % 3_600_000 + 1_000})  # past the next hour
    live = wait_for(lambda: fundings.where(lambda m: not m["data"].get("isSnapshot")), what="userFundings event")
    row = live[0]["data"]["fundings"][0]
    assert row["coin"] == "HYPE" and Decimal(row["szi"]) == 10
    rate, usdc = Decimal(row["fundingRate"]), Decimal(row["usdc"])
    assert rate != 0 and (usdc < 0) == (rate > 0)  # positive rate: longs pay
    wait_for(lambda: events.where(lambda m: "funding" in m["data"]), what="userEvents funding")

    history = clock_ws_info.user_funding_history(address, now - 1000)
    assert history and history[0]["delta"]["type"] == "funding" and history[0]["delta"]["coin"] == "HYPE"
    assert Decimal(history[0]["delta"]["usdc"]) == usdc
    assert clock_ws_info.funding_history("HYPE", now - 1000)[-1]["fundingRate"] == row["fundingRate"]
    state = clock_ws_info.user_state(address)
    pos = [p["position"] for p in state["assetPositions"] if p["position"]["coin"] == "HYPE"][0]
    assert Decimal(pos["cumFunding"]["sinceOpen"]) == -usdc


def test_clock_advance_fires_schedule_cancel(clock_sim, clock_account):
    address, key = clock_account
    inf, ex = info(clock_sim), exchange(clock_sim, key)
    m = mid(inf, "ETH")
    oid = statuses(ex.order("ETH", True, 0.01, round_px(m * 0.95, "ETH"), {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
    now = clock_sim.admin("clock")["now"]
    too_early = ex.schedule_cancel(now + 1_000)
    assert too_early == {"status": "err",
                         "response": "Scheduled cancel time too early, must be at least 5 seconds from now."}
    assert ex.schedule_cancel(now + 60_000) == {"status": "ok", "response": {"type": "default"}}
    assert inf.open_orders(address)[0]["oid"] == oid
    after = clock_sim.admin("clock", {"advance_ms": 61_000})["now"]
    assert after >= now + 61_000
    wait_for(lambda: inf.open_orders(address) == [], what="scheduled cancel to fire")
    assert inf.query_order_by_oid(address, oid)["order"]["status"] == "scheduledCancel"
