"""The ledger's orders table: one row per order the engine sent or adopted, keyed by (user, cloid).

`upsert_orders` is what the engine's writer uses: a batch of order states (the newest per cloid wins) in one
statement, inserting new orders and moving known ones to their latest status. Every row of the batch is
parsed first, so a bad row is named (`orders[3].px: ...`) and nothing of that batch is written; the writer
then retries the batch row by row so one bad row cannot lose the others.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from engine.ledger.models import LEGS, SIDES, Order
from engine.ledger.sql import _insert, _text
from engine.ledger.types import from_ms, require_aware, to_decimal
from engine.ledger.venue_rows import leg_of, user_address


def _order_row(user: str, r: Mapping[str, Any], oid: Any, time: Any, where: str) -> dict[str, Any]:
    """The column values of order state `r`, with the merged `oid` and `time` (r's own are not read: the
    state is not copied just to replace them)."""
    coin = _text(r.get("coin"), f"{where}.coin", 32)
    leg = r.get("leg") or leg_of(coin)
    if leg not in LEGS:
        raise ValueError(f"{where}.leg: {leg!r} is not one of {LEGS}")
    side = r.get("side")
    if side not in SIDES:
        raise ValueError(f"{where}.side: {side!r} is not 'B' or 'A'")
    cloid = _text(r.get("cloid"), f"{where}.cloid", 34).lower()
    if oid is not None and (isinstance(oid, bool) or not isinstance(oid, int) or oid < 0):
        raise ValueError(f"{where}.oid: {oid!r} is not a non-negative integer")
    px, sz = to_decimal(r.get("px"), f"{where}.px"), to_decimal(r.get("sz"), f"{where}.sz")
    if px <= 0 or sz <= 0:
        raise ValueError(f"{where}.{'px' if px <= 0 else 'sz'}: must be > 0")
    reduce_only = r.get("reduce_only", False)
    if not isinstance(reduce_only, bool):
        raise ValueError(f"{where}.reduce_only: {reduce_only!r} is not a boolean")
    time = require_aware(time, f"{where}.time")
    return {"user": user, "cloid": cloid, "oid": oid, "coin": coin, "leg": leg, "side": side, "px": px, "sz": sz,
            "tif": _text(r.get("tif") or "Alo", f"{where}.tif", 8), "reduce_only": reduce_only,
            "status": _text(r.get("status"), f"{where}.status", 32),
            "reason": _text(r.get("reason"), f"{where}.reason", 10_000, optional=True),
            "created_at": time, "updated_at": time}


def _row_time(r: Mapping[str, Any], where: str) -> Any:
    """A row's time: `time` (an aware datetime), or `time_ms` (venue ms, what the engine's writer queues: only
    the rows left after merging are converted)."""
    t = r.get("time")
    if t is None and "time_ms" in r:
        ms = r["time_ms"]
        if isinstance(ms, bool) or not isinstance(ms, int):
            raise ValueError(f"{where}.time_ms: {ms!r} is not integer milliseconds")
        return from_ms(ms)
    return t


def upsert_orders(session: Session, user: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert or update orders by (user, cloid): the status, oid (once known) and reason of an existing row
    move to the newest given. Each row has `time` (aware datetime) or `time_ms` (venue ms). Returns the
    number of rows written (one per cloid)."""
    user = user_address(user)
    merged: dict[Any, tuple[int, Mapping[str, Any], Mapping[str, Any], Any]] = {}  # cloid -> (index, last, first, oid)
    for i, r in enumerate(rows):  # the last state of a cloid in the batch is its state
        key, oid = r.get("cloid"), r.get("oid")
        seen = merged.get(key)
        if seen is None:
            merged[key] = (i, r, r, oid)
        else:
            merged[key] = (i, r, seen[2], seen[3] if oid is None else oid)
    newest = []
    for i, r, first, oid in merged.values():
        where = f"orders[{i}]"
        row = _order_row(user, r, oid, _row_time(r, where), where)
        if first is not r:
            first_time = _row_time(first, where)
            if first_time is not None:
                row["created_at"] = require_aware(first_time, f"{where}.time")
        newest.append(row)
    if not newest:
        return 0
    table = Order.__table__
    stmt = _insert(session, table)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["user", "cloid"],
        set_={"status": ex.status, "updated_at": ex.updated_at, "oid": func.coalesce(ex.oid, table.c.oid),
              "reason": func.coalesce(ex.reason, table.c.reason)})
    session.execute(stmt, newest)
    return len(newest)


