"""Engine monitoring: structured logs without secrets, per-operation timings, a Prometheus endpoint, markouts.

* `Timings` keeps, per operation (feed_decode, strategy, sign, send, ...), cumulative histogram buckets (what
  Prometheus scrapes: `hlmm_op_duration_seconds`) and the last N samples in a ring buffer (p50/p99 for
  `hlmm bench` and tests); the hot path only bisects a bucket and appends a float.
* `setup_logging` writes one JSON object per line. A filter scrubs anything that looks like a private key
  or a long hex secret from every message before it is formatted, so a careless `log.info(..., cfg)`
  cannot leak the key.
* `MetricsServer` serves a *private* registry (prometheus-client's own server in a daemon thread) on the
  address of `[monitoring] metrics_bind`; values are pulled from the engine at scrape time by a custom
  collector. Every metric name and unit is listed in METRICS (documented in docs/operations.md; the Grafana
  dashboard in deployments/grafana/ uses them, and a test checks both against a live scrape).
* `MarkoutRecorder` samples the book mid 1 s, 10 s and 60 s after each of our fills and writes the rows to the
  ledger's `markouts` table (the daily report's markouts): the venue keeps nothing finer than 1-minute
  candles, so only the engine, which holds the live book, can measure them.
"""
from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import json
import logging
import re
import sys
import time
from collections import deque
from decimal import Decimal
from typing import Any, Callable, Iterable

_KEY_RE = re.compile(r"0x[0-9a-fA-F]{64}\b|\b[0-9a-fA-F]{64}\b")


def scrub(text: str) -> str:
    """Replace 32-byte hex strings (private keys; addresses are 20 bytes and stay) with a marker."""
    return _KEY_RE.sub("<redacted>", text)


# Histogram bucket upper bounds in microseconds (exported in seconds): the hot path's operations take tens to
# hundreds of µs, a venue round trip milliseconds, a slow one seconds.
BUCKETS_US = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
              500_000, 1_000_000, 2_500_000, 10_000_000)


