"""End to end against `hlmm sim` (real sockets) + a SQLite ledger: the engine quotes both legs, is filled by
an independent SDK account, hedges net delta back into the band, collects funding when the venue clock
passes an hour, and its ledger rows equal the venue's userFills / userFunding exactly."""
from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from decimal import Decimal

import httpx
from sqlalchemy import text

from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope

from tests.engine.conftest import running_engine
from tests.engine.helpers import (open_orders, ours, perp_szi, size_through, spot_total, until, venue,
                                  write_config)

TIGHT = """
[strategy]
base_spread = 0.0001
atr_multiplier = 0
levels = 1
min_requote_interval_ms = 100
"""


def _tight_config(tmp_path, sim_server, address):
    path = write_config(tmp_path, sim_server.url, address)
    # inside the synthetic market's ~1 bp half-spread: our quotes are the touch, so takers reach them
    path.write_text(path.read_text().replace("[strategy]\nmin_requote_interval_ms = 100\n", TIGHT)
                    + "\n[carry]\nperp_leverage = 3\n")
    return path


def _sdk_taker(sim_server):
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    key = "0x" + secrets.token_hex(32)
    wallet = Account.from_key(key)
    sim_server.fund(wallet.address)
    return Exchange(wallet, base_url=sim_server.url)


def _dec_fill(f: dict) -> tuple:
    return (f["tid"], f["coin"], f["side"], Decimal(f["px"]), Decimal(f["sz"]), Decimal(f["fee"]), f["feeToken"],
            Decimal(f["closedPnl"]), Decimal(f["startPosition"]), f["oid"], f["time"], f["hash"], f.get("cloid"))


def _dec_funding(r: dict) -> tuple:
    d = r["delta"]
    return (r["time"], d["coin"], Decimal(d["usdc"]), Decimal(d["szi"]), Decimal(d["fundingRate"]))


def _ledger_query(url: str, sql: str):
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            return c.execute(text(sql)).all()
    finally:
        eng.dispose()


def _ledger_rows(url: str, user: str):
    eng = make_engine(url)
    start = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    try:
        with session_scope(eng) as s:
            fills = [_dec_fill(f.to_venue()) for f in repo.fills_between(s, user, start, end)]
            funding = [_dec_funding(f.to_venue()) for f in repo.funding_between(s, user, start, end)]
    finally:
        eng.dispose()
    return sorted(fills), sorted(funding)


