"""/info types beyond the trading core: exchange status, predicted funding, portfolio, builder fees, active asset
data, the frontend's webData2, and the answers an account gives when it has none of a thing the venue does not
model (vaults, sub-accounts, staking, TWAPs, multi-sig...): the live venue's empty shape, never a 422.
"""
from __future__ import annotations

from decimal import Decimal

from . import funding
from .core import Core
from .numbers import ZERO, dec_str

DAY_MS = 86_400_000
PERIODS = (("day", DAY_MS), ("week", 7 * DAY_MS), ("month", 30 * DAY_MS), ("allTime", None))


class BadInfo(ValueError):
    """A field is missing or malformed: the venue's 422."""


def exchange_status(core: Core, body: dict) -> dict:
    return {"time": core.clock.now_ms(), "specialStatuses": None}


def predicted_fundings(core: Core, body: dict) -> list:
    """[[coin, [["HlPerp", {fundingRate, nextFundingTime, fundingIntervalHours}]]]]: this venue's own rate only
    (the live answer also lists Binance and Bybit, which a local venue cannot know)."""
    nxt = core.next_funding_ms
    return [[m.coin, [["HlPerp", {"fundingRate": dec_str(funding.current_rate(core, m)), "nextFundingTime": nxt,
                                  "fundingIntervalHours": 1}]]] for m in core.u.perps]


def perps_at_oi_cap(core: Core, body: dict) -> list:
    return []  # open-interest caps are not modelled: no market is ever at its cap


def _spot_value(core: Core, u) -> Decimal:
    return sum((amt * core.token_px(t) for t, amt in u.spot.items() if amt), ZERO)


def _net_inflows(u) -> Decimal:
    """Deposits and transfers in minus transfers out (not trading): what PnL is measured against."""
    return u.inflow


def _perp_pnl(core: Core, u, marks) -> Decimal:
    """Closed PnL, fees and funding of the perp fills, plus the open positions' unrealized PnL."""
    total = u.upnl(marks)
    for f in u.fills:
        if not core.u.by_coin[f["coin"]].is_spot:
            total += Decimal(f["closedPnl"]) - Decimal(f["fee"])
    for r in u.fundings:
        total += Decimal(r["delta"]["usdc"])
    return total


def portfolio(core: Core, user: str, body: dict) -> list:
    """[[period, {accountValueHistory, pnlHistory, vlm}]] for day/week/month/allTime and their perp-only twins.
    The live venue samples the history over time; this venue keeps none, so each history holds one point, now."""
    u = core.users.get(user)
    now = core.clock.now_ms()
    out = []
    for perp_only in (False, True):
        for name, span in PERIODS:
            key = ("perp" + name[0].upper() + name[1:]) if perp_only else name
            if u is None:
                out.append([key, {"accountValueHistory": [], "pnlHistory": [], "vlm": "0.0"}])
                continue
            marks = core.marks()
            value = u.account_value(marks) + (ZERO if perp_only else _spot_value(core, u))
            start = 0 if span is None else now - span
            vlm = sum((Decimal(f["px"]) * Decimal(f["sz"]) for f in u.fills if f["time"] >= start
                       and (not perp_only or not core.u.by_coin[f["coin"]].is_spot)), ZERO)
            pnl = value - _net_inflows(u) if not perp_only else _perp_pnl(core, u, marks)
            out.append([key, {"accountValueHistory": [[now, dec_str(value)]], "pnlHistory": [[now, dec_str(pnl)]],
                              "vlm": dec_str(vlm)}])
    return out


def max_builder_fee(core: Core, user: str, body: dict) -> int:
    builder = body.get("builder")
    if not isinstance(builder, str) or len(builder) != 42:
        raise BadInfo("builder")
    u = core.users.get(user)
    return u.builder_max.get(builder.lower(), 0) if u else 0


def approved_builders(core: Core, user: str, body: dict) -> list:
    u = core.users.get(user)
    return sorted(u.builder_max) if u else []


