"""The replayed account is bounded the way the live engine is: spot USDC / coin balances, perp margin and the
risk position cap. Positions and balances are recomputed here from the fill log (independently of the
replay's own bookkeeping) and checked after every fill."""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine.backtest.balances import Balances
from engine.backtest.models import BUY, SELL, SimOrder
from engine.risk import RiskLimits
from engine.backtest.history import FundingRow
from tests.backtest.test_replay_pinned import H, START, two_leg_synthetic


def walk(replay, start_usdc: float, start_base: float = 0.0):
    """Yield (fill, spot position, perp position, spot USDC, lowest spot mid so far) after every fill."""
    pos = {"spot": start_base, "perp": 0.0}
    usdc = start_usdc
    low_mid = {"spot": float("inf"), "perp": float("inf")}
    for f in replay.fills:
        signed = f["sz"] if f["side"] == "B" else -f["sz"]
        pos[f["leg"]] += signed
        low_mid[f["leg"]] = min(low_mid[f["leg"]], f["mid"])
        if f["leg"] == "spot":
            usdc -= signed * f["px"] + f["fee"]
        yield f, pos, usdc, low_mid


def test_two_leg_positions_capped_and_spot_balances_never_negative():
    replay, events = two_leg_synthetic()
    res = replay.run(events)
    cfg = replay.cfg
    limit_usd = cfg.risk.max_position_usd
    assert limit_usd == 10_000.0
    one_order_usd = cfg.quote.order_notional
    peak = {"spot": 0.0, "perp": 0.0}
    n = 0
    for f, pos, usdc, low_mid in walk(replay, cfg.start_spot_usdc):
        n += 1
        for leg in ("spot", "perp"):
            if low_mid[leg] < float("inf"):
                # the cap in coin is limit / mid at decision time; the mid then was >= the lowest mid seen
                assert abs(pos[leg]) <= (limit_usd + one_order_usd) / low_mid[leg] + 1e-9, (f, pos)
            peak[leg] = max(peak[leg], abs(pos[leg]) * f["mid"])
        assert usdc >= -1e-9, (f, usdc)
        assert pos["spot"] >= -1e-9, (f, pos)
    assert n == res["fills"] > 100
    # the cap is reached (before balances and risk, the gross position ran to ~7,000 HYPE ≈ 210k USD)
    assert peak["spot"] > 0.9 * limit_usd and peak["perp"] > 0.9 * limit_usd
    assert res["risk_rejects"] > 0
    bal = res["balances"]
    assert bal["spot_usdc"] == pytest.approx(usdc, abs=1e-6)
    assert bal["spot_base"] == pytest.approx(pos["spot"], abs=1e-9)
    assert bal["min_spot_usdc"] >= -1e-9


def test_spot_usdc_budget_bounds_the_spot_leg():
    """With 3,000 USDC and no position cap the spot leg can hold at most what the USDC bought."""
    replay, events = two_leg_synthetic(start_spot_usdc=3_000.0, risk=RiskLimits(max_position_usd=None))
    res = replay.run(events)
    top = 0.0
    for f, pos, usdc, low_mid in walk(replay, 3_000.0):
        assert usdc >= -1e-9, (f, usdc)
        assert pos["spot"] >= -1e-9
        top = max(top, pos["spot"])
        assert pos["spot"] <= 3_000.0 / low_mid["spot"] + 1e-9
    assert top > 0.9 * 3_000.0 / 31  # the budget is what stopped it (the synthetic mid stays near 30)
    assert res["balances"]["min_spot_usdc"] >= -1e-9


