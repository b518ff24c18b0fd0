"""Orders, params, controls, alerts and equity marks through the repository functions, on both backends."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from engine.ledger import repo
from engine.ledger.models import Alert, Control, Order
from tests.ledger.factories import OTHER_USER, USER

UTC = dt.timezone.utc
T = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLOID = "0x" + "0f" * 16


def _fresh(engine, model):
    with Session(engine) as s:
        return s.execute(select(model).order_by(model.id)).scalars().all()


def test_order_lifecycle_by_cloid_then_oid(ledger_engine, ledger_session):
    order = repo.record_order(ledger_session, user=USER, coin="HYPE", side="B", px="30.1", sz="2", tif="Alo",
                              cloid=CLOID.upper().replace("0X", "0x"), time=T)
    assert (order.leg, order.status, order.oid, order.cloid) == ("perp", "pending", None, CLOID)
    again = repo.record_order(ledger_session, user=USER, coin="HYPE", side="B", px="30.1", sz="2", tif="Alo",
                              cloid=CLOID, time=T + dt.timedelta(seconds=5))
    assert again.id == order.id                     # idempotent on (user, cloid)
    spot = repo.record_order(ledger_session, user=USER, coin="@1", side="A", px="30.2", sz="1", tif="Alo", time=T)
    assert spot.leg == "spot" and spot.cloid is None
    ledger_session.commit()

    rested = repo.update_order_status(ledger_session, user=USER, cloid=CLOID, oid=77738308, status="open",
                                      time=T + dt.timedelta(seconds=1))
    assert rested.oid == 77738308 and rested.status == "open"
    done = repo.update_order_status(ledger_session, user=USER, oid=77738308, status="canceled",
                                    reason="quote moved", time=T + dt.timedelta(seconds=2))
    assert done.id == order.id
    assert repo.update_order_status(ledger_session, user=OTHER_USER, oid=77738308, status="filled", time=T) is None
    ledger_session.commit()

    rows = _fresh(ledger_engine, Order)
    assert [(r.status, r.reason) for r in rows] == [("canceled", "quote moved"), ("pending", None)]
    assert rows[0].created_at == T and rows[0].updated_at == T + dt.timedelta(seconds=2)
    assert rows[0].px == Decimal("30.1")
    assert [o.id for o in repo.orders_by_status(ledger_session, USER, ["pending", "open"])] == [spot.id]


@pytest.mark.parametrize("kwargs, message", [
    ({"side": "buy"}, r"^side: "), ({"leg": "swap"}, r"^leg: "), ({"px": "0"}, r"^px: "),
    ({"sz": 1.5}, r"^sz: .*float"), ({"tif": ""}, r"^tif: "), ({"oid": -1}, r"^oid: "),
    ({"time": dt.datetime(2026, 1, 1)}, r"^time: naive"), ({"user": "alice"}, r"^user: "),
])
def test_bad_order_fields_are_named(ledger_session, kwargs, message):
    args = dict(user=USER, coin="HYPE", side="B", px="30", sz="1", tif="Alo", time=T) | kwargs
    with pytest.raises(ValueError, match=message):
        repo.record_order(ledger_session, **args)
    ledger_session.commit()
    assert ledger_session.execute(select(Order)).first() is None


def test_params_are_versioned_per_key_and_latest_wins(ledger_session):
    assert repo.set_param(ledger_session, "regime.HYPE", {"spread_bps": Decimal("24.5"), "name": "calm"},
                          written_by="vol_regime", reason="atr low", time=T) == 1
    assert repo.set_param(ledger_session, "regime.BTC", {"spread_bps": 30}, written_by="vol_regime", time=T) == 1
    assert repo.set_param(ledger_session, "regime.HYPE", {"spread_bps": Decimal("49"), "name": "volatile"},
                          written_by="vol_regime", reason="atr spiked", time=T + dt.timedelta(hours=1)) == 2
    assert repo.set_param(ledger_session, "report.snapshot", [1, 2], written_by="daily_report", time=T) == 1
    ledger_session.commit()

    latest = repo.latest_params(ledger_session)
    assert {k: (p.version, p.data) for k, p in latest.items()} == {
        "regime.HYPE": (2, {"name": "volatile", "spread_bps": "49"}),    # Decimals stored as exact strings
        "regime.BTC": (1, {"spread_bps": 30}),
        "report.snapshot": (1, [1, 2]),
    }
    assert set(repo.latest_params(ledger_session, prefix="regime.")) == {"regime.HYPE", "regime.BTC"}
    assert set(repo.latest_params(ledger_session, keys=["regime.BTC", "nope"])) == {"regime.BTC"}
    assert repo.latest_params(ledger_session, prefix="regime%") == {}     # LIKE wildcards are escaped
    assert repo.latest_param(ledger_session, "regime.HYPE").reason == "atr spiked"
    assert repo.latest_param(ledger_session, "missing") is None
    assert [p.data["name"] for p in repo.param_history(ledger_session, "regime.HYPE")] == ["calm", "volatile"]


def test_param_value_must_be_json(ledger_session):
    with pytest.raises(ValueError, match=r"^value: not JSON-serializable"):
        repo.set_param(ledger_session, "k", {"x": object()}, written_by="t", time=T)
    with pytest.raises(ValueError, match=r"^value: not JSON-serializable"):
        repo.set_param(ledger_session, "k", float("nan"), written_by="t", time=T)
    with pytest.raises(ValueError, match=r"^written_by: "):
        repo.set_param(ledger_session, "k", 1, written_by="", time=T)


def test_controls_supersede_and_clear(ledger_engine, ledger_session):
    repo.set_control(ledger_session, "kill_switch", True, who="drawdown_audit", why="dd 6% > 5%", time=T)
    repo.set_control(ledger_session, "pause", True, who="vol_regime", why="HYPE atr spike", scope="HYPE", time=T)
    repo.set_control(ledger_session, "carry_target", {"coin": "HYPE", "notional_usd": Decimal("25000.50")},
                     who="rebalance", why="7d funding 11% apr", time=T)
    repo.set_control(ledger_session, "carry_target", {"coin": "HYPE", "notional_usd": Decimal("30000")},
                     who="rebalance", why="7d funding 14% apr", time=T + dt.timedelta(hours=1))
    ledger_session.commit()

    active = repo.active_controls(ledger_session)
    assert [(c.kind, c.scope) for c in active] == [("carry_target", "*"), ("kill_switch", "*"), ("pause", "HYPE")]
    assert active[0].data == {"coin": "HYPE", "notional_usd": "30000"}
    assert [c.kind for c in repo.active_controls(ledger_session, kind="pause")] == ["pause"]

    assert repo.clear_control(ledger_session, "kill_switch", who="ops", why="reviewed",
                              time=T + dt.timedelta(hours=2)) == 1
    assert repo.clear_control(ledger_session, "kill_switch", who="ops", why="again", time=T) == 0
    assert repo.clear_control(ledger_session, "pause", who="vol_regime", why="calm", time=T) == 0   # scope '*'
    assert repo.clear_control(ledger_session, "pause", who="vol_regime", why="calm", scope=None, time=T) == 1
    ledger_session.commit()

    assert [c.kind for c in repo.active_controls(ledger_session)] == ["carry_target"]
    history = {(c.kind, c.why): c for c in _fresh(ledger_engine, Control)}
    old_target = history[("carry_target", "7d funding 11% apr")]
    assert not old_target.active and old_target.clear_reason == "superseded: 7d funding 14% apr"
    assert old_target.cleared_at == T + dt.timedelta(hours=1)
    kill = history[("kill_switch", "dd 6% > 5%")]
    assert (kill.active, kill.cleared_by, kill.clear_reason) == (False, "ops", "reviewed")


def test_control_needs_who_and_why(ledger_session):
    with pytest.raises(ValueError, match=r"^who: "):
        repo.set_control(ledger_session, "kill_switch", who="", why="x", time=T)
    with pytest.raises(ValueError, match=r"^why: "):
        repo.set_control(ledger_session, "kill_switch", who="ops", why=None, time=T)


def test_alerts_recorded_and_marked_delivered(ledger_engine, ledger_session):
    sent = repo.record_alert(ledger_session, time=T, severity="critical", title="kill switch", body="dd 6%",
                             dedup_key="dd", sent=True)
    repo.record_alert(ledger_session, time=T + dt.timedelta(seconds=5), severity="critical", title="kill switch",
                      body="dd 6%", dedup_key="dd", suppressed=True)
    ok = repo.record_alert(ledger_session, time=T, severity="info", title="report", body="", sent=True,
                           delivered=True)
    ledger_session.commit()
    assert [a.id for a in repo.undelivered_alerts(ledger_session, since=T)] == [sent.id]
    assert repo.mark_alert_delivered(ledger_session, sent.id, time=T + dt.timedelta(seconds=1))
    assert not repo.mark_alert_delivered(ledger_session, 10**9, time=T)
    ledger_session.commit()
    rows = {a.id: a for a in _fresh(ledger_engine, Alert)}
    assert rows[sent.id].delivered and rows[sent.id].delivered_at == T + dt.timedelta(seconds=1)
    assert rows[ok.id].delivered_at == T
    assert sum(a.suppressed for a in rows.values()) == 1
    with pytest.raises(ValueError, match=r"^suppressed_count: "):
        repo.record_alert(ledger_session, time=T, severity="info", title="x", body="", suppressed_count=-1)


def test_alerts_module_recorder_writes_through_repo(ledger_engine):
    """engine.alerts.ledger_recorder (alerts room) calls repo.record_alert with its own keyword set."""
    from engine.alerts import AlertRecord, Severity, ledger_recorder

    record = ledger_recorder(ledger_engine)
    record(AlertRecord(time=T, severity=Severity.WARNING, title="ledger differs", body="2 fills missing",
                       dedup_key="ledger-audit", sent=True, delivered=False, suppressed=False, suppressed_count=3,
                       targets=1))
    (row,) = _fresh(ledger_engine, Alert)
    assert (row.severity, row.title, row.suppressed_count, row.sent, row.delivered) == \
        ("warning", "ledger differs", 3, True, False)


def test_equity_curve_per_coin_and_user(ledger_session):
    for h in range(5):
        repo.record_equity_mark(ledger_session, time=T + dt.timedelta(hours=h), user=USER, source="drawdown_audit",
                                spot_value=Decimal("50000.01") + h, perp_account_value="49999.99",
                                unrealized="-12.5", net_delta="0.001")
        repo.record_equity_mark(ledger_session, time=T + dt.timedelta(hours=h), coin="HYPE", user=USER,
                                spot_value=1, perp_account_value=2, net_delta=Decimal("-0.5"))
    repo.record_equity_mark(ledger_session, time=T, user=OTHER_USER, spot_value=1, perp_account_value=1)
    ledger_session.commit()
    curve = repo.equity_curve(ledger_session, T + dt.timedelta(hours=1), T + dt.timedelta(hours=4), user=USER)
    assert [m.equity for m in curve] == [Decimal("100001"), Decimal("100002"), Decimal("100003")]
    assert all(m.unrealized == Decimal("-12.5") and m.coin == "*" for m in curve)
    assert len(repo.equity_curve(ledger_session, T, T + dt.timedelta(days=1))) == 6       # all users
    assert len(repo.equity_curve(ledger_session, T, T + dt.timedelta(days=1), coin="HYPE")) == 5
    with pytest.raises(ValueError, match=r"^end: .* is before start"):
        repo.equity_curve(ledger_session, T, T - dt.timedelta(seconds=1))
