"""/info shapes and contents: meta, mids, l2Book aggregation, fills, orderStatus, candles, weights."""
from __future__ import annotations

from hyperliquid.info import Info

from sim.info import weight_of

from .helpers import START_MS, funded, make_venue, wire


def test_meta_and_spot_meta_have_what_the_sdk_constructor_reads():
    v = make_venue()
    meta = v.info({"type": "meta", "dex": ""})[1]
    spot = v.info({"type": "spotMeta"})[1]
    assert [(a["name"], a["szDecimals"], a["maxLeverage"]) for a in meta["universe"]] == [
        ("BTC", 5, 40), ("ETH", 4, 25), ("SOL", 2, 20), ("HYPE", 2, 10)]
    assert [(t["name"], t["index"], t["szDecimals"], t["weiDecimals"], len(t["tokenId"])) for t in spot["tokens"]] == [
        ("USDC", 0, 8, 8, 34), ("PURR", 1, 0, 5, 34), ("HYPE", 2, 2, 8, 34)]
    assert spot["universe"] == [{"name": "PURR/USDC", "tokens": [1, 0], "index": 0, "isCanonical": True},
                                {"name": "@1", "tokens": [2, 0], "index": 1, "isCanonical": False}]
    # the SDK builds its name/asset tables from exactly these two answers (no HTTP with meta given)
    info = Info("http://127.0.0.1:9", skip_ws=True, meta=meta, spot_meta=spot)
    assert info.name_to_asset("HYPE/USDC") == 10001 and info.name_to_asset("PURR/USDC") == 10000
    assert info.name_to_asset("SOL") == 2 and info.asset_to_sz_decimals[10001] == 2


def test_all_mids_and_asset_contexts():
    v = make_venue()
    mids = v.info({"type": "allMids", "dex": ""})[1]
    assert mids == {"BTC": "100000.0", "ETH": "3500.0", "SOL": "180.0", "HYPE": "30.0", "PURR/USDC": "0.2",
                    "@1": "30.0"}
    a, b = funded(v), funded(v)
    a.statuses(wire(2, True, "179.5", "1"), wire(2, False, "180.5", "1"))
    assert v.info({"type": "allMids"})[1]["SOL"] == "180.0"
    a.statuses(wire(2, True, "179.6", "1"))
    assert v.info({"type": "allMids"})[1]["SOL"] == "180.05"
    meta, ctxs = v.info({"type": "metaAndAssetCtxs"})[1]
    sol = ctxs[2]
    assert set(sol) == {"funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx", "markPx",
                        "midPx", "impactPxs", "dayBaseVlm"}
    assert sol["midPx"] == "180.05" and sol["oraclePx"] == "180.0" and sol["impactPxs"] is None
    b.statuses(wire(2, True, "180.5", "1", tif="Ioc"))
    sol = v.info({"type": "metaAndAssetCtxs"})[1][1][2]
    assert sol["dayNtlVlm"] == "180.5" and sol["dayBaseVlm"] == "1.0" and sol["openInterest"] == "1.0"
    spot_meta, spot_ctxs = v.info({"type": "spotMetaAndAssetCtxs"})[1]
    assert [c["coin"] for c in spot_ctxs] == ["PURR/USDC", "@1"]


def test_l2_book_levels_and_sig_fig_aggregation():
    v = make_venue()
    t = funded(v)
    t.statuses(wire(0, True, "99991", "0.001"), wire(0, True, "99991", "0.002"), wire(0, True, "99987", "0.001"),
               wire(0, True, "99912", "0.001"), wire(0, False, "100013", "0.004"))
    book = v.info({"type": "l2Book", "coin": "BTC"})[1]
    assert book["time"] == START_MS
    assert book["levels"] == [
        [{"px": "99991.0", "sz": "0.003", "n": 2}, {"px": "99987.0", "sz": "0.001", "n": 1},
         {"px": "99912.0", "sz": "0.001", "n": 1}],
        [{"px": "100013.0", "sz": "0.004", "n": 1}]]
    agg = v.info({"type": "l2Book", "coin": "BTC", "nSigFigs": 3})[1]["levels"]
    assert agg == [[{"px": "99900.0", "sz": "0.005", "n": 4}], [{"px": "101000.0", "sz": "0.004", "n": 1}]]
    agg4 = v.info({"type": "l2Book", "coin": "BTC", "nSigFigs": 4})[1]["levels"][0]
    assert agg4 == [{"px": "99990.0", "sz": "0.003", "n": 2}, {"px": "99980.0", "sz": "0.001", "n": 1},
                    {"px": "99910.0", "sz": "0.001", "n": 1}]
    assert v.info({"type": "l2Book", "coin": "BTC", "nSigFigs": 1})[0] == 422
    for i in range(25):
        t.statuses(wire(2, True, f"{150 + i}", "0.1"))
    assert len(v.info({"type": "l2Book", "coin": "SOL"})[1]["levels"][0]) == 20


