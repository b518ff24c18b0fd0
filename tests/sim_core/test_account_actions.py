"""scheduleCancel, usdClassTransfer, leverage, funding, liquidation, modify, address budget."""
from __future__ import annotations

from decimal import Decimal

from sim.events import Event

from .helpers import START_MS, funded, make_venue, wire

HOUR = 3_600_000


def test_schedule_cancel_fires_after_the_clock_passes_it():
    v = make_venue()
    t = funded(v)
    now = v.clock.now_ms()
    too_early = t.post_l1({"type": "scheduleCancel", "time": now + 4999})[1]
    assert too_early == {"status": "err",
                         "response": "Scheduled cancel time too early, must be at least 5 seconds from now."}
    assert t.post_l1({"type": "scheduleCancel", "time": now + 10_000})[1] == {"status": "ok",
                                                                             "response": {"type": "default"}}
    oids = [s["resting"]["oid"] for s in t.statuses(wire(0, True, "90000", "0.001"), wire(4 + 10000 - 4, True,
                                                                                          "0.1", "200"))]
    v.clock.advance(9_999)
    v.tick()
    assert len(t.info("openOrders")) == 2
    v.clock.advance(1)
    v.tick()
    assert t.info("openOrders") == []
    assert [t.info("orderStatus", oid=o)["order"]["status"] for o in oids] == ["scheduledCancel"] * 2
    # fired once: new orders stay; disarming works
    t.statuses(wire(0, True, "90000", "0.001"))
    assert t.post_l1({"type": "scheduleCancel", "time": v.clock.now_ms() + 6000})[1]["status"] == "ok"
    assert t.post_l1({"type": "scheduleCancel"})[1]["status"] == "ok"
    v.clock.advance(60_000)
    v.tick()
    assert len(t.info("openOrders")) == 1


def test_schedule_cancel_limited_to_ten_triggers_per_day():
    v = make_venue()
    t = funded(v)
    for _ in range(10):
        assert t.post_l1({"type": "scheduleCancel", "time": v.clock.now_ms() + 5000})[1]["status"] == "ok"
        v.clock.advance(5000)
        v.tick()
    out = t.post_l1({"type": "scheduleCancel", "time": v.clock.now_ms() + 5000})[1]
    assert out["status"] == "err"
    v.clock.advance(86_400_000)  # next UTC day resets the counter
    assert t.post_l1({"type": "scheduleCancel", "time": v.clock.now_ms() + 5000})[1]["status"] == "ok"


def test_usd_class_transfer_both_ways_and_ledger_events():
    v = make_venue()
    t = funded(v, usdc=1000, spot_usdc=500, hype=0)
    seen = []
    v.subscribe(seen.append)
    assert t.usd_class_transfer("200.5", False) == {"status": "ok", "response": {"type": "default"}}
    assert t.usd_class_transfer("100", True) == {"status": "ok", "response": {"type": "default"}}
    perp = t.info("clearinghouseState")
    spot = {b["coin"]: b["total"] for b in t.info("spotClearinghouseState")["balances"]}
    assert perp["marginSummary"]["accountValue"] == "899.5" and perp["withdrawable"] == "899.5"
    assert spot["USDC"] == "600.5"
    assert t.usd_class_transfer("5000", True)["status"] == "err"
    assert t.usd_class_transfer("5000", False)["status"] == "err"
    ledger = [row for e in seen if e.channel == "ledger" for row in e.data]
    assert [r["delta"] for r in ledger] == [{"type": "accountClassTransfer", "usdc": "200.5", "toPerp": False},
                                            {"type": "accountClassTransfer", "usdc": "100.0", "toPerp": True}]
    rows = t.info("userNonFundingLedgerUpdates", startTime=0, endTime=None)
    assert [r["delta"]["type"] for r in rows] == ["deposit", "accountClassTransfer", "accountClassTransfer"]


def test_update_leverage_rules_and_margin_effect():
    v = make_venue()
    t, mm = funded(v, usdc=1000), funded(v)
    upd = lambda asset, cross, lev: t.post_l1({"type": "updateLeverage", "asset": asset, "isCross": cross,
                                                "leverage": lev})[1]
    assert upd(3, True, 11)["status"] == "err"  # HYPE max 10x
    assert upd(3, True, 0)["status"] == "err"
    assert upd(0, True, 2) == {"status": "ok", "response": {"type": "default"}}
    # 1000 USDC at 2x: 2000 USDC of BTC max
    assert t.statuses(wire(0, True, "100000", "0.021")) == [{"error": "Insufficient margin to place order. asset=0"}]
    mm.statuses(wire(0, False, "100000", "0.01"))
    t.statuses(wire(0, True, "100000", "0.01", tif="Ioc"))
    pos = t.info("clearinghouseState")["assetPositions"][0]["position"]
    assert pos["leverage"] == {"type": "cross", "value": 2} and pos["marginUsed"] == "500.0"
    assert upd(0, False, 2) == {"status": "err", "response": "Cannot switch leverage type with open position."}
    assert upd(0, True, 40)["status"] == "ok"
    assert t.info("clearinghouseState")["assetPositions"][0]["position"]["marginUsed"] == "25.0"
    assert upd(1, False, 5)["status"] == "ok"  # isolated flag accepted where there is no position


