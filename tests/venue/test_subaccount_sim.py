"""Trading a sub-account (issue 16): `venue.vault_address` in the config reaches the engine's REST client, the
master's agent signs with vaultAddress, and the order lands on the sub-account of the real `hlmm sim`
(subprocess, real sockets); the official SDK, reading the sim on its own, sees the same."""
from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account
from hyperliquid.info import Info

from engine.clock import WallClock
from engine.config import ConfigError, load_config
from engine.monitoring import Timings
from engine.runtime import make_rest as engine_rest
from engine.venue import wire
from tests.venue.conftest import make_rest

ETH = 1


def _config(tmp_path, **venue: str):
    lines = "\n".join(f'{k} = "{v}"' for k, v in venue.items())
    path = tmp_path / "hlmm.toml"
    path.write_text(f"[venue]\nnetwork = \"local\"\n{lines}\n")
    return load_config(path, env={})


async def test_an_order_for_a_configured_sub_account_lands_on_it(sim, fresh_account, tmp_path):
    master, key = fresh_account
    async with make_rest(sim, key, tmp_path) as r:
        created = await r.send_action({"type": "createSubAccount", "name": "book-1"})
        assert created.ok, created
        sub = created.raw["response"]["data"]
        moved = await r.send_action({"type": "subAccountTransfer", "subAccountUser": sub, "isDeposit": True,
                                     "usd": 50_000 * 10**6}, vault_address=None)
        assert moved.ok, moved
        approved, agent_key = await r.approve_agent()
        assert approved.ok
    cfg = _config(tmp_path, base_url=sim.url, account_address=master,
                  agent_address=Account.from_key(agent_key).address, vault_address=sub)
    async with engine_rest(cfg, agent_key, None, WallClock(), None, Timings()) as rest:
        assert rest.user == sub.lower()        # whose data the engine reads: the sub-account's
        book = await rest.l2_book("ETH")
        bid = round(book.bids[0][0] * 0.97, 1)
        res = await rest.place_orders([wire.order_wire(ETH, True, bid, 0.05, tif="Alo")])
        assert res.ok and res.statuses[0].kind == "resting", res
        assert [o.oid for o in await rest.open_orders()] == [res.statuses[0].oid]
        assert await rest.open_orders(user=master) == []
        assert (await rest.clearinghouse_state()).account_value == Decimal(50_000)
    sdk = Info(sim.url, skip_ws=True)
    assert [o["oid"] for o in sdk.open_orders(sub)] == [res.statuses[0].oid] and sdk.open_orders(master) == []
    assert sim.info({"type": "userRole", "user": sub}) == {"role": "subAccount", "data": {"master": master.lower()}}


async def test_a_stranger_cannot_act_for_the_sub_account(sim, fresh_account, tmp_path):
    master, key = fresh_account
    stranger, other_key = sim.accounts[0]
    async with make_rest(sim, key, tmp_path) as r:
        sub = (await r.send_action({"type": "createSubAccount", "name": "mine"})).raw["response"]["data"]
    async with make_rest(sim, other_key, tmp_path / "other", vault_address=sub) as r:
        book = await r.l2_book("ETH")
        res = await r.place_orders([wire.order_wire(ETH, True, round(book.bids[0][0] * 0.97, 1), 0.05, tif="Alo")])
        assert not res.ok and "is not controlled by" in str(res.error)


@pytest.mark.parametrize("value, message", [
    ("0x123", "venue.vault_address"),
    ("0x" + "ab" * 20, "must differ from venue.account_address"),
])
def test_bad_vault_address_names_the_key(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, account_address="0x" + "ab" * 20, vault_address=value)
