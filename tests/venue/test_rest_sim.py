"""VenueRest against the real `hlmm sim` (subprocess, real sockets), with the official SDK as the
independent client/reference, and the sim's fault injection for 5xx/429/latency."""
from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account
from hyperliquid.info import Info

from engine.venue import wire
from engine.venue.errors import Outcome
from engine.venue.results import Resolution
from tests.venue.conftest import make_rest

ETH = 1  # default sim markets: BTC, ETH, SOL, HYPE = 0..3


async def test_info_typed_results_agree_with_sdk(sim, fresh_account, tmp_path):
    addr, key = fresh_account
    sdk = Info(sim.url, skip_ws=True)
    async with make_rest(sim, key, tmp_path) as r:
        meta, spot = await r.meta(), await r.spot_meta()
        for a in meta.assets:
            assert sdk.name_to_asset(a.name) == a.asset
            assert sdk.asset_to_sz_decimals[a.asset] == a.sz_decimals
        for p in spot.pairs:
            assert sdk.name_to_asset(p.name) == p.asset and sdk.asset_to_sz_decimals[p.asset] == p.sz_decimals
        assert spot.by_name()["HYPE/USDC"].asset == 10001
        _, ctxs = await r.meta_and_asset_ctxs()
        assert [c.coin for c in ctxs] == [a.name for a in meta.assets]
        _, sctxs = await r.spot_meta_and_asset_ctxs()
        assert {c.coin for c in sctxs} == {p.name for p in spot.pairs}
        mids = await r.all_mids()
        assert set(mids) >= {a.name for a in meta.assets}
        book = await r.l2_book("ETH")
        assert book.coin == "ETH" and book.bids[0][0] < book.asks[0][0]
        ch = await r.clearinghouse_state()
        assert ch.account_value == Decimal(sdk.user_state(addr)["marginSummary"]["accountValue"])
        spot_bal = await r.spot_clearinghouse_state()
        assert spot_bal["USDC"].total == Decimal("100000") and spot_bal["HYPE"].total == Decimal("1000")
        rl = await r.user_rate_limit()
        assert rl.n_requests_cap == 10_000 + int(rl.cum_vlm)


async def test_orders_cancels_modify_and_fills_match_sdk_view(sim, fresh_account, tmp_path):
    addr, key = fresh_account
    sdk = Info(sim.url, skip_ws=True)
    async with make_rest(sim, key, tmp_path) as r:
        book = await r.l2_book("ETH")
        bid = round(book.bids[0][0] * 0.97, 1)
        res = await r.place_orders([wire.order_wire(ETH, True, bid, 0.05, tif="Alo"),
                                    wire.order_wire(ETH, True, bid - 1, 0.05, tif="Alo"),
                                    wire.order_wire(ETH, True, 1.0, 0.05, tif="Alo")])  # $0.05: min notional
        assert res.ok and [s.kind for s in res.statuses] == ["resting", "resting", "error"]
        assert res.statuses[2].error.outcome is Outcome.MIN_NOTIONAL and res.statuses[2].error.asset == ETH
        cl0, cl1 = res.statuses[0].cloid, res.statuses[1].cloid
        assert cl0 and cl1  # the client gave every order a cloid
        sdk_open = {o["oid"] for o in sdk.open_orders(addr)}
        assert {o.oid for o in await r.open_orders()} == sdk_open == {res.statuses[0].oid, res.statuses[1].oid}
        mod = await r.batch_modify([(cl0, wire.order_wire(ETH, True, bid - 2, 0.06, tif="Alo", cloid=cl0))])
        assert mod.ok and mod.statuses[0].kind == "resting"
        st = await r.order_status(cl0)
        assert st.found and st.order.limit_px == Decimal(str(bid - 2)) and st.order.sz == Decimal("0.06")
        can = await r.cancel_by_cloid([(ETH, cl1)])
        assert can.ok and can.statuses[0].kind == "success"
        again = await r.cancel_by_cloid([(ETH, cl1)])
        assert again.statuses[0].error.outcome is Outcome.UNKNOWN_ORDER
        ioc = await r.place_orders([wire.order_wire(ETH, True, round(book.asks[0][0] * 1.02, 1), 0.01, tif="Ioc")])
        assert ioc.statuses[0].kind == "filled" and ioc.statuses[0].total_sz == Decimal("0.01")
        fills = await r.user_fills()
        assert [f.tid for f in fills] == [f["tid"] for f in sdk.user_fills(addr)]
        assert fills[0].cloid == ioc.statuses[0].cloid
        byt = await r.user_fills_by_time(0)
        assert {f.tid for f in byt} == {f.tid for f in fills}
        lev = await r.update_leverage(ETH, 7, is_cross=True)
        assert lev.ok
        assert (await r.clearinghouse_state()).position("ETH").leverage == 7
        assert (await r.schedule_cancel(None)).ok
        tr = await r.usd_class_transfer(12.5, to_perp=False)
        assert tr.ok
        assert (await r.spot_clearinghouse_state())["USDC"].total == Decimal("100012.5")
        assert (await r.noop()).ok


