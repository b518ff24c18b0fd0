from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.risk import (KillSwitch, MarketView, Reason, RiskContext, RiskLimits, VenueMode, check_order,
                         evaluate)
from engine.strategy.quotes import LegState, QuoteParams, quotes

NOW = 1_000_000


@dataclass(frozen=True)
class Order:
    coin: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    tif: str = "Alo"
    reduce_only: bool = False


def view(coin="HYPE", mid=40.0, oracle=40.0, atr=0.005, age=100):
    return MarketView(coin, mid, oracle, atr, NOW - age)


def ctx(**kw):
    base = dict(now_ms=NOW, markets={"HYPE": view()}, positions={}, open_orders=0, address_budget_remaining=None)
    base.update(kw)
    return RiskContext(**base)


def buy(sz="1", px="40", **kw):
    return Order("HYPE", True, Decimal(px), Decimal(sz), **kw)


def sell(sz="1", px="40", **kw):
    return Order("HYPE", False, Decimal(px), Decimal(sz), **kw)


def test_clean_batch_passes():
    d = evaluate([buy(), sell()], ctx(), RiskLimits(), KillSwitch())
    assert d.ok and len(d.accepted) == 2 and not d.cancel_all


def test_position_limit_counts_worst_case_per_side():
    limits = RiskLimits(max_position={"HYPE": 10.0})
    d = evaluate([buy("4"), buy("4"), buy("4"), sell("3")], ctx(positions={"HYPE": 1.0}), limits, KillSwitch())
    assert [o.sz for o in d.accepted] == [Decimal(4), Decimal(4), Decimal(3)]
    assert [c.reason for _, c in d.rejected] == [Reason.POSITION_LIMIT]
    # over the limit already: reducing orders still pass, adding ones do not
    d = evaluate([buy("1"), sell("5")], ctx(positions={"HYPE": 12.0}), limits, KillSwitch())
    assert [o.is_buy for o in d.accepted] == [False]
    assert evaluate([buy("50", reduce_only=True)], ctx(positions={"HYPE": -60.0}), limits, KillSwitch()).ok


def test_max_order_notional():
    d = evaluate([buy("200")], ctx(), RiskLimits(max_order_notional=5_000), KillSwitch())
    assert d.rejected[0][1].reason == Reason.ORDER_NOTIONAL and "8000.00" in d.rejected[0][1].message


def test_max_open_orders_counts_existing_and_skips_ioc():
    d = evaluate([buy(), sell(), sell(tif="Ioc")], ctx(open_orders=9), RiskLimits(max_open_orders=10),
                 KillSwitch())
    assert len(d.accepted) == 2 and d.rejected[0][1].reason == Reason.OPEN_ORDERS


def test_price_band_vs_oracle_and_mid_fallback():
    limits = RiskLimits(price_band_frac=0.05)
    d = evaluate([buy(px="37.9"), sell(px="42.1"), buy(px="38.1")], ctx(), limits, KillSwitch())
    assert [c.reason for _, c in d.rejected] == [Reason.PRICE_BAND, Reason.PRICE_BAND] and len(d.accepted) == 1
    assert check_order(buy(px="41"), view(oracle=None, mid=40.0), limits) is None
    assert check_order(buy(px="41"), view(oracle=None, mid=None), limits).reason == Reason.PRICE_BAND


def test_address_budget_keeps_reserve():
    d = evaluate([buy(), sell(), buy()], ctx(address_budget_remaining=502), RiskLimits(min_address_budget=500),
                 KillSwitch())
    assert len(d.accepted) == 2 and d.rejected[0][1].reason == Reason.ADDRESS_BUDGET


def test_kill_switch_cancels_everything_and_records_who_why():
    k = KillSwitch()
    k.engage("ops@desk", "drawdown 5%", NOW)
    d = evaluate([buy(), sell()], ctx(), RiskLimits(), k)
    assert d.cancel_all and not d.accepted and Reason.KILL_SWITCH in d.reasons and "drawdown" in d.halts[0].message
    assert k.as_control() == {"name": "kill_switch", "active": True, "who": "ops@desk", "why": "drawdown 5%",
                              "since_ms": NOW}
    k.clear("ops@desk", "reviewed", NOW + 1)
    assert evaluate([buy()], ctx(), RiskLimits(), k).ok
    with pytest.raises(ValueError, match="who and why"):
        k.engage("", "x", NOW)


def test_volatility_pause_blocks_new_quotes_but_not_reduce_only():
    c = ctx(markets={"HYPE": view(atr=0.05)})
    d = evaluate([buy(), sell(reduce_only=True, tif="Ioc")], c, RiskLimits(max_atr_pct=0.03), KillSwitch())
    assert d.paused_coins == {"HYPE"} and d.rejected[0][1].reason == Reason.VOL_PAUSE
    assert d.accepted == (d.accepted[0],) and d.accepted[0].reduce_only


