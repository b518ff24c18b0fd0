"""Alerts: one Apprise wrapper shared by the engine and the flows.

What it adds on top of Apprise:
- **severity routing**: each target URL lists the severities it wants (info / warning / critical); a message
  goes only to the URLs tagged for its severity (Apprise tags do the routing).
- **dedup**: alerts carrying the same ``dedup_key`` send at most one message per ``window``; the ones
  swallowed inside the window are counted and the count is reported in the next message that goes out
  (so a flapping condition pages once per window, and nobody loses track of how often it flapped).
  A zero window turns dedup off.
- **throttle**: at most ``throttle_per_window`` non-critical messages go out per window in total (a storm of
  distinct keys cannot flood a channel); critical alerts are never throttled, only deduplicated.
- **attachments**: file paths (PNG charts from the daily report) ride along.
- **state shared by every process**: with ``ledger=`` (a SQLAlchemy engine on the ledger) the dedup and throttle
  decisions are taken against the ledger's ``alerts`` table under a database lock
  (``engine.ledger.repo_ops.claim_alert``), so the engine and every flow run — each with its own ``Alerter`` —
  send a given alert once per window between them, and every alert, sent or suppressed, is a row there. If the
  ledger cannot be reached the decision falls back to this process's memory (an alert is never lost to a
  ledger outage). Without ``ledger=``, state lives in memory and an injected ``recorder`` callable receives one
  ``AlertRecord`` per call.

The clock is injected (``now() -> datetime``, tz-aware UTC) so the dedup window is testable without sleeping.
This module must never import Prefect: the engine process uses it too.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_WINDOW = dt.timedelta(minutes=15)


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @classmethod
    def parse(cls, value: "Severity | str", field: str = "severity") -> "Severity":
        if isinstance(value, Severity):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValueError(f"{field}: unknown severity {value!r} (allowed: {allowed})") from None


@dataclasses.dataclass(frozen=True)
class AlertTarget:
    """One Apprise URL and the severities it receives. The URL may hold a token: never log it."""

    url: str
    severities: frozenset[Severity]

    @classmethod
    def build(cls, url: str, severities: Iterable[Severity | str], field: str = "alerts.targets") -> "AlertTarget":
        if not isinstance(url, str) or "://" not in url:
            raise ValueError(f"{field}.url: not an Apprise URL (expected scheme://...)")
        sev = frozenset(Severity.parse(s, f"{field}.severities") for s in severities)
        if not sev:
            raise ValueError(f"{field}.severities: empty; list at least one of info, warning, critical")
        return cls(url=url, severities=sev)

    def redacted(self) -> str:
        """The scheme only: for many services (tgram, slack, discord) the host part *is* the token."""
        return f"{self.url.partition('://')[0]}://…"


@dataclasses.dataclass(frozen=True)
class AlertRecord:
    """What the recorder (ledger) gets for every alert call."""

    time: dt.datetime
    severity: Severity
    title: str
    body: str
    dedup_key: str | None
    sent: bool            # a message was handed to at least one target
    delivered: bool       # Apprise reported success for every target it tried
    suppressed: bool      # swallowed by the dedup window
    suppressed_count: int  # for a sent alert: how many were swallowed since the previous send of this key
    targets: int          # how many targets the severity routed to


Recorder = Callable[[AlertRecord], None]
Clock = Callable[[], dt.datetime]


@dataclasses.dataclass
class _KeyState:
    last_sent: dt.datetime
    suppressed: int = 0


class Alerter:
    """Severity-routed, deduplicated alerts.

    ``notifier_factory`` exists only so callers can hand in a preconfigured ``apprise.Apprise``; by default a
    fresh one is built from ``targets``.
    """

    def __init__(
        self,
        targets: Sequence[AlertTarget],
        clock: Clock,
        window: dt.timedelta = DEFAULT_WINDOW,
        recorder: Recorder | None = None,
        source: str = "hlmm",
        throttle_per_window: int | None = None,
        ledger: Any = None,
        account: str = "*",
    ) -> None:
        import apprise  # imported here: keeps `import engine.alerts` cheap for the engine's startup

        if window < dt.timedelta(0):
            raise ValueError(f"alerts.dedup_window_s: must be >= 0, got {window}")
        if throttle_per_window is not None and throttle_per_window < 1:
            raise ValueError(f"alerts.throttle_per_window: must be >= 1, got {throttle_per_window}")
        self._throttle = throttle_per_window
        self._recent_sends: list[dt.datetime] = []
        self._clock = clock
        self._window = window
        self._recorder = recorder
        self._source = source
        self._targets = list(targets)
        self._apprise = apprise.Apprise()
        self._notify_types = {
            Severity.INFO: apprise.NotifyType.INFO,
            Severity.WARNING: apprise.NotifyType.WARNING,
            Severity.CRITICAL: apprise.NotifyType.FAILURE,
        }
        for t in self._targets:
            # Apprise routes by tag: a URL added with tags {"warning","critical"} only sees those notify() calls.
            if not self._apprise.add(t.url, tag=sorted(s.value for s in t.severities)):
                raise ValueError(f"alerts.targets: Apprise cannot use URL {t.redacted()}")
        self._keys: dict[str, _KeyState] = {}
        self._throttled = 0
        self._lock = threading.Lock()
        self._ledger = ledger
        self._account = account  # whose alerts: dedup and throttle count within it on a shared ledger

    @classmethod
    def from_config(cls, alerts_cfg: Any, clock: Clock, recorder: Recorder | None = None,
                    source: str = "hlmm", ledger: Any = None, account: str = "*") -> "Alerter":
        """From the config's ``[alerts]`` section (targets, dedup_window_s, throttle_per_window)."""
        throttle = getattr(alerts_cfg, "throttle_per_window", None) if alerts_cfg is not None else None
        if isinstance(alerts_cfg, dict):
            throttle = alerts_cfg.get("throttle_per_window")
        return cls(targets_from_config(alerts_cfg), clock, window_from_config(alerts_cfg), recorder, source,
                   throttle_per_window=throttle, ledger=ledger, account=account)

    @property
    def throttled_count(self) -> int:
        """Non-critical alerts dropped by the global throttle since start."""
        return self._throttled

    def targets_for(self, severity: Severity | str) -> int:
        sev = Severity.parse(severity)
        return sum(1 for t in self._targets if sev in t.severities)

    def suppressed_count(self, dedup_key: str) -> int:
        state = self._keys.get(dedup_key)
        return state.suppressed if state else 0

    def send(
        self,
        severity: Severity | str,
        title: str,
        body: str,
        dedup_key: str | None = None,
        attachments: Sequence[str | Path] = (),
    ) -> AlertRecord:
        """Send (or swallow, inside the dedup window) one alert; always returns and records what happened.

        Never raises for delivery problems (an alert path that throws would take down its caller); a bad
        severity or a missing attachment file is a programming error and does raise.
        """
        sev = Severity.parse(severity)
        for a in attachments:
            if not Path(a).is_file():
                raise FileNotFoundError(f"attachments: {a} is not a file")
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("clock: must return a timezone-aware datetime (UTC)")

        n_targets = self.targets_for(sev)
        decided = self._claim(now, sev, title, body, dedup_key, n_targets)
        if decided is None:
            decided = self._decide_in_memory(now, sev, title, body, dedup_key)
        if isinstance(decided, AlertRecord):
            return decided
        swallowed_before, alert_id = decided
        text = body
        if swallowed_before:
            text += f"\n\n({swallowed_before} similar alert(s) suppressed in the previous {self._window})"
        delivered = False
        if n_targets:
            delivered = self._deliver(sev, title, text, attachments)
        record = AlertRecord(now, sev, title, text, dedup_key, sent=n_targets > 0, delivered=delivered,
                             suppressed=False, suppressed_count=swallowed_before, targets=n_targets)
        if alert_id is None:
            self._record(record)
        else:
            self._mark_delivered(alert_id, record)
        return record

    def _claim(self, now: dt.datetime, sev: Severity, title: str, body: str, key: str | None,
               n_targets: int) -> "AlertRecord | tuple[int, int] | None":
        """The ledger's decision (a suppressed record, or (swallowed before, row id) to send); None without a
        ledger or when it cannot be reached."""
        if self._ledger is None:
            return None
        from engine.ledger.repo_ops import claim_alert

        try:
            d = claim_alert(self._ledger, time=now, severity=sev.value, title=title, body=body, dedup_key=key,
                            window=self._window, throttle=self._throttle, targets=n_targets, account=self._account)
        except Exception as exc:  # the ledger being down must not silence alerts: decide in memory instead
            log.warning("alert state in the ledger unavailable (%s); deciding in memory", type(exc).__name__)
            return None
        if d.suppressed:
            if d.throttled:
                self._throttled += 1
            return AlertRecord(now, sev, title, body, key, sent=False, delivered=False, suppressed=True,
                               suppressed_count=d.suppressed_count, targets=0)
        return d.suppressed_count, d.alert_id

    def _decide_in_memory(self, now: dt.datetime, sev: Severity, title: str, body: str,
                          dedup_key: str | None) -> "AlertRecord | tuple[int, None]":
        swallowed_before = 0
        with self._lock:
            if dedup_key is not None and self._window > dt.timedelta(0):
                state = self._keys.get(dedup_key)
                if state is not None and now - state.last_sent < self._window:
                    state.suppressed += 1
                    return self._suppressed(now, sev, title, body, dedup_key, state.suppressed)
            if self._throttle is not None and sev is not Severity.CRITICAL and self._window > dt.timedelta(0):
                self._recent_sends = [t for t in self._recent_sends if now - t < self._window]
                if len(self._recent_sends) >= self._throttle:
                    self._throttled += 1
                    return self._suppressed(now, sev, title, body, dedup_key, self._throttled)
                self._recent_sends.append(now)
            if dedup_key is not None and self._window > dt.timedelta(0):
                state = self._keys.get(dedup_key)
                swallowed_before = state.suppressed if state else 0
                self._keys[dedup_key] = _KeyState(last_sent=now)
        return swallowed_before, None

    def _mark_delivered(self, alert_id: int, record: AlertRecord) -> None:
        from engine.ledger.repo_ops import alert_delivered

        try:
            if record.delivered:
                alert_delivered(self._ledger, alert_id, time=record.time, body=record.body)
        except Exception as exc:  # already delivered: only the bookkeeping is lost
            log.warning("alert delivery record failed: %s", type(exc).__name__)

    def _suppressed(self, now: dt.datetime, sev: Severity, title: str, body: str, key: str | None,
                    count: int) -> AlertRecord:
        record = AlertRecord(now, sev, title, body, key, sent=False, delivered=False, suppressed=True,
                             suppressed_count=count, targets=0)
        self._record(record)
        return record

    def _deliver(self, sev: Severity, title: str, body: str, attachments: Sequence[str | Path]) -> bool:
        kwargs: dict[str, Any] = {
            "title": f"[{self._source}] [{sev.value.upper()}] {title}",
            "body": body,
            "notify_type": self._notify_types[sev],
            "tag": sev.value,
        }
        if attachments:
            kwargs["attach"] = [str(a) for a in attachments]
        try:
            # Apprise 1.x returns bool (None when nothing matched the tag); bool() also covers richer results.
            return bool(self._apprise.notify(**kwargs))
        except Exception as exc:  # delivery must never crash the caller
            log.warning("alert delivery failed: %s", type(exc).__name__)
            return False

    def _record(self, record: AlertRecord) -> None:
        if self._recorder is None:
            return
        try:
            self._recorder(record)
        except Exception as exc:  # the ledger being down must not silence alerts
            log.warning("alert record failed: %s: %s", type(exc).__name__, exc)


