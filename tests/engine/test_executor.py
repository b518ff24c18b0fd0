"""Executor against `hlmm sim`: an Alo order that would cross is rejected by the venue (BadAloPx) and
re-priced one tick behind the bbo the reject reports; every order carries a cloid of our scheme."""
from __future__ import annotations

from decimal import Decimal

from engine.execution.diff import CloidFactory, OrderPlan, Place
from engine.execution.executor import CoinSpec, Executor, parse_alo_bbo
from engine.execution.order_state import OrderState
from engine.execution.orders import OurOrders
from engine.execution.reconcile import is_ours, make_run_id
from engine.monitoring import Timings
from engine.strategy import rounding as R
from engine.strategy.quotes import Quote
from engine.venue.rest import VenueRest
from tests.engine.helpers import open_orders


def test_parse_alo_bbo():
    assert parse_alo_bbo("Post only order would have immediately matched, bbo was 29.95@29.96. asset=3") == (
        Decimal("29.95"), Decimal("29.96"))
    assert parse_alo_bbo("something else") == (None, None)


async def test_alo_reject_is_repriced_behind_the_bbo(sim_server, fresh_account):
    address, key = fresh_account
    rest = VenueRest(sim_server.url, private_key=key)
    try:
        book = await rest.l2_book("HYPE")
        ask = Decimal(repr(book.asks[0][0]))
        rows = []  # every state change, as the ledger receives them
        orders = OurOrders(on_change=lambda o: rows.append((o.cloid, o.status, o.reason)))
        cloids = CloidFactory(make_run_id())
        ex = Executor(rest, orders, {"HYPE": CoinSpec("HYPE", 3, 2, False)}, Timings(), cloids.next, lambda: 0)
        sz = R.round_size(Decimal(20) / ask, 2)
        crossing = Quote("HYPE", "perp", True, 0, ask, sz)  # a post-only bid at the best ask must be refused
        await ex.execute(OrderPlan(places=(Place(crossing),)))
        assert ex.stats.alo_rejects == 1 and ex.stats.alo_repriced == 1, ex.stats
        live = orders.resting({"HYPE"})
        rejected = next(r for r in rows if r[1] == "badAloPxRejected")  # the venue's own word, from the reply
        reported_ask = parse_alo_bbo(rejected[2])[1]  # the venue's bbo at the reject
        assert len(live) == 1 and live[0].px == R.next_price_below(reported_ask, 2, False)
        venue = [o for o in open_orders(sim_server.url, address.lower())]
        assert [o["oid"] for o in venue] == [live[0].oid]
        assert is_ours(venue[0]["cloid"]) and venue[0]["cloid"] == live[0].cloid
        # the refused order, then its re-priced successor: sent, then resting
        assert [r[1] for r in rows] == ["inflight", "badAloPxRejected", "inflight", "open"]
        await ex.cancel_all(live)
        assert open_orders(sim_server.url, address.lower()) == [] and len(orders) == 0
        assert orders.by_cloid(live[0].cloid).state is OrderState.CANCELED
    finally:
        await rest.aclose()


async def test_an_ambiguous_reject_is_settled_with_the_venues_word(sim_server, fresh_account):
    """The venue runs the order and refuses it (BadAloPx), but the reply comes after our timeout: the
    executor burns the nonce (too late: the order ran), looks the order up, and records the venue's own
    status and oid, never a generic "rejected" that the venue's history would contradict (the one-hour chaos
    run of 2026-12-07 ended with one such order)."""
    import httpx

    address, key = fresh_account
    # the venue waits 1.5 s before handling each of our requests; our actions time out after 0.5 s, so the
    # order runs at +1.5 s and the nonce-burning noop (sent at +0.5 s) at +2.0 s finds the nonce used
    rest = VenueRest(sim_server.url, private_key=key, exchange_timeout_s=0.5)
    faults = f"{sim_server.url}/admin/faults"
    try:
        book = await rest.l2_book("HYPE")
        ask = Decimal(repr(book.asks[0][0]))
        rows = []
        orders = OurOrders(on_change=lambda o: rows.append((o.cloid, o.oid, o.status, o.reason)))
        ex = Executor(rest, orders, {"HYPE": CoinSpec("HYPE", 3, 2, False)}, Timings(),
                      CloidFactory(make_run_id()).next, lambda: 0)
        # 1 % through the ask, not at it: the order reaches the venue 1.5 s after the book was read, and a
        # bid at the old ask would rest if the synthetic market's ask moved up meanwhile (seen twice under load:
        # the lookup found it open)
        through = R.round_price(ask * Decimal("1.01"), 2, False, "up")
        crossing = Quote("HYPE", "perp", True, 0, through, R.round_size(Decimal(20) / through, 2))
        r = httpx.patch(faults, json={"latency_ms": 1500, "target_users": [address.lower()]})
        assert r.status_code == 200, r.text
        try:
            await ex.execute(OrderPlan(places=(Place(crossing),)))
        finally:
            httpx.patch(faults, json={"latency_ms": 0, "target_users": None})
        assert rest.stats["resolved_not_placed"] == 1, rest.stats
        cloid, oid, status, reason = rows[1]
        venue = await rest.order_status(cloid)
        assert venue.found and venue.status == "badAloPxRejected" and venue.order.oid == oid
        assert status == "badAloPxRejected" and "ambiguous" in reason, rows
    finally:
        await rest.aclose()