def test_hourly_funding_pays_szi_times_oracle_times_rate_exactly():
    v = make_venue()
    long_, short = funded(v), funded(v)
    short.statuses(wire(1, False, "3500", "1.2345"))
    long_.statuses(wire(1, True, "3500", "1.2345", tif="Ioc"))
    v.set_oracle("ETH", "3512.37")
    v.set_funding_rate("ETH", "0.0000417")
    events: list[Event] = []
    v.subscribe(events.append)
    before = {t.address: Decimal(t.info("clearinghouseState")["marginSummary"]["accountValue"])
              for t in (long_, short)}
    v.clock.advance(HOUR - 1)
    v.tick()
    assert long_.info("userFunding", startTime=0) == []
    v.clock.advance(1)
    v.tick()
    expected = Decimal("1.2345") * Decimal("3512.37") * Decimal("0.0000417")
    rows = long_.info("userFunding", startTime=0)
    assert len(rows) == 1 and rows[0]["time"] == START_MS + HOUR
    assert rows[0]["delta"] == {"type": "funding", "coin": "ETH", "usdc": str(-expected), "szi": "1.2345",
                                "fundingRate": "0.0000417", "nSamples": None}
    assert short.info("userFunding", startTime=0)[0]["delta"]["usdc"] == str(expected)
    after = {t.address: Decimal(t.info("clearinghouseState")["marginSummary"]["accountValue"])
             for t in (long_, short)}
    assert after[long_.address] - before[long_.address] == -expected
    pos = long_.info("clearinghouseState")["assetPositions"][0]["position"]
    assert pos["cumFunding"] == {"allTime": str(expected), "sinceOpen": str(expected), "sinceChange": str(expected)}
    fund_events = [e for e in events if e.channel == "userFundings"]
    assert {e.key for e in fund_events} == {long_.address, short.address}
    hist = v.info({"type": "fundingHistory", "coin": "ETH", "startTime": 0})[1]
    assert hist == [{"coin": "ETH", "fundingRate": "0.0000417", "premium": "0.0", "time": START_MS + HOUR}]
    # without an override the rate comes from the premium: empty book -> interest only, 0.01%/8h
    v.set_funding_rate("ETH", None)
    v.clock.advance(HOUR)
    v.tick()
    assert v.info({"type": "fundingHistory", "coin": "ETH", "startTime": 0})[1][-1]["fundingRate"] == "0.0000125"


def test_liquidation_moves_the_position_to_the_backstop_at_mark():
    v = make_venue()
    risky, mm = funded(v, usdc=300, spot_usdc=0, hype=0), funded(v)
    mm.statuses(wire(2, False, "180", "30"))
    risky.statuses(wire(2, True, "180", "30", tif="Ioc"))  # 5400 USDC at 20x on 300 USDC
    risky.statuses(wire(2, True, "150", "1"))
    v.set_oracle("SOL", "175")  # loses 150 of 300: value 150 - fee > maintenance 131.25
    assert risky.info("clearinghouseState")["assetPositions"]
    v.set_oracle("SOL", "174")  # value ~120 < maintenance 130.5
    state = risky.info("clearinghouseState")
    assert state["assetPositions"] == [] and risky.info("openOrders") == []
    fills = risky.info("userFills")
    assert fills[0]["liquidation"]["method"] == "backstop" and fills[0]["px"] == "174.0"
    assert fills[0]["dir"] == "Close Long"


def test_batch_modify_gives_a_new_oid_and_keeps_the_cloid():
    v = make_venue()
    t = funded(v)
    cloid = "0x" + "ab" * 16
    oid = t.statuses(wire(1, True, "3000", "0.01", cloid=cloid))[0]["resting"]["oid"]
    new = dict(wire(1, True, "3001", "0.02"))
    out = t.post_l1({"type": "batchModify", "modifies": [{"oid": oid, "order": new}]})[1]
    st = out["response"]["data"]["statuses"][0]["resting"]
    assert out["response"]["type"] == "order" and st["oid"] != oid and st["cloid"] == cloid
    (oo,) = t.info("openOrders")
    assert (oo["limitPx"], oo["sz"], oo["cloid"]) == ("3001.0", "0.02", cloid)
    # by cloid too; a bad price leaves the order untouched
    bad = t.post_l1({"type": "batchModify", "modifies": [{"oid": cloid, "order": wire(1, True, "3001.11", "0.02")}]})
    assert bad[1]["response"]["data"]["statuses"] == [{"error": "Price must be divisible by tick size. asset=1"}]
    assert t.info("openOrders")[0]["oid"] == st["oid"]
    assert t.info("orderStatus", oid=cloid)["order"]["order"]["oid"] == st["oid"]
    gone = t.post_l1({"type": "batchModify", "modifies": [{"oid": oid, "order": new}]})[1]
    assert gone["response"]["data"]["statuses"][0]["error"].endswith("asset=1")


