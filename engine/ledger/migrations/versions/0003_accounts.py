"""accounts: params, controls and alerts say which account they belong to (issue 16).

Orders, fills, funding, marks and markouts already carry the venue `user`; the rows the flows and operators
write did not, so on one shared ledger one account's kill switch stopped every engine and per-coin params of
two accounts collided. Existing rows get `account = '*'` ("every account"): on a single-account ledger they keep
applying exactly as before. Params are versioned per (account, key).

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-10
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("params", "controls", "alerts")


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a constraint in place, so Alembic rebuilds the table (a no-op wrapper on
    # PostgreSQL)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("account", sa.String(42), nullable=False, server_default="*"))
    with op.batch_alter_table("params") as batch:
        batch.drop_constraint("uq_params_key_version", type_="unique")
        batch.create_unique_constraint("uq_params_account_key_version", ["account", "key", "version"])
    op.create_index("ix_controls_account_active", "controls", ["account", "active"])
    op.create_index("ix_alerts_account_dedup_key", "alerts", ["account", "dedup_key"])


def downgrade() -> None:
    op.drop_index("ix_alerts_account_dedup_key", table_name="alerts")
    op.drop_index("ix_controls_account_active", table_name="controls")
    with op.batch_alter_table("params") as batch:
        batch.drop_constraint("uq_params_account_key_version", type_="unique")
        batch.create_unique_constraint("uq_params_key_version", ["key", "version"])
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("account")
