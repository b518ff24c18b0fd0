"""Small repository functions over the ledger, shared by the engine and the flows.

Transactions belong to the caller: these functions never commit (use `engine.ledger.db.session_scope`, or
commit yourself). Writers start with their write statement, which on SQLite takes the write lock first and so
waits (busy_timeout) instead of failing when another process is writing.

Bad input raises ValueError naming the field (`fills[2].px: ...`, `time: naive datetime ...`). Batch writers
(`upsert_fills`, `upsert_funding`) parse the whole batch before writing any of it, so a bad row leaves
nothing behind. Venue records are inserted with INSERT ... ON CONFLICT DO NOTHING on their venue identity, so
re-ingesting the same records is a no-op and the return value counts only rows that were new.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.ledger.models import ALL_ACCOUNTS, TOTAL, Alert, Control, EquityMark, Fill, FundingPayment, Param
from engine.ledger.types import require_aware, to_decimal
from engine.ledger.sql import _insert, _json, _text
from engine.ledger.venue_rows import parse_fill, parse_funding, user_address


def _insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict], key: Sequence[str]) -> int:
    # executemany with RETURNING: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues", sized for
    # each driver's parameter limit) from one cached statement; a skipped duplicate returns no row.
    stmt = (_insert(session, table).on_conflict_do_nothing(index_elements=list(key)).returning(table.c.id))
    return len(session.execute(stmt, rows).all())


def _dedupe(rows: Iterable[dict], key: Sequence[str]) -> list[dict]:
    seen: dict[tuple, dict] = {}
    for row in rows:
        seen.setdefault(tuple(row[k] for k in key), row)
    return list(seen.values())


def _batch(rows: object, field: str) -> list:
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise ValueError(f"{field}: expected a list of records, got {type(rows).__name__}")
    return list(rows)


# ------------------------------------------------------------------ venue records
FILL_KEY = ("user", "coin", "tid", "hash")
FUNDING_KEY = ("user", "coin", "time")


def upsert_fills(session: Session, user: str, fills: Iterable[Mapping[str, Any]]) -> int:
    """Insert venue userFills rows of `user`; returns how many were new (0 when all were already there)."""
    user = user_address(user)
    parsed, seen = [], set()
    for i, row in enumerate(_batch(fills, "fills")):
        # a record given again as the very same object (in a backtest, a backfill hands over the dicts the
        # venue pushed) parses to the same row, which _dedupe drops anyway: parse it once (a bad one is still
        # named at its first place)
        if id(row) not in seen:
            seen.add(id(row))
            parsed.append(parse_fill(user, row, f"fills[{i}]"))
    if not parsed:
        return 0
    return _insert_ignoring_duplicates(session, Fill.__table__, _dedupe(parsed, FILL_KEY), FILL_KEY)


def upsert_funding(session: Session, user: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert funding payments of `user` (REST userFunding or WS userFundings shape); returns how many were new.

    The WS shape has no tx hash: when its row arrived first, a later REST row of the same payment fills the
    stored row's missing hash (nothing else changes, and that does not count as new)."""
    user = user_address(user)
    parsed = [parse_funding(user, row, f"funding[{i}]") for i, row in enumerate(_batch(rows, "funding"))]
    if not parsed:
        return 0
    # a payment given both with and without a hash in one batch keeps the hashed row
    parsed.sort(key=lambda r: not r["hash"])
    unique = _dedupe(parsed, FUNDING_KEY)
    new = _insert_ignoring_duplicates(session, FundingPayment.__table__, unique, FUNDING_KEY)
    hashed = [{"k_user": r["user"], "k_coin": r["coin"], "k_time": r["time"], "k_hash": r["hash"]}
              for r in unique if r["hash"]]
    if hashed:
        t = FundingPayment.__table__
        stmt = (update(t).where(t.c.user == bindparam("k_user"), t.c.coin == bindparam("k_coin"),
                                t.c.time == bindparam("k_time"), or_(t.c.hash.is_(None), t.c.hash == ""))
                .values(hash=bindparam("k_hash")))
        session.execute(stmt, hashed)
    return new


# ------------------------------------------------------------------ orders: engine/ledger/repo_orders.py
from engine.ledger.repo_orders import (orders_by_status, record_order, update_order_status,  # noqa: E402,F401
                                       upsert_orders)