@pytest.mark.parametrize("v", [view(age=6_000), view(mid=None), MarketView("HYPE", 40.0, 40.0, 0.0, None)])
def test_stale_data_pause(v):
    d = evaluate([buy()], ctx(markets={"HYPE": v}), RiskLimits(max_data_age_ms=5_000), KillSwitch())
    assert not d.accepted and d.rejected[0][1].reason == Reason.STALE_DATA and "HYPE" in d.paused_coins


def test_unknown_coin_is_stale():
    d = evaluate([Order("SOL", True, Decimal(1), Decimal(20))], ctx(), RiskLimits(), KillSwitch())
    assert d.rejected[0][1].reason == Reason.STALE_DATA


def test_maintenance_and_post_only_modes():
    d = evaluate([buy()], ctx(), RiskLimits(), KillSwitch(), VenueMode(maintenance=True))
    assert not d.accepted and not d.cancel_all and Reason.MAINTENANCE in d.reasons
    d = evaluate([buy(), buy(tif="Ioc"), sell(tif="Gtc")], ctx(), RiskLimits(), KillSwitch(),
                 VenueMode(post_only=True))
    assert len(d.accepted) == 1 and {c.reason for _, c in d.rejected} == {Reason.POST_ONLY}


def test_strategy_quotes_pass_default_risk():
    qs = quotes(LegState("HYPE", "perp", 2, 40.0, 0.0, atr_pct=0.004, sigma=0.003), QuoteParams())
    d = evaluate(qs, ctx(), RiskLimits(default_max_position=1_000), KillSwitch())
    assert d.ok and len(d.accepted) == len(qs) == 6


def test_hedge_orders_go_through_the_same_checks():
    from engine.strategy.hedge import HedgeParams, LegMarket, hedge_decision

    spot = LegMarket("@107", "spot", 2, 40.0, 40.02, 0.0007)
    perp = LegMarket("HYPE", "perp", 2, 40.0, 40.01, 0.00045)
    h = hedge_decision(30.0, -10.0, spot, perp, HedgeParams())
    d = evaluate([h], ctx(open_orders=10), RiskLimits(max_open_orders=10), KillSwitch())
    assert d.accepted == (h,)  # IOC does not rest, so the open-order cap does not block a hedge
    d = evaluate([h], ctx(), RiskLimits(max_position={"HYPE": 5.0}), KillSwitch())
    assert d.rejected[0][1].reason == Reason.POSITION_LIMIT


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(3600, 4400), st.integers(0, 3), st.integers(1, 400),
                          st.sampled_from(["dec", "dec_padded", "float", "int_sz"])), max_size=12),
       st.sampled_from([RiskLimits(), RiskLimits(max_order_notional=300.0, max_position={"HYPE": 9.0}),
                        RiskLimits(max_position_usd=500.0, max_open_orders=5)]))
def test_orders_are_priced_at_their_float_value_whatever_their_type(raw, limits):
    """Prices and sizes are checked as float(px), float(sz): a Decimal (however written: 40.1 or 40.100), a
    float or an int gives the decision the same batch of floats gives — accepted, refused and why. Values
    repeat on purpose (evaluate remembers Decimal conversions)."""
    def order(is_buy, c, scale, s, kind):
        px, sz = Decimal(c).scaleb(-2), Decimal(s).scaleb(-scale)
        if kind == "dec_padded":
            px, sz = px.quantize(Decimal("0.0001")), sz.quantize(Decimal("0.000001"))
        elif kind == "float":
            px, sz = float(px), float(sz)
        elif kind == "int_sz":
            sz = s
        return Order("HYPE", is_buy, px, sz)

    orders = [order(*r) for r in raw]
    as_floats = [Order(o.coin, o.is_buy, float(o.px), float(o.sz)) for o in orders]
    c = ctx(positions={"HYPE": 2.0}, open_orders=1, address_budget_remaining=520)
    got, want = evaluate(orders, c, limits, KillSwitch()), evaluate(as_floats, c, limits, KillSwitch())
    def at(batch, o):  # position by identity (equal orders repeat)
        return next(i for i, x in enumerate(batch) if x is o)
    assert [at(orders, o) for o in got.accepted] == [at(as_floats, o) for o in want.accepted]
    assert [(at(orders, o), ch) for o, ch in got.rejected] == [(at(as_floats, o), ch) for o, ch in want.rejected]


def test_a_signalling_nan_price_is_refused_as_float_refuses_it():
    with pytest.raises(ValueError):
        evaluate([buy(px="sNaN")], ctx(), RiskLimits(), KillSwitch())
