"""`AccountSync.refresh_account` against `hlmm sim` when a fill of ours lands while its two reads are in
flight (the one-hour chaos run of 2026-12-07: a slow spotClearinghouseState read brought back a perp position
read before a hedge filled, the hedge's fill was undone in memory — its tid already spent — and the hedger sold
the same 5 HYPE again, taking the perp short past `max_position_usd`)."""
from __future__ import annotations

import asyncio
import json
import secrets
from decimal import Decimal

import httpx
import pytest
import websockets
from eth_account import Account

from engine.execution.account import AccountSync
from engine.execution.inventory import Inventory
from engine.execution.orders import OurOrders
from engine.venue.rest import VenueRest
from tests.engine.helpers import perp_szi, venue
from tests.fixtures.sim import start_sim


def _sdk(sim_url: str, key: str):
    from hyperliquid.exchange import Exchange

    return Exchange(Account.from_key(key), base_url=sim_url)


async def _next_fill(ws) -> dict:
    while True:
        raw = await asyncio.wait_for(ws.recv(), 10)
        if not raw.startswith("{"):  # the venue greets a new connection in plain text
            continue
        msg = json.loads(raw)
        data = msg.get("data") or {}
        if msg.get("channel") == "userFills" and not data.get("isSnapshot") and data.get("fills"):
            return data["fills"][0]


@pytest.fixture
def quiet_sim(tmp_path):
    """A private venue with no synthetic takers: the only fill of our bid is the one this test makes."""
    sim = start_sim("--taker-intensity", "0", log_dir=tmp_path)
    try:
        yield sim
    finally:
        sim.stop()


async def test_a_fill_during_the_reads_is_not_undone_by_the_snapshot(quiet_sim):
    sim_server = quiet_sim
    key = "0x" + secrets.token_hex(32)
    address = Account.from_key(key).address
    sim_server.fund(address)
    user = address.lower()
    me = await asyncio.to_thread(_sdk, sim_server.url, key)
    rest = VenueRest(sim_server.url, private_key=key)
    inv = Inventory()
    sync = AccountSync(rest, inv, OurOrders(), None, lambda: 0, lambda: 0, {"HYPE"}, {})
    faults = f"{sim_server.url}/admin/faults"
    try:
        await sync.refresh_account()
        assert inv.qty("HYPE") == 0
        async with websockets.connect(sim_server.url.replace("http", "ws", 1) + "/ws") as ws:
            await ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "userFills", "user": user}}))
            ask = min(float(l["px"]) for l in venue(sim_server.url, {"type": "l2Book", "coin": "HYPE"})["levels"][1])
            # every request for our account now waits 2 s at the venue: the account refresh's
            # clearinghouseState is answered at +2 s, its spotClearinghouseState at +4 s; a buy of ours (a
            # hedge, say) sent at +0.5 s runs at +2.5 s, in between
            r = httpx.patch(faults, json={"latency_ms": 2000, "target_users": [user]})
            assert r.status_code == 200, r.text
            refresh = asyncio.create_task(sync.refresh_account())
            await asyncio.sleep(0.5)
            res = await asyncio.to_thread(me.order, "HYPE", True, 2.0, round(ask * 1.01, 3),
                                          {"limit": {"tif": "Ioc"}})
            assert res["status"] == "ok" and "filled" in res["response"]["data"]["statuses"][0], res
            f = await _next_fill(ws)  # the feed's push, applied as the engine applies it
            assert not refresh.done(), "the reads were not in flight when the fill landed: the test proves nothing"
            assert inv.on_fill("HYPE", f["side"], Decimal(f["sz"]), Decimal(f["px"]), Decimal(f["fee"]),
                               f["feeToken"], Decimal(f["startPosition"]), f["tid"])
            httpx.patch(faults, json={"latency_ms": 0, "target_users": None})
            await refresh
        assert float(inv.qty("HYPE")) == perp_szi(sim_server.url, user) == 2.0
        assert sync.stats["snapshots_discarded"] >= 1
    finally:
        httpx.patch(faults, json={"latency_ms": 0, "target_users": None})
        await rest.aclose()
