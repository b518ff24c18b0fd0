"""Isolated margin and the newly answered info types, over real sockets (SDK where it has a call, raw HTTP where
it has none): isolated positions with their own margin and liquidation price, marginSummary vs
crossMarginSummary, updateIsolatedMargin; exchangeStatus, predictedFundings, portfolio, activeAssetData,
webData2, maxBuilderFee, and the empty answers of what the venue does not model."""
from __future__ import annotations

from decimal import Decimal

from tests.sim.helpers import exchange, info, statuses

D = Decimal


def test_isolated_position_has_its_own_margin(sim_server, fresh_account):
    address, key = fresh_account
    ex, inf = exchange(sim_server, key), info(sim_server)
    assert ex.update_leverage(4, "SOL", is_cross=False)["status"] == "ok"
    filled = statuses(ex.market_open("SOL", True, 10.0))[0]["filled"]
    st = inf.user_state(address)
    pos = st["assetPositions"][0]["position"]
    entry = D(pos["entryPx"])
    margin = (D(filled["totalSz"]) * D(filled["avgPx"]) / 4).quantize(D("0.000001"))
    assert pos["leverage"]["type"] == "isolated" and pos["leverage"]["value"] == 4
    raw = D(pos["leverage"]["rawUsd"])
    assert abs(raw - (margin - 10 * entry)) < D("0.001")  # rawUsd = isolated margin - cost
    assert D(pos["marginUsed"]) == raw + D(pos["positionValue"])  # its own equity
    total, cross = st["marginSummary"], st["crossMarginSummary"]
    assert D(total["accountValue"]) - D(cross["accountValue"]) == D(pos["marginUsed"])
    assert D(total["totalNtlPos"]) == D(pos["positionValue"]) and D(cross["totalNtlPos"]) == 0
    assert D(cross["totalMarginUsed"]) == 0 and D(st["withdrawable"]) == D(cross["accountValue"])
    liq = D(pos["liquidationPx"])
    mark, maxlev = D(pos["positionValue"]) / 10, pos["maxLeverage"]
    # at the liquidation price the position's equity equals its maintenance margin
    assert abs(raw + 10 * liq - 10 * liq / (2 * maxlev)) < D("0.0001") and liq < mark
    assert ex.update_isolated_margin(50, "SOL")["status"] == "ok"
    pos2 = inf.user_state(address)["assetPositions"][0]["position"]
    assert D(pos2["leverage"]["rawUsd"]) == raw + 50 and D(pos2["liquidationPx"]) < liq
    refused = ex.update_isolated_margin(-10_000, "SOL")
    assert refused["status"] == "err" and "isolated margin" in refused["response"]
    assert ex.update_leverage(5, "SOL", is_cross=True) == {
        "status": "err", "response": "Cannot switch leverage type with open position."}
    no_pos = ex.update_isolated_margin(10, "ETH")
    assert no_pos == {"status": "err", "response": "No open isolated position on this asset."}


def test_info_types_answer_like_the_venue(sim_server, fresh_account):
    address, key = fresh_account
    user = address.lower()
    q = sim_server.info
    status = q({"type": "exchangeStatus"})
    assert set(status) == {"time", "specialStatuses"} and status["specialStatuses"] is None
    predicted = dict(q({"type": "predictedFundings"}))
    assert set(predicted) == {"BTC", "ETH", "SOL", "HYPE"}
    venue, row = predicted["HYPE"][0]
    assert venue == "HlPerp" and row["fundingIntervalHours"] == 1 and row["nextFundingTime"] % 3_600_000 == 0
    ctx = q({"type": "metaAndAssetCtxs"})[1][3]
    assert row["fundingRate"] == ctx["funding"]
    ex = exchange(sim_server, key)
    statuses(ex.market_open("HYPE", True, 1.0))
    folio = dict(info(sim_server).portfolio(user))
    assert list(folio) == ["day", "week", "month", "allTime", "perpDay", "perpWeek", "perpMonth", "perpAllTime"]
    assert D(folio["day"]["vlm"]) > 0 and len(folio["allTime"]["accountValueHistory"]) == 1
    aad = q({"type": "activeAssetData", "user": user, "coin": "HYPE"})
    assert aad["leverage"]["type"] == "cross" and aad["coin"] == "HYPE" and D(aad["markPx"]) > 0
    buy_ntl, sell_ntl = map(D, aad["availableToTrade"])
    assert sell_ntl > buy_ntl > 0  # selling first closes the long: it frees margin before it uses any
    wd = q({"type": "webData2", "user": user})
    assert wd["user"] == user and wd["clearinghouseState"]["assetPositions"]
    assert len(wd["assetCtxs"]) == 4 and wd["spotState"]["balances"] and wd["isVault"] is False
    assert q({"type": "maxBuilderFee", "user": user, "builder": "0x" + "ab" * 20}) == 0
    # the things this venue does not model answer like an account that has none of them
    inf = info(sim_server)
    assert inf.query_sub_accounts(user) is None
    assert inf.user_vault_equities(user) == [] and inf.user_twap_slice_fills(user) == []
    assert inf.user_staking_summary(user) == {"delegated": "0.0", "undelegated": "0.0",
                                               "totalPendingWithdrawal": "0.0", "nPendingWithdrawals": 0}
    assert inf.user_staking_delegations(user) == [] and inf.query_user_abstraction_state(user) == "default"
    assert inf.query_user_dex_abstraction_state(user) is None
    ref = inf.query_referral_state(user)
    assert ref["referredBy"] is None and ref["builderRewards"] == "0.0"
