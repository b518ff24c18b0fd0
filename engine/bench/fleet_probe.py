"""What the scale-out bench reads while its fleet runs: a process's CPU time and RSS from /proc, PostgreSQL's
own write counters, a scratch PostgreSQL database, PostgreSQL's insert rate on this machine (a reference), the
venue's per-IP weight usage and an engine's Prometheus counters.

/proc and pg_stat rather than psutil or row counts: psutil is not a dependency, and counting rows would miss the
ledger's upserts (an order's later states update its row), which PostgreSQL's n_tup_upd sees.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import time
import uuid
from collections.abc import Iterator

PG_ADMIN_URL = os.environ.get("HLMM_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
_TICKS = os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (the supervisor's guard runs the program as its only child)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """User + system CPU time of `pid` (all its threads), None once it is gone; `children`: instead, that of its
    children that have ended and been waited for (a Prefect worker's finished flow-run processes)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    at = 13 if children else 11  # cutime, cstime (fields 16, 17 of stat(5)); utime, stime (14, 15)
    return (int(fields[at]) + int(fields[at + 1])) / _TICKS


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over every core since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts) - idle) / _TICKS, sum(parts) / _TICKS


@dataclasses.dataclass
class CpuMeter:
    """CPU % of one process over a window: start(), then stop(); RSS sampled by sample() (peak kept)."""
    pid: int
    children: bool = False   # measure the process's ended children (see cpu_seconds), not the process
    cpu0: float = 0.0
    t0: float = 0.0
    cpu_pct: float | None = None
    rss_last: float | None = None
    rss_peak: float = 0.0

    def start(self) -> None:
        self.cpu0, self.t0 = cpu_seconds(self.pid, self.children) or 0.0, time.monotonic()

    def sample(self) -> None:
        rss = rss_mb(self.pid)
        if rss is not None:
            self.rss_last, self.rss_peak = rss, max(self.rss_peak, rss)

    def stop(self) -> None:
        cpu = cpu_seconds(self.pid, self.children)
        self.sample()
        if cpu is not None:
            self.cpu_pct = 100 * (cpu - self.cpu0) / max(1e-9, time.monotonic() - self.t0)


def _admin():
    from sqlalchemy import create_engine

    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database (psycopg URL), dropped on exit even if its users are still connected."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pg_writes(url: str) -> tuple[dict[str, int], int]:
    """({table: rows inserted + updated}, transactions committed) of the database at `url`, as PostgreSQL
    counts them (pg_stat_user_tables, pg_stat_database; both lag a transaction by up to a second)."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        rows = conn.execute("SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables").fetchall()
        xact = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return {name: int(n) for name, n in rows}, int(xact[0])


def pg_connections(url: str) -> tuple[int, int]:
    """(connections to the database at `url` now, the server's max_connections), this probe's own excluded."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND pid <> pg_backend_pid()").fetchone()[0]
        limit = conn.execute("SHOW max_connections").fetchone()[0]
    return int(n), int(limit)


def pg_insert_rate(url: str, seconds: float = 5.0, rows_per_txn: int = 5) -> float:
    """Rows per second one connection inserts into a fills-shaped scratch table in transactions of
    `rows_per_txn` (the live ledger writer commits small batches as its queue fills): this machine's
    PostgreSQL as a reference for the fleet's write rate. The table is dropped afterwards."""
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("CREATE TABLE bench_probe (tid bigint PRIMARY KEY, usr text, coin text, px numeric, "
                     "sz numeric, fee numeric, t timestamptz)")
        conn.commit()
        n, tid, t0 = 0, 0, time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                rows = [(tid + i, "0x" + "ab" * 20, "HYPE", "30.123", "1.5", "0.0012", "2026-12-07T00:00:00Z")
                        for i in range(rows_per_txn)]
                tid += rows_per_txn
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO bench_probe VALUES (%s, %s, %s, %s, %s, %s, %s) "
                                    "ON CONFLICT (tid) DO NOTHING", rows)
                conn.commit()
                n += rows_per_txn
            return n / (time.monotonic() - t0)
        finally:
            conn.rollback()
            conn.execute("DROP TABLE bench_probe")
            conn.commit()


def _libpq(url: str) -> str:
    """A SQLAlchemy psycopg URL as a libpq connection string."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def metric_values(text: str, name: str) -> dict[str, float]:
    """{label set: value} of the Prometheus metric `name` in an exposition `text` ("" for no labels)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            labels = head[len(name):]
            if labels and not labels.startswith("{"):
                continue  # another metric sharing the prefix (name_bucket, name_sum, ...)
            try:
                out[labels] = float(value)
            except ValueError:
                pass
    return out


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..1) of a non-empty list."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))]
