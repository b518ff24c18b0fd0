"""Ledger I/O off the hot path: one writer thread fed by a queue, and reads run in a worker thread.

The asyncio loop only does `queue.put_nowait` (microseconds). The writer thread drains the queue in
batches: fills and funding of a batch go in one transaction through `engine.ledger.repo` (idempotent upserts,
so re-sending after a resync or a restart never duplicates); orders, marks and controls each in their own,
so one bad row cannot take the fills down with it. A failed write is logged and counted, not retried: the
venue remains the source of truth, fills and funding are re-ingested at the next resync/backfill and the
ledger audit flow repairs gaps.

Reads (`read_controls`, `read_params`) are plain blocking functions the loop calls through
`loop.run_in_executor`, at most once a second.
"""
from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
KILL_SWITCH = "kill_switch"
PAUSE = "pause"
CARRY_TARGET = "carry_target"


@dataclass(frozen=True, slots=True)
class Controls:
    kill: tuple[str, str] | None = None  # (who, why) when the kill switch is engaged
    paused: frozenset[str] = frozenset()  # scopes paused ('*' = everything)
    carry_notional: dict[str, float] | None = None  # coin -> USD target from the rebalance flow


def _utc(ms: int | None = None) -> dt.datetime:
    if ms is None:
        return dt.datetime.now(dt.timezone.utc)
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def _truthy(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("active", value.get("value", True)))
    return bool(value)