async def test_agent_acts_for_master(sim, fresh_account, tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    addr, key = fresh_account
    async with make_rest(sim, key, tmp_path) as master:
        assert key[2:] not in repr(master) and key[2:] not in repr(master.signer)
        res, agent_key = await master.approve_agent("hlmm")
        assert res.ok
        assert agent_key[2:] not in repr(res)
    async with make_rest(sim, agent_key, tmp_path, account_address=addr) as agent:
        assert agent.signer.address == Account.from_key(agent_key).address != addr
        book = await agent.l2_book("ETH")
        r = await agent.place_orders([wire.order_wire(ETH, False, round(book.asks[0][0] * 1.05, 1), 0.01, tif="Alo")])
        assert r.ok and r.statuses[0].kind == "resting"
        assert [o.oid for o in await agent.open_orders()] == [r.statuses[0].oid]  # queried as the master
    for secret in (key[2:], agent_key[2:]):  # no private key in any log line of the whole exchange
        assert secret not in caplog.text.lower()


async def test_unknown_signer_is_auth(sim, tmp_path):
    stranger = "0x" + "11" * 32
    async with make_rest(sim, stranger, tmp_path) as r:
        res = await r.noop()
    assert not res.ok and res.error.outcome is Outcome.AUTH


async def test_info_survives_5xx_and_429_bursts(sim, fresh_account, tmp_path):
    _, key = fresh_account
    # (each 429 empties our weight bucket, and refilling it to above the reserve takes ~3 s whatever the
    # capacity: 429s are kept rarer than 5xx so the test stays short)
    sim.admin("faults", {"http_5xx_p": 0.4, "http_429_p": 0.1, "seed": 5})
    async with make_rest(sim, key, tmp_path, info_retries=12) as r:
        books = [await r.l2_book("BTC") for _ in range(20)]
        mids = [await r.all_mids() for _ in range(6)]
        assert all(b.coin == "BTC" for b in books) and all("ETH" in m for m in mids)
        assert r.stats["info_retries"] > 8  # ~half the first attempts failed and were retried
        assert r.bucket.throttled > 0  # and at least one was a 429 that emptied the bucket
    sim.admin("faults", {"http_5xx_p": 1.0})
    async with make_rest(sim, key, tmp_path, info_retries=2) as r:
        from engine.venue.rest import VenueError
        with pytest.raises(VenueError) as ei:
            await r.all_mids()
        assert ei.value.classified.outcome is Outcome.RETRY_LATER


async def test_exchange_429_is_not_placed_and_not_resent(sim, fresh_account, tmp_path):
    addr, key = fresh_account
    async with make_rest(sim, key, tmp_path) as r:
        book = await r.l2_book("ETH")
        sim.admin("faults", {"http_429_p": 1.0})
        res = await r.place_orders([wire.order_wire(ETH, True, round(book.bids[0][0] * 0.9, 1), 0.01, tif="Alo")])
        sim.admin("faults", {})
        assert not res.ok and res.error.outcome is Outcome.RATE_LIMITED_IP and res.http_status == 429
        assert r.stats["actions"] == 1
        assert await r.open_orders() == []


async def _place_slots_until_done(r, prices, max_rounds=30):
    """Engine-like loop: each slot wants exactly one resting order. Re-place (new cloid) only when the
    client says the previous attempt was NOT placed; stop a slot on UNKNOWN (would reconcile)."""
    claims: dict[str, bool] = {}   # cloid -> we believe it is placed
    done: dict[float, str] = {}
    unknown = 0
    for _ in range(max_rounds):
        todo = [p for p in prices if p not in done]
        if not todo:
            break
        for px in todo:
            res = await r.place_orders([wire.order_wire(ETH, True, px, 0.01, tif="Alo")])
            st = res.statuses[0] if res.statuses else None
            cloid = st.cloid if st and st.cloid else None
            if res.resolution is Resolution.UNKNOWN:
                unknown += 1
                done[px] = "unknown"
                continue
            if st is not None and st.placed:
                claims[st.cloid] = True
                done[px] = st.cloid
            elif cloid:
                claims[cloid] = False
    return claims, done, unknown


@pytest.mark.parametrize("faults,exchange_timeout,slots", [
    ({"http_5xx_p": 0.35, "http_5xx_applied_p": 0.5, "reject_p": 0.1, "seed": 11}, None, 20),
    ({"latency_ms": 250, "seed": 3}, 0.1, 8),   # every action times out client-side, then lands on the venue
])
async def test_no_duplicate_orders_under_ambiguous_replies(sim, fresh_account, tmp_path, faults, exchange_timeout,
                                                           slots):
    addr, key = fresh_account
    async with make_rest(sim, key, tmp_path, info_retries=10, resolve_attempts=8,
                         exchange_timeout_s=exchange_timeout) as r:
        book = await r.l2_book("ETH")
        prices = [round(book.bids[0][0] * 0.9 - i, 1) for i in range(slots)]
        sim.admin("faults", faults)
        claims, done, unknown = await _place_slots_until_done(r, prices)
        sim.admin("faults", {})
        print(faults, r.stats)
        assert r.stats["ambiguous"] > 0, "the faults should have produced ambiguous replies"
        opened = await r.open_orders()
        by_px: dict[Decimal, list] = {}
        for o in opened:
            by_px.setdefault(o.limit_px, []).append(o)
        # never a duplicate: at most one live order per slot price
        assert all(len(v) == 1 for v in by_px.values()), by_px
        assert unknown == 0
        assert set(by_px) == {Decimal(str(p)) for p in prices}
        # every claim is the venue's truth, checked by cloid
        live = {o.cloid for o in opened}
        for cloid, placed in claims.items():
            st = await r.order_status(cloid)
            assert (cloid in live) == placed, (cloid, placed, st)
            if not placed:
                assert not st.found or st.status != "open"
        assert await r.user_fills() == []


async def test_paged_histories_on_a_private_frozen_sim(tmp_path):
    """>500 rows (the venue's page size) so userFunding / fundingHistory / userFillsByTime really page.
    A private sim with a frozen clock: advancing 600 hours must not disturb the session sim."""
    from tests.fixtures.sim import account_from_label, start_sim

    acct = account_from_label("venue-paging")
    sim = start_sim("--speed", "0", "--ip-weight-per-min", "10000000", accounts=[acct], log_dir=tmp_path)
    try:
        async with make_rest(sim, acct[1], tmp_path) as r:
            t0 = (sim.admin("clock"))["now"]
            for coin, asset in (("ETH", 1), ("BTC", 0)):
                book = await r.l2_book(coin)
                sz = 0.01 if coin == "ETH" else 0.001
                res = await r.place_orders([wire.order_wire(asset, True, round(book.asks[0][0] * 1.02, 0), sz,
                                                            tif="Ioc")])
                assert res.statuses[0].kind == "filled", res
            sim.admin("clock", {"advance_ms": 600 * 3_600_000})
            hist = await r.funding_history("ETH", t0)
            assert len(hist) == 600 and len({h.time for h in hist}) == 600
            assert [h.time for h in hist] == sorted(h.time for h in hist)
            raw_first_page = await r.info({"type": "fundingHistory", "coin": "ETH", "startTime": t0})
            assert len(raw_first_page) == 500  # so the 600 above needed a second page
            pay = await r.user_funding(t0)
            assert len(pay) == 1200 and {p.coin for p in pay} == {"ETH", "BTC"}
            assert len({p.key for p in pay}) == 1200
            window = await r.user_funding(t0, t0 + 10 * 3_600_000)
            assert 0 < len(window) <= 22 and all(p.time <= t0 + 10 * 3_600_000 for p in window)
            fills = await r.user_fills_by_time(t0 - 60_000)
            assert len(fills) == 2
    finally:
        sim.stop()


async def test_expires_after_is_signed_and_enforced(sim, fresh_account, tmp_path):
    _, key = fresh_account
    async with make_rest(sim, key, tmp_path, expires_after_ms=60_000) as r:
        assert (await r.noop()).ok  # expiresAfter = nonce + 60 s, part of the signed hash: accepted
        assert (await r.usd_class_transfer(1.0, to_perp=False)).ok  # user-signed: sent without expiresAfter
    async with make_rest(sim, key, tmp_path, expires_after_ms=-60_000) as r:
        res = await r.noop()
    assert not res.ok and res.error.outcome is Outcome.EXPIRED


@pytest.mark.parametrize("applied", [True, False])
async def test_batch_5xx_settled_through_open_orders(sim, fresh_account, tmp_path, applied):
    """HTTP 500 on a 5-order batch (applied or not by the venue), then on a 5-cancel batch: each entry's fate
    comes from one openOrders read (+ orderStatus for the rest) after the nonce burn. The 500 hits only the
    action itself (sent by hand), so the settlement's own requests go through."""
    import httpx

    _, key = fresh_account

    async def post_with_500(r, action):
        env = r.prepare(action)
        sim.admin("faults", {"http_5xx_p": 1.0, "http_5xx_applied_p": 1.0 if applied else 0.0})
        async with httpx.AsyncClient(base_url=sim.url) as raw:
            resp = await raw.post("/exchange", json=env)
        sim.admin("faults", {})
        assert resp.status_code == 500
        return await r.settle(env, "HTTP 500")

    async with make_rest(sim, key, tmp_path) as r:
        book = await r.l2_book("ETH")
        orders = [wire.order_wire(ETH, True, round(book.bids[0][0] * 0.9 - i, 1), 0.01, tif="Alo",
                                  cloid=r.new_cloid()) for i in range(4)]
        orders.append(wire.order_wire(ETH, True, 1.0, 0.01, tif="Alo", cloid=r.new_cloid()))  # below $10
        res = await post_with_500(r, wire.order_action(orders))
        want = Resolution.RESOLVED_PLACED if applied else Resolution.RESOLVED_NOT_PLACED
        assert res.resolution is want
        assert [s.resolution for s in res.statuses[:4]] == [want] * 4
        assert res.statuses[4].resolution is Resolution.RESOLVED_NOT_PLACED  # rejected (or never ran)
        opened = await r.open_orders()
        assert {o.cloid for o in opened} == ({o["c"] for o in orders[:4]} if applied else set())
        if not applied:
            return
        assert [s.status for s in res.statuses[:4]] == ["open"] * 4
        can = await post_with_500(r, wire.cancel_action([(ETH, o.oid) for o in opened] + [(ETH, 12345)]))
        assert can.resolution is Resolution.RESOLVED_PLACED
        assert all(s.resolution is Resolution.RESOLVED_PLACED for s in can.statuses)
        assert await r.open_orders() == []


async def test_an_exhausted_address_budget_still_lets_the_dead_mans_switch_and_cancels_through(
        sim, fresh_account, tmp_path):
    """Quoting that used up the address budget must not take the dead man's switch down with it: a new order
    waits for the venue's one-per-10 s slot, a scheduleCancel arm and a cancel draw on the cancel allowance."""
    from engine.venue.limits import AddressBudget

    _, key = fresh_account
    budget = AddressBudget(used=10_000, cap=10_000)
    async with make_rest(sim, key, tmp_path, budget=budget) as r:
        px = float(Decimal(repr((await r.l2_book("ETH")).bids[0][0])) * Decimal("0.9"))
        first = await r.place_orders([wire.order_wire(ETH, True, round(px, 1), 0.01, tif="Alo")])  # the one slot of 10 s
        assert first.ok, first
        second = await r.place_orders([wire.order_wire(ETH, True, round(px, 1), 0.01, tif="Alo")])
        assert not second.ok and second.error.outcome is Outcome.ADDRESS_BUDGET
        arm = await r.schedule_cancel(r._now_ms() + 60_000)
        assert arm.ok, arm
        oid = first.statuses[0].oid
        gone = await r.cancel([(ETH, oid)])
        assert gone.ok and gone.statuses[0].kind == "success", gone
