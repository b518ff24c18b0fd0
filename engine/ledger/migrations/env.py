"""Alembic environment for the ledger. Run through `engine.ledger.db.upgrade(url)` / `hlmm db upgrade`, which
pass either a live connection (`config.attributes["connection"]`) or `sqlalchemy.url`.

A new migration after changing engine/ledger/models.py (there is no alembic.ini; the config is built in code):

    .venv/bin/python -c "from alembic import command; from engine.ledger.db import alembic_config; \
        command.revision(alembic_config('sqlite:///PATH/TO/db-at-head.db'), autogenerate=True, \
        message='what changed', rev_id='0002')"

then review the file by hand (explicit constraint names; types from engine.ledger.types) and extend
tests/ledger/test_migrations.py, whose models-vs-migrations comparison fails until the two agree.
"""
from __future__ import annotations

from alembic import context

from engine.ledger.models import metadata

config = context.config


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables in batch mode there
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    from engine.ledger.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
