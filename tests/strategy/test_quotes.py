from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy.quotes import LegState, QuoteParams, centre_price, half_spread, quotes
from tests.strategy.venue_rules import price_ok, size_ok

HYPE = LegState(coin="HYPE", leg="perp", sz_decimals=2, mid=40.0, inventory=0.0, atr_pct=None, sigma=0.003)


def best(qs, is_buy):
    side = [q for q in qs if q.is_buy == is_buy and q.level == 0]
    return side[0].px


def test_long_inventory_skews_reservation_below_mid_and_makes_asks_aggressive():
    p = QuoteParams()
    flat = quotes(HYPE, p)
    long_ = quotes(replace(HYPE, inventory=100.0), p)
    short = quotes(replace(HYPE, inventory=-100.0), p)
    assert centre_price(replace(HYPE, inventory=100.0), p) < HYPE.mid < centre_price(replace(HYPE, inventory=-100.0), p)
    assert best(long_, False) < best(flat, False)  # long: cheaper ask, more likely to sell
    assert best(long_, True) < best(flat, True)  # ...and a less eager bid
    assert best(short, True) > best(flat, True)
    # A–S magnitude: q·γ·(σ·mid)²·τ
    assert centre_price(replace(HYPE, inventory=100.0), p) == pytest.approx(40.0 - 100 * 0.1 * (0.003 * 40) ** 2)


def test_glft_skews_the_same_way():
    p = QuoteParams(skew_model="glft")
    assert centre_price(replace(HYPE, inventory=50.0), p) < HYPE.mid < centre_price(replace(HYPE, inventory=-50.0), p)


def test_skew_is_capped():
    p = QuoteParams(max_skew_frac=0.002)
    assert centre_price(replace(HYPE, inventory=1e6), p) == pytest.approx(40.0 * (1 - 0.002))


def test_spread_floor_is_base_spread():
    p = QuoteParams()
    assert half_spread(HYPE, p) == pytest.approx(0.00245 / 2)
    assert half_spread(replace(HYPE, atr_pct=0.0001), p) == pytest.approx(0.00245 / 2)  # tiny ATR: floor
    qs = quotes(replace(HYPE, sigma=None), p)
    assert (best(qs, False) - best(qs, True)) / 40 >= Decimal("0.00245")  # rounding only widens


def test_spread_grows_with_atr_above_floor():
    p = QuoteParams(atr_multiplier=0.5)
    widths = []
    for atr in (0.002, 0.004, 0.008, 0.016):
        qs = quotes(replace(HYPE, atr_pct=atr, sigma=None), p)
        widths.append(float(best(qs, False) - best(qs, True)))
    assert widths == sorted(widths) and widths[-1] > widths[0] * 4
    assert half_spread(replace(HYPE, atr_pct=0.016), p) == pytest.approx(0.008)
    assert half_spread(replace(HYPE, atr_pct=0.016), replace(p, regime_multiplier=2.0)) == pytest.approx(0.016)


def test_levels_spacing_and_sizes():
    p = QuoteParams(levels=4, level_spacing=0.001, order_notional=100, size_multiplier=2.0)
    qs = quotes(HYPE, p)
    bids = [q for q in qs if q.is_buy]
    asks = [q for q in qs if not q.is_buy]
    assert [q.level for q in bids] == [0, 1, 2, 3]
    assert all(a.px > b.px for a, b in zip(bids, bids[1:]))
    assert all(a.px < b.px for a, b in zip(asks, asks[1:]))
    assert float(bids[3].notional) == pytest.approx(800, rel=0.01)


def test_min_notional_bump_or_drop():
    p = QuoteParams(order_notional=4.0)
    bumped = quotes(HYPE, p)
    assert bumped and all(q.notional >= 10 for q in bumped)
    assert quotes(HYPE, replace(p, min_notional_policy="drop")) == []