def test_fills_order_status_and_open_orders():
    v = make_venue()
    a, b = funded(v), funded(v)
    cloid = "0x" + "12" * 16
    oid = a.statuses(wire(1, False, "3500", "0.5", cloid=cloid))[0]["resting"]["oid"]
    fo = a.info("frontendOpenOrders")[0]
    assert fo["orderType"] == "Limit" and fo["tif"] == "Gtc" and fo["cloid"] == cloid and fo["isTrigger"] is False
    b.statuses(wire(1, True, "3500", "0.2", tif="Ioc"))
    b.statuses(wire(1, True, "3500", "0.3", tif="Ioc"))
    fills = a.info("userFills")
    assert [f["sz"] for f in fills] == ["0.3", "0.2"]  # newest first
    f = fills[-1]
    assert (f["dir"], f["side"], f["crossed"], f["fee"], f["feeToken"], f["cloid"], f["oid"]) == \
        ("Open Short", "A", False, "0.105", "USDC", cloid, oid)
    assert f["hash"].startswith("0x") and len(f["hash"]) == 66 and isinstance(f["tid"], int)
    assert fills[0]["startPosition"] == "-0.2"
    tb = b.info("userFills")[-1]
    assert (tb["dir"], tb["crossed"], tb["fee"], tb["tid"]) == ("Open Long", True, "0.315", f["tid"])
    by_time = a.info("userFillsByTime", startTime=START_MS, endTime=None, aggregateByTime=False)
    assert [x["sz"] for x in by_time] == ["0.2", "0.3"]
    st = a.info("orderStatus", oid=oid)
    assert st["order"]["status"] == "filled" and st["order"]["order"]["sz"] == "0.0"
    assert a.info("orderStatus", oid=cloid) == st
    assert a.info("orderStatus", oid=12345) == {"status": "unknownOid"}
    # flip: b sells 0.8 from long 0.5
    a.statuses(wire(1, True, "3400", "0.8"))
    b.statuses(wire(1, False, "3400", "0.8", tif="Ioc"))
    assert b.info("userFills")[0]["dir"] == "Long > Short"
    assert b.info("userFills")[0]["closedPnl"] == "-50.0"


def test_candles_built_from_trades():
    v = make_venue()
    a, b = funded(v), funded(v)
    for px in ("180", "181", "179"):
        a.statuses(wire(2, False, px, "1"))
        b.statuses(wire(2, True, px, "1", tif="Ioc"))
        v.clock.advance(30_000)
    rows = v.info({"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "1m", "startTime": START_MS,
                                                     "endTime": START_MS + 120_000}})[1]
    assert rows == [
        {"t": START_MS, "T": START_MS + 59_999, "s": "SOL", "i": "1m", "o": "180.0", "c": "181.0", "h": "181.0",
         "l": "180.0", "v": "2.0", "n": 2},
        {"t": START_MS + 60_000, "T": START_MS + 119_999, "s": "SOL", "i": "1m", "o": "179.0", "c": "179.0",
         "h": "179.0", "l": "179.0", "v": "1.0", "n": 1}]
    hour = v.info({"type": "candleSnapshot", "req": {"coin": "SOL", "interval": "1h", "startTime": START_MS,
                                                     "endTime": START_MS + 120_000}})[1]
    assert [(c["o"], c["c"], c["h"], c["l"], c["v"], c["n"]) for c in hour] == [
        ("180.0", "179.0", "181.0", "179.0", "3.0", 3)]


def test_weights_follow_the_protocol_table():
    assert weight_of({"type": "l2Book", "coin": "BTC"}) == 2
    assert weight_of({"type": "allMids"}) == 2
    assert weight_of({"type": "meta"}) == 20
    assert weight_of({"type": "userRole", "user": "0x"}) == 60
    assert weight_of({"type": "userFills"}, [{}] * 45) == 22
    assert weight_of({"type": "candleSnapshot"}, [{}] * 130) == 22
    assert weight_of({"action": {"type": "order", "orders": [{}] * 79}}) == 2
    assert weight_of({"action": {"type": "noop"}}) == 1


def test_unknown_user_answers_are_empty_not_errors():
    v = make_venue()
    nobody = "0x" + "77" * 20
    st = v.info({"type": "clearinghouseState", "user": nobody, "dex": ""})[1]
    assert st["assetPositions"] == [] and st["marginSummary"]["accountValue"] == "0.0"
    assert v.info({"type": "spotClearinghouseState", "user": nobody})[1] == {"balances": []}
    assert v.info({"type": "userRole", "user": nobody})[1] == {"role": "missing"}
    assert v.info({"type": "userFunding", "user": nobody, "startTime": 0})[1] == []
