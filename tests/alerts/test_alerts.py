"""engine.alerts against a real local HTTP receiver (Apprise json:// and form:// over real sockets)."""
from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from engine.alerts import AlertRecord, Alerter, AlertTarget, Severity, targets_from_config
from tests.alerts.receiver import Receiver

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)


class ManualClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture()
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def _messages(receiver: Receiver, path: str) -> list[dict]:
    return [json.loads(p.body) for p in receiver.on(path)]


def test_severity_routing_sends_each_severity_only_to_urls_tagged_for_it(receiver):
    base = f"json://127.0.0.1:{receiver.port}"
    alerter = Alerter(
        [
            AlertTarget.build(f"{base}/info", ["info"]),
            AlertTarget.build(f"{base}/ops", ["warning", "critical"]),
            AlertTarget.build(f"{base}/pager", ["critical"]),
        ],
        clock=ManualClock(T0),
    )
    assert alerter.send("info", "daily report", "all fine").delivered
    assert alerter.send(Severity.WARNING, "funding mismatch", "ETH off by 3%").delivered
    assert alerter.send("critical", "kill switch", "drawdown 6% > 5%").delivered

    assert [m["message"] for m in _messages(receiver, "/info")] == ["all fine"]
    assert [m["message"] for m in _messages(receiver, "/ops")] == ["ETH off by 3%", "drawdown 6% > 5%"]
    pager = _messages(receiver, "/pager")
    assert [m["message"] for m in pager] == ["drawdown 6% > 5%"]
    assert "CRITICAL" in pager[0]["title"] and "kill switch" in pager[0]["title"]
    assert pager[0]["type"] == "failure"


def test_flapping_condition_sends_once_per_window_and_counts_suppressed(receiver):
    clock = ManualClock(T0)
    records: list[AlertRecord] = []
    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}/ops", ["warning"])],
                      clock=clock, window=dt.timedelta(minutes=10), recorder=records.append)

    first = alerter.send("warning", "feed stale", "no book for 5s", dedup_key="feed-stale:HYPE")
    assert first.sent and not first.suppressed
    for _ in range(3):
        clock.advance(minutes=2)
        rec = alerter.send("warning", "feed stale", "no book for 5s", dedup_key="feed-stale:HYPE")
        assert rec.suppressed and not rec.sent
    assert alerter.suppressed_count("feed-stale:HYPE") == 3
    # a different key is not throttled by the first one
    assert alerter.send("warning", "feed stale", "no book for 5s", dedup_key="feed-stale:BTC").sent
    assert len(receiver.on("/ops")) == 2

    clock.advance(minutes=5)  # 11 minutes after the first send: the window has passed
    again = alerter.send("warning", "feed stale", "no book for 5s", dedup_key="feed-stale:HYPE")
    assert again.sent and again.suppressed_count == 3
    msgs = _messages(receiver, "/ops")
    assert len(msgs) == 3
    assert "3 similar alert(s) suppressed" in msgs[-1]["message"]

    # every call was recorded, sent or not
    assert len(records) == 6
    assert [r.suppressed for r in records] == [False, True, True, True, False, False]
    assert all(r.time.tzinfo is not None for r in records)


def test_png_attachment_arrives_with_form_and_json_targets(receiver, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = tmp_path / "equity.png"
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([1, 2, 3], [1, 3, 2])
    fig.savefig(png)
    plt.close(fig)
    raw = png.read_bytes()
    assert raw.startswith(b"\x89PNG")

    alerter = Alerter(
        [
            AlertTarget.build(f"form://127.0.0.1:{receiver.port}/form", ["info"]),
            AlertTarget.build(f"json://127.0.0.1:{receiver.port}/json", ["info"]),
        ],
        clock=ManualClock(T0),
    )
    assert alerter.send("info", "daily report", "see chart", attachments=[png]).delivered

    (form,) = receiver.on("/form")
    assert form.content_type.startswith("multipart/form-data")
    assert raw in form.body and b"equity.png" in form.body

    (msg,) = _messages(receiver, "/json")
    (att,) = msg["attachments"]
    assert att["filename"] == "equity.png"
    import base64

    assert base64.b64decode(att["base64"]) == raw


def test_unreachable_target_reports_undelivered_without_raising():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    records: list[AlertRecord] = []
    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{port}/x", ["critical"])],
                      clock=ManualClock(T0), recorder=records.append)
    rec = alerter.send("critical", "venue down", "5xx storm")
    assert rec.sent and not rec.delivered
    assert records == [rec]