def test_post_only_guard_never_touches_opposite_side():
    # a wide skew would put the bid through a tight market: it must stay one tick under the ask
    st_ = replace(HYPE, inventory=-1e6, best_bid=40.0, best_ask=40.01)
    qs = quotes(st_, QuoteParams(max_skew_frac=0.05))
    assert all(q.px < Decimal("40.01") for q in qs if q.is_buy)
    assert all(q.px > Decimal("40.0") for q in qs if not q.is_buy)
    bids = [q.px for q in qs if q.is_buy]
    assert len(set(bids)) == len(bids)  # levels collapsed by the guard are pushed apart


def test_inventory_limit_and_capacity():
    p = QuoteParams(max_inventory=10.0)
    qs = quotes(replace(HYPE, inventory=10.0), p)
    assert qs and not any(q.is_buy for q in qs)
    spot = LegState("@107", "spot", 2, 40.0, 0.0, sell_capacity=3.0)
    qs = quotes(spot, QuoteParams(levels=3))
    assert sum(q.sz for q in qs if not q.is_buy) <= Decimal(3)


def test_carry_bias_leans_spot_long_perp_short():
    p = QuoteParams()
    spot = LegState("@107", "spot", 2, 40.0, 0.0)
    assert centre_price(replace(spot, carry_strength=1.0), p) > 40.0
    assert centre_price(replace(HYPE, carry_strength=1.0), p) < 40.0


def test_no_mid_no_quotes():
    assert quotes(replace(HYPE, mid=0.0), QuoteParams()) == []


def test_bad_params_name_the_field():
    with pytest.raises(ValueError, match="base_spread"):
        QuoteParams(base_spread=0)


@settings(max_examples=300, deadline=None)
@given(
    mid=st.builds(lambda m, e: m * 10.0 ** e, st.floats(1.0, 9.99, allow_nan=False), st.integers(-4, 5)),
    szd=st.integers(0, 5), spot=st.booleans(), inv=st.floats(-1e4, 1e4, allow_nan=False),
    atr=st.one_of(st.none(), st.floats(0, 0.1)), sigma=st.one_of(st.none(), st.floats(0, 0.05)),
    model=st.sampled_from(["as", "glft"]), touch=st.booleans(),
)
def test_quotes_always_valid_and_uncrossed(mid, szd, spot, inv, atr, sigma, model, touch):
    state = LegState("X", "spot" if spot else "perp", szd, mid, inv, atr, sigma,
                     best_bid=mid * 0.9999 if touch else None, best_ask=mid * 1.0001 if touch else None)
    qs = quotes(state, QuoteParams(skew_model=model))
    for q in qs:
        assert price_ok(q.px, szd, spot), q
        assert size_ok(q.sz, szd), q
        assert q.notional >= 10
    bids = [q.px for q in qs if q.is_buy]
    asks = [q.px for q in qs if not q.is_buy]
    if bids and asks:
        assert max(bids) < min(asks)
    if touch:
        assert all(b < Decimal(repr(mid * 1.0001)) for b in bids)
        assert all(a > Decimal(repr(mid * 0.9999)) for a in asks)


def test_glft_coefficients_limits_and_monotonicity():
    import math

    from engine.strategy.skew import glft_coefficients

    # γ → 0: c1 → 1/k (the risk-neutral optimal depth for exponential intensity), and c2 → sqrt(γ·e/(2Ak))
    c = glft_coefficients(gamma=1e-9, sigma=0.0, A=2.0, k=500.0)
    assert c.half_spread == pytest.approx(1 / 500.0, rel=1e-6) and c.skew == 0
    g = glft_coefficients(gamma=1e-6, sigma=0.01, A=2.0, k=500.0)
    assert g.skew == pytest.approx(0.01 * math.sqrt(1e-6 * math.e / (2 * 2.0 * 500.0)), rel=1e-4)
    # more volatility or more risk aversion → more skew per unit of inventory
    assert glft_coefficients(0.1, 0.02, 1.0, 1000.0).skew > glft_coefficients(0.1, 0.01, 1.0, 1000.0).skew
    assert glft_coefficients(0.5, 0.01, 1.0, 1000.0).skew > glft_coefficients(0.1, 0.01, 1.0, 1000.0).skew
    with pytest.raises(ValueError, match="GLFT"):
        glft_coefficients(0.0, 0.01, 1.0, 1000.0)
