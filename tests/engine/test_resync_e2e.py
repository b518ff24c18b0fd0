"""Feed drops: the engine reconnects, re-reads orders/positions/fills from REST and carries on without
duplicate orders; a fill that happened while the socket was down still reaches the ledger and inventory."""
from __future__ import annotations

import asyncio
import collections
import secrets

from sqlalchemy import text

from engine.ledger.db import session_scope
from tests.engine.conftest import running_engine
from tests.engine.helpers import open_orders, ours, perp_szi, size_through, until, venue
from tests.engine.test_quoting_e2e import _tight_config


def _taker(sim_server):
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    wallet = Account.from_key("0x" + secrets.token_hex(32))
    sim_server.fund(wallet.address)
    return Exchange(wallet, base_url=sim_server.url)


async def test_reconnect_resyncs_without_duplicates(engine_config, sim_server, tmp_path):
    _, address, key = engine_config
    user = address.lower()
    config = _tight_config(tmp_path, sim_server, address)  # one level inside the market spread: we are the touch
    async with running_engine(config, key) as engine:
        def settled():  # quoting, and the start-up hedge of the 1,000 HYPE spot done
            return len(ours(open_orders(sim_server.url, user))) == 4 and perp_szi(sim_server.url, user) < -900
        await until(settled, 15, what="4 quotes and a hedged book")
        taker = await asyncio.to_thread(_taker, sim_server)
        resyncs = engine.stats["resyncs"]
        await engine.feed.close()  # the socket goes away (and stays away while we trade against it)
        def our_perp_bids():  # (a requote may be mid-way at this instant: wait for the bid, do not read once)
            return [o for o in ours(open_orders(sim_server.url, user)) if o["coin"] == "HYPE" and o["side"] == "B"]
        before = perp_szi(sim_server.url, user)
        ours_filled: list = []
        for _ in range(5):  # the engine may re-price its bid lower between our read and the taker's order (seen
            # once under load: the Ioc filled only other makers), so read it again and take again
            bid = max(await until(our_perp_bids, 2, what="our perp bid"), key=lambda o: float(o["limitPx"]))
            res = await asyncio.to_thread(taker.order, "HYPE", False,
                                          size_through(sim_server.url, "HYPE", float(bid["limitPx"]), True),
                                          float(bid["limitPx"]), {"limit": {"tif": "Ioc"}})
            assert res["status"] == "ok", res
            fills = venue(sim_server.url, {"type": "userFills", "user": user})
            # a maker fill on the perp bid
            ours_filled = [f for f in fills if not f["crossed"] and f["coin"] == "HYPE" and f["side"] == "B"]
            if ours_filled:
                break
        assert ours_filled, (res, bid, fills[-3:])
        engine._start_feed()  # a new connection: Resync → REST re-read
        await until(lambda: engine.stats["resyncs"] > resyncs, 10, what="resync after reconnect")

        def synced():
            return abs(float(engine.inventory.qty("HYPE")) - perp_szi(sim_server.url, user)) < 1e-9 and \
                perp_szi(sim_server.url, user) != before
        await until(synced, 10, what="inventory re-read from the venue")

        def no_duplicates():
            mine = ours(open_orders(sim_server.url, user))
            per_side = collections.Counter((o["coin"], o["side"]) for o in mine)
            return len(mine) == 4 and set(per_side.values()) == {1}
        await until(no_duplicates, 10, what="4 orders, one per side per leg")

        def in_ledger():
            engine.ledger.flush()
            with session_scope(engine.ledger.engine) as s:
                tids = {r[0] for r in s.execute(text("select tid from fills"))}
            return all(f["tid"] in tids for f in ours_filled)
        await until(in_ledger, 10, what="the fill made while disconnected in the ledger")
