"""A funding payment first seen on the WS (no tx hash) gets its hash when the REST row of the same payment
arrives later; the REST row does not count as new, and nothing else about the stored row changes."""
from __future__ import annotations

from sqlalchemy import select

from engine.ledger import repo
from engine.ledger.models import FundingPayment
from tests.ledger.factories import USER, make_funding_rest, make_funding_ws


def _rows(session) -> dict:
    return {(r.coin, r.time): r for r in session.execute(select(FundingPayment)).scalars()}


def test_rest_row_fills_the_hash_of_a_ws_row(ledger_session):
    assert repo.upsert_funding(ledger_session, USER, [make_funding_ws(h) for h in range(3)]) == 3
    assert all(r.hash is None for r in _rows(ledger_session).values())
    before = {k: (r.id, r.usdc, r.szi, r.rate) for k, r in _rows(ledger_session).items()}

    rest = [make_funding_rest(h) for h in range(4)]  # hours 0-2 already stored (WS), hour 3 new
    assert repo.upsert_funding(ledger_session, USER, rest) == 1
    ledger_session.expire_all()
    rows = _rows(ledger_session)
    assert len(rows) == 4
    by_hour = sorted(rows.values(), key=lambda r: r.time)
    assert [r.hash for r in by_hour] == [make_funding_rest(h)["hash"].lower() for h in range(4)]
    for key, (rid, usdc, szi, rate) in before.items():  # same rows, same amounts: only the hash was added
        assert (rows[key].id, rows[key].usdc, rows[key].szi, rows[key].rate) == (rid, usdc, szi, rate)

    # again, in either shape: nothing new, and a WS row never erases a stored hash
    assert repo.upsert_funding(ledger_session, USER, rest) == 0
    assert repo.upsert_funding(ledger_session, USER, [make_funding_ws(h) for h in range(4)]) == 0
    ledger_session.expire_all()
    assert all(r.hash for r in _rows(ledger_session).values())


def test_one_batch_with_both_shapes_keeps_the_hash(ledger_session):
    batch = [make_funding_ws(5), make_funding_rest(5)]
    assert repo.upsert_funding(ledger_session, USER, batch) == 1
    ledger_session.expire_all()
    (row,) = _rows(ledger_session).values()
    assert row.hash == make_funding_rest(5)["hash"].lower()
