"""Idempotent ingestion of venue fills and funding; bad records name the field and write nothing."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.ledger import repo
from engine.ledger.models import Fill, FundingPayment
from engine.ledger.types import from_ms
from tests.ledger.factories import (OTHER_USER, T0_MS, USER, make_fill, make_funding_rest, make_funding_ws,
                                    tx_hash)

NUMERIC_FILL_FIELDS = ("px", "sz", "fee", "closedPnl", "startPosition")


def _count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_fills_reingested_change_nothing(ledger_session):
    fills = [make_fill(i) for i in range(50)]
    assert repo.upsert_fills(ledger_session, USER, fills) == 50
    ledger_session.commit()
    assert repo.upsert_fills(ledger_session, USER, fills) == 0
    ledger_session.commit()
    assert _count(ledger_session, Fill) == 50
    # an overlapping page (the audit re-reads a window): only the new part is written
    assert repo.upsert_fills(ledger_session, USER, [make_fill(i) for i in range(30, 70)]) == 20
    ledger_session.commit()
    assert _count(ledger_session, Fill) == 70


def test_duplicates_inside_one_batch_count_once_and_users_are_separate(ledger_session):
    fill = make_fill(1)
    assert repo.upsert_fills(ledger_session, USER, [fill, dict(fill), make_fill(2)]) == 2
    # the same trade seen from the counterparty's account is its own ledger row
    assert repo.upsert_fills(ledger_session, OTHER_USER, [dict(fill, side="A", crossed=not fill["crossed"])]) == 1
    # address case does not create a second identity
    assert repo.upsert_fills(ledger_session, USER.upper().replace("0X", "0x"), [fill]) == 0
    ledger_session.commit()
    assert _count(ledger_session, Fill) == 3


def test_large_batches_are_chunked_and_still_idempotent(ledger_session):
    fills = [make_fill(i, coin="@1" if i % 3 else "HYPE") for i in range(1_203)]
    assert repo.upsert_fills(ledger_session, USER, fills) == 1_203
    assert repo.upsert_fills(ledger_session, USER, fills) == 0
    ledger_session.commit()
    legs = dict(ledger_session.execute(select(Fill.leg, func.count()).group_by(Fill.leg)).all())
    assert legs == {"perp": 401, "spot": 802}


def test_fills_read_back_in_the_venue_shape(ledger_session):
    fills = [make_fill(i, cloid="0x" + f"{i:032x}", builderFee="0.001") if i % 2 else make_fill(i)
             for i in range(10)]
    repo.upsert_fills(ledger_session, USER, fills)
    repo.upsert_fills(ledger_session, OTHER_USER, [make_fill(3)])
    ledger_session.commit()
    start, end = from_ms(T0_MS + 2_000), from_ms(T0_MS + 7_000)          # [start, end)
    rows = repo.fills_between(ledger_session, USER, start, end)
    assert [r.tid for r in rows] == [fills[i]["tid"] for i in range(2, 7)]
    for row, original in zip(rows, fills[2:7]):
        back = row.to_venue()
        assert set(back) == set(original)
        for key, value in original.items():
            if key in NUMERIC_FILL_FIELDS or key == "builderFee":
                assert Decimal(back[key]) == Decimal(value), key
            else:
                assert back[key] == value, key
        assert row.maker is (not original["crossed"])
    assert repo.fills_between(ledger_session, USER, start, end, coin="BTC") == []


def test_funding_reingested_in_either_shape_changes_nothing(ledger_session):
    rest = [make_funding_rest(h) for h in range(24)]
    assert repo.upsert_funding(ledger_session, USER, rest) == 24
    ledger_session.commit()
    assert repo.upsert_funding(ledger_session, USER, rest) == 0
    # the WS userFundings push of the same hours is the same payment
    assert repo.upsert_funding(ledger_session, USER, [make_funding_ws(h) for h in range(20, 30)]) == 6
    # another coin at the same hour is another payment
    assert repo.upsert_funding(ledger_session, USER, [make_funding_ws(0, coin="BTC", usdc="-1.25")]) == 1
    ledger_session.commit()
    assert _count(ledger_session, FundingPayment) == 31
    rows = repo.funding_between(ledger_session, USER, from_ms(T0_MS), from_ms(T0_MS + 2 * 3_600_000))
    assert [(r.coin, r.usdc) for r in rows] == [("BTC", Decimal("-1.25")), ("HYPE", Decimal("0.000375")),
                                                 ("HYPE", Decimal("0.000375"))]
    assert rows[1].hash == tx_hash(10_000) and rows[0].hash is None         # WS shape carries no hash
    assert rows[1].rate == Decimal("0.0000125") and rows[1].szi == Decimal("-1")
    assert rows[1].to_venue()["delta"]["fundingRate"] == "0.0000125"


def _bad(row: dict, path: str, value) -> dict:
    """A copy of `row` with `path` (a.b) set to value, or removed when value is ..."""
    row = {k: (dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
    *parents, leaf = path.split(".")
    target = row
    for p in parents:
        target = target[p]
    if value is ...:
        del target[leaf]
    else:
        target[leaf] = value
    return row


@pytest.mark.parametrize("field, value, message", [
    ("px", "abc", r"fills\[3\]\.px: 'abc' is not a decimal number"),
    ("px", 30.5, r"fills\[3\]\.px: .*float"),
    ("sz", "0", r"fills\[3\]\.sz: 0 must be > 0"),
    ("fee", ..., r"fills\[3\]\.fee: missing"),
    ("tid", "100000000000003", r"fills\[3\]\.tid: .* is not an integer"),
    ("time", 1.76e12, r"fills\[3\]\.time: .* is not an integer"),
    ("side", "buy", r"fills\[3\]\.side: 'buy' is not 'B' or 'A'"),
    ("hash", "0x1234", r"fills\[3\]\.hash: "),
    ("crossed", "true", r"fills\[3\]\.crossed: 'true' is not a boolean"),
    ("cloid", "my-order-1", r"fills\[3\]\.cloid: "),
    ("closedPnl", "1e400000", r"fills\[3\]\.closedPnl: .*integer digits"),
])
def test_a_bad_fill_names_the_field_and_inserts_nothing(ledger_session, field, value, message):
    assert repo.upsert_fills(ledger_session, USER, [make_fill(100)]) == 1
    ledger_session.commit()
    batch = [make_fill(i) for i in range(6)]
    batch[3] = _bad(batch[3], field, value)
    with pytest.raises(ValueError, match=message):
        repo.upsert_fills(ledger_session, USER, batch)
    ledger_session.commit()      # even committing after the error leaves only what was there before
    assert _count(ledger_session, Fill) == 1


@pytest.mark.parametrize("make, field, value, message", [
    (make_funding_rest, "delta.type", "deposit", r"funding\[1\]\.delta\.type: 'deposit' is not 'funding'"),
    (make_funding_rest, "delta.usdc", ..., r"funding\[1\]\.delta\.usdc: missing"),
    (make_funding_rest, "delta.fundingRate", "x", r"funding\[1\]\.delta\.fundingRate: 'x' is not a decimal"),
    (make_funding_rest, "time", "1760000000000", r"funding\[1\]\.time: .* is not an integer"),
    (make_funding_rest, "time", 1_760_000_000_000_000, r"funding\[1\]\.time: .* not a millisecond timestamp"),
    (make_funding_ws, "fundingRate", ..., r"funding\[1\]\.fundingRate: missing"),
    (make_funding_ws, "coin", "", r"funding\[1\]\.coin: "),
    (make_funding_ws, "szi", 1.0, r"funding\[1\]\.szi: .*float"),
])
def test_a_bad_funding_row_names_the_field_and_inserts_nothing(ledger_session, make, field, value, message):
    batch = [make(h) for h in range(4)]
    batch[1] = _bad(batch[1], field, value)
    with pytest.raises(ValueError, match=message):
        repo.upsert_funding(ledger_session, USER, batch)
    ledger_session.commit()
    assert _count(ledger_session, FundingPayment) == 0


@pytest.mark.parametrize("user", ["0xabc", "ab" * 21, None, ""])
def test_bad_user_is_refused(ledger_session, user):
    with pytest.raises(ValueError, match=r"^user: "):
        repo.upsert_fills(ledger_session, user, [make_fill(1)])
    with pytest.raises(ValueError, match=r"^user: "):
        repo.upsert_funding(ledger_session, user, [make_funding_ws(1)])


def test_not_a_list_is_refused(ledger_session):
    with pytest.raises(ValueError, match=r"^fills: expected a list"):
        repo.upsert_fills(ledger_session, USER, make_fill(1))
    assert repo.upsert_fills(ledger_session, USER, []) == 0


def test_records_from_the_local_venue_ingest_idempotently(ledger_session):
    """Fills and funding produced by the real local venue (sim core, in process) in both its REST and WS shapes."""
    from sim.clock import SimClock
    from sim.venue import Venue

    clock = SimClock(start_ms=T0_MS)
    venue = Venue(clock, seed=3)
    maker, taker = "0x" + "11" * 20, "0x" + "22" * 20
    ws_fundings: list[dict] = []
    venue.subscribe(lambda ev: ws_fundings.extend(ev.data) if ev.channel == "userFundings" and ev.key == maker
                    else None)
    for user in (maker, taker):
        venue.fund_perp(user, 100_000)
    venue.system_order(maker, "HYPE", False, "30.5", "3", cloid="0x" + "ab" * 16)
    for _ in range(3):
        venue.system_order(taker, "HYPE", True, "30.5", "1")
        clock.advance(1_000)
    for _ in range(3):
        clock.advance(3_600_000)
        venue.tick()
    status, fills = venue.info({"type": "userFills", "user": maker})
    assert status == 200 and len(fills) == 3
    status, funding = venue.info({"type": "userFunding", "user": maker, "startTime": 0})
    assert status == 200 and len(funding) == 3 and len(ws_fundings) == 3

    assert repo.upsert_fills(ledger_session, maker, fills) == 3
    assert repo.upsert_fills(ledger_session, maker, fills) == 0
    assert repo.upsert_funding(ledger_session, maker, funding) == 3
    assert repo.upsert_funding(ledger_session, maker, ws_fundings) == 0     # same payments, other shape
    ledger_session.commit()

    window = (from_ms(0), from_ms(clock.now_ms() + 1))
    stored = [f.to_venue() for f in repo.fills_between(ledger_session, maker, *window)]
    by_tid = {f["tid"]: f for f in fills}
    for row in stored:
        venue_row = by_tid[row["tid"]]
        for key in ("coin", "side", "time", "hash", "oid", "crossed", "dir", "feeToken", "cloid"):
            assert row[key] == venue_row[key], key
        for key in NUMERIC_FILL_FIELDS:
            assert Decimal(row[key]) == Decimal(venue_row[key]), key
    paid = repo.funding_between(ledger_session, maker, *window)
    assert sum(p.usdc for p in paid) == sum(Decimal(f["delta"]["usdc"]) for f in funding)
    assert all(p.time.tzinfo is not None for p in paid) and isinstance(paid[0].time, dt.datetime)
