"""Pure flow logic: regime, drawdown, rebalance plan, funding accounting, ledger diff."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal as D

import pytest

from flows.logic.audit import diff_fills, diff_funding
from flows.logic.drawdown import drawdown
from flows.logic.funding import HOUR_MS, account_funding
from flows.logic.rebalance import CarryState, plan_rebalance
from flows.logic.regime import RegimeThresholds, atr_pct, classify_regime, parse_candles, realized_vol, regime_from_candles

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
M15 = 15 * 60_000


def _candles(closes, spread):
    rows = []
    for i, c in enumerate(closes):
        rows.append({"t": i * M15, "o": str(c), "h": str(c * (1 + spread)), "l": str(c * (1 - spread)), "c": str(c)})
    return rows


# --- regime ---------------------------------------------------------------------------------------------

def test_atr_of_constant_range_bars():
    bars = parse_candles(_candles([100.0] * 20, 0.001))
    assert atr_pct(bars, 14) == pytest.approx(0.002)


def test_realized_vol_matches_hand_computation():
    closes = [100.0, 101.0, 100.0, 101.0, 100.0]
    rets = [math.log(101 / 100), math.log(100 / 101)] * 2
    mean = sum(rets) / 4
    var = sum((r - mean) ** 2 for r in rets) / 3
    want = math.sqrt(var * 365 * 96)
    assert realized_vol(parse_candles(_candles(closes, 0.001)), M15) == pytest.approx(want)


@pytest.mark.parametrize("atr,rv,regime,mult,pause", [
    (0.001, 0.2, "calm", 0.8, False),
    (0.003, 0.2, "normal", 1.0, False),
    (0.001, 1.0, "stressed", 1.6, False),   # realized vol alone escalates
    (0.02, 0.2, "extreme", 2.5, True),      # ATR alone escalates
    (0.0015, 0.40, "normal", 1.0, False),   # bounds are exclusive upper bounds
])
def test_classify_regime(atr, rv, regime, mult, pause):
    d = classify_regime(atr, rv)
    assert (d.regime, d.spread_multiplier, d.pause) == (regime, mult, pause)
    assert regime in d.reason


def test_regime_from_candles_calm_vs_extreme():
    calm = regime_from_candles(_candles([25.0 + 0.001 * (i % 2) for i in range(40)], 0.0003), M15)
    assert calm.regime == "calm" and not calm.pause
    wild = regime_from_candles(_candles([25.0 * (1.03 if i % 2 else 0.97) for i in range(40)], 0.02), M15)
    assert wild.regime == "extreme" and wild.pause


def test_regime_bad_input_names_field():
    with pytest.raises(ValueError, match=r"candles\[1\].h"):
        parse_candles([{"t": 0, "o": "1", "h": "1", "l": "1", "c": "1"}, {"t": 1, "o": "1", "h": "x", "l": "1", "c": "1"}])
    with pytest.raises(ValueError, match="need at least 15"):
        atr_pct(parse_candles(_candles([1.0] * 5, 0.01)), 14)
    with pytest.raises(ValueError, match="thresholds.atr_pct"):
        RegimeThresholds(atr_pct=(0.01, 0.001, 0.1))


# --- drawdown -------------------------------------------------------------------------------------------

def _curve(values):
    return [(T0 + dt.timedelta(minutes=5 * i), D(v)) for i, v in enumerate(values)]


def test_drawdown_within_and_over_limit():
    ok = drawdown(_curve(["1000", "1100", "1060"]), "0.05")
    assert ok.peak == D("1100") and ok.drawdown_usd == D("40") and not ok.breached
    bad = drawdown(_curve(["1000", "1100", "1030"]), "0.05")
    assert bad.breached and bad.drawdown_pct == D("70") / D("1100")
    assert "exceeds" in bad.reason


def test_recovered_trough_does_not_trip_but_is_reported():
    r = drawdown(_curve(["1000", "800", "1000"]), "0.05")
    assert not r.breached and r.max_drawdown_pct == D("0.2")


def test_usd_limit_trips_alone():
    assert drawdown(_curve(["100000", "99000"]), "0.05", max_drawdown_usd="500").breached


def test_drawdown_bad_input():
    with pytest.raises(ValueError, match="max_drawdown_pct"):
        drawdown(_curve(["1"]), "1.5")
    with pytest.raises(ValueError, match="empty"):
        drawdown([], "0.05")


# --- rebalance ------------------------------------------------------------------------------------------

def _state(**kw):
    base = dict(spot_usdc=D("5000"), spot_base=D("0"), perp_account_value=D("5000"), perp_szi=D("0"),
                spot_px=D("25"), perp_px=D("25.02"))
    base.update(kw)
    return CarryState(**base)


KW = dict(spot_coin="@1", perp_coin="HYPE", spot_sz_decimals=2, perp_sz_decimals=2, max_slippage_bps=50)


def test_open_carry_from_flat():
    p = plan_rebalance(_state(), "2000", "0.5", **KW)
    assert p.target_spot_base == D("80") and p.target_perp_szi == D("-80")
    spot, perp = p.trades
    assert (spot.leg, spot.is_buy, spot.size) == ("spot", True, D("80"))
    assert (perp.leg, perp.is_buy, perp.size) == ("perp", False, D("80"))
    # bounded slippage: buy ≤ ref·1.005, sell ≥ ref·0.995, both on the tick
    assert spot.limit_px <= D("25") * D("1.005") and spot.limit_px > D("25")
    assert perp.limit_px >= D("25.02") * D("0.995") and perp.limit_px < D("25.02")
    # after buying 2000 of spot: total USDC 8000, half on each side → move 1000 perp → spot, first
    assert p.transfer is not None and p.transfer.amount == D("1000.00") and not p.transfer.to_perp
    assert p.transfer_first
    assert p.spot_usdc_after == D("4000") and p.perp_usdc_after == D("4000")
    assert p.steps()[0].startswith("transfer")


def test_shrink_carry_moves_usdc_to_perp_last():
    p = plan_rebalance(_state(spot_usdc=D("1000"), spot_base=D("200"), perp_szi=D("-200")), "2500", "0.1", **KW)
    spot, perp = p.trades
    assert not spot.is_buy and spot.size == D("100") and perp.is_buy and perp.size == D("100")
    assert p.transfer.to_perp and not p.transfer_first
    assert p.steps()[-1].startswith("transfer")


def test_tiny_changes_are_skipped_with_reason():
    p = plan_rebalance(_state(spot_base=D("80"), perp_szi=D("-80.2"), spot_usdc=D("3000"), perp_account_value=D("3000")),
                       "2000", "0.5", **KW)
    assert p.is_noop
    assert any("below the $10 minimum" in s for s in p.skipped)


def test_unfundable_plans_refuse_with_the_parameter_named():
    with pytest.raises(ValueError, match="spot_usdc_fraction"):
        plan_rebalance(_state(), "2000", "1.0", **KW)  # nothing left on perp for margin
    with pytest.raises(ValueError, match="target_carry_notional"):
        plan_rebalance(_state(), "-5", "0.5", **KW)
    with pytest.raises(ValueError, match="spot_usdc_fraction"):
        plan_rebalance(_state(), "100", "1.5", **KW)
    with pytest.raises(ValueError, match="max_slippage_bps"):
        plan_rebalance(_state(), "100", "0.5", **{**KW, "max_slippage_bps": 0})


# --- funding --------------------------------------------------------------------------------------------

H = 1_767_571_200_000  # an hour boundary


def _paid(h, usdc, szi, rate):
    return {"time": H + h * HOUR_MS + 17, "hash": "0x0", "delta": {"type": "funding", "coin": "HYPE", "usdc": usdc,
                                                                   "szi": szi, "fundingRate": rate, "nSamples": None}}


def _rate(h, rate):
    return {"coin": "HYPE", "fundingRate": rate, "premium": "0", "time": H + h * HOUR_MS + 5}


def test_funding_matches_expected_and_gives_apr():
    pays = [_paid(0, "2.5", "-100", "0.001"), _paid(1, "1.25", "-100", "0.0005")]
    rates = {"HYPE": [_rate(0, "0.001"), _rate(1, "0.0005")]}
    r = account_funding(pays, rates, price_at=lambda c, h: D("25"))["HYPE"]
    assert r.realized == D("3.75") and r.expected == D("3.75") and r.flags == ()
    assert r.mean_notional == D("2500")
    assert r.realized_apr == D("3.75") / D("2500") * 8760 / 2


def test_funding_flags_missing_rate_and_amount_mismatch():
    pays = [_paid(0, "2.5", "-100", "0.001"), _paid(1, "9.0", "-100", "0.0004")]
    rates = {"HYPE": [_rate(0, "0.001"), _rate(1, "0.0005"), _rate(2, "0.0005")]}
    r = account_funding(pays, rates, price_at=lambda c, h: D("25"), position_at=lambda c, h: D("-100"))["HYPE"]
    kinds = sorted(f.kind for f in r.flags)
    assert kinds == ["amount_mismatch", "missing_payment", "rate_mismatch"]


def test_funding_bad_row_names_field():
    with pytest.raises(ValueError, match=r"userFunding\[0\].usdc"):
        account_funding([{"time": H, "delta": {"coin": "HYPE", "usdc": "x", "szi": "1", "fundingRate": "0"}}], {},
                        price_at=lambda c, h: None)


# --- ledger diff ----------------------------------------------------------------------------------------

def test_diff_fills_and_funding():
    f1 = {"coin": "HYPE", "tid": 1, "px": "25", "sz": "1", "side": "B", "fee": "0.01"}
    f2 = {"coin": "HYPE", "tid": 2, "px": "25", "sz": "2", "side": "A", "fee": "0.01"}
    f3 = {"coin": "@1", "tid": 2, "px": "25.0", "sz": "2", "side": "A", "fee": "0.01"}  # same tid, other coin
    d = diff_fills([f1, f2, f3], [f1, {**f3, "sz": "2.0"}, {**f1, "tid": 9}])
    assert [x["tid"] for x in d.missing] == [2] and d.missing[0]["coin"] == "HYPE"
    assert d.extra == (("HYPE", 9),) and d.mismatched == () and not d.clean
    g = {"time": 5, "delta": {"coin": "HYPE", "usdc": "1.5"}}
    dd = diff_funding([g], [{"time": 5, "coin": "HYPE", "usdc": "1.4"}])
    assert dd.mismatched == (("HYPE", 5),)
    assert diff_funding([g], [{"time": 5, "coin": "HYPE", "usdc": "1.50"}]).clean
