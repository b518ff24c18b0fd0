"""A hedge never trades with our own quotes, also when pulling them fails (issue 12, item 5; the one-hour chaos
run of 2026-12-07, run 3: the cancel of our ask across a hedge buy was answered HTTP 500 and settled as not
executed, the hedge was sent at its full limit anyway, and the venue cancelled our ask as a self-trade).

Against the real venue: our perp ask rests; the venue refuses every action of ours (HTTP 500, not applied)
while the carry manager clears the way for a buy priced through that ask, so the cancel fails and the ask
stays. The buy must come back priced strictly below it and, sent once the venue accepts again, must leave our
ask alone."""
from __future__ import annotations

from decimal import Decimal

import httpx

from engine.strategy.hedge import HedgeOrder
from tests.engine.conftest import running_engine
from tests.engine.helpers import open_orders, ours, size_through, until, venue


async def test_a_hedge_is_priced_clear_of_our_ask_whose_cancel_failed(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    # quotes placed once and then left alone: nothing but the hedge moves our orders during the test
    config.write_text(config.read_text().replace(
        "min_requote_interval_ms = 100", "min_requote_interval_ms = 600000\nrequote_tolerance_bps = 1000"))
    faults = f"{sim_server.url}/admin/faults"
    async with running_engine(config, key) as engine:
        perp = engine.markets[0].leg("perp")

        def our_asks():
            return [o for o in ours(open_orders(sim_server.url, user)) if o["coin"] == perp.coin and o["side"] == "A"]
        asks = await until(our_asks, 20, what="our perp ask resting")
        lowest = min(asks, key=lambda o: float(o["limitPx"]))
        ask_px = Decimal(lowest["limitPx"])
        # a buy that would reach our ask: through its price, as large as the book up to it
        sz = Decimal(str(round(size_through(sim_server.url, perp.coin, float(ask_px), False) + 1, perp.sz_decimals)))
        order = HedgeOrder(perp.coin, "perp", True, sz, ask_px * Decimal("1.002"), 0.0, "test: through our ask")
        pulls = engine.carry.stats["self_trade_pulls"]
        r = httpx.patch(faults, json={"http_5xx_p": 1.0, "http_5xx_applied_p": 0.0, "target_users": [user]})
        assert r.status_code == 200, r.text
        try:
            clear = await engine.carry._clear_way(order, perp)
        finally:
            r = httpx.patch(faults, json={"http_5xx_p": 0.0, "http_5xx_applied_p": 0.5, "target_users": None})
            assert r.status_code == 200, r.text
        assert engine.carry.stats["self_trade_pulls"] > pulls  # it did try to pull our ask first
        assert any(o["oid"] == lowest["oid"] for o in our_asks()), "the cancel was not refused: proves nothing"
        assert clear is not None and clear.px < ask_px and clear.sz == order.sz, (clear, ask_px)
        await engine.carry.hedger.execute(clear, False)
        status = venue(sim_server.url, {"type": "orderStatus", "user": user, "oid": lowest["oid"]})
        assert status["order"]["status"] != "selfTradeCanceled", status