# ------------------------------------------------------------------ equity marks
def record_equity_mark(session: Session, *, time: dt.datetime, spot_value: Any, perp_account_value: Any,
                       unrealized: Any = None, net_delta: Any = None, coin: str = TOTAL, user: str | None = None,
                       source: str | None = None) -> EquityMark:
    """Record a mark of the whole account (coin '*') or of one coin's two legs."""
    mark = EquityMark(
        time=require_aware(time, "time"), coin=_text(coin, "coin", 32),
        user=None if user is None else user_address(user),
        spot_value=to_decimal(spot_value, "spot_value"),
        perp_account_value=to_decimal(perp_account_value, "perp_account_value"),
        unrealized=None if unrealized is None else to_decimal(unrealized, "unrealized"),
        net_delta=None if net_delta is None else to_decimal(net_delta, "net_delta"),
        source=_text(source, "source", 64, optional=True))
    session.add(mark)
    session.flush()
    return mark


def record_equity_marks(session: Session, user: str | None, rows: Sequence[Mapping[str, Any]],
                        source: str | None = None) -> int:
    """Record many marks in one statement (the engine's writer): each row {time, spot_value,
    perp_account_value, unrealized?, net_delta?, coin?}; every row is checked before anything is written."""
    who = None if user is None else user_address(user)
    src = _text(source, "source", 64, optional=True)
    parsed = [{"time": require_aware(r.get("time"), f"marks[{i}].time"),
               "coin": _text(r.get("coin", TOTAL), f"marks[{i}].coin", 32), "user": who,
               "spot_value": to_decimal(r.get("spot_value"), f"marks[{i}].spot_value"),
               "perp_account_value": to_decimal(r.get("perp_account_value"), f"marks[{i}].perp_account_value"),
               "unrealized": None if r.get("unrealized") is None else to_decimal(r["unrealized"],
                                                                                 f"marks[{i}].unrealized"),
               "net_delta": None if r.get("net_delta") is None else to_decimal(r["net_delta"], f"marks[{i}].net_delta"),
               "source": src} for i, r in enumerate(rows)]
    if parsed:
        session.execute(insert(EquityMark.__table__), parsed)
    return len(parsed)


# ------------------------------------------------------------------ accounts
# params, controls and alerts belong to an account (the venue address an engine trades, lowercase) or to every
# account ('*'). Writers default to '*' (what a single-account ledger always had); readers given an account see
# that account's rows plus the '*' rows, and None (audit tools only) sees every row.
def account_of(account: object, field: str = "account") -> str:
    """'*' (every account) or a lowercased 0x address; anything else raises ValueError naming `field`."""
    return ALL_ACCOUNTS if account == ALL_ACCOUNTS else user_address(account, field)


def _for(column: Any, account: str | None) -> list:
    if account is None:
        return []
    account = account_of(account)
    return [column.in_([account, ALL_ACCOUNTS])] if account != ALL_ACCOUNTS else [column == ALL_ACCOUNTS]


# ------------------------------------------------------------------ params
def set_param(session: Session, key: str, value: Any, *, written_by: str, time: dt.datetime,
              reason: str | None = None, account: str = ALL_ACCOUNTS) -> int:
    """Write a new version of `key` for `account` (value stored as JSON; Decimals as exact strings); returns the
    version (versions count per account and key)."""
    row = {"key": _text(key, "key", 128), "value": _json(value, "value"),
           "written_by": _text(written_by, "written_by", 64), "reason": _text(reason, "reason", 10_000, True),
           "time": require_aware(time, "time"), "account": account_of(account)}
    table = Param.__table__
    # One statement computes and inserts the next version: on SQLite it runs under the write lock, so two
    # writers cannot pick the same number; on PostgreSQL a concurrent pick trips the unique constraint and
    # is retried inside a savepoint.
    next_version = (select(func.coalesce(func.max(table.c.version), 0) + 1)
                    .where(table.c.key == row["key"], table.c.account == row["account"]).scalar_subquery())
    stmt = insert(table).values(
        account=row["account"], key=row["key"], value=row["value"], version=next_version,
        written_by=row["written_by"], reason=row["reason"], time=row["time"]).returning(table.c.version)
    if session.get_bind().dialect.name != "postgresql":
        return session.execute(stmt).scalar_one()
    for attempt in range(20):
        try:
            with session.begin_nested():
                return session.execute(stmt).scalar_one()
        except IntegrityError:
            if attempt == 19:
                raise
    raise AssertionError("unreachable")


