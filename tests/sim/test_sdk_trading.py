"""The unmodified official SDK trading against a live `hlmm sim` over real sockets.

The session server runs the synthetic market at real speed, so tests never assume the book stands
still: resting orders sit several percent away from the mid, and fills are checked from the
account's own records (userFills, positions), not from who happened to be on the other side.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account
from hyperliquid.utils.types import Cloid

from tests.sim.helpers import (COIN_ASSET, book_top, exchange, info, mid, round_px, size_for, statuses,
                               wait_for)


def test_bulk_place_rest_then_cancel(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    m = mid(inf, "HYPE")
    prices = [round_px(m * f, "HYPE") for f in (0.97, 0.96, 0.95)]
    resp = ex.bulk_orders([{"coin": "HYPE", "is_buy": True, "sz": 1.0, "limit_px": px,
                            "order_type": {"limit": {"tif": "Gtc"}}, "reduce_only": False} for px in prices])
    sts = statuses(resp)
    assert len(sts) == 3 and all("resting" in s for s in sts), sts
    oids = [s["resting"]["oid"] for s in sts]
    assert len(set(oids)) == 3

    opens = inf.open_orders(address)
    assert sorted(o["oid"] for o in opens) == sorted(oids)
    for o in opens:
        assert o["coin"] == "HYPE" and o["side"] == "B" and o["sz"] == "1.0" and o["origSz"] == "1.0"
        assert float(o["limitPx"]) in prices
    front = inf.frontend_open_orders(address)
    assert {o["orderType"] for o in front} == {"Limit"} and {o["tif"] for o in front} == {"Gtc"}
    assert inf.query_order_by_oid(address, oids[0])["order"]["status"] == "open"

    cancel = ex.bulk_cancel([{"coin": "HYPE", "oid": oid} for oid in oids])
    assert statuses(cancel) == ["success"] * 3
    assert inf.open_orders(address) == []
    assert inf.query_order_by_oid(address, oids[1])["order"]["status"] == "canceled"
    again = statuses(ex.cancel("HYPE", oids[0]))
    assert again == [{"error": "Order was never placed, already canceled, or filled. asset=3"}]


def test_modify_by_oid_and_by_cloid(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    m = mid(inf, "SOL")
    cloid = Cloid.from_int(0xC0FFEE)
    placed = statuses(ex.order("SOL", True, 1.0, round_px(m * 0.95, "SOL"), {"limit": {"tif": "Gtc"}}, cloid=cloid))
    assert placed[0]["resting"]["cloid"] == cloid.to_raw()
    oid = placed[0]["resting"]["oid"]

    new_px = round_px(m * 0.94, "SOL")
    modified = statuses(ex.modify_order(oid, "SOL", True, 2.0, new_px, {"limit": {"tif": "Gtc"}}, cloid=cloid))
    assert "resting" in modified[0], modified
    opens = inf.open_orders(address)
    assert len(opens) == 1 and float(opens[0]["limitPx"]) == new_px and opens[0]["sz"] == "2.0"

    by_cloid = inf.query_order_by_cloid(address, cloid)
    assert by_cloid["status"] == "order" and by_cloid["order"]["order"]["cloid"] == cloid.to_raw()

    newer_px = round_px(m * 0.93, "SOL")
    bulk = ex.bulk_modify_orders_new([{"oid": cloid, "order": {
        "coin": "SOL", "is_buy": True, "sz": 3.0, "limit_px": newer_px,
        "order_type": {"limit": {"tif": "Gtc"}}, "reduce_only": False, "cloid": cloid}}])
    assert "resting" in statuses(bulk)[0]
    opens = inf.open_orders(address)
    assert len(opens) == 1 and float(opens[0]["limitPx"]) == newer_px and opens[0]["sz"] == "3.0"
    assert statuses(ex.cancel_by_cloid("SOL", cloid)) == ["success"]
    assert inf.open_orders(address) == []


def test_ioc_taker_fill_opens_position(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    m = mid(inf, "HYPE")
    resp = statuses(ex.order("HYPE", True, 2.0, round_px(m * 1.01, "HYPE"), {"limit": {"tif": "Ioc"}}))
    filled = resp[0]["filled"]
    assert Decimal(filled["totalSz"]) == Decimal("2")
    avg = float(filled["avgPx"])
    assert m * 0.99 < avg < m * 1.01

    fills = inf.user_fills(address)
    assert fills and all(f["oid"] == filled["oid"] for f in fills)
    total = sum(Decimal(f["sz"]) for f in fills)
    assert total == Decimal("2")
    for f in fills:
        assert f["coin"] == "HYPE" and f["side"] == "B" and f["crossed"] is True and f["dir"] == "Open Long"
        assert f["feeToken"] == "USDC" and len(f["hash"]) == 66 and isinstance(f["tid"], int)
        # perps taker fee 4.5 bp
        assert abs(Decimal(f["fee"]) - Decimal(f["px"]) * Decimal(f["sz"]) * Decimal("0.00045")) < Decimal("0.000002")

    state = inf.user_state(address)
    pos = [p["position"] for p in state["assetPositions"] if p["position"]["coin"] == "HYPE"]
    assert pos and Decimal(pos[0]["szi"]) == Decimal("2")
    closed = statuses(ex.market_close("HYPE"))
    assert Decimal(closed[0]["filled"]["totalSz"]) == Decimal("2")
    assert not [p for p in inf.user_state(address)["assetPositions"] if p["position"]["coin"] == "HYPE"]


def test_maker_fill_pays_maker_fee(sim_server, fresh_account):
    """A post-only ask inside the spread is the best ask; a second account buys it."""
    maker, maker_key = fresh_account
    taker_key = sim_server.accounts[0][1]
    mex, tex, inf = exchange(sim_server, maker_key), exchange(sim_server, taker_key), info(sim_server)
    for _ in range(20):  # the market moves; retry until our ask lands inside the spread
        bid, ask = book_top(inf, "SOL")
        px = round_px(ask - 0.01, "SOL")
        if px <= bid:
            continue
        placed = statuses(mex.order("SOL", False, 0.5, px, {"limit": {"tif": "Alo"}}))[0]
        if "resting" in placed:
            break
    else:
        pytest.fail("could not rest a post-only ask inside the spread")
    statuses(tex.order("SOL", True, 0.5, px, {"limit": {"tif": "Ioc"}}))
    fills = wait_for(lambda: inf.user_fills(maker), what="maker fill")
    f = fills[0]
    assert f["crossed"] is False and f["side"] == "A" and f["dir"] == "Open Short"
    # perps maker fee 1.5 bp (printed rounded to the quote's decimals)
    assert abs(Decimal(f["fee"]) - Decimal(f["px"]) * Decimal(f["sz"]) * Decimal("0.00015")) < Decimal("0.000002")


def test_alo_that_would_cross_is_rejected(sim_server, fresh_account):
    _, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    _, ask = book_top(inf, "HYPE")
    err = statuses(ex.order("HYPE", True, 1.0, round_px(ask * 1.002, "HYPE"), {"limit": {"tif": "Alo"}}))[0]["error"]
    assert err.startswith("Post only order would have immediately matched, bbo was ")
    assert err.endswith(" asset=3")


def test_tick_lot_and_min_notional_errors(sim_server, fresh_account):
    _, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    m = mid(inf, "HYPE")
    gtc = {"limit": {"tif": "Gtc"}}
    base = round_px(m * 0.9, "HYPE")
    bad_tick = float(f"{base:.3f}") + 0.0001  # 6 significant figures
    sts = statuses(ex.bulk_orders([
        {"coin": "HYPE", "is_buy": True, "sz": 1.0, "limit_px": bad_tick, "order_type": gtc, "reduce_only": False},
        {"coin": "HYPE", "is_buy": True, "sz": 1.001, "limit_px": base, "order_type": gtc, "reduce_only": False},
        {"coin": "HYPE", "is_buy": True, "sz": 0.1, "limit_px": base, "order_type": gtc, "reduce_only": False},
    ]))
    assert sts[0] == {"error": "Price must be divisible by tick size. asset=3"}
    assert sts[1]["error"] in ("Order has invalid size. asset=3", "Order has invalid size.")
    assert sts[2] == {"error": "Order must have minimum value of $10. asset=3"}
    spot_mid = mid(inf, "@1")
    spot = statuses(ex.order("@1", True, 0.1, round_px(spot_mid * 0.9, "@1"), gtc))
    assert spot == [{"error": "Order must have minimum value of 10 USDC. asset=10001"}]


def test_reduce_only_without_position_is_rejected(sim_server, fresh_account):
    _, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    m = mid(inf, "SOL")
    sts = statuses(ex.order("SOL", True, 1.0, round_px(m * 0.95, "SOL"), {"limit": {"tif": "Gtc"}}, reduce_only=True))
    assert sts == [{"error": "Reduce only order would increase position. asset=2"}]


def test_agent_approval_then_trading_as_agent(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    resp, agent_key = ex.approve_agent("bot")
    assert resp == {"status": "ok", "response": {"type": "default"}}
    agent = Account.from_key(agent_key)
    agent_ex = exchange(sim_server, agent_key, account_address=address)
    m = mid(inf, "ETH")
    sts = statuses(agent_ex.order("ETH", True, 0.01, round_px(m * 0.95, "ETH"), {"limit": {"tif": "Gtc"}}))
    oid = sts[0]["resting"]["oid"]
    assert [o["oid"] for o in inf.open_orders(address)] == [oid]
    assert inf.open_orders(agent.address) == []  # the agent has no account of its own
    assert statuses(agent_ex.cancel("ETH", oid)) == ["success"]
    assert inf.post("/info", {"type": "userRole", "user": agent.address}) == {
        "role": "agent", "data": {"user": address.lower()}}


def test_wrong_key_signature_is_refused(sim_server, fresh_account):
    address, _ = fresh_account
    stranger = "0x" + "11" * 32
    ex = exchange(sim_server, stranger, account_address=address)  # signs for someone it is not an agent of
    m = mid(info(sim_server), "ETH")
    resp = ex.order("ETH", True, 0.01, round_px(m * 0.95, "ETH"), {"limit": {"tif": "Gtc"}})
    assert resp["status"] == "err"
    signer = Account.from_key(stranger).address.lower()
    assert resp["response"] in (f"L1 error: User or API Wallet {signer} does not exist.",
                                f"Must deposit before performing actions. User: {signer}")
    assert info(sim_server).open_orders(address) == []


def test_leverage_update_shows_in_position(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    assert ex.update_leverage(5, "BTC", is_cross=False) == {"status": "ok", "response": {"type": "default"}}
    m = mid(inf, "BTC")
    statuses(ex.order("BTC", True, size_for(200, m, "BTC"), round_px(m * 1.01, "BTC"), {"limit": {"tif": "Ioc"}}))
    pos = [p["position"] for p in inf.user_state(address)["assetPositions"] if p["position"]["coin"] == "BTC"][0]
    assert pos["leverage"]["type"] == "isolated" and pos["leverage"]["value"] == 5
    assert ex.update_leverage(100, "BTC")["status"] == "err"  # above maxLeverage


def test_spot_perp_transfer(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)

    def spot_usdc() -> Decimal:
        bal = inf.spot_user_state(address)["balances"]
        return Decimal(next(b["total"] for b in bal if b["coin"] == "USDC"))

    def perp_value() -> Decimal:
        return Decimal(inf.user_state(address)["marginSummary"]["accountValue"])

    spot0, perp0 = spot_usdc(), perp_value()
    assert spot0 == Decimal(100_000) and perp0 == Decimal(1_000_000)
    assert ex.usd_class_transfer(250.5, to_perp=False) == {"status": "ok", "response": {"type": "default"}}
    assert spot_usdc() == spot0 + Decimal("250.5") and perp_value() == perp0 - Decimal("250.5")
    assert ex.usd_class_transfer(50, to_perp=True)["status"] == "ok"
    assert spot_usdc() == spot0 + Decimal("200.5")
    too_much = ex.usd_class_transfer(10_000_000, to_perp=True)
    assert too_much["status"] == "err"
    assert spot_usdc() == spot0 + Decimal("200.5")


def test_spot_buy_moves_balances(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    m = mid(inf, "@1")
    filled = statuses(ex.order("@1", True, 1.0, round_px(m * 1.01, "@1"), {"limit": {"tif": "Ioc"}}))[0]["filled"]
    assert Decimal(filled["totalSz"]) == 1
    bal = {b["coin"]: Decimal(b["total"]) for b in inf.spot_user_state(address)["balances"]}
    fills = inf.user_fills(address)
    assert fills[0]["coin"] == "@1" and fills[0]["dir"] == "Buy"
    # a spot buy pays its fee in the token it receives: USDC goes down by exactly price x size
    assert {f["feeToken"] for f in fills} == {"HYPE"}
    fee = sum(Decimal(f["fee"]) for f in fills)
    assert fee > 0 and bal["HYPE"] == Decimal(1001) - fee
    assert bal["USDC"] == Decimal(100_000) - sum(Decimal(f["px"]) * Decimal(f["sz"]) for f in fills)
    assert COIN_ASSET["@1"] == 10001
