"""markouts: the mid 0 / 1 / 10 / 60 s after each of our fills, measured by the engine (daily report markouts).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.ledger.types import ExactDecimal, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "markouts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("user", sa.String(42), nullable=False),
        sa.Column("coin", sa.String(32), nullable=False),
        sa.Column("tid", sa.BigInteger(), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("side", sa.String(1), nullable=False),
        sa.Column("px", ExactDecimal(), nullable=False),
        sa.Column("sz", ExactDecimal(), nullable=False),
        sa.Column("crossed", sa.Boolean(), nullable=False),
        sa.Column("mid_0", ExactDecimal(), nullable=True),
        sa.Column("mid_1s", ExactDecimal(), nullable=True),
        sa.Column("mid_10s", ExactDecimal(), nullable=True),
        sa.Column("mid_60s", ExactDecimal(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user", "coin", "tid", name="uq_markouts_user_coin_tid"),
    )
    op.create_index("ix_markouts_user_time", "markouts", ["user", "time"])


def downgrade() -> None:
    op.drop_table("markouts")