def latest_params(session: Session, keys: Sequence[str] | None = None, prefix: str | None = None, *,
                  account: str | None = None) -> dict[str, Param]:
    """Newest version of each key (optionally only `keys`, or keys starting with `prefix`) for `account`: its own
    newest version where it has one, else the all-accounts ('*') one. None: every account's rows (audit tools;
    an account's row still beats a '*' one, then the later write wins)."""
    newest = (select(Param.account, Param.key, func.max(Param.version).label("version"))
              .where(*_for(Param.account, account)).group_by(Param.account, Param.key))
    if keys is not None:
        newest = newest.where(Param.key.in_(list(keys)))
    if prefix is not None:
        newest = newest.where(Param.key.startswith(prefix, autoescape=True))
    sub = newest.subquery()
    stmt = select(Param).join(sub, and_(Param.account == sub.c.account, Param.key == sub.c.key,
                                        Param.version == sub.c.version))
    out: dict[str, Param] = {}
    for p in session.execute(stmt.order_by(Param.time, Param.id)).scalars():
        # an account's own version beats '*' whatever their times; between equals the later write wins
        held = out.get(p.key)
        if held is None or not (held.account != ALL_ACCOUNTS and p.account == ALL_ACCOUNTS):
            out[p.key] = p
    return out


def latest_param(session: Session, key: str, *, account: str | None = None) -> Param | None:
    return latest_params(session, keys=[key], account=account).get(key)


def param_history(session: Session, key: str, *, account: str | None = None) -> list[Param]:
    stmt = select(Param).where(Param.key == key, *_for(Param.account, account))
    return list(session.execute(stmt.order_by(Param.account, Param.version)).scalars())


# ------------------------------------------------------------------ controls
def set_control(session: Session, kind: str, value: Any = True, *, who: str, why: str, time: dt.datetime,
                scope: str = TOTAL, account: str = ALL_ACCOUNTS) -> Control:
    """Activate a control (kill_switch, pause, carry_target...) for `scope` (a coin or '*') of `account` (an
    address, or '*' for every account on the ledger). An active control of the same account, kind and scope is
    superseded (cleared at `time`), so at most one is active per account/kind/scope."""
    kind, scope, account = _text(kind, "kind", 64), _text(scope, "scope", 32), account_of(account)
    who, why, time = _text(who, "who", 64), _text(why, "why", 10_000), require_aware(time, "time")
    value_json = _json(value, "value")
    _clear(session, kind, scope, who, f"superseded: {why}", time, account)
    control = Control(account=account, kind=kind, scope=scope, value=value_json, who=who, why=why, time=time,
                      active=True)
    session.add(control)
    session.flush()
    return control


def clear_control(session: Session, kind: str, *, who: str, why: str, time: dt.datetime,
                  scope: str | None = TOTAL, account: str | None = ALL_ACCOUNTS) -> int:
    """Clear the active control(s) of `kind` for `scope` (None: every scope) of exactly `account` ('*': the
    all-accounts rows only; None: every account's); returns how many were cleared."""
    return _clear(session, _text(kind, "kind", 64), None if scope is None else _text(scope, "scope", 32),
                  _text(who, "who", 64), _text(why, "why", 10_000), require_aware(time, "time"),
                  None if account is None else account_of(account))


def _clear(session: Session, kind: str, scope: str | None, who: str, why: str, time: dt.datetime,
           account: str | None) -> int:
    where = [Control.kind == kind, Control.active.is_(True)]
    if scope is not None:
        where.append(Control.scope == scope)
    if account is not None:
        where.append(Control.account == account)   # exact: clearing A's switch never clears the '*' one
    stmt = (update(Control).where(*where)
            .values(active=False, cleared_at=time, cleared_by=who, clear_reason=why)
            .execution_options(synchronize_session="fetch"))
    return session.execute(stmt).rowcount


