"""Delta-neutral carry against `hlmm sim`: with funding above the entry threshold the engine buys the spot
leg up to the target notional and the hedger shorts the same size of perp, so net delta stays in the band."""
from __future__ import annotations

import asyncio

from tests.engine.conftest import running_engine
from tests.engine.helpers import perp_szi, spot_total, until, venue


def _send_away_spot_hype(sim_server, key):
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    meta = venue(sim_server.url, {"type": "spotMeta"})
    token = next(t for t in meta["tokens"] if t["name"] == "HYPE")
    ex = Exchange(Account.from_key(key), base_url=sim_server.url)
    sink = Account.create().address
    return ex.spot_transfer(1000.0, sink, f"HYPE:{token['tokenId']}")


async def test_carry_enters_long_spot_short_perp(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    res = await asyncio.to_thread(_send_away_spot_hype, sim_server, key)
    assert res["status"] == "ok", res
    assert spot_total(sim_server.url, user) == 0
    config.write_text(config.read_text() + """
[carry]
target_notional_usd = 300
entry_threshold = -0.04
exit_threshold = -0.04
""")
    async with running_engine(config, key) as engine:
        m = engine.markets[0]
        assert engine.carry.state(m).target.active and engine.carry.state(m).target.spot_qty > 0, engine.carry.state(m).target

        def carried():
            spot, perp = spot_total(sim_server.url, user), perp_szi(sim_server.url, user)
            return spot >= float(engine.carry.state(m).target.spot_qty) * 0.95 and abs(spot + perp) * 30 <= engine.cfg.carry.hedge_band_usd
        await until(carried, 15, what="spot bought to the carry target and hedged with a perp short")
        assert perp_szi(sim_server.url, user) < 0
        assert 250 <= spot_total(sim_server.url, user) * engine.books.book("HYPE").mid <= 400
