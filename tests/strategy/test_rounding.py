from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategy import rounding as R
from tests.strategy.venue_rules import price_ok, size_ok

# prices across ten orders of magnitude: mantissa in [1, 10) times 10^e
prices = st.builds(lambda m, e: m * 10.0 ** e, st.floats(1.0, 9.999999, allow_nan=False), st.integers(-6, 6))
markets = st.tuples(st.integers(0, 5), st.booleans())  # (szDecimals, is_spot)


@pytest.mark.parametrize("px,szd,spot,down,up", [
    ("1234.56", 0, False, "1234.5", "1234.6"),       # protocol examples: 1234.5 ok, 1234.56 not
    ("0.0012345", 0, False, "0.001234", "0.001235"),  # 0.001234 ok, 0.0012345 not
    ("0.012345", 1, False, "0.01234", "0.01235"),     # szDecimals 1: 0.01234 ok, 0.012345 not
    ("123456.7", 0, False, "123456", "123457"),       # integers always ok, regardless of sig figs
    ("99999.5", 0, False, "99999", "100000"),
    ("0.00001234", 2, True, "0.000012", "0.000013"),  # spot: 8 - 2 = 6 decimals max
])
def test_protocol_examples(px, szd, spot, down, up):
    assert R.round_price(Decimal(px), szd, spot, "down") == Decimal(down)
    assert R.round_price(Decimal(px), szd, spot, "up") == Decimal(up)


@settings(max_examples=400, deadline=None)
@given(prices, markets)
def test_price_rounding_properties(x, market):
    szd, spot = market
    exact = Decimal(repr(x))
    bid = R.round_price(x, szd, spot, "down")
    ask = R.round_price(x, szd, spot, "up")
    assert ask is not None and price_ok(ask, szd, spot) and ask >= exact
    if bid is None:
        # only when no valid positive price lies at or below x: below the smallest tick
        assert exact < Decimal(1).scaleb(-((8 if spot else 6) - szd))
    else:
        assert price_ok(bid, szd, spot) and bid <= exact
        # nearest: the next valid price above the bid is already beyond x
        assert R.next_price_above(bid, szd, spot) > exact
    assert R.next_price_below(ask, szd, spot) is None or R.next_price_below(ask, szd, spot) < exact
    # already-valid prices are fixed points; the wire form has no trailing zeros
    assert R.round_price(ask, szd, spot, "down") == ask
    assert not R.to_wire(ask).endswith(".") and (("." not in R.to_wire(ask)) or not R.to_wire(ask).endswith("0"))


@settings(max_examples=300, deadline=None)
@given(prices, st.integers(0, 5), st.floats(0.0, 1e6, allow_nan=False))
def test_size_floor_and_min_notional(x, szd, raw_sz):
    px = R.round_price(x, szd, False, "up")
    sz = R.round_size(raw_sz, szd)
    assert sz <= Decimal(repr(raw_sz)) and sz > Decimal(repr(raw_sz)) - Decimal(1).scaleb(-szd)
    assert sz == 0 or size_ok(sz, szd)
    bumped = R.min_size_for_notional(px, szd)
    assert size_ok(bumped, szd)
    assert px * bumped >= 10
    assert px * (bumped - Decimal(1).scaleb(-szd)) < 10  # the smallest lot that meets the minimum


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="price must be > 0"):
        R.round_price(0, 2, False, "down")
    with pytest.raises(ValueError, match="finite"):
        R.round_price(float("nan"), 2, False, "down")
    with pytest.raises(ValueError, match="szDecimals"):
        R.round_price(1.0, 7, False, "down")


def test_wire_strings():
    assert R.to_wire(Decimal("105000.000")) == "105000"
    assert R.to_wire(Decimal("1E+3")) == "1000"
    assert R.to_wire(Decimal("0.00012300")) == "0.000123"
    assert R.is_valid_price(Decimal("1234.5"), 0, False) and not R.is_valid_price(Decimal("1234.56"), 0, False)