def active_asset_data(core: Core, user: str, body: dict) -> dict:
    """Leverage, what can be traded each way (USDC margin and size) and the mark of one perp for one user."""
    coin = body.get("coin")
    m = core.u.by_coin.get(coin) if isinstance(coin, str) else None
    if m is None or m.is_spot:
        raise BadInfo("coin")
    u = core.users.get(user)
    mark = core.marks()[m.coin]
    if u is None:
        lev = {"type": "cross", "value": min(20, m.max_leverage)}
        return {"user": user, "coin": coin, "leverage": lev, "maxTradeSzs": ["0.0", "0.0"],
                "availableToTrade": ["0.0", "0.0"], "markPx": dec_str(mark)}
    n = u.lev(m)
    pos = u.positions.get(m.coin)
    lev = {"type": "cross", "value": n}
    if not u.is_cross(m):
        raw = (pos.iso - pos.cost) if pos is not None and pos.iso is not None else ZERO
        lev = {"type": "isolated", "value": n, "rawUsd": dec_str(raw)}
    free = max(u.free_margin(core.u.by_coin, core.u.by_asset, core.marks()), ZERO)
    szi = pos.szi if pos is not None else ZERO
    avail, sizes = [], []
    for is_buy in (True, False):
        closing = abs(szi) if szi and (szi > 0) != is_buy else ZERO  # closing frees margin instead of using it
        a = free + closing * mark / n
        avail.append(dec_str(a.quantize(Decimal("0.000001"))))
        sizes.append(dec_str((a * n / mark).quantize(Decimal(1).scaleb(-m.sz_decimals), "ROUND_DOWN")))
    return {"user": user, "coin": coin, "leverage": lev, "maxTradeSzs": sizes, "availableToTrade": avail,
            "markPx": dec_str(mark)}


def _agent_of(core: Core, user: str) -> tuple:
    for addr, (owner, name, valid) in core.agents.items():
        if owner == user and not name:
            return addr, valid
    return None, None


def web_data2(core: Core, user: str, body: dict) -> dict:
    from .info import perp_ctx, spot_ctx
    from .info_user import _open, clearinghouse_state, spot_state

    agent, valid = _agent_of(core, user)
    u = core.users.get(user)
    return {"clearinghouseState": clearinghouse_state(core, user, {}), "leadingVaults": [], "totalVaultEquity": "0.0",
            "openOrders": _open(core, user, True), "agentAddress": agent, "agentValidUntil": valid,
            "cumLedger": dec_str(_net_inflows(u)) if u else "0.0", "meta": core.u.meta(),
            "assetCtxs": [perp_ctx(core, m) for m in core.u.perps], "serverTime": core.clock.now_ms(),
            "isVault": False, "user": user, "twapStates": [], "spotState": spot_state(core, user, {}),
            "spotAssetCtxs": [spot_ctx(core, m) for m in core.u.spots]}


def referral(core: Core, user: str, body: dict) -> dict:
    u = core.users.get(user)
    vlm = u.cum_vlm if u else ZERO
    stage = {"stage": "needToTrade", "data": {"required": "10000.0"}} if vlm < 10_000 else {"stage": "needToCreateCode"}
    return {"referredBy": None, "cumVlm": dec_str(vlm), "unclaimedRewards": "0.0", "claimedRewards": "0.0",
            "builderRewards": dec_str(u.builder_rewards) if u else "0.0", "referrerState": stage,
            "rewardHistory": [], "tokenToState": []}


def _const(value):
    return lambda core, user, body: value() if callable(value) else value


# user queries about things this venue does not model: the answer of an account that has none of them
EMPTY_USER = {
    "subAccounts": _const(None), "subAccounts2": _const(None), "userVaultEquities": _const(list),
    "delegations": _const(list), "delegatorRewards": _const(list), "delegatorHistory": _const(list),
    "delegatorSummary": _const(lambda: {"delegated": "0.0", "undelegated": "0.0", "totalPendingWithdrawal": "0.0",
                                        "nPendingWithdrawals": 0}),
    "userTwapSliceFills": _const(list), "userTwapSliceFillsByTime": _const(list), "twapHistory": _const(list),
    "userToMultiSigSigners": _const(None), "userDexAbstraction": _const(None), "userAbstraction": _const("default"),
    "leadingVaults": _const(list), "userBorrowLendInterest": _const(list),
    "spotDeployState": _const(lambda: {"states": [], "gasAuction": None}),
}

USER_EXTRA = {
    "portfolio": portfolio, "maxBuilderFee": max_builder_fee, "approvedBuilders": approved_builders,
    "activeAssetData": active_asset_data, "webData2": web_data2, "referral": referral, **EMPTY_USER,
}
MARKET_EXTRA = {
    "exchangeStatus": exchange_status, "predictedFundings": predicted_fundings,
    "perpsAtOpenInterestCap": perps_at_oi_cap,
}
