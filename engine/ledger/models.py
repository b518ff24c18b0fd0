"""Ledger tables (SQLModel). The ledger is the contract between the engine and the flows (see DESIGN.md).

Every money/size column is `ExactDecimal` (Decimal in Python, exact on SQLite and PostgreSQL) and every time
column is `UTCDateTime` (aware UTC). Identity of venue records:
- fills: (user, coin, tid, hash) — the venue's trade id (unique per coin) plus the tx hash;
- funding_payments: (user, coin, time) — one payment per coin per funding hour.
Those unique constraints are what make re-ingestion idempotent (INSERT ... ON CONFLICT DO NOTHING).

The tables live in their own SQLAlchemy registry/metadata so other SQLModel users (Prefect, other rooms) never
leak into the ledger's migrations.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from engine.ledger.types import ExactDecimal, UTCDateTime, to_ms

LEDGER_REGISTRY = registry()
LEGS = ("spot", "perp")
SIDES = ("B", "A")
TOTAL = "*"  # equity_marks.coin / controls.scope meaning "the whole account"
# params/controls/alerts.account meaning "every account on this ledger": a control with it reaches every engine,
# a param with it is the default an account's own version of the key overrides (rows from before accounts)
ALL_ACCOUNTS = "*"

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_PK = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> Any:
    return Field(default=None, sa_column=Column(_PK, primary_key=True, autoincrement=True))


def _col(type_: Any, nullable: bool = False, **kw: Any) -> Any:
    return Field(default=kw.pop("default", None), sa_column=Column(type_, nullable=nullable, **kw))


def _s(d: Decimal | None) -> str | None:
    return None if d is None else format(d, "f")


class LedgerModel(SQLModel, registry=LEDGER_REGISTRY):
    """Base of the ledger tables (own metadata)."""


class Order(LedgerModel, table=True):
    """An order the engine sent (or tried to), keyed by our cloid; `oid` once the venue assigned one."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user", "cloid", name="uq_orders_user_cloid"),
        CheckConstraint("leg IN ('spot', 'perp')", name="ck_orders_leg"),
        CheckConstraint("side IN ('B', 'A')", name="ck_orders_side"),
        Index("ix_orders_user_oid", "user", "oid"),
        Index("ix_orders_status", "status"),
    )

    id: int | None = _pk()
    user: str = _col(String(42))
    cloid: str | None = _col(String(34), nullable=True)
    oid: int | None = _col(BigInteger, nullable=True)
    coin: str = _col(String(32))
    leg: str = _col(String(4))
    side: str = _col(String(1))
    px: Decimal = _col(ExactDecimal())
    sz: Decimal = _col(ExactDecimal())
    tif: str = _col(String(8))
    reduce_only: bool = _col(Boolean, default=False)
    status: str = _col(String(32))
    reason: str | None = _col(Text, nullable=True)
    created_at: dt.datetime = _col(UTCDateTime())
    updated_at: dt.datetime = _col(UTCDateTime())


class Fill(LedgerModel, table=True):
    """One venue fill (userFills row) of `user`."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("user", "coin", "tid", "hash", name="uq_fills_user_coin_tid_hash"),
        CheckConstraint("leg IN ('spot', 'perp')", name="ck_fills_leg"),
        CheckConstraint("side IN ('B', 'A')", name="ck_fills_side"),
        Index("ix_fills_user_time", "user", "time"),
        Index("ix_fills_user_oid", "user", "oid"),
    )

    id: int | None = _pk()
    user: str = _col(String(42))
    coin: str = _col(String(32))
    leg: str = _col(String(4))
    tid: int = _col(BigInteger)
    hash: str = _col(String(66))
    oid: int = _col(BigInteger)
    cloid: str | None = _col(String(34), nullable=True)
    side: str = _col(String(1))
    px: Decimal = _col(ExactDecimal())
    sz: Decimal = _col(ExactDecimal())
    fee: Decimal = _col(ExactDecimal())
    fee_token: str = _col(String(16))
    builder_fee: Decimal | None = _col(ExactDecimal(), nullable=True)
    crossed: bool = _col(Boolean)          # True: we were the taker
    closed_pnl: Decimal = _col(ExactDecimal())
    start_position: Decimal = _col(ExactDecimal())
    dir: str = _col(String(48))
    time: dt.datetime = _col(UTCDateTime())

    @property
    def maker(self) -> bool:
        return not self.crossed

    def to_venue(self) -> dict[str, Any]:
        """The row back in the venue's userFills shape (decimal strings, ms time)."""
        out = {"coin": self.coin, "px": _s(self.px), "sz": _s(self.sz), "side": self.side, "time": to_ms(self.time),
               "startPosition": _s(self.start_position), "dir": self.dir, "closedPnl": _s(self.closed_pnl),
               "hash": self.hash, "oid": self.oid, "crossed": self.crossed, "fee": _s(self.fee), "tid": self.tid,
               "feeToken": self.fee_token}
        if self.cloid is not None:
            out["cloid"] = self.cloid
        if self.builder_fee is not None:
            out["builderFee"] = _s(self.builder_fee)
        return out


