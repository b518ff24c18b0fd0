"""Exact money and aware UTC times survive a round trip through SQLite and PostgreSQL unchanged."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from engine.ledger import repo
from engine.ledger.models import EquityMark, Fill
from engine.ledger.types import canonical, to_decimal
from tests.ledger.factories import USER, make_fill

UTC = dt.timezone.utc
T = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

EXACT_VALUES = [
    Decimal("0.000000012345"),
    Decimal("123456789.123456789"),
    Decimal("99999999999999999999.999999999999999999"),   # 20 integer + 18 fractional digits: the full range
    Decimal("-0.000000000000000001"),
    Decimal("0.1"),          # not representable as a binary float
    Decimal("30135.0"),      # the venue's integer style, with a trailing zero
    Decimal("0"),
]


def _reread(engine, model, **where):
    """Read in a brand-new session so nothing comes from the identity map."""
    with Session(engine) as fresh:
        stmt = select(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return fresh.execute(stmt.order_by(model.id)).scalars().all()


def test_decimal_round_trip_is_exact(ledger_engine, ledger_session):
    for i, value in enumerate(EXACT_VALUES):
        repo.record_equity_mark(ledger_session, time=T + dt.timedelta(seconds=i), spot_value=value,
                                perp_account_value=value.copy_negate(), net_delta=value, source=f"v{i}")
    ledger_session.commit()
    marks = _reread(ledger_engine, EquityMark)
    assert [m.spot_value for m in marks] == EXACT_VALUES
    assert [m.perp_account_value for m in marks] == [v.copy_negate() for v in EXACT_VALUES]  # no context rounding
    for mark, value in zip(marks, EXACT_VALUES):
        assert isinstance(mark.spot_value, Decimal)
        # same digits, not just "close": a float round trip would print 1.2345000000000001E-8 and the like
        assert format(mark.spot_value, "f") == format(canonical(value), "f")
        assert mark.equity == 0


def test_sums_of_ledger_values_stay_exact(ledger_engine, ledger_session):
    # 0.1 added ten times is 1 only in decimal arithmetic
    fills = [make_fill(i, px="0.1", sz="0.1", fee="0.1") for i in range(10)]
    assert repo.upsert_fills(ledger_session, USER, fills) == 10
    ledger_session.commit()
    rows = _reread(ledger_engine, Fill)
    assert sum(r.fee for r in rows) == Decimal("1")
    assert sum(r.px * r.sz for r in rows) == Decimal("0.1")


def test_storage_form_per_dialect(ledger_engine, ledger_session):
    repo.record_equity_mark(ledger_session, time=T, spot_value=Decimal("0.000000012345"), perp_account_value=1)
    ledger_session.commit()
    with ledger_engine.connect() as conn:
        raw = conn.execute(text("SELECT spot_value FROM equity_marks")).scalar_one()
    if ledger_engine.dialect.name == "sqlite":
        assert raw == "0.000000012345"      # canonical text, never a REAL
    else:
        assert raw == Decimal("0.000000012345")  # NUMERIC(38,18)


def test_time_storage_form_per_dialect(ledger_engine, ledger_session):
    # the UTC wall time, whatever offset a time is given in, from the first instant a datetime holds to the last
    ist, pst = dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8))
    times = [dt.datetime(1, 1, 1, 5, 30, tzinfo=ist), dt.datetime(1969, 12, 31, 15, 59, 59, 999999, tzinfo=pst),
             dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    for i, t in enumerate(times):
        repo.record_equity_mark(ledger_session, time=t, spot_value=i, perp_account_value=0)
    ledger_session.commit()
    with ledger_engine.connect() as conn:
        raw = conn.execute(text("SELECT time FROM equity_marks ORDER BY id")).scalars().all()
    if ledger_engine.dialect.name == "sqlite":
        assert raw == ["0001-01-01 00:00:00.000000", "1969-12-31 23:59:59.999999", "9999-12-31 23:59:59.999999"]
    else:
        assert raw == times


@pytest.mark.parametrize("bad, why", [
    (0.1, "float"),
    (Decimal("0.0000000000000000001"), "19 decimal places"),
    (Decimal("123456789012345678901"), "21 integer digits"),
    (Decimal("NaN"), "not a finite number"),
    ("12,5", "not a decimal number"),
])
def test_inexact_or_out_of_range_money_is_refused_naming_the_field(ledger_session, bad, why):
    with pytest.raises(ValueError, match=r"^spot_value: .*" + why.split()[-1]):
        repo.record_equity_mark(ledger_session, time=T, spot_value=bad, perp_account_value=0)


def test_to_decimal_canonical_form():
    assert str(to_decimal("30135.0", "px")) == "30135"
    assert str(to_decimal("1E+2", "px")) == "100"
    assert format(to_decimal("0.000000012345000", "px"), "f") == "0.000000012345"
    assert to_decimal("0.000000012345000", "px").as_tuple().exponent == -12   # trailing zeros stripped
    assert to_decimal(Decimal("99999999999999999999.999999999999999999"), "px") == \
        Decimal("99999999999999999999.999999999999999999")                  # 38 digits: no context rounding


def test_aware_times_round_trip_to_the_same_instant_in_utc(ledger_engine, ledger_session):
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    times = [dt.datetime(2026, 3, 1, 17, 30, 0, 123456, tzinfo=ist),      # 12:00:00.123456 UTC
             dt.datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC),
             dt.datetime(2026, 3, 1, 4, 0, 2, tzinfo=dt.timezone(dt.timedelta(hours=-8)))]
    for i, t in enumerate(times):
        repo.record_equity_mark(ledger_session, time=t, spot_value=i, perp_account_value=0)
    ledger_session.commit()
    marks = _reread(ledger_engine, EquityMark)
    assert [m.time for m in marks] == times               # same instants (aware comparison)
    for m in marks:
        assert m.time.tzinfo is not None and m.time.utcoffset() == dt.timedelta(0)
    assert marks[0].time == dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)  # microseconds kept
    # range queries compare instants, whatever offset the bounds are written in
    curve = repo.equity_curve(ledger_session, dt.datetime(2026, 3, 1, 17, 30, 0, 500000, tzinfo=ist),
                              dt.datetime(2026, 3, 1, 12, 0, 2, tzinfo=UTC))
    assert [m.spot_value for m in curve] == [1]


def test_venue_milliseconds_map_to_exact_instants(ledger_engine, ledger_session):
    fill = make_fill(0, time=1_760_000_000_123)
    repo.upsert_fills(ledger_session, USER, [fill])
    ledger_session.commit()
    (row,) = _reread(ledger_engine, Fill)
    assert row.time == dt.datetime(2025, 10, 9, 8, 53, 20, 123000, tzinfo=UTC)
    assert row.to_venue()["time"] == 1_760_000_000_123


def test_naive_datetimes_are_refused(ledger_engine, ledger_session):
    naive = dt.datetime(2026, 3, 1, 12, 0)
    with pytest.raises(ValueError, match=r"^time: naive datetime"):
        repo.record_equity_mark(ledger_session, time=naive, spot_value=1, perp_account_value=0)
    # also below the repository: the column type itself refuses to store an ambiguous instant
    ledger_session.add(EquityMark(time=naive, spot_value=Decimal(1), perp_account_value=Decimal(0)))
    with pytest.raises(StatementError, match="naive datetime"):
        ledger_session.flush()
    ledger_session.rollback()
    assert _reread(ledger_engine, EquityMark) == []


def test_times_do_not_depend_on_the_database_session_timezone(ledger_engine, ledger_session):
    """PostgreSQL hands timestamptz back in the session's TimeZone; the ledger must still return UTC, and a write
    from a session in another zone must store the same instant."""
    if ledger_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no session time zone")
    from sqlalchemy import create_engine

    url = ledger_engine.url.render_as_string(hide_password=False)
    kolkata = create_engine(url, connect_args={"options": "-c TimeZone=Asia/Kolkata"})
    try:
        with Session(kolkata) as s:
            assert s.execute(text("SHOW TimeZone")).scalar_one() == "Asia/Kolkata"
            repo.record_equity_mark(s, time=T, spot_value=1, perp_account_value=0, source="kolkata")
            s.commit()
        repo.record_equity_mark(ledger_session, time=T + dt.timedelta(hours=1), spot_value=2, perp_account_value=0)
        ledger_session.commit()
        with Session(kolkata) as s:
            times = [m.time for m in s.execute(select(EquityMark).order_by(EquityMark.id)).scalars()]
            local_text = s.execute(text("SELECT time::text FROM equity_marks ORDER BY id")).scalars().all()
    finally:
        kolkata.dispose()
    assert times == [T, T + dt.timedelta(hours=1)]
    assert all(t.utcoffset() == dt.timedelta(0) for t in times)
    assert local_text[0].endswith("+05:30")           # the server really did answer in Kolkata time