async def test_quotes_fills_hedges_funding_and_ledger_matches_venue(tmp_path, engine_sim, engine_account):
    sim_server = engine_sim  # private venue: this test moves its clock by an hour
    address, key = engine_account
    user = address.lower()
    config = _tight_config(tmp_path, sim_server, address)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with running_engine(config, key, metrics_port=0) as engine:
        # the account starts with 1,000 HYPE spot: the hedger shorts the perp to bring net delta into the band
        def quoting_and_hedged():
            mine = ours(open_orders(sim_server.url, user))
            coins = {o["coin"] for o in mine}
            net = spot_total(sim_server.url, user) + perp_szi(sim_server.url, user)
            return coins == {"HYPE", "@1"} and abs(net) * 30 < 100
        await until(quoting_and_hedged, 15, what="quotes on both legs and a hedged book")
        assert perp_szi(sim_server.url, user) < -900  # the hedge went to the perp (cheaper taker leg)
        chs = venue(sim_server.url, {"type": "clearinghouseState", "user": user})
        assert [p["position"]["leverage"]["value"] for p in chs["assetPositions"]] == [3]  # set at start

        # an independent SDK account hits our perp bid
        taker = await asyncio.to_thread(_sdk_taker, sim_server)
        bid = max((o for o in ours(open_orders(sim_server.url, user)) if o["coin"] == "HYPE" and o["side"] == "B"),
                  key=lambda o: float(o["limitPx"]))
        sweep = size_through(sim_server.url, "HYPE", float(bid["limitPx"]), True)
        res = await asyncio.to_thread(taker.order, "HYPE", False, sweep, float(bid["limitPx"]),
                                      {"limit": {"tif": "Ioc"}})
        assert res["status"] == "ok", res

        def our_maker_fill():
            return [f for f in venue(sim_server.url, {"type": "userFills", "user": user}) if not f["crossed"]]
        await until(our_maker_fill, 10, what="a maker fill of ours")

        band = engine.cfg.carry.hedge_band_usd
        def within_band():
            mid = engine.books.book("HYPE").mid
            net = spot_total(sim_server.url, user) + perp_szi(sim_server.url, user)
            return abs(net) * mid <= band
        await until(within_band, 15, what="net delta back inside the hedge band")

        # now our perp ask is hit: we are shorter, the hedger buys perp back — reduce-only, it shrinks the short
        # (a requote may be mid-way — a modify the venue refused as post-only cancels the original until the
        # next requote places it again — so wait for the ask rather than read the book once)
        def our_perp_asks():
            return [o for o in ours(open_orders(sim_server.url, user)) if o["coin"] == "HYPE" and o["side"] == "A"]
        ask = min(await until(our_perp_asks, 10, what="our perp ask back on the book"),
                  key=lambda o: float(o["limitPx"]))
        sweep = size_through(sim_server.url, "HYPE", float(ask["limitPx"]), False)
        res = await asyncio.to_thread(taker.order, "HYPE", True, sweep, float(ask["limitPx"]),
                                      {"limit": {"tif": "Ioc"}})
        assert res["status"] == "ok", res

        def reduce_only_hedge():
            engine.ledger.flush()
            return _ledger_query(ledger_url, "select count(*) from orders where tif = 'Ioc' and side = 'B' "
                                             "and reduce_only and coin = 'HYPE'")[0][0]
        await until(reduce_only_hedge, 15, what="a reduce-only perp buy hedge in the ledger")
        await until(within_band, 15, what="net delta back inside the band after the buy-back")

        # funding: the venue clock passes an hour; the perp short receives/pays funding
        await asyncio.to_thread(sim_server.admin, "clock", {"advance_ms": 3_600_000})
        def funded():
            return venue(sim_server.url, {"type": "userFunding", "user": user, "startTime": 0})
        rows = await until(funded, 10, what="a funding payment on the venue")
        assert any(Decimal(r["delta"]["szi"]) < 0 for r in rows)

        def quoting_again():  # the clock jump fired the dead man's switch; the engine re-arms and requotes
            return {o["coin"] for o in ours(open_orders(sim_server.url, user))} == {"HYPE", "@1"}
        await until(quoting_again, 15, what="quotes back after the clock jump")
        assert engine.deadman.state.fires >= 1

        async with httpx.AsyncClient() as c:
            metrics = (await c.get(f"http://127.0.0.1:{engine.metrics.port}/metrics")).text
        assert 'hlmm_op_duration_seconds_count{op="strategy"}' in metrics
        assert 'op="sign"' in metrics and 'op="send"' in metrics and 'op="feed_decode"' in metrics

        def ledger_matches():
            engine.ledger.flush()
            v_fills = sorted(_dec_fill(f) for f in venue(sim_server.url, {"type": "userFills", "user": user}))
            v_funding = sorted(_dec_funding(r) for r in venue(sim_server.url, {"type": "userFunding", "user": user,
                                                                                "startTime": 0}))
            l_fills, l_funding = _ledger_rows(ledger_url, user)
            return (l_fills == v_fills and l_funding == v_funding, (len(v_fills), len(l_fills), len(v_funding),
                                                                     len(l_funding)))
        await until(lambda: ledger_matches()[0], 15, what="ledger == venue fills and funding")
        n_fills, _, n_funding, _ = ledger_matches()[1]
        assert n_fills >= 2 and n_funding >= 1
    # clean exit cancelled everything
    assert ours(open_orders(sim_server.url, user)) == []
