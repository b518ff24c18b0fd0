"""Ledger database: engines for SQLite (WAL) and PostgreSQL, sessions, and Alembic migrations.

    engine = make_engine("sqlite:///./var/hlmm.db")        # or postgresql+psycopg://user@host/db
    upgrade("sqlite:///./var/hlmm.db")                       # migrations to head (what `hlmm db upgrade` runs)
    with session_scope(engine) as session:                   # commit on success, rollback on error
        repo.upsert_fills(session, user, fills)

SQLite is opened the way several processes (engine + flows) can share one file: WAL journal (readers never
block the writer), a 10 s busy timeout (a writer waits for the other writer instead of failing with "database
is locked"), foreign keys on. Transactions use pysqlite's default: BEGIN is issued right before the first
write, so a write transaction always starts with its write and waits through busy_timeout for the lock; a
transaction that read first and then had to upgrade its lock could fail immediately (SQLITE_BUSY_SNAPSHOT).
"""
from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

BUSY_TIMEOUT_S = 10.0
MIGRATIONS = pathlib.Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_ID = 0x686C6D6D  # "hlmm": pg_advisory_xact_lock key serializing concurrent upgrades


def normalize_url(url: str) -> str:
    """`postgresql://` → `postgresql+psycopg://` (psycopg 3 is the driver we ship); others unchanged."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"ledger.url: unsupported database {u.get_backend_name()!r} "
                         "(use sqlite:///PATH or postgresql+psycopg://...)")
    return u.render_as_string(hide_password=False)


def make_engine(url: str, echo: bool = False) -> Engine:
    """An Engine for the ledger at `url` (SQLite file: parent directory created, WAL, busy timeout)."""
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        return create_engine(url, echo=echo, pool_pre_ping=True, future=True)
    database = u.database
    if database and database != ":memory:" and not database.startswith("file:"):
        pathlib.Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL itself may have to wait for another process
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints only
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return engine


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed when the block succeeds and rolled back when it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# ---------------------------------------------------------------- migrations
def alembic_config(url: str | None = None):
    """An Alembic Config pointing at the migrations shipped inside this package (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # '%' is ConfigParser interpolation syntax; a password may contain it
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def init_db(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to `revision` on an existing Engine."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as connection:
        # Several processes (engine, flows, `hlmm kill`) upgrade at start-up; without a lock two of them on a
        # fresh database both see "no version" and the second dies on "table orders already exists". Take
        # the database's writer lock for the whole migration: the loser waits, then finds the schema at head.
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")   # SQLite DDL is transactional: all or nothing
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)" % _MIGRATION_LOCK_ID)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations up to `revision` on the database at `url` (created for SQLite if absent)."""
    engine = make_engine(url)
    try:
        init_db(engine, revision)
    finally:
        engine.dispose()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
