"""Ledger functions of the operations side: fill markouts, and the alert dedup/throttle decision shared by every
process (the engine and each flow run decide against the same `alerts` rows, under a database lock).

Like `repo`, these never commit: the caller's transaction (`session_scope`) does, except `claim_alert`, which
owns its transaction because the lock must cover exactly the read and the insert.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session

from engine.ledger.models import ALL_ACCOUNTS, Alert, Markout
from engine.ledger.repo import account_of
from engine.ledger.sql import _insert
from engine.ledger.types import require_aware, to_decimal
from engine.ledger.venue_rows import user_address

_ALERT_LOCK_ID = 0x686C6D61  # pg_advisory_xact_lock key serializing alert decisions ("hlma")
MARKOUT_KEY = ("user", "coin", "tid")


# ------------------------------------------------------------------ markouts
def record_markouts(session: Session, user: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Upsert markout rows {coin, tid, time, side, px, sz, crossed, mid_0, mid_1s, mid_10s, mid_60s}: the engine
    writes a fill's row as its samples come in, so a later write fills the columns still empty (a sample
    already stored is never overwritten). Returns how many rows were written."""
    who = user_address(user)
    parsed = []
    for i, r in enumerate(rows):
        f = f"markouts[{i}]"
        if r.get("side") not in ("B", "A"):
            raise ValueError(f"{f}.side: expected 'B' or 'A', got {r.get('side')!r}")
        parsed.append({"user": who, "coin": str(r["coin"]), "tid": int(r["tid"]),
                       "time": require_aware(r.get("time"), f"{f}.time"), "side": r["side"],
                       "px": to_decimal(r.get("px"), f"{f}.px"), "sz": to_decimal(r.get("sz"), f"{f}.sz"),
                       "crossed": bool(r.get("crossed")),
                       **{k: None if r.get(k) is None else to_decimal(r[k], f"{f}.{k}")
                          for k in ("mid_0", "mid_1s", "mid_10s", "mid_60s")}})
    if not parsed:
        return 0
    table = Markout.__table__
    ins = _insert(session, table)
    mids = ("mid_0", "mid_1s", "mid_10s", "mid_60s")
    stmt = ins.on_conflict_do_update(index_elements=list(MARKOUT_KEY), set_={
        c: func.coalesce(getattr(table.c, c), getattr(ins.excluded, c)) for c in mids})
    session.execute(stmt, parsed)
    return len(parsed)


def markouts_between(session: Session, user: str, start: dt.datetime, end: dt.datetime) -> list[Markout]:
    """Markouts of fills with start <= time < end, oldest first."""
    stmt = select(Markout).where(Markout.user == user_address(user), Markout.time >= require_aware(start, "start"),
                                 Markout.time < require_aware(end, "end"))
    return list(session.execute(stmt.order_by(Markout.time, Markout.id)).scalars())


# ------------------------------------------------------------------ alerts: one decision for every process
@dataclasses.dataclass(frozen=True)
class AlertDecision:
    send: bool               # hand it to the targets
    suppressed: bool         # swallowed: by the dedup window (or the throttle)
    throttled: bool          # swallowed by the throttle
    suppressed_count: int    # sent: how many of this key were swallowed since its last send; swallowed: the running count
    alert_id: int            # the row recorded for this call


def claim_alert(engine: Engine, *, time: dt.datetime, severity: str, title: str, body: str, dedup_key: str | None,
                window: dt.timedelta, throttle: int | None, targets: int,
                account: str = ALL_ACCOUNTS) -> AlertDecision:
    """Decide whether this alert goes out and record it, atomically across processes.

    Dedup: a key that went out less than `window` ago is swallowed. Throttle: at most `throttle` non-critical
    alerts go out per `window` in total. The lock (SQLite: the write lock taken by BEGIN IMMEDIATE; PostgreSQL:
    an advisory transaction lock) makes two processes raising the same alert at the same moment send it once.

    Both count within `account` only: one account's alert storm must neither swallow nor throttle another
    account's alerts on a shared ledger."""
    time = require_aware(time, "time")
    account = account_of(account)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)" % _ALERT_LOCK_ID)
        t = Alert.__table__
        mine = t.c.account == account
        on = window > dt.timedelta(0)
        last_sent = swallowed = None
        if dedup_key is not None and on:
            last_sent = conn.execute(select(func.max(t.c.time)).where(
                mine, t.c.dedup_key == dedup_key, t.c.suppressed.is_(False))).scalar()
            since = last_sent if last_sent is not None else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
            swallowed = conn.execute(select(func.count()).select_from(t).where(
                mine, t.c.dedup_key == dedup_key, t.c.suppressed.is_(True), t.c.time >= since)).scalar() or 0
        throttled = False
        if last_sent is not None and time - last_sent < window:
            decision = (False, True, False, swallowed + 1)
        else:
            if throttle is not None and on and severity != "critical":
                recent = conn.execute(select(func.count()).select_from(t).where(
                    mine, t.c.suppressed.is_(False), t.c.severity != "critical",
                    t.c.time > time - window)).scalar() or 0
                throttled = recent >= throttle
            decision = (False, True, True, (swallowed or 0) + 1) if throttled else \
                (targets > 0, False, False, swallowed or 0)
        send, suppressed, throttled, count = decision
        row = {"account": account, "time": time, "severity": severity[:16], "title": title[:10_000], "body": body,
               "dedup_key": None if dedup_key is None else dedup_key[:128], "sent": send, "suppressed": suppressed,
               "suppressed_count": count, "delivered": False, "delivered_at": None}
        alert_id = conn.execute(t.insert().values(**row).returning(t.c.id)).scalar_one()
    return AlertDecision(send, suppressed, throttled, count, alert_id)


def alert_delivered(engine: Engine, alert_id: int, *, time: dt.datetime, body: str | None = None) -> None:
    """After delivery: mark the claimed row delivered (and store the body as sent, with its suppressed note)."""
    values: dict[str, Any] = {"delivered": True, "delivered_at": require_aware(time, "time")}
    if body is not None:
        values["body"] = body
    with engine.begin() as conn:
        conn.execute(update(Alert.__table__).where(Alert.__table__.c.id == alert_id).values(**values))