def active_controls(session: Session, kind: str | None = None, *, account: str | None = None) -> list[Control]:
    """Active controls (optionally of one kind) reaching `account` (its own and the all-accounts ones; None:
    every account's), ordered by kind, scope."""
    stmt = select(Control).where(Control.active.is_(True), *_for(Control.account, account))
    if kind is not None:
        stmt = stmt.where(Control.kind == kind)
    return list(session.execute(stmt.order_by(Control.kind, Control.scope, Control.id)).scalars())


# ------------------------------------------------------------------ alerts
def record_alert(session: Session, *, time: dt.datetime, severity: str, title: str, body: str,
                 dedup_key: str | None = None, sent: bool = False, delivered: bool = False,
                 suppressed: bool = False, suppressed_count: int = 0, account: str = ALL_ACCOUNTS) -> Alert:
    """Record an alert raised (whether sent, delivered, or swallowed by dedup) about `account`."""
    time = require_aware(time, "time")
    for name, flag in (("sent", sent), ("delivered", delivered), ("suppressed", suppressed)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name}: {flag!r} is not a boolean")
    if isinstance(suppressed_count, bool) or not isinstance(suppressed_count, int) or suppressed_count < 0:
        raise ValueError(f"suppressed_count: {suppressed_count!r} is not a non-negative integer")
    if not isinstance(body, str):
        raise ValueError(f"body: expected a string, got {type(body).__name__}")
    alert = Alert(account=account_of(account), time=time, severity=_text(severity, "severity", 16),
                  title=_text(title, "title", 10_000), body=body,
                  dedup_key=_text(dedup_key, "dedup_key", 128, optional=True), sent=sent,
                  delivered=delivered, delivered_at=time if delivered else None, suppressed=suppressed,
                  suppressed_count=suppressed_count)
    session.add(alert)
    session.flush()
    return alert


def mark_alert_delivered(session: Session, alert_id: int, *, time: dt.datetime) -> bool:
    """Mark an alert delivered (a retry got through); False if no such alert."""
    stmt = (update(Alert).where(Alert.id == alert_id)
            .values(delivered=True, delivered_at=require_aware(time, "time"))
            .execution_options(synchronize_session="fetch"))
    return session.execute(stmt).rowcount == 1


def undelivered_alerts(session: Session, since: dt.datetime, *, account: str | None = None) -> list[Alert]:
    stmt = select(Alert).where(Alert.delivered.is_(False), Alert.suppressed.is_(False),
                               Alert.time >= require_aware(since, "since"), *_for(Alert.account, account))
    return list(session.execute(stmt.order_by(Alert.time, Alert.id)).scalars())


# ------------------------------------------------------------------ readers
def _window(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end < start:
        raise ValueError(f"end: {end.isoformat()} is before start {start.isoformat()}")
    return start, end


def fills_between(session: Session, user: str, start: dt.datetime, end: dt.datetime,
                  coin: str | None = None) -> list[Fill]:
    """Fills of `user` with start <= time < end, oldest first (`Fill.to_venue()` gives the venue shape)."""
    start, end = _window(start, end)
    stmt = select(Fill).where(Fill.user == user_address(user), Fill.time >= start, Fill.time < end)
    if coin is not None:
        stmt = stmt.where(Fill.coin == coin)
    return list(session.execute(stmt.order_by(Fill.time, Fill.id)).scalars())


def funding_between(session: Session, user: str, start: dt.datetime, end: dt.datetime,
                    coin: str | None = None) -> list[FundingPayment]:
    """Funding payments of `user` with start <= time < end, by time then coin."""
    start, end = _window(start, end)
    stmt = select(FundingPayment).where(FundingPayment.user == user_address(user), FundingPayment.time >= start,
                                        FundingPayment.time < end)
    if coin is not None:
        stmt = stmt.where(FundingPayment.coin == coin)
    return list(session.execute(stmt.order_by(FundingPayment.time, FundingPayment.coin)).scalars())


def equity_curve(session: Session, start: dt.datetime, end: dt.datetime, coin: str = TOTAL,
                 user: str | None = None) -> list[EquityMark]:
    """Equity marks of `coin` ('*' = account) with start <= time < end, oldest first."""
    start, end = _window(start, end)
    stmt = select(EquityMark).where(EquityMark.coin == coin, EquityMark.time >= start, EquityMark.time < end)
    if user is not None:
        stmt = stmt.where(EquityMark.user == user_address(user))
    return list(session.execute(stmt.order_by(EquityMark.time, EquityMark.id)).scalars())
