"""The dead man's switch fire count (10 a day on the venue) survives a restart: a fire on a private
`hlmm sim` (its clock moved past the armed time) is counted, persisted in the ledger's params, and a new
engine starts with it — also on an empty ledger, where it is re-derived from the venue's historicalOrders."""
from __future__ import annotations

import asyncio

from engine.execution.deadman import DAY_MS, fires_param_key
from tests.engine.conftest import running_engine
from tests.engine.helpers import KEY_ENV, open_orders, ours, until, write_config


async def test_fire_count_survives_restart(tmp_path, engine_sim, engine_account, monkeypatch):
    address, key = engine_account
    monkeypatch.setenv(KEY_ENV, key)
    user = address.lower()
    config = write_config(tmp_path, engine_sim.url, address)

    def quoting():
        return {o["coin"] for o in ours(open_orders(engine_sim.url, user))} == {"HYPE", "@1"}

    async with running_engine(config, key, deadman_horizon_ms=8_000) as engine:
        assert engine.deadman.state.fires == 0
        await until(quoting, 20, what="quotes on both legs")
        await asyncio.to_thread(engine_sim.admin, "clock", {"advance_ms": 10_000})  # past the armed time
        await until(lambda: engine.deadman.state.fires >= 1, 10, what="the engine counts the fire")
        fires = engine.deadman.state.fires
        day = engine.deadman.state.fires_day

        def persisted():
            engine.ledger.flush()
            value = engine.ledger.read_param(fires_param_key(day))
            return value if value == {"fires": fires} else None
        await until(persisted, 10, what="fire count in the ledger params")

    async with running_engine(config, key, deadman_horizon_ms=8_000) as engine:
        assert engine.venue_now_ms() // DAY_MS == day
        assert engine.deadman.state.fires >= fires  # from the ledger (and the venue)

    # an empty ledger: the venue's order history still shows the orders the fire cancelled
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config2 = write_config(fresh, engine_sim.url, address)
    async with running_engine(config2, key, deadman_horizon_ms=8_000) as engine:
        assert engine.ledger.read_param(fires_param_key(day)) in (None, {"fires": engine.deadman.state.fires})
        assert engine.deadman.state.fires >= 1
