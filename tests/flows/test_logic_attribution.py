"""PnL attribution: parts sum to the equity change of an independently booked account."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.attribution import AccountSnapshot, AttributionError, attribute_pnl

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
T1 = T0 + dt.timedelta(days=1)


class BookedAccount:
    """Independent bookkeeping the way the venue does it: perp cash + entry price + realized PnL, spot balances."""

    def __init__(self, spot_usdc: D, perp_cash: D) -> None:
        self.spot_usdc, self.perp_cash = spot_usdc, perp_cash
        self.base: dict[str, D] = {}
        self.szi: dict[str, D] = {}
        self.entry: dict[str, D] = {}

    def fill(self, f: dict, spot: bool) -> None:
        s = 1 if f["side"] == "B" else -1
        px, sz, fee = D(f["px"]), D(f["sz"]), D(f["fee"])
        c = f["coin"]
        if spot:
            self.spot_usdc -= s * px * sz
            self.base[c] = self.base.get(c, D(0)) + s * sz
            if f["feeToken"] == "USDC":
                self.spot_usdc -= fee
            else:
                self.base[c] -= fee
            return
        q, e = self.szi.get(c, D(0)), self.entry.get(c, D(0))
        new = q + s * sz
        if q == 0 or (q > 0) == (s > 0):  # opening / increasing: weighted entry
            self.entry[c] = (abs(q) * e + sz * px) / abs(new)
        else:
            closed = min(abs(q), sz)
            self.perp_cash += closed * (px - e) * (1 if q > 0 else -1)
            if abs(new) > 0 and (new > 0) != (q > 0):  # flipped through zero
                self.entry[c] = px
        self.szi[c] = new
        self.perp_cash -= fee

    def equity(self, marks: dict[str, D]) -> D:
        perp_av = self.perp_cash + sum((q * (marks[c] - self.entry[c]) for c, q in self.szi.items() if q), D(0))
        return self.spot_usdc + sum((q * marks[c] for c, q in self.base.items()), D(0)) + perp_av

    def positions(self) -> dict[str, D]:
        return {**self.base, **self.szi}


def _fill(tid, coin, side, px, sz, fee, crossed, fee_token="USDC"):
    return {"coin": coin, "side": side, "px": px, "sz": sz, "fee": fee, "feeToken": fee_token, "crossed": crossed,
            "tid": tid}


def test_known_fills_and_funding_split_exactly():
    acct = BookedAccount(D("10000"), D("10000"))
    m0 = {"HYPE": D("25.00"), "@1": D("25.01")}
    e0 = acct.equity(m0)
    start = AccountSnapshot(T0, e0, {}, m0)
    fills = [
        _fill(1, "@1", "B", "24.99", "100", "0.04", False, fee_token="HYPE"),  # maker spot buy, fee in base
        _fill(2, "HYPE", "A", "24.98", "100", "1.124", True),                   # taker hedge
        _fill(3, "HYPE", "B", "25.10", "20", "-0.005", False),                  # maker with rebate
    ]
    for f in fills:
        acct.fill(f, spot=f["coin"].startswith("@"))
    funding = [{"time": 1, "delta": {"type": "funding", "coin": "HYPE", "usdc": "2.5", "szi": "-100",
                                     "fundingRate": "0.0001"}},
               {"time": 2, "delta": {"type": "funding", "coin": "HYPE", "usdc": "-0.3", "szi": "-80",
                                     "fundingRate": "-0.00001"}}]
    acct.perp_cash += D("2.2")
    m1 = {"HYPE": D("25.30"), "@1": D("25.28")}
    end = AccountSnapshot(T1, acct.equity(m1), acct.positions(), m1)
    refs = {1: "25.00", 2: "25.00", 3: "25.12"}

    a = attribute_pnl(start, end, fills, funding, reference_px=refs)
    assert a.equity_change == D("1.0698")
    assert a.spread_capture == D("1.40")
    assert a.hedge_slippage == D("-2.00")
    assert a.fees == D("-2.119")
    assert a.funding == D("2.2")
    assert a.inventory_mtm == D("1.5888")
    assert a.unexplained == 0 and a.total == a.equity_change
    assert a.n_maker == 2 and a.n_fills == 3


def test_missing_fill_is_detected_not_misattributed():
    m = {"HYPE": D("25")}
    start = AccountSnapshot(T0, D("1000"), {"HYPE": D("0")}, m)
    end = AccountSnapshot(T1, D("1000"), {"HYPE": D("-3")}, m)
    with pytest.raises(AttributionError, match="position HYPE"):
        attribute_pnl(start, end, [], [])


def test_external_deposit_is_not_pnl():
    m = {"HYPE": D("25")}
    a = attribute_pnl(AccountSnapshot(T0, D("1000"), {}, m), AccountSnapshot(T1, D("1500"), {}, m), [], [],
                      external_flows="500")
    assert a.equity_change == 0 and a.unexplained == 0


def test_bad_fill_names_the_field():
    m = {"HYPE": D("25")}
    s = AccountSnapshot(T0, D("1000"), {}, m)
    with pytest.raises(ValueError, match=r"fills\[0\].side"):
        attribute_pnl(s, s, [_fill(1, "HYPE", "X", "25", "1", "0", False)], [])
    with pytest.raises(ValueError, match=r"fills\[0\].px"):
        attribute_pnl(s, s, [_fill(1, "HYPE", "B", "abc", "1", "0", False)], [])


def test_snapshot_json_round_trip():
    s = AccountSnapshot(T0, D("123.456"), {"HYPE": D("-1.5")}, {"HYPE": D("25.1")})
    assert AccountSnapshot.from_json(s.as_json()) == s


prices = st.decimals(min_value=D("1"), max_value=D("100"), places=2)
sizes = st.decimals(min_value=D("0.01"), max_value=D("50"), places=2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["HYPE", "@1"]), st.booleans(), prices, sizes, st.booleans(),
                          st.decimals(min_value=D("-0.5"), max_value=D("0.5"), places=3), prices), max_size=25),
       st.lists(st.decimals(min_value=D("-5"), max_value=D("5"), places=6), max_size=5), prices, prices)
def test_parts_always_sum_to_equity_change(trades, fundings, mark_perp, mark_spot):
    acct = BookedAccount(D("100000"), D("100000"))
    m0 = {"HYPE": D("25"), "@1": D("25")}
    start = AccountSnapshot(T0, acct.equity(m0), {}, m0)
    fills, refs = [], {}
    for tid, (coin, buy, px, sz, crossed, fee, ref) in enumerate(trades):
        fee_token = "HYPE" if coin == "@1" and buy and fee > 0 else "USDC"
        f = _fill(tid, coin, "B" if buy else "A", str(px), str(sz), str(abs(fee) if fee_token != "USDC" else fee),
                  crossed, fee_token)
        acct.fill(f, spot=coin == "@1")
        fills.append(f)
        refs[tid] = ref
    funding = [{"coin": "HYPE", "usdc": str(u)} for u in fundings]
    acct.perp_cash += sum(fundings, D(0))
    m1 = {"HYPE": mark_perp, "@1": mark_spot}
    end = AccountSnapshot(T1, acct.equity(m1), acct.positions(), m1)
    a = attribute_pnl(start, end, fills, funding, reference_px=refs)
    # the booked account divides for its average entry price (28-digit Decimal), hence the 1e-12 slack
    assert abs(a.unexplained) < D("1e-12")
    assert a.total + a.unexplained == a.equity_change
