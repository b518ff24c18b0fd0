"""The flows' side of the ledger: a thin facade over ``engine.ledger.repo`` speaking the venue's shapes
(fills/funding as userFills/userFunding dicts, times in ms at the edges) so the flows and their logic never
handle ORM rows. One short transaction per call (flows are batch jobs; the engine reads within a second).

A Store is bound to one account (`account=`, the venue address the flow runs for): params, controls and alerts
it writes belong to that account, and its reads see that account's rows plus the all-accounts ('*') ones. An
unbound Store (account None) writes all-accounts rows and reads every account's (tests, audits).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from engine.alerts import AlertRecord
from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope, upgrade
from engine.ledger.models import ALL_ACCOUNTS, TOTAL
from engine.ledger.types import from_ms


class Store:
    def __init__(self, engine, account: str | None = None) -> None:
        self.engine = engine
        self.account = None if account is None else repo.account_of(account)
        self._writes_as = self.account or ALL_ACCOUNTS

    @classmethod
    def from_url(cls, url: str, account: str | None = None) -> "Store":
        return cls(make_engine(url), account)

    @staticmethod
    def init(url: str) -> None:
        """Create/upgrade the ledger schema (Alembic head)."""
        upgrade(url)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self):
        return session_scope(self.engine)

    # --- venue records ---------------------------------------------------------------------------------
    def upsert_fills(self, user: str, fills: list[dict]) -> int:
        if not fills:
            return 0
        with self._session() as s:
            return repo.upsert_fills(s, user, fills)

    def upsert_funding(self, user: str, rows: list[dict]) -> int:
        if not rows:
            return 0
        with self._session() as s:
            return repo.upsert_funding(s, user, rows)

    def fills(self, user: str, start_ms: int, end_ms: int) -> list[dict]:
        """Ledger fills with start <= time <= end (inclusive end, like the venue's time queries)."""
        with self._session() as s:
            return [f.to_venue() for f in repo.fills_between(s, user, from_ms(start_ms), from_ms(end_ms + 1))]

    def funding(self, user: str, start_ms: int, end_ms: int) -> list[dict]:
        with self._session() as s:
            return [f.to_venue() for f in repo.funding_between(s, user, from_ms(start_ms), from_ms(end_ms + 1))]

    # --- equity -----------------------------------------------------------------------------------------
    def record_equity_mark(self, user: str, time: dt.datetime, equity: Decimal, *, source: str,
                           perp_account_value: Decimal | None = None) -> None:
        """An account mark; when the perp/spot split is unknown the whole equity is booked as spot_value."""
        perp = Decimal(0) if perp_account_value is None else perp_account_value
        with self._session() as s:
            repo.record_equity_mark(s, time=time, spot_value=equity - perp, perp_account_value=perp,
                                    user=user, source=source)

    def equity_curve(self, user: str, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, Decimal]]:
        """Account equity marks with start <= time <= end, oldest first."""
        with self._session() as s:
            marks = repo.equity_curve(s, start, end + dt.timedelta(milliseconds=1), user=user)
            return [(m.time, m.equity) for m in marks]

    def markouts(self, user: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
        """The engine's fill markouts with start <= fill time <= end: dicts with the mid_* columns."""
        from engine.ledger.repo_ops import markouts_between

        with self._session() as s:
            return [{c: getattr(m, c) for c in ("coin", "tid", "time", "side", "px", "sz", "crossed", "mid_0",
                                                 "mid_1s", "mid_10s", "mid_60s")}
                    for m in markouts_between(s, user, start, end + dt.timedelta(milliseconds=1))]

    # --- params & controls --------------------------------------------------------------------------------
    def set_param(self, key: str, value: Any, *, reason: str, source: str, time: dt.datetime | None = None) -> int:
        with self._session() as s:
            return repo.set_param(s, key, value, written_by=source, reason=reason, time=time or _now(),
                                  account=self._writes_as)

    def latest_param(self, key: str) -> Any:
        with self._session() as s:
            p = repo.latest_param(s, key, account=self.account)
            return None if p is None else p.data

    def set_control(self, kind: str, value: Any, *, reason: str, source: str, scope: str = TOTAL,
                    time: dt.datetime | None = None) -> None:
        with self._session() as s:
            repo.set_control(s, kind, value, who=source, why=reason, time=time or _now(), scope=scope,
                             account=self._writes_as)

    def clear_control(self, kind: str, *, reason: str, source: str, scope: str = TOTAL,
                      time: dt.datetime | None = None) -> int:
        with self._session() as s:
            return repo.clear_control(s, kind, who=source, why=reason, time=time or _now(), scope=scope,
                                      account=self._writes_as)

    def control(self, kind: str, scope: str = TOTAL) -> dict | None:
        """The active control of `kind` for `scope` reaching this account: {value, source, reason, time, account}
        or None."""
        with self._session() as s:
            for c in repo.active_controls(s, kind, account=self.account):
                if c.scope == scope:
                    return {"value": c.data, "source": c.who, "reason": c.why, "time": c.time, "account": c.account}
        return None

    # --- alerts -------------------------------------------------------------------------------------------
    def record_alert(self, rec: AlertRecord) -> None:
        with self._session() as s:
            repo.record_alert(s, time=rec.time, severity=rec.severity.value, title=rec.title[:10_000], body=rec.body,
                              dedup_key=rec.dedup_key, sent=rec.sent, delivered=rec.delivered,
                              suppressed=rec.suppressed, suppressed_count=rec.suppressed_count,
                              account=self._writes_as)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