class Timings:
    """Per operation: cumulative histogram buckets and sum (everything since start) and a ring buffer of the
    last `size` durations, in microseconds."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._samples: dict[str, deque[float]] = {}
        self.counts: dict[str, int] = {}
        self.buckets: dict[str, list[int]] = {}  # per op: counts per bucket (not cumulative), +Inf last
        self.sums: dict[str, float] = {}

    def add(self, op: str, us: float) -> None:
        buf = self._samples.get(op)
        if buf is None:
            buf = self._samples[op] = deque(maxlen=self.size)
            self.counts[op] = 0
            self.buckets[op] = [0] * (len(BUCKETS_US) + 1)
            self.sums[op] = 0.0
        buf.append(us)
        self.counts[op] += 1
        self.buckets[op][bisect.bisect_left(BUCKETS_US, us)] += 1
        self.sums[op] += us

    def time(self, op: str) -> "_Timer":
        return _Timer(self, op)

    @staticmethod
    def start() -> int:
        """A start mark for `stop` (cheaper than the context manager on the hot path)."""
        return time.perf_counter_ns()

    def stop(self, op: str, t0: int) -> None:
        self.add(op, (time.perf_counter_ns() - t0) / 1_000)

    def percentile(self, op: str, p: float) -> float | None:
        buf = self._samples.get(op)
        if not buf:
            return None
        xs = sorted(buf)
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        return {op: {"count": self.counts[op], "p50_us": self.percentile(op, 0.5),
                     "p99_us": self.percentile(op, 0.99)} for op in sorted(self._samples)}


class _Timer:
    __slots__ = ("timings", "op", "t0")

    def __init__(self, timings: Timings, op: str) -> None:
        self.timings, self.op = timings, op

    def __enter__(self) -> "_Timer":
        self.t0 = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.timings.add(self.op, (time.perf_counter_ns() - self.t0) / 1_000)


class TimedSigner:
    """Wraps a venue `Signer` so every envelope signature is timed as the `sign` operation (the REST client
    calls `signer.envelope(...)`; nothing else of the signer is used on the hot path)."""

    def __init__(self, signer: Any, timings: Timings) -> None:
        self._signer = signer
        self._timings = timings

    def envelope(self, *args: Any, **kwargs: Any) -> dict:
        t0 = time.perf_counter_ns()
        try:
            return self._signer.envelope(*args, **kwargs)
        finally:
            self._timings.add("sign", (time.perf_counter_ns() - t0) / 1_000)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._signer, name)

    def __repr__(self) -> str:
        return f"TimedSigner({self._signer!r})"


# ------------------------------------------------------------------ logging
class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not kill the engine
            msg = str(record.msg)
        record.msg, record.args = scrub(msg), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                               + f".{int(record.msecs):03d}Z", "level": record.levelname,
                               "logger": record.name, "msg": record.getMessage()}
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update({k: v for k, v in extra.items() if k not in out})
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "websockets", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# ------------------------------------------------------------------ Prometheus
# name (as scraped) -> (type, unit, labels, meaning). docs/operations.md lists the same table; a test scrapes a
# live engine and checks that every family below is there and that nothing undocumented is.
METRICS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "hlmm_op_duration_seconds": ("histogram", "seconds", ("op",),
                                 "time per engine operation: feed_decode, strategy, sign, send, ..."),
    "hlmm_events_total": ("counter", "events", ("event",),
                          "engine events: requotes, plans_sent, fill_events, book_events, resyncs, kill_cancels, ..."),
    "hlmm_exec_total": ("counter", "actions/orders", ("stat",),
                        "executor: actions, orders_sent, alo_rejects, rate_limited, errors, outcome_*"),
    "hlmm_venue_requests_total": ("counter", "requests", ("kind",),
                                  "REST info/actions/retries/ambiguous, WS msgs/reconnects/malformed"),
    "hlmm_open_orders": ("gauge", "orders", (), "our live orders"),
    "hlmm_kill_switch": ("gauge", "0/1", (), "1 while the kill switch is engaged"),
    "hlmm_market_quoting": ("gauge", "0/1", ("market", "status"),
                            "1 for the market's current status (quoting, paused: ..., killed, starting)"),
    "hlmm_position": ("gauge", "coin units", ("coin",), "signed position per leg (spot: base balance)"),
    "hlmm_equity_usd": ("gauge", "USD", (), "account equity at the newest equity mark (spot at mid + perp value)"),
    "hlmm_equity_peak_usd": ("gauge", "USD", (), "today's peak equity (drawdown reference)"),
    "hlmm_ip_weight_remaining": ("gauge", "weight", (), "REST IP-weight left in the bucket this minute"),
    "hlmm_ip_weight_capacity": ("gauge", "weight/min", (), "the bucket's capacity (limits.ip_weight_per_min)"),
    "hlmm_address_budget_remaining": ("gauge", "requests", (), "the venue's per-address request budget left"),
    "hlmm_deadman_fires_today": ("gauge", "fires", (), "scheduleCancel fires today (the venue allows 10)"),
    "hlmm_heartbeat_timestamp_seconds": ("gauge", "unix seconds", (), "when the engine last marked equity"),
}
_COUNTER_GROUPS = {"engine_": "hlmm_events", "exec_": "hlmm_exec", "rest_": "hlmm_venue_requests",
                   "feed_": "hlmm_venue_requests"}
_GAUGES = {"open_orders": "hlmm_open_orders", "kill_switch": "hlmm_kill_switch",
           "ip_weight_level": "hlmm_ip_weight_remaining", "ip_weight_capacity": "hlmm_ip_weight_capacity",
           "address_budget_remaining": "hlmm_address_budget_remaining",
           "deadman_fires_today": "hlmm_deadman_fires_today", "equity_usd": "hlmm_equity_usd",
           "equity_peak_usd": "hlmm_equity_peak_usd", "heartbeat_s": "hlmm_heartbeat_timestamp_seconds"}


class _EngineCollector:
    """Pulls a snapshot from the engine at scrape time (engine.runtime.snapshot)."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], timings: "Timings | None" = None) -> None:
        self._snapshot = snapshot
        self._timings = timings

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        def doc(name: str) -> str:
            kind, unit, _labels, meaning = METRICS[name]
            return f"{meaning} ({unit})"

        snap = self._snapshot()
        if self._timings is not None:
            hist = HistogramMetricFamily("hlmm_op_duration_seconds", doc("hlmm_op_duration_seconds"), labels=["op"])
            t = self._timings
            for op in sorted(t.buckets):
                cumulative, acc = [], 0
                for bound, n in zip((*BUCKETS_US, float("inf")), t.buckets[op]):
                    acc += n
                    cumulative.append(("+Inf" if bound == float("inf") else repr(bound / 1e6), acc))
                hist.add_metric([op], cumulative, sum_value=t.sums[op] / 1e6)
            yield hist
        counters = {name: CounterMetricFamily(name, doc(name + "_total"), labels=[METRICS[name + "_total"][2][0]])
                    for name in sorted(set(_COUNTER_GROUPS.values()))}
        gauges = snap.get("gauges", {})
        for key, value in gauges.items():
            prefix = next((p for p in _COUNTER_GROUPS if key.startswith(p)), None)
            if prefix is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                label = key if prefix in ("rest_", "feed_") else key[len(prefix):]
                counters[_COUNTER_GROUPS[prefix]].add_metric([label], float(value))
        yield from counters.values()
        for key, name in _GAUGES.items():
            value = gauges.get(key)
            if value is not None:
                g = GaugeMetricFamily(name, doc(name))
                g.add_metric([], float(value))
                yield g
        quoting = GaugeMetricFamily("hlmm_market_quoting", doc("hlmm_market_quoting"), labels=["market", "status"])
        for market, status in snap.get("markets", {}).items():
            quoting.add_metric([market, str(status).split(":")[0]], 1.0)
        yield quoting
        per_coin = GaugeMetricFamily("hlmm_position", doc("hlmm_position"), labels=["coin"])
        for coin, qty in snap.get("positions", {}).items():
            per_coin.add_metric([coin], float(qty))
        yield per_coin


