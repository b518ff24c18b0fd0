"""The engine's ledger writer and the batch upserts it uses, on SQLite and PostgreSQL: order states merged per
cloid, a bad row named by its place in the batch, and one bad row never losing the others."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from engine.ledger import repo
from engine.ledger.models import EquityMark, Fill, Order
from engine.ledger_writer import LedgerWriter
from tests.ledger.factories import T0_MS, USER, make_fill

UTC = dt.timezone.utc


def _url(ledger_engine) -> str:
    return ledger_engine.url.render_as_string(hide_password=False)


def _rows(engine, model) -> list:
    with Session(engine) as s:
        return s.execute(select(model).order_by(model.id)).scalars().all()


def _state(i: int, ms: int, status: str, oid: int | None = None, **extra) -> dict:
    """One order state as the engine queues it (venue ms, floats never: px/sz as Decimal or decimal text)."""
    row = {"time_ms": ms, "cloid": "0x" + f"{i:032x}", "oid": oid, "coin": "HYPE", "side": "B",
           "px": Decimal("30.10"), "sz": "2", "tif": "Alo", "status": status, "reason": None, "reduce_only": False}
    row.update(extra)
    return row


def test_order_states_merge_per_cloid(ledger_engine, ledger_session):
    states = [_state(1, T0_MS, "pending"), _state(2, T0_MS + 5, "pending", coin="@107"),
              _state(1, T0_MS + 10, "open", oid=77),
              _state(1, T0_MS + 20, "canceled", reason="quote moved"),   # oid not given again: kept
              _state(2, T0_MS + 30, "badAloPxRejected", reason="would cross", coin="@107")]
    assert repo.upsert_orders(ledger_session, USER.upper().replace("0X", "0x"), states) == 2
    ledger_session.commit()
    # a later batch moves a known order on; a state without reason or oid keeps the stored ones
    assert repo.upsert_orders(ledger_session, USER, [_state(1, T0_MS + 40, "filled")]) == 1
    ledger_session.commit()
    first, second = _rows(ledger_engine, Order)
    t0 = dt.datetime.fromtimestamp(T0_MS / 1000, tz=UTC)
    assert (first.user, first.cloid, first.oid, first.status, first.reason) == \
        (USER, "0x" + f"{1:032x}", 77, "filled", "quote moved")
    assert (first.created_at, first.updated_at) == (t0, t0 + dt.timedelta(milliseconds=40))
    assert (first.px, first.sz, first.leg, first.reduce_only) == (Decimal("30.1"), Decimal("2"), "perp", False)
    assert (second.leg, second.status, second.oid, second.reason) == ("spot", "badAloPxRejected", None,
                                                                      "would cross")
    assert (second.created_at, second.updated_at) == (t0 + dt.timedelta(milliseconds=5),
                                                      t0 + dt.timedelta(milliseconds=30))


@pytest.mark.parametrize("bad, message", [
    ({"px": 30.1}, r"^orders\[2\]\.px: .*float"), ({"sz": "0"}, r"^orders\[2\]\.sz: must be > 0"),
    ({"side": "buy"}, r"^orders\[2\]\.side: "), ({"oid": -1}, r"^orders\[2\]\.oid: "),
    ({"coin": ""}, r"^orders\[2\]\.coin: "), ({"status": None}, r"^orders\[2\]\.status: "),
    ({"reduce_only": 1}, r"^orders\[2\]\.reduce_only: "), ({"time_ms": 1.5}, r"^orders\[2\]\.time_ms: "),
    ({"tif": "GoodTilCanceled"}, r"^orders\[2\]\.tif: "),
])
def test_a_bad_order_state_is_named_and_nothing_is_written(ledger_session, bad, message):
    states = [_state(1, T0_MS, "pending"), _state(2, T0_MS, "pending"), _state(3, T0_MS, "open") | bad]
    with pytest.raises(ValueError, match=message):
        repo.upsert_orders(ledger_session, USER, states)
    ledger_session.commit()
    assert ledger_session.execute(select(Order)).first() is None


def test_the_first_state_of_a_cloid_is_checked_too(ledger_session):
    # only the newest state of a cloid is written, but its first state gives created_at: a bad time there is named
    states = [_state(1, T0_MS, "pending") | {"time_ms": None, "time": dt.datetime(2026, 1, 1)},
              _state(1, T0_MS + 10, "open")]
    with pytest.raises(ValueError, match=r"^orders\[1\]\.time: naive"):
        repo.upsert_orders(ledger_session, USER, states)


def test_one_bad_row_does_not_lose_the_others(ledger_engine):
    writer = LedgerWriter(_url(ledger_engine), USER, threaded=False)
    try:
        fills = [make_fill(i) for i in range(3)]
        writer.fills(fills)
        writer.fills([make_fill(9, px="-1"), fills[1]])   # a bad fill, and a fill already queued (a backfill)
        writer.order(_state(1, T0_MS, "pending"))
        writer.order(_state(2, T0_MS, "pending", px=1.5))  # a float price: refused
        writer.order(_state(3, T0_MS, "open", oid=5))
        writer.equity_mark({"time_ms": T0_MS, "spot_value": Decimal("100"), "perp_account_value": Decimal("50.5")})
        writer.flush()
        assert writer.stats == {"fills": 3, "funding": 0, "orders": 2, "marks": 1, "errors": 2, "batches": 1}
    finally:
        writer.close()
    assert [f.tid for f in _rows(ledger_engine, Fill)] == [10**14, 10**14 + 1, 10**14 + 2]
    assert [(o.cloid[-1], o.status, o.oid) for o in _rows(ledger_engine, Order)] == [("1", "pending", None),
                                                                                     ("3", "open", 5)]
    (mark,) = _rows(ledger_engine, EquityMark)
    assert (mark.equity, mark.user, mark.source) == (Decimal("150.5"), USER, "engine")