def test_severity_without_targets_is_recorded_not_sent(receiver):
    records: list[AlertRecord] = []
    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}/p", ["critical"])],
                      clock=ManualClock(T0), recorder=records.append)
    rec = alerter.send("info", "hello", "nobody listens to info")
    assert not rec.sent and rec.targets == 0 and len(records) == 1
    assert receiver.posts == []


def test_recorder_failure_does_not_stop_the_alert(receiver):
    def broken(_rec):
        raise RuntimeError("ledger down")

    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}/p", ["warning"])],
                      clock=ManualClock(T0), recorder=broken)
    assert alerter.send("warning", "t", "b").delivered
    assert len(receiver.posts) == 1


def test_bad_input_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="severities"):
        AlertTarget.build("json://127.0.0.1:1/x", ["loud"])
    with pytest.raises(ValueError, match="url"):
        AlertTarget.build("not a url", ["info"])
    with pytest.raises(ValueError, match=r"alerts.targets\[1\]"):
        targets_from_config({"targets": [{"url": "json://h/x", "severities": ["info"]},
                                         {"url": "json://h/y", "severities": []}]})
    alerter = Alerter([], clock=ManualClock(T0))
    with pytest.raises(ValueError, match="severity"):
        alerter.send("panic", "t", "b")
    with pytest.raises(FileNotFoundError, match="attachments"):
        alerter.send("info", "t", "b", attachments=[tmp_path / "missing.png"])
    naive = Alerter([], clock=lambda: dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="clock"):
        naive.send("info", "t", "b")


def test_redacted_target_hides_tokens():
    t = AlertTarget.build("tgram://123456:SECRETTOKEN/987654", ["info"])
    assert "SECRET" not in t.redacted()


def test_alerts_module_does_not_import_prefect():
    import subprocess
    import sys

    code = "import sys, engine.alerts; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_throttle_caps_non_critical_messages_per_window_but_never_critical(receiver):
    clock = ManualClock(T0)
    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}/all", ["warning", "critical"])],
                      clock=clock, window=dt.timedelta(minutes=5), throttle_per_window=2)
    sent = [alerter.send("warning", f"w{i}", "b", dedup_key=f"k{i}").sent for i in range(4)]
    assert sent == [True, True, False, False] and alerter.throttled_count == 2
    assert alerter.send("critical", "kill", "b", dedup_key="crit").sent
    clock.advance(minutes=6)
    assert alerter.send("warning", "w9", "b", dedup_key="k9").sent
    assert len(receiver.on("/all")) == 4


def test_zero_window_disables_dedup(receiver):
    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}/x", ["info"])],
                      clock=ManualClock(T0), window=dt.timedelta(0))
    assert all(alerter.send("info", "t", "b", dedup_key="same").sent for _ in range(3))
    assert len(receiver.on("/x")) == 3


def test_from_config_section(receiver):
    from engine.config import AlertsConfig

    cfg = AlertsConfig(targets=[{"url": f"json://127.0.0.1:{receiver.port}/cfg", "severities": ["critical"]}],
                       dedup_window_s=60, throttle_per_window=5)
    alerter = Alerter.from_config(cfg, clock=ManualClock(T0))
    assert alerter.send("critical", "t", "from config").delivered
    assert not alerter.send("critical", "t", "again", dedup_key=None).suppressed
    assert [m["message"] for m in _messages(receiver, "/cfg")] == ["from config", "again"]
    assert alerter.targets_for("info") == 0


def test_every_alert_lands_in_the_ledger(receiver, tmp_path):
    from sqlalchemy import select

    from engine.alerts import ledger_recorder
    from engine.ledger.db import make_engine, session_scope, upgrade
    from engine.ledger.models import Alert

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    engine = make_engine(url)
    clock = ManualClock(T0)
    alerter = Alerter([AlertTarget.build(f"json://127.0.0.1:{receiver.port}/l", ["critical"])], clock=clock,
                      window=dt.timedelta(minutes=5), recorder=ledger_recorder(engine))
    alerter.send("critical", "kill switch", "drawdown", dedup_key="dd")
    clock.advance(minutes=1)
    alerter.send("critical", "kill switch", "drawdown", dedup_key="dd")
    with session_scope(engine) as s:
        rows = list(s.execute(select(Alert).order_by(Alert.id)).scalars())
    engine.dispose()
    assert [(r.severity, r.sent, r.delivered, r.suppressed, r.suppressed_count) for r in rows] == \
        [("critical", True, True, False, 0), ("critical", False, False, True, 1)]
    assert rows[0].time == T0 and rows[1].time == T0 + dt.timedelta(minutes=1)
