"""Every /info call the SDK makes, answered by the live `hlmm sim` in the documented shapes."""
from __future__ import annotations

import math
from decimal import Decimal

from hyperliquid.utils.types import Cloid

from tests.sim.helpers import exchange, info, mid, round_px, size_for, statuses

PERPS = ["BTC", "ETH", "SOL", "HYPE"]


def test_meta_and_spot_meta_drive_sdk_construction(sim_server):
    inf = info(sim_server)
    meta = inf.meta()
    assert [a["name"] for a in meta["universe"]] == PERPS
    assert all({"name", "szDecimals", "maxLeverage"} <= set(a) for a in meta["universe"])
    spot = inf.spot_meta()
    assert [p["name"] for p in spot["universe"]] == ["PURR/USDC", "@1"]
    assert {t["name"] for t in spot["tokens"]} >= {"USDC", "PURR", "HYPE"}
    # the SDK's own maps, built from those answers
    assert inf.name_to_asset("BTC") == 0 and inf.name_to_asset("HYPE") == 3
    assert inf.name_to_asset("PURR/USDC") == 10000 and inf.name_to_asset("HYPE/USDC") == 10001
    assert inf.name_to_coin["HYPE/USDC"] == "@1"


def test_asset_ctxs(sim_server):
    inf = info(sim_server)
    meta, ctxs = inf.meta_and_asset_ctxs()
    assert len(ctxs) == len(meta["universe"]) == 4
    for ctx in ctxs:
        assert {"funding", "markPx", "oraclePx", "openInterest", "dayNtlVlm", "premium", "impactPxs",
                "prevDayPx", "midPx"} <= set(ctx)
        assert float(ctx["oraclePx"]) > 0
    spot_meta, spot_ctxs = inf.spot_meta_and_asset_ctxs()
    assert [c["coin"] for c in spot_ctxs] == ["PURR/USDC", "@1"]
    assert all({"markPx", "midPx", "prevDayPx", "dayNtlVlm", "circulatingSupply"} <= set(c) for c in spot_ctxs)


def test_all_mids_has_every_tradable_coin(sim_server):
    mids = info(sim_server).all_mids()
    assert set(mids) == set(PERPS) | {"PURR/USDC", "@1"}
    assert all(float(v) > 0 for v in mids.values())


def test_l2_book_full_and_aggregated(sim_server):
    inf = info(sim_server)
    book = inf.l2_snapshot("BTC")
    bids, asks = book["levels"]
    assert book["coin"] == "BTC" and isinstance(book["time"], int)
    assert len(bids) == 20 and len(asks) == 20
    assert all(float(a["px"]) < float(b["px"]) for a, b in zip(bids[1:], bids))
    assert all(float(a["px"]) > float(b["px"]) for a, b in zip(asks[1:], asks))
    assert float(bids[0]["px"]) < float(asks[0]["px"])
    assert all(lv["n"] >= 1 and float(lv["sz"]) > 0 for lv in bids + asks)

    coarse = inf.post("/info", {"type": "l2Book", "coin": "BTC", "nSigFigs": 3})
    for lv in coarse["levels"][0] + coarse["levels"][1]:
        assert len(Decimal(lv["px"]).normalize().as_tuple().digits) <= 3, lv
    # aggregation keeps the total: the finest coarse bucket holds at least the best fine level
    assert Decimal(coarse["levels"][0][0]["sz"]) >= Decimal(bids[0]["sz"])


def test_user_state_queries(sim_server, fresh_account):
    address, key = fresh_account
    inf, ex = info(sim_server), exchange(sim_server, key)
    state = inf.user_state(address)
    assert state["marginSummary"]["accountValue"] in ("1000000.0", "1000000")
    assert {"assetPositions", "marginSummary", "crossMarginSummary", "withdrawable",
            "crossMaintenanceMarginUsed", "time"} <= set(state)
    balances = {b["coin"]: b for b in inf.spot_user_state(address)["balances"]}
    assert Decimal(balances["USDC"]["total"]) == 100_000 and Decimal(balances["HYPE"]["total"]) == 1_000
    assert balances["HYPE"]["token"] == 2 and balances["USDC"]["hold"] in ("0.0", "0")

    unknown = inf.user_state("0x" + "ab" * 20)
    assert unknown["assetPositions"] == [] and Decimal(unknown["marginSummary"]["accountValue"]) == 0

    m = mid(inf, "ETH")
    cloid = Cloid.from_int(42)
    rest = statuses(ex.order("ETH", False, 0.01, round_px(m * 1.05, "ETH"), {"limit": {"tif": "Gtc"}}, cloid=cloid))
    oid = rest[0]["resting"]["oid"]
    assert [o["oid"] for o in inf.open_orders(address)] == [oid]
    front = inf.frontend_open_orders(address)[0]
    assert front["cloid"] == cloid.to_raw() and front["isTrigger"] is False and front["triggerCondition"] == "N/A"
    assert inf.query_order_by_oid(address, oid)["order"]["order"]["oid"] == oid
    assert inf.query_order_by_cloid(address, cloid)["order"]["order"]["oid"] == oid
    assert inf.query_order_by_oid(address, 999_999_999_999) == {"status": "unknownOid"}

    filled = statuses(ex.order("ETH", True, size_for(50, m, "ETH"), round_px(m * 1.01, "ETH"), {"limit": {"tif": "Ioc"}}))
    assert "filled" in filled[0]
    fills = inf.user_fills(address)
    assert fills and fills[0]["coin"] == "ETH"
    t = fills[0]["time"]
    by_time = inf.user_fills_by_time(address, t - 1000)
    assert [f["tid"] for f in by_time] and {f["tid"] for f in by_time} <= {f["tid"] for f in fills}
    assert inf.user_fills_by_time(address, t + 1, t + 2) == []

    limit = inf.user_rate_limit(address)
    assert {"cumVlm", "nRequestsUsed", "nRequestsCap"} <= set(limit)
    assert limit["nRequestsUsed"] >= 2
    assert Decimal(limit["cumVlm"]) > 0


def test_funding_and_candle_history(sim_server, fresh_account):
    inf = info(sim_server)
    now = sim_server.admin("clock")["now"]
    rows = inf.funding_history("HYPE", now - 7 * 24 * 3_600_000)
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) >= {"coin", "fundingRate", "premium", "time"} and row["coin"] == "HYPE"
    assert inf.user_funding_history(fresh_account[0], now - 3_600_000) == []

    # a trade makes sure the current 1m candle exists
    _, key = fresh_account
    m = mid(inf, "SOL")
    statuses(exchange(sim_server, key).order("SOL", True, size_for(20, m, "SOL"), round_px(m * 1.01, "SOL"),
                                             {"limit": {"tif": "Ioc"}}))
    now = sim_server.admin("clock")["now"]
    candles = inf.candles_snapshot("SOL", "1m", now - 10 * 60_000, now)
    assert candles
    c = candles[-1]
    assert c["s"] == "SOL" and c["i"] == "1m" and c["T"] - c["t"] == 59_999
    assert float(c["l"]) <= float(c["o"]) <= float(c["h"]) and float(c["l"]) <= float(c["c"]) <= float(c["h"])
    assert c["n"] >= 1 and float(c["v"]) > 0
    assert math.isclose(float(c["c"]), m, rel_tol=0.05)
