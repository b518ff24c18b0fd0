"""Alert dedup and throttle state lives in the ledger: separate `Alerter`s (each flow run builds its own, the
engine has one) share it, against a real local HTTP receiver, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import select

from engine.alerts import Alerter, AlertTarget
from engine.ledger.db import make_engine
from engine.ledger.models import Alert
from tests.alerts.receiver import Receiver

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture()
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def _alerter(receiver, path, engine, now, **kw) -> Alerter:
    return Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}{path}", ["warning", "critical"])],
                   clock=lambda: now[0], window=dt.timedelta(minutes=10), ledger=engine, **kw)


def _rows(engine) -> list[Alert]:
    from sqlmodel import Session

    with Session(engine) as s:
        return list(s.execute(select(Alert).order_by(Alert.id)).scalars())


def test_two_alerters_on_one_ledger_send_a_key_once_per_window(ledger_engine, receiver):
    now = [T0]
    run_a = _alerter(receiver, "/a", ledger_engine, now)   # e.g. two drawdown_audit runs, minutes apart
    run_b = _alerter(receiver, "/a", ledger_engine, now)
    assert run_a.send("critical", "kill switch: drawdown limit", "dd 6%", dedup_key="drawdown-kill").delivered
    now[0] += dt.timedelta(minutes=5)
    second = run_b.send("critical", "kill switch: drawdown limit", "dd 6%", dedup_key="drawdown-kill")
    assert second.suppressed and not second.sent
    assert len(receiver.on("/a")) == 1
    now[0] += dt.timedelta(minutes=6)  # 11 minutes after the first: the window has passed
    third = run_b.send("critical", "kill switch: drawdown limit", "dd 7%", dedup_key="drawdown-kill")
    assert third.delivered and third.suppressed_count == 1
    msgs = [json.loads(p.body) for p in receiver.on("/a")]
    assert len(msgs) == 2 and "1 similar alert(s) suppressed" in msgs[1]["message"]
    rows = _rows(ledger_engine)
    assert [(r.sent, r.suppressed, r.delivered) for r in rows] == [(True, False, True), (False, True, False),
                                                                   (True, False, True)]


def test_throttle_counts_every_process_sends(ledger_engine, receiver):
    now = [T0]
    a = _alerter(receiver, "/t", ledger_engine, now, throttle_per_window=2)
    b = _alerter(receiver, "/t", ledger_engine, now, throttle_per_window=2)
    assert a.send("warning", "w1", "x", dedup_key="k1").sent
    assert b.send("warning", "w2", "x", dedup_key="k2").sent
    third = a.send("warning", "w3", "x", dedup_key="k3")
    assert third.suppressed and a.throttled_count == 1
    assert b.send("critical", "c", "x", dedup_key="k4").delivered  # critical alerts are never throttled
    assert len(receiver.on("/t")) == 3


def test_simultaneous_alerts_from_several_processes_go_out_once(ledger_engine, receiver):
    url = ledger_engine.url.render_as_string(hide_password=False)
    start = threading.Barrier(4)
    results = []

    def one() -> None:
        engine = make_engine(url)  # its own connection pool, as another process would have
        try:
            alerter = _alerter(receiver, "/race", engine, [T0])
            start.wait()
            results.append(alerter.send("critical", "kill switch", "dd", dedup_key="race"))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.sent for r in results) == [False, False, False, True]
    assert len(receiver.on("/race")) == 1
    assert len(_rows(ledger_engine)) == 4


def test_an_unreachable_ledger_decides_in_memory_and_still_alerts(receiver, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no alerts table: every claim fails
    try:
        a = _alerter(receiver, "/down", engine, [T0])
        assert a.send("critical", "kill switch", "dd", dedup_key="k").delivered
        assert a.send("critical", "kill switch", "dd", dedup_key="k").suppressed  # memory still deduplicates
    finally:
        engine.dispose()
    assert len(receiver.on("/down")) == 1