def test_address_budget_counts_each_order_and_refuses_with_the_venue_text():
    v = make_venue()
    t = funded(v)
    u = v.core.users[t.address]
    u.n_requests = 9_990  # pretend most of the initial 10000 are spent (no volume traded)
    assert t.order(*[wire(0, True, "90000", "0.001")] * 10)["status"] == "ok"
    out = t.order(wire(0, True, "90000", "0.001"))
    assert out["status"] == "ok"  # exhausted: one request per 10 s still passes
    out = t.order(wire(0, True, "90000", "0.001"), wire(0, True, "90000", "0.001"))
    assert out == {"status": "err", "response": "Too many cumulative requests sent (10003 > 10000) for cumulative "
                                               "volume traded $0.00. Place taker orders to free up 1 request per "
                                               "USDC traded."}
    rl = t.info("userRateLimit")
    assert rl == {"cumVlm": "0.0", "nRequestsUsed": 10001, "nRequestsCap": 10000, "nRequestsSurplus": 0}


def _perp_money(v) -> Decimal:
    """Σ (perp USDC − open cost basis) over every account incl. fee and backstop: conserved."""
    return sum((u.perp_usdc - sum((p.cost for p in u.positions.values()), Decimal(0))
                for u in v.core.users.values()), Decimal(0))


def test_liquidation_with_bad_debt_conserves_usdc_and_positions():
    v = make_venue()
    risky, mm = funded(v, usdc=300, spot_usdc=0, hype=0), funded(v)
    mm.statuses(wire(2, False, "180", "30"))
    risky.statuses(wire(2, True, "180", "30", tif="Ioc"))
    before = _perp_money(v)
    v.set_oracle("SOL", "160")  # a gap far through zero equity: 30 x -20 = -600 on ~297.57
    assert risky.info("clearinghouseState")["assetPositions"] == []
    assert v.core.users[risky.address].perp_usdc == 0  # bad debt absorbed by the backstop
    backstop = v.core.liquidator
    assert backstop.positions["SOL"].szi == Decimal(30)
    assert _perp_money(v) == before
    assert sum(u.positions["SOL"].szi for u in v.core.users.values() if "SOL" in u.positions) == 0


def test_premium_derived_funding_follows_the_hyperliquid_formula():
    v = make_venue()
    mm = funded(v)
    # ETH impact notional is 20000 USDC: 10 ETH on each side is deep enough
    mm.statuses(wire(1, True, "3507", "10"), wire(1, False, "3520", "10"))
    oracle = Decimal("3500")
    _, (_, ctxs) = v.info({"type": "metaAndAssetCtxs"})
    assert ctxs[1]["impactPxs"] == ["3507.0", "3520.0"]
    premium = ((Decimal("3507") - oracle) / oracle).quantize(Decimal("1e-8"))  # impact bid above oracle
    assert Decimal(ctxs[1]["premium"]) == premium == Decimal("0.002")
    f8 = premium + max(min(Decimal("0.0001") - premium, Decimal("0.0005")), Decimal("-0.0005"))
    # the first hour averaged in a sample taken before the book existed; samples restart each hour,
    # so the second hour is all 0.002
    v.clock.advance(HOUR)
    v.tick()
    for _ in range(12):
        v.clock.advance(5_000)
        v.tick()
    assert Decimal(v.info({"type": "metaAndAssetCtxs"})[1][1][1]["funding"]) == f8 / 8
    v.clock.advance(HOUR - 60_000)
    v.tick()
    row = v.info({"type": "fundingHistory", "coin": "ETH", "startTime": START_MS + HOUR + 1})[1][0]
    assert (row["coin"], Decimal(row["fundingRate"]), Decimal(row["premium"]), row["time"]) == \
        ("ETH", f8 / 8, premium, START_MS + 2 * HOUR)
    # capped at 4 %/h
    v.set_oracle("ETH", "100")
    v.set_funding_rate("ETH", None)
    assert v.info({"type": "fundingHistory", "coin": "ETH", "startTime": 0})[1][0]["fundingRate"] != "0.04"
    v.clock.advance(HOUR)
    v.tick()
    assert v.info({"type": "fundingHistory", "coin": "ETH", "startTime": 0})[1][-1]["fundingRate"] == "0.04"