class FundingPayment(LedgerModel, table=True):
    """One hourly funding payment (userFunding row) of `user` on a perp; usdc > 0 means received."""

    __tablename__ = "funding_payments"
    __table_args__ = (
        UniqueConstraint("user", "coin", "time", name="uq_funding_user_coin_time"),
        Index("ix_funding_user_time", "user", "time"),
    )

    id: int | None = _pk()
    user: str = _col(String(42))
    coin: str = _col(String(32))
    time: dt.datetime = _col(UTCDateTime())
    usdc: Decimal = _col(ExactDecimal())
    szi: Decimal = _col(ExactDecimal())
    rate: Decimal = _col(ExactDecimal())
    hash: str | None = _col(String(66), nullable=True)   # the REST shape has it, the WS shape does not

    def to_venue(self) -> dict[str, Any]:
        """The row back in the venue's userFunding shape."""
        return {"time": to_ms(self.time), "hash": self.hash,
                "delta": {"type": "funding", "coin": self.coin, "usdc": _s(self.usdc), "szi": _s(self.szi),
                          "fundingRate": _s(self.rate)}}


class EquityMark(LedgerModel, table=True):
    """A mark of the account (coin '*') or one coin's book: values in USDC, net delta in coin units."""

    __tablename__ = "equity_marks"
    __table_args__ = (Index("ix_equity_marks_coin_time", "coin", "time"),)

    id: int | None = _pk()
    time: dt.datetime = _col(UTCDateTime())
    user: str | None = _col(String(42), nullable=True)
    coin: str = _col(String(32), default=TOTAL)
    spot_value: Decimal = _col(ExactDecimal())
    perp_account_value: Decimal = _col(ExactDecimal())
    unrealized: Decimal | None = _col(ExactDecimal(), nullable=True)   # None: not measured
    net_delta: Decimal | None = _col(ExactDecimal(), nullable=True)
    source: str | None = _col(String(64), nullable=True)

    @property
    def equity(self) -> Decimal:
        return self.spot_value + self.perp_account_value


class Param(LedgerModel, table=True):
    """A versioned parameter written by a flow; the engine uses the newest version of each key."""

    __tablename__ = "params"
    __table_args__ = (UniqueConstraint("account", "key", "version", name="uq_params_account_key_version"),)

    id: int | None = _pk()
    account: str = _col(String(42), default=ALL_ACCOUNTS, server_default=ALL_ACCOUNTS)
    key: str = _col(String(128))
    value: str = _col(Text)            # JSON text
    version: int = _col(Integer)
    written_by: str = _col(String(64))
    reason: str | None = _col(Text, nullable=True)
    time: dt.datetime = _col(UTCDateTime())

    @property
    def data(self) -> Any:
        return json.loads(self.value)


class Control(LedgerModel, table=True):
    """An operator/flow control (kill switch, pause, carry target...). Active until cleared or superseded."""

    __tablename__ = "controls"
    __table_args__ = (Index("ix_controls_active_kind", "active", "kind"),
                      Index("ix_controls_account_active", "account", "active"))

    id: int | None = _pk()
    account: str = _col(String(42), default=ALL_ACCOUNTS, server_default=ALL_ACCOUNTS)  # an address, or '*'
    kind: str = _col(String(64))
    scope: str = _col(String(32), default=TOTAL)   # a coin, or '*' for everything
    value: str = _col(Text)                          # JSON text
    who: str = _col(String(64))
    why: str = _col(Text)
    time: dt.datetime = _col(UTCDateTime())
    active: bool = _col(Boolean, default=True)
    cleared_at: dt.datetime | None = _col(UTCDateTime(), nullable=True)
    cleared_by: str | None = _col(String(64), nullable=True)
    clear_reason: str | None = _col(Text, nullable=True)

    @property
    def data(self) -> Any:
        return json.loads(self.value)


class Alert(LedgerModel, table=True):
    """Every alert raised (sent or swallowed by dedup), for the audit trail and the daily report."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_time", "time"), Index("ix_alerts_dedup_key", "dedup_key"),
                      Index("ix_alerts_account_dedup_key", "account", "dedup_key"))

    id: int | None = _pk()
    account: str = _col(String(42), default=ALL_ACCOUNTS, server_default=ALL_ACCOUNTS)  # whose alert
    time: dt.datetime = _col(UTCDateTime())
    severity: str = _col(String(16))
    title: str = _col(Text)
    body: str = _col(Text)
    dedup_key: str | None = _col(String(128), nullable=True)
    sent: bool = _col(Boolean, default=False)
    suppressed: bool = _col(Boolean, default=False)
    suppressed_count: int = _col(Integer, default=0)
    delivered: bool = _col(Boolean, default=False)
    delivered_at: dt.datetime | None = _col(UTCDateTime(), nullable=True)


class Markout(LedgerModel, table=True):
    """One of our fills and the mid the engine saw at the fill and 1 s / 10 s / 60 s after it (None: no fresh
    book then). The venue keeps no history finer than 1-minute candles, so only the engine can measure these."""

    __tablename__ = "markouts"
    __table_args__ = (
        UniqueConstraint("user", "coin", "tid", name="uq_markouts_user_coin_tid"),
        Index("ix_markouts_user_time", "user", "time"),
    )

    id: int | None = _pk()
    user: str = _col(String(42))
    coin: str = _col(String(32))
    tid: int = _col(BigInteger)
    time: dt.datetime = _col(UTCDateTime())
    side: str = _col(String(1))
    px: Decimal = _col(ExactDecimal())
    sz: Decimal = _col(ExactDecimal())
    crossed: bool = _col(Boolean)
    mid_0: Decimal | None = _col(ExactDecimal(), nullable=True)
    mid_1s: Decimal | None = _col(ExactDecimal(), nullable=True)
    mid_10s: Decimal | None = _col(ExactDecimal(), nullable=True)
    mid_60s: Decimal | None = _col(ExactDecimal(), nullable=True)


TABLES = ("orders", "fills", "funding_payments", "equity_marks", "params", "controls", "alerts", "markouts")
metadata = LEDGER_REGISTRY.metadata