class LedgerWriter:
    def __init__(self, url: str, user: str, batch_max: int = 500) -> None:
        # imported here, on the caller's thread: the writer and reader threads importing SQLAlchemy's
        # dialect modules for the first time at once can trip over a half-initialised module
        from engine.ledger import repo  # noqa: F401
        from engine.ledger.db import make_engine

        self.url = url
        self.user = user.lower()
        self.engine = make_engine(url)
        self.batch_max = batch_max
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = object()
        self.stats = {"fills": 0, "funding": 0, "orders": 0, "marks": 0, "errors": 0, "batches": 0}

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hlmm-ledger-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._q.put(self._stop)
            self._thread.join(timeout)
            self._thread = None
        self.engine.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is written (tests, shutdown)."""
        done = threading.Event()
        self._q.put(done)
        return done.wait(timeout)

    # ------------------------------------------------------------ producers (hot path: never block)
    def fills(self, rows: list[dict]) -> None:
        if rows:
            self._q.put_nowait(("fills", rows))

    def funding(self, rows: list[dict]) -> None:
        if rows:
            self._q.put_nowait(("funding", rows))

    def order(self, row: dict) -> None:
        self._q.put_nowait(("order", row))

    def equity_mark(self, row: dict) -> None:
        self._q.put_nowait(("mark", row))

    def control(self, kind: str, value: Any, who: str, why: str, active: bool = True) -> None:
        self._q.put_nowait(("control", (kind, value, who, why, active)))

    def param(self, key: str, value: Any, why: str) -> None:
        self._q.put_nowait(("param", (key, value, why)))

    # ------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            item = self._q.get()
            batch = [item]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            events = [b for b in batch if isinstance(b, threading.Event)]
            work = [b for b in batch if isinstance(b, tuple)]
            if work:
                self._write(work)
            for e in events:
                e.set()
            if any(b is self._stop for b in batch):
                return

    def _write(self, work: list[tuple[str, Any]]) -> None:
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        self.stats["batches"] += 1
        fills = [r for kind, rows in work if kind == "fills" for r in rows]
        funding = [r for kind, rows in work if kind == "funding" for r in rows]
        if fills or funding:
            try:
                with session_scope(self.engine) as s:
                    if fills:
                        self.stats["fills"] += repo.upsert_fills(s, self.user, fills)
                    if funding:
                        self.stats["funding"] += repo.upsert_funding(s, self.user, funding)
            except Exception:
                self.stats["errors"] += 1
                log.exception("ledger write of %d fills / %d funding rows failed", len(fills), len(funding))
        for kind, row in work:
            if kind in ("fills", "funding"):
                continue
            try:
                with session_scope(self.engine) as s:
                    if kind == "order":
                        self._write_order(s, repo, row)
                    elif kind == "mark":
                        repo.record_equity_mark(s, time=_utc(row["time_ms"]), spot_value=row["spot_value"],
                                                perp_account_value=row["perp_account_value"],
                                                unrealized=row.get("unrealized"), net_delta=row.get("net_delta"),
                                                coin=row.get("coin", "*"), user=self.user, source="engine")
                        self.stats["marks"] += 1
                    elif kind == "param":
                        key, value, why = row
                        repo.set_param(s, key, value, written_by="engine", time=_utc(), reason=why)
                    elif kind == "control":
                        ckind, value, who, why, active = row
                        if active:
                            repo.set_control(s, ckind, value, who=who, why=why, time=_utc())
                        else:
                            repo.clear_control(s, ckind, who=who, why=why, time=_utc())
            except Exception:
                self.stats["errors"] += 1
                log.exception("ledger write of one %s failed", kind)

    def _write_order(self, s: Any, repo: Any, row: dict) -> None:
        t = _utc(row["time_ms"])
        status = row["status"]
        cloid = row.get("cloid")
        if status in ("cancel", "cancel_failed", "replaced", "modify_failed"):  # an order recorded earlier
            if cloid or row.get("oid") is not None:
                repo.update_order_status(s, user=self.user, status="canceled" if status == "cancel" else status,
                                         time=t, cloid=cloid, oid=None if cloid else row.get("oid"))
            return
        if cloid is not None:
            repo.record_order(s, user=self.user, coin=row["coin"], side=row["side"], px=row["px"], sz=row["sz"],
                              tif=row.get("tif") or "Alo", time=t, cloid=cloid, oid=row.get("oid"),
                              status=status[:32], reduce_only=bool(row.get("reduce_only", False)),
                              reason=row.get("reason"))
            repo.update_order_status(s, user=self.user, status=status[:32], time=t, cloid=cloid, oid=row.get("oid"),
                                     reason=row.get("reason"))
        self.stats["orders"] += 1

    # ------------------------------------------------------------ reads (call via run_in_executor)
    def read_controls(self) -> Controls:
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        with session_scope(self.engine) as s:
            rows = repo.active_controls(s)
            kill = None
            paused: set[str] = set()
            carry: dict[str, float] = {}
            for c in rows:
                data = c.data
                if c.kind == KILL_SWITCH and _truthy(data):
                    kill = (c.who, c.why)
                elif c.kind == PAUSE and _truthy(data):
                    paused.add(c.scope)
                elif c.kind == CARRY_TARGET and isinstance(data, dict) and "coin" in data:
                    try:
                        carry[str(data["coin"])] = float(data.get("notional_usd", 0))
                    except (TypeError, ValueError):
                        log.warning("carry_target control %s: bad notional_usd %r", c.id, data.get("notional_usd"))
            return Controls(kill, frozenset(paused), carry or None)

    def read_params(self, coins: list[str]) -> dict[str, dict]:
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        with session_scope(self.engine) as s:
            rows = repo.latest_params(s, keys=[f"regime.{c}" for c in coins])
            out = {}
            for key, p in rows.items():
                data = p.data
                if isinstance(data, dict):
                    out[key.split(".", 1)[1]] = data
            return out

    def read_param(self, key: str) -> Any:
        """The newest value of one params key, or None."""
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        with session_scope(self.engine) as s:
            p = repo.latest_param(s, key)
            return None if p is None else p.data

    def peak_equity_today(self) -> tuple[float | None, float | None]:
        """(peak, first) total equity marked today by the engine (drawdown reference)."""
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        now = _utc()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with session_scope(self.engine) as s:
            marks = repo.equity_curve(s, start, now + dt.timedelta(seconds=1), user=self.user)
            eq = [float(m.equity) for m in marks]
            return (max(eq) if eq else None, eq[0] if eq else None)