def parse_bind(value: str, field: str = "monitoring.metrics_bind") -> tuple[str, int]:
    """"HOST:PORT" -> (host, port); errors name the key."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{field}: expected HOST:PORT (e.g. 127.0.0.1:9108), got {value!r}")
    return host.strip("[]"), int(port)


class MetricsServer:
    """`start()` binds addr:port (127.0.0.1 by default); `port=0` picks a free port (tests)."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], port: int, addr: str = "127.0.0.1",
                 timings: "Timings | None" = None) -> None:
        self.snapshot, self.port, self.addr, self.timings = snapshot, port, addr, timings
        self._server: Any = None

    def start(self) -> int:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_EngineCollector(self.snapshot, self.timings))
        self._server, _thread = start_http_server(self.port, addr=self.addr, registry=registry)
        self.port = self._server.server_port
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# ------------------------------------------------------------------ markouts
MARKOUT_HORIZONS_S = ((1, "mid_1s"), (10, "mid_10s"), (60, "mid_60s"))


class MarkoutRecorder:
    """The mid at each of our fills and 1 / 10 / 60 s after it, written to the ledger's `markouts` table.

    `on_fill` (feed handler, hot path) stores a dict and arms three loop timers. Rows are written as their
    samples come in (an upsert that fills empty columns), at most every `flush_s`, on a worker thread, so a
    report sees a fill's 1 s and 10 s markouts before its 60 s one exists. `mid(coin)` is the engine's
    current book mid (None without a fresh book: that sample stays empty). Live and paper only: a backtest has
    no wall clock for these timers to mean anything."""

    def __init__(self, ledger_url: str, user: str, mid: Callable[[str], float | None], flush_s: float = 2.0,
                 horizons: tuple[tuple[float, str], ...] = MARKOUT_HORIZONS_S) -> None:
        self.ledger_url, self.user, self.mid, self.flush_s, self.horizons = ledger_url, user, mid, flush_s, horizons
        self._open: dict[tuple[str, int], dict[str, Any]] = {}
        self._dirty: dict[tuple[str, int], dict[str, Any]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self._flush: asyncio.TimerHandle | None = None
        self._db: Any = None
        self.written = 0

    @staticmethod
    def _dec(x: float | None) -> Decimal | None:
        return None if x is None else Decimal(repr(x))

    def on_fill(self, fill: Any) -> None:
        key = (fill.coin, int(fill.tid))
        if key in self._open:
            return
        row = self._open[key] = {
            "coin": fill.coin, "tid": int(fill.tid), "side": fill.side, "px": fill.px, "sz": fill.sz,
            "crossed": bool(fill.crossed), "mid_0": self._dec(self.mid(fill.coin)),
            "time": dt.datetime.fromtimestamp(int(fill.time) / 1000, tz=dt.timezone.utc)}
        loop = asyncio.get_running_loop()
        self._timers = [h for h in self._timers if not h.cancelled() and h.when() > loop.time()]
        for seconds, column in self.horizons:
            self._timers.append(loop.call_later(seconds, self._sample, key, column))
        self._changed(key, row)

    def _sample(self, key: tuple[str, int], column: str) -> None:
        row = self._open.get(key)
        if row is None:
            return
        row[column] = self._dec(self.mid(row["coin"]))
        if column == self.horizons[-1][1]:
            self._open.pop(key)
        self._changed(key, row)

    def _changed(self, key: tuple[str, int], row: dict[str, Any]) -> None:
        self._dirty[key] = row
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.flush_s, self._write_dirty)

    def _write_dirty(self) -> None:
        self._flush = None
        rows = [dict(r) for r in self._dirty.values()]
        self._dirty = {}
        if rows:
            asyncio.get_running_loop().run_in_executor(None, self._write, rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        from engine.ledger.db import make_engine, session_scope
        from engine.ledger.repo_ops import record_markouts

        try:
            if self._db is None:
                self._db = make_engine(self.ledger_url)
            with session_scope(self._db) as s:
                self.written += record_markouts(s, self.user, rows)
        except Exception as exc:  # noqa: BLE001 - monitoring must never take the engine down
            logging.getLogger(__name__).warning("markouts not written (%d rows): %s: %s", len(rows),
                                                type(exc).__name__, exc)

    def close(self) -> None:
        """Write everything measured so far (fills younger than 60 s keep the samples they have)."""
        for h in self._timers + ([self._flush] if self._flush else []):
            h.cancel()
        rows = [dict(r) for r in {**self._dirty, **self._open}.values()]
        self._dirty, self._open, self._timers, self._flush = {}, {}, [], None
        if rows:
            self._write(rows)
        if self._db is not None:
            self._db.dispose()
