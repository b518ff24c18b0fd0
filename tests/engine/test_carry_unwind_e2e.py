"""Carry unwind against a private `hlmm sim`: once the carry is on (long spot, short perp), a carry_target
control of 0 from the flows (the rebalance flow's way of saying "no carry") makes the engine sell the spot
long and buy back the perp short — taker Ioc through risk, the perp buy reduce-only — until both legs are
about zero, with net delta inside the hedge band at the end."""
from __future__ import annotations

import asyncio
import datetime as dt

from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope
from tests.engine.conftest import running_engine
from tests.engine.helpers import perp_szi, spot_total, until, venue, write_config


def _send_away_spot_hype(sim, key):
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    meta = venue(sim.url, {"type": "spotMeta"})
    token = next(t for t in meta["tokens"] if t["name"] == "HYPE")
    ex = Exchange(Account.from_key(key), base_url=sim.url)
    return ex.spot_transfer(1000.0, Account.create().address, f"HYPE:{token['tokenId']}")


def _set_carry_target(url: str, coin: str, notional: str) -> None:
    eng = make_engine(url)
    try:
        with session_scope(eng) as s:
            repo.set_control(s, "carry_target", {"coin": coin, "notional_usd": notional}, who="rebalance",
                             why="test: carry off", time=dt.datetime.now(dt.timezone.utc), scope=coin)
    finally:
        eng.dispose()


async def test_carry_target_zero_unwinds_both_legs(tmp_path, engine_sim, engine_account, monkeypatch):
    from tests.engine.helpers import KEY_ENV

    address, key = engine_account
    monkeypatch.setenv(KEY_ENV, key)
    user = address.lower()
    res = await asyncio.to_thread(_send_away_spot_hype, engine_sim, key)
    assert res["status"] == "ok", res
    config = write_config(tmp_path, engine_sim.url, address, extra="""
[carry]
target_notional_usd = 300
entry_threshold = 0.00001
exit_threshold = 0.0
""")
    async with running_engine(config, key) as engine:
        m = engine.markets[0]
        band = engine.cfg.carry.hedge_band_usd
        # the venue's funding is positive (its baseline interest rate with a ~zero premium): the carry is on
        assert engine.carry.state(m).funding_mean is not None and engine.carry.state(m).funding_mean >= 0.00001, engine.carry.state(m).funding_mean
        assert engine.carry.state(m).target.active and engine.carry.state(m).target.spot_qty > 0, engine.carry.state(m).target

        def state():
            return spot_total(engine_sim.url, user), perp_szi(engine_sim.url, user)

        def carried():
            spot, perp = state()
            return spot >= float(engine.carry.state(m).target.spot_qty) * 0.95 and abs(spot + perp) * 30 <= band
        await until(carried, 20, what="carry on: spot bought to target, perp short hedging it")
        spot0, perp0 = state()
        assert spot0 * engine.books.book("HYPE").mid >= 250 and perp0 < 0

        await asyncio.to_thread(_set_carry_target, f"sqlite:///{tmp_path / 'ledger.db'}", "HYPE", "0")

        def unwound():
            spot, perp = state()
            mid = engine.books.book("HYPE").mid
            # ~0: what is left is below one venue-minimum order on each leg, and the pair is delta neutral
            return spot * mid < 12 and abs(perp) * mid < 12 and abs(spot + perp) * mid <= band
        await until(unwound, 30, what="both carry legs unwound to ~0 with net delta in the band")
        assert not engine.carry.state(m).target.active and engine.carry.state(m).unwind_to is None
        # the unwind really went through the perp with reduce-only buys and sold the spot (ledger orders)
        engine.ledger.flush()
    eng = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with session_scope(eng) as s:
            from engine.ledger.models import Order
            from sqlalchemy import select
            orders = s.execute(select(Order).where(Order.tif == "Ioc")).scalars().all()
            perp_buys = [o for o in orders if o.coin == "HYPE" and o.side == "B"]
            spot_sells = [o for o in orders if o.coin != "HYPE" and o.side == "A"]
            assert perp_buys and all(o.reduce_only for o in perp_buys), [(o.coin, o.side, o.reduce_only)
                                                                         for o in orders]
            assert spot_sells and all("unwind" in (o.reason or "") for o in spot_sells)
    finally:
        eng.dispose()


async def test_carry_exit_while_the_engine_is_down_unwinds_after_restart(tmp_path, engine_sim, engine_account,
                                                                         monkeypatch):
    """The carry decision is persisted (params carry.<coin>): an engine that starts after the carry target
    went to 0 knows it was carrying, so it unwinds instead of leaving the pair on."""
    from tests.engine.helpers import KEY_ENV

    address, key = engine_account
    monkeypatch.setenv(KEY_ENV, key)
    user = address.lower()
    res = await asyncio.to_thread(_send_away_spot_hype, engine_sim, key)
    assert res["status"] == "ok", res
    config = write_config(tmp_path, engine_sim.url, address, extra="""
[carry]
target_notional_usd = 300
entry_threshold = 0.00001
exit_threshold = 0.0
""")

    def state():
        return spot_total(engine_sim.url, user), perp_szi(engine_sim.url, user)

    async with running_engine(config, key) as engine:
        m = engine.markets[0]
        band = engine.cfg.carry.hedge_band_usd

        def carried():
            spot, perp = state()
            return spot >= float(engine.carry.state(m).target.spot_qty) * 0.95 and abs(spot + perp) * 30 <= band
        await until(carried, 20, what="carry on before the restart")
    spot0, perp0 = state()
    assert spot0 > 0 and perp0 < 0  # a clean exit cancels orders, positions stay

    await asyncio.to_thread(_set_carry_target, f"sqlite:///{tmp_path / 'ledger.db'}", "HYPE", "0")
    async with running_engine(config, key) as engine:
        def unwound():
            spot, perp = state()
            mid = engine.books.book("HYPE").mid
            return spot * mid < 12 and abs(perp) * mid < 12 and abs(spot + perp) * mid <= band
        await until(unwound, 30, what="the restarted engine unwinds the carry it finds persisted")
        assert not engine.carry.state(engine.markets[0]).target.active