def test_perp_margin_bounds_the_perp_leg():
    """300 USDC at 3x margins at most ~900 USD of perp; the venue refuses or clips the rest."""
    replay, events = two_leg_synthetic(start_perp_usdc=300.0, perp_leverage=3.0,
                                       risk=RiskLimits(max_position_usd=None))
    res = replay.run(events)
    for f, pos, usdc, low_mid in walk(replay, replay.cfg.start_spot_usdc):
        if f["leg"] == "perp":
            # account value (300 + P&L, a few USD here) · leverage, one order of slack for marks moving after
            assert abs(pos["perp"]) * f["mid"] <= 3 * 320 + replay.cfg.quote.order_notional, (f, pos)
    bal = res["balances"]
    assert bal["balance_rejects"] + bal["taker_clipped"] > 0


def test_carry_unwind_sells_the_spot_leg_through_risk():
    """Funding turns negative after an hour: with a 1-hour trailing mean the carry opens at the first
    settlement and exits at the second; the unwind sells the carry's spot (reduce-only perp buy-back) and
    carry_qty goes back to zero instead of growing."""
    first = (START // H + 1) * H
    rows = [FundingRow(first + i * H, "HYPE", Decimal("0.00003") if i < 1 else Decimal("-0.0001"), 1)
            for i in range(-5, 3)]
    replay, events = two_leg_synthetic(funding=rows, funding_lookback_hours=1)
    opened = []
    orig = replay._on_funding

    def spy(row):
        orig(row)
        opened.append((row.time_ms, replay.carry.spot_qty))
    replay._on_funding = spy
    res = replay.run(events)
    assert opened[0][1] > 0 and opened[1][1] == 0  # open at the first settlement, flat at the second
    assert res["carry_qty"] == pytest.approx(0.0, abs=1e-9)
    carry_sells = [f for f in replay.fills if f["leg"] == "spot" and f["side"] == "A" and not f["maker"]
                   and f["t"] >= opened[1][0]]
    assert sum(f["sz"] for f in carry_sells) >= float(opened[0][1]) - 1e-9


def order(oid: int, side: int, px: float, qty: float) -> SimOrder:
    return SimOrder(oid, side, px, qty)


def test_spot_orders_hold_their_balance():
    bal = Balances(spot_usdc=1_000.0, perp_usdc=0.0, leverage=10.0)
    resting = [order(1, BUY, 10.0, 60.0)]  # holds 600 USDC (+ fee)
    assert bal.accepts(order(2, BUY, 10.0, 39.0), True, 0.0, 10.0, resting, 0.0007)
    assert not bal.accepts(order(3, BUY, 10.0, 40.0), True, 0.0, 10.0, resting, 0.0007)  # 1000.28 > 1000
    assert not bal.accepts(order(4, SELL, 10.0, 1.0), True, 0.0, 10.0, resting, 0.0007)  # no coin held
    assert bal.accepts(order(5, SELL, 10.0, 5.0), True, 5.0, 10.0, resting, 0.0007)
    assert bal.rejects == 2
    # a taker buy gets what the free USDC covers: (1000 − 600·1.0007) / (10·1.0007)
    assert bal.taker_qty(True, True, 100.0, 10.0, 0.0, 10.0, resting, 0.0007) == pytest.approx(
        (1_000 - 600 * 1.0007) / (10 * 1.0007))


def test_perp_margin_and_reducing_orders():
    bal = Balances(spot_usdc=0.0, perp_usdc=100.0, leverage=5.0)  # 500 USD of exposure
    assert bal.accepts(order(1, SELL, 10.0, 50.0), False, 0.0, 10.0, [], 0.00045)
    assert not bal.accepts(order(2, SELL, 10.0, 51.0), False, 0.0, 10.0, [], 0.00045)
    # short 50 at mark 10: value 100 + (−50·10) + cash from the sale; here only the position moves value
    bal.perp_usdc = 600.0  # 100 + 500 received for the short
    assert bal.accepts(order(3, BUY, 10.0, 50.0), False, -50.0, 10.0, [], 0.00045)  # reduces: always allowed
    assert not bal.accepts(order(4, SELL, 10.0, 1.0), False, -50.0, 10.0, [], 0.00045)
    with pytest.raises(ValueError, match="perp_leverage"):
        Balances(0.0, 0.0, 0.0)
