"""Ledger I/O off the hot path: producers enqueue, a writer drains in batches; reads are plain blocking calls.

The engine's loop only appends to a queue (microseconds). Two ways to drain it:

* `threaded=True` (live trading): a writer thread drains the queue as it fills;
* `threaded=False` (backtests): nothing runs concurrently; the queue is written when it reaches `batch_max`
  rows and on `flush()`, inline on the caller's thread, so a run is deterministic and never shares the GIL.

Each batch is written in one transaction per kind: fills and funding together (idempotent upserts, so
re-sending after a resync or a restart never duplicates), then all order states of the batch in one upsert
(the newest state per cloid wins), then marks, params and controls. When a transaction fails, that kind's
rows are retried one by one, so one bad row is logged and counted and the others are still written. A failed
write is not retried later: the venue remains the source of truth, fills and funding are re-ingested at the
next resync/backfill and the ledger audit flow repairs gaps.

Reads (`read_controls`, `read_params`, ...) are blocking functions the loop calls through
`loop.run_in_executor`; in inline mode they flush first, so the engine reads its own writes.
"""
from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from engine.ledger.kinds import ControlKind

log = logging.getLogger(__name__)


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
    def __init__(self, url: str, user: str, batch_max: int | None = None, threaded: bool = True,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        """`batch_max`: rows per transaction (default 500 threaded; 20,000 inline, where a bigger batch lets
        the many states of one order collapse into one row before anything is written)."""
        # imported here, on the caller's thread: the writer and reader threads importing SQLAlchemy's
        # dialect modules for the first time at once can trip over a half-initialised module
        from engine.ledger import repo  # noqa: F401
        from engine.ledger.db import make_engine

        self.url = url
        self.user = user.lower()
        self.engine = make_engine(url)
        self.batch_max = batch_max or (500 if threaded else 20_000)
        self.threaded = threaded
        self._controls_pending = False  # inline mode: a control/param write a read must see first
        self._now = now or _utc  # the time stamped on params/controls (the engine's clock in a backtest)
        self._q: queue.Queue = queue.Queue()
        self._pending: list[tuple[str, Any]] = []  # inline mode's queue
        self._thread: threading.Thread | None = None
        self._stop = object()
        self.stats = {"fills": 0, "funding": 0, "orders": 0, "marks": 0, "errors": 0, "batches": 0}
        self.write_s = 0.0  # wall time spent writing batches (a backtest's timing phases split it out)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.threaded and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hlmm-ledger-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._q.put(self._stop)
            self._thread.join(timeout)
            self._thread = None
        self.flush()
        self.engine.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is written (tests, reads, shutdown)."""
        if not self.threaded or self._thread is None:
            while self._pending:
                batch, self._pending = self._pending[:self.batch_max], self._pending[self.batch_max:]
                self._write(batch)
            return True
        done = threading.Event()
        self._q.put(done)
        return done.wait(timeout)

    # ------------------------------------------------------------ producers (hot path: never block)
    def _put(self, item: tuple[str, Any]) -> None:
        if self.threaded and self._thread is not None:
            self._q.put_nowait(item)
            return
        self._pending.append(item)
        if len(self._pending) >= self.batch_max:
            self.flush()

    def fills(self, rows: list[dict]) -> None:
        if rows:
            self._put(("fills", rows))

    def funding(self, rows: list[dict]) -> None:
        if rows:
            self._put(("funding", rows))

    def order(self, row: dict) -> None:
        """One order state: {time_ms, cloid, oid, coin, side, px, sz, tif, status, reason, reduce_only}."""
        self._put(("order", row))

    def equity_mark(self, row: dict) -> None:
        self._put(("mark", row))

    def control(self, kind: ControlKind, value: Any, who: str, why: str, active: bool = True) -> None:
        self._controls_pending = True
        self._put(("control", (kind, value, who, why, active)))

    def param(self, key: str, value: Any, why: str) -> None:
        self._controls_pending = True
        self._put(("param", (key, value, why)))

    # ------------------------------------------------------------ writer
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
        t0 = time.perf_counter()
        try:
            self._write_batch(work)
        finally:
            self.write_s += time.perf_counter() - t0

    def _write_batch(self, work: list[tuple[str, Any]]) -> None:
        from engine.ledger import repo

        self.stats["batches"] += 1
        fills = [r for kind, rows in work if kind == "fills" for r in rows]
        funding = [r for kind, rows in work if kind == "funding" for r in rows]
        if fills:
            self._transact("fills", fills, lambda s, rows: repo.upsert_fills(s, self.user, rows))
        if funding:
            self._transact("funding", funding, lambda s, rows: repo.upsert_funding(s, self.user, rows))
        orders = [row for kind, row in work if kind == "order"]  # time_ms: converted after merging, per cloid
        if orders:
            self._transact("orders", orders, lambda s, rows: repo.upsert_orders(s, self.user, rows))
        others = [(kind, row) for kind, row in work if kind in ("mark", "param", "control")]
        if others:
            self._transact("marks", others, self._write_others)

    def _transact(self, what: str, rows: list, write: Callable[[Any, list], Any]) -> None:
        """Write `rows` in one transaction; on failure retry each row alone so the good ones still land."""
        from engine.ledger.db import session_scope

        try:
            with session_scope(self.engine) as s:
                n = write(s, rows)
            self.stats[what] += n if isinstance(n, int) else len(rows)
            return
        except Exception:  # noqa: BLE001 - one bad row must not lose the batch: retried row by row below
            if len(rows) == 1:
                self.stats["errors"] += 1
                log.exception("ledger write of one %s row failed", what)
                return
        for row in rows:
            self._transact(what, [row], write)

    def _write_others(self, s: Any, rows: list[tuple[str, Any]]) -> int:
        """Equity marks, params and controls; returns the number of marks."""
        from engine.ledger import repo

        marks = repo.record_equity_marks(s, self.user, [{**row, "time": _utc(row["time_ms"])}
                                                         for kind, row in rows if kind == "mark"], source="engine")
        for kind, row in rows:
            if kind == "mark":
                continue
            if kind == "param":
                key, value, why = row
                repo.set_param(s, key, value, written_by="engine", time=self._now(), reason=why, account=self.user)
            else:
                ckind, value, who, why, active = row
                if active:
                    repo.set_control(s, str(ckind), value, who=who, why=why, time=self._now(), account=self.user)
                else:
                    repo.clear_control(s, str(ckind), who=who, why=why, time=self._now(), account=self.user)
        return marks

    # ------------------------------------------------------------ reads (call via run_in_executor)
    def _read_own_writes(self) -> None:
        """Inline mode: controls and params written by the engine are on disk before it reads them back."""
        if not self.threaded and self._controls_pending:
            self._controls_pending = False
            self.flush()

    def read_controls(self) -> Controls:
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        self._read_own_writes()
        with session_scope(self.engine) as s:
            rows = repo.active_controls(s, account=self.user)
            kill = None
            paused: set[str] = set()
            carry: dict[str, float] = {}
            for c in rows:
                data = c.data
                if c.kind == ControlKind.KILL_SWITCH.value and _truthy(data):
                    kill = (c.who, c.why)
                elif c.kind == ControlKind.PAUSE.value and _truthy(data):
                    paused.add(c.scope)
                elif c.kind == ControlKind.CARRY_TARGET.value and isinstance(data, dict) and "coin" in data:
                    try:
                        carry[str(data["coin"])] = float(data.get("notional_usd", 0))
                    except (TypeError, ValueError):
                        log.warning("carry_target control %s: bad notional_usd %r", c.id, data.get("notional_usd"))
            return Controls(kill, frozenset(paused), carry or None)

    def read_params(self, coins: list[str]) -> dict[str, dict]:
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        self._read_own_writes()
        with session_scope(self.engine) as s:
            # regime.<COIN> (vol_regime: spread_multiplier) and calibration.<COIN> (calibrate: [strategy] keys,
            # returned under "calibration"), this account's rows or every account's
            rows = repo.latest_params(s, keys=[f"{k}.{c}" for c in coins for k in ("regime", "calibration")],
                                      account=self.user)
            out: dict[str, dict] = {}
            for key, p in rows.items():
                data = p.data
                kind, coin = key.split(".", 1)
                if isinstance(data, dict):
                    out.setdefault(coin, {}).update(data if kind == "regime" else {"calibration": data})
            return out

    def read_param(self, key: str) -> Any:
        """The newest value of one params key, or None."""
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        self._read_own_writes()
        with session_scope(self.engine) as s:
            p = repo.latest_param(s, key, account=self.user)
            return None if p is None else p.data

    def peak_equity_today(self, now_ms: int | None = None) -> tuple[float | None, float | None]:
        """(peak, first) total equity marked today by the engine (drawdown reference)."""
        from engine.ledger import repo
        from engine.ledger.db import session_scope

        self._read_own_writes()
        now = _utc(now_ms)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with session_scope(self.engine) as s:
            marks = repo.equity_curve(s, start, now + dt.timedelta(seconds=1), user=self.user)
            eq = [float(m.equity) for m in marks]
            return (max(eq) if eq else None, eq[0] if eq else None)
