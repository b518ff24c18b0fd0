from decimal import Decimal

from engine.strategy.hedge import HedgeParams, LegMarket, hedge_decision
from tests.strategy.venue_rules import price_ok, size_ok

SPOT = LegMarket("@107", "spot", 2, best_bid=40.00, best_ask=40.02, taker_fee=0.0007)
PERP = LegMarket("HYPE", "perp", 2, best_bid=40.00, best_ask=40.01, taker_fee=0.00045)


def test_inside_band_does_nothing():
    assert hedge_decision(100.0, -99.0, SPOT, PERP, HedgeParams(band_usd=50)) is None


def test_long_delta_sells_on_cheaper_perp():
    h = hedge_decision(100.0, -90.0, SPOT, PERP, HedgeParams(band_usd=50))
    assert h is not None and h.leg == "perp" and not h.is_buy and h.sz == Decimal("10")
    assert h.px < Decimal("40.00") and price_ok(h.px, 2, False) and h.tif == "Ioc"


def test_chooses_spot_when_spot_is_cheaper():
    cheap_spot = LegMarket("@107", "spot", 2, 40.00, 40.001, taker_fee=0.0001)
    wide_perp = LegMarket("HYPE", "perp", 2, 39.9, 40.1, taker_fee=0.00045)
    h = hedge_decision(0.0, -20.0, cheap_spot, wide_perp, HedgeParams())  # short delta: buy 20
    assert h.leg == "spot" and h.is_buy and h.sz == Decimal("20")
    assert price_ok(h.px, 2, True) and size_ok(h.sz, 2)
    # the cost comparison flips with the spread
    assert hedge_decision(0.0, -20.0, SPOT, wide_perp, HedgeParams()).leg == "spot"
    assert hedge_decision(0.0, -20.0, SPOT, PERP, HedgeParams()).leg == "perp"


def test_spot_sell_limited_to_holdings():
    cheap_spot = LegMarket("@107", "spot", 2, 40.00, 40.001, taker_fee=0.0001)
    h = hedge_decision(5.0, 10.0, cheap_spot, PERP, HedgeParams())  # long 15, only 5 spot to sell
    assert h.leg == "perp" and not h.is_buy and h.sz == Decimal("15")


def test_below_min_notional_is_not_sent():
    assert hedge_decision(0.2, 0.0, SPOT, PERP, HedgeParams(band_usd=5)) is None


def test_clear_of_own_prices_a_taker_order_inside_our_own_opposite_orders():
    from engine.strategy.hedge import HedgeOrder, clear_of_own

    buy = HedgeOrder("HYPE", "perp", True, Decimal("5"), Decimal("29.983"), 0.0, "hedge")
    assert clear_of_own(buy, [], 2, False) is buy  # nothing of ours across it
    assert clear_of_own(buy, [Decimal("30.1")], 2, False) is buy  # our ask is beyond its limit
    bounded = clear_of_own(buy, [Decimal("29.95"), Decimal("29.923")], 2, False)
    assert bounded.px == Decimal("29.922") and bounded.sz == buy.sz and bounded.is_buy  # one tick under the lowest
    sell = HedgeOrder("@107", "spot", False, Decimal("5"), Decimal("29.80"), 0.0, "hedge")
    assert clear_of_own(sell, [Decimal("29.85"), Decimal("29.86")], 2, True).px == Decimal("29.861")
    tiny = HedgeOrder("X", "perp", True, Decimal("1"), Decimal("0.5"), 0.0, "hedge")
    assert clear_of_own(tiny, [Decimal("0.000001")], 0, False) is None  # no valid price below our ask