def record_order(session: Session, *, user: str, coin: str, side: str, px: Any, sz: Any, tif: str, time: dt.datetime,
                 cloid: str | None = None, oid: int | None = None, status: str = "pending",
                 leg: str | None = None, reduce_only: bool = False, reason: str | None = None) -> Order:
    """Record an order we sent. Idempotent on (user, cloid): recording the same cloid again returns the
    existing row unchanged (a retried write after a crash must not duplicate it)."""
    user = user_address(user)
    coin = _text(coin, "coin", 32)
    leg = leg_of(coin) if leg is None else leg
    if leg not in LEGS:
        raise ValueError(f"leg: {leg!r} is not one of {LEGS}")
    if side not in SIDES:
        raise ValueError(f"side: {side!r} is not 'B' or 'A'")
    if cloid is not None:
        cloid = _text(cloid, "cloid", 34).lower()
    if oid is not None and (isinstance(oid, bool) or not isinstance(oid, int) or oid < 0):
        raise ValueError(f"oid: {oid!r} is not a non-negative integer")
    px, sz = to_decimal(px, "px"), to_decimal(sz, "sz")
    if px <= 0 or sz <= 0:
        raise ValueError(f"{'px' if px <= 0 else 'sz'}: must be > 0")
    if not isinstance(reduce_only, bool):
        raise ValueError(f"reduce_only: {reduce_only!r} is not a boolean")
    time = require_aware(time, "time")
    row = {"user": user, "cloid": cloid, "oid": oid, "coin": coin, "leg": leg, "side": side, "px": px, "sz": sz,
           "tif": _text(tif, "tif", 8), "reduce_only": reduce_only, "status": _text(status, "status", 32),
           "reason": _text(reason, "reason", 10_000, optional=True), "created_at": time, "updated_at": time}
    table = Order.__table__
    stmt = _insert(session, table).values(row).returning(table.c.id)
    if cloid is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["user", "cloid"])
    new_id = session.execute(stmt).scalar()
    if new_id is None:
        return session.execute(select(Order).where(Order.user == user, Order.cloid == cloid)).scalar_one()
    return session.get(Order, new_id)


def update_order_status(session: Session, *, user: str, status: str, time: dt.datetime, cloid: str | None = None,
                        oid: int | None = None, reason: str | None = None) -> Order | None:
    """Set the status of the order identified by `cloid` (preferred) or `oid`; an `oid` given together with a
    cloid is stored (the venue assigns it when the order rests). Returns the order, or None if unknown."""
    user = user_address(user)
    if cloid is None and oid is None:
        raise ValueError("cloid/oid: give at least one to identify the order")
    values: dict[str, Any] = {"status": _text(status, "status", 32), "updated_at": require_aware(time, "time"),
                              "reason": _text(reason, "reason", 10_000, optional=True)}
    if cloid is not None:
        where = Order.cloid == _text(cloid, "cloid", 34).lower()
        if oid is not None:
            values["oid"] = oid
    else:
        where = Order.oid == oid
    stmt = (update(Order).where(Order.user == user, where).values(**values).returning(Order)
            .execution_options(synchronize_session="fetch"))
    return session.execute(stmt).scalars().first()


def orders_by_status(session: Session, user: str, statuses: Sequence[str]) -> list[Order]:
    return list(session.execute(select(Order).where(Order.user == user_address(user), Order.status.in_(statuses))
                                .order_by(Order.id)).scalars())


