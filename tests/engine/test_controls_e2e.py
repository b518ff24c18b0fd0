"""What the flows write reaches the running engine within a second: a regime spread multiplier (params)
widens the quotes on the venue, a pause control pulls them; a drawdown beyond the limit engages the kill
switch and persists it in `controls`."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope
from tests.engine.conftest import running_engine
from tests.engine.helpers import open_orders, ours, until


def _write(url, fn):
    eng = make_engine(url)
    try:
        with session_scope(eng) as s:
            return fn(s)
    finally:
        eng.dispose()


def _spread(sim_url, user, coin="HYPE"):
    mine = [o for o in ours(open_orders(sim_url, user)) if o["coin"] == coin]
    bids = [Decimal(o["limitPx"]) for o in mine if o["side"] == "B"]
    asks = [Decimal(o["limitPx"]) for o in mine if o["side"] == "A"]
    return (min(asks) - max(bids)) if bids and asks else None


async def test_params_and_pause_reach_the_engine(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    url = f"sqlite:///{config.parent / 'ledger.db'}"
    now = dt.datetime.now(dt.timezone.utc)
    async with running_engine(config, key) as engine:
        base = await until(lambda: _spread(sim_server.url, user), 15, what="perp quotes")
        await asyncio.to_thread(_write, url, lambda s: repo.set_param(
            s, "regime.HYPE", {"regime": "high", "spread_multiplier": 3.0, "pause": False},
            written_by="vol_regime", time=now))
        wide = await until(lambda: (lambda w: w if w and w > base * 2 else None)(_spread(sim_server.url, user)), 5,
                           what="quotes widened by the regime multiplier")
        assert engine.params["HYPE"].regime_multiplier == 3.0 and wide > base * 2

        await asyncio.to_thread(_write, url, lambda s: repo.set_control(
            s, "pause", True, who="vol_regime", why="extreme regime", time=now))
        await until(lambda: not ours(open_orders(sim_server.url, user)), 5, what="pause pulls the quotes")
        await asyncio.to_thread(_write, url, lambda s: repo.clear_control(
            s, "pause", who="vol_regime", why="calm again", time=now))
        await until(lambda: _spread(sim_server.url, user), 5, what="quotes back after the pause")


async def test_drawdown_engages_and_persists_the_kill_switch(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    url = f"sqlite:///{config.parent / 'ledger.db'}"
    config.write_text(config.read_text().replace("max_drawdown_usd = 100000", "max_drawdown_usd = 0.01"))
    async with running_engine(config, key, equity_mark_every_ms=200) as engine:
        # equity moves by more than a cent within a few marks (prices tick, fees on the hedge)
        await until(lambda: engine.kill.engaged, 15, what="drawdown kill switch")
        assert engine.kill.who == "engine" and "max_drawdown_usd" in engine.kill.why
        await until(lambda: not ours(open_orders(sim_server.url, user)), 5, what="quotes pulled")
        engine.ledger.flush()
        controls = await asyncio.to_thread(_write, url, lambda s: [(c.kind, c.who) for c in repo.active_controls(s)])
        assert ("kill_switch", "engine") in controls
        marks = await asyncio.to_thread(_write, url, lambda s: len(repo.equity_curve(
            s, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))))
        assert marks >= 2