def targets_from_config(alerts_cfg: Any) -> list[AlertTarget]:
    """Build targets from the config's ``alerts`` section.

    Accepts ``alerts.targets`` as a list of ``{url, severities}`` (objects or dicts). Missing section → no
    targets (alerts are then only recorded).
    """
    if alerts_cfg is None:
        return []
    raw = alerts_cfg.get("targets") if isinstance(alerts_cfg, dict) else getattr(alerts_cfg, "targets", None)
    out: list[AlertTarget] = []
    for i, item in enumerate(raw or []):
        get = item.get if isinstance(item, dict) else (lambda k, _i=item: getattr(_i, k, None))
        url = get("url")
        if hasattr(url, "get_secret_value"):
            url = url.get_secret_value()
        out.append(AlertTarget.build(url, get("severities") or (), field=f"alerts.targets[{i}]"))
    return out


def window_from_config(alerts_cfg: Any) -> dt.timedelta:
    if alerts_cfg is None:
        return DEFAULT_WINDOW
    raw = alerts_cfg.get("dedup_window_s") if isinstance(alerts_cfg, dict) else getattr(alerts_cfg, "dedup_window_s", None)
    return DEFAULT_WINDOW if raw is None else dt.timedelta(seconds=float(raw))


def ledger_recorder(ledger_engine: Any, account: str = "*") -> Recorder:
    """A recorder writing each alert to the ledger's ``alerts`` table (``engine.ledger.repo.record_alert``),
    one short transaction per alert. ``ledger_engine`` is a SQLAlchemy Engine from
    ``engine.ledger.db.make_engine``; ``account`` is whose alerts they are ('*': every account's)."""
    from engine.ledger import repo  # the ledger is optional for alerts: imported only when asked for
    from engine.ledger.db import session_scope

    def record(rec: AlertRecord) -> None:
        with session_scope(ledger_engine) as session:
            repo.record_alert(session, time=rec.time, severity=rec.severity.value, title=rec.title, body=rec.body,
                              dedup_key=rec.dedup_key, sent=rec.sent, delivered=rec.delivered,
                              suppressed=rec.suppressed, suppressed_count=rec.suppressed_count, account=account)

    return record


def utc_now() -> dt.datetime:
    """The production clock for ``Alerter`` (kept here so callers never reach for time.time())."""
    return dt.datetime.now(dt.timezone.utc)
