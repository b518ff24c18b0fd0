"""Engine monitoring: structured logs without secrets, per-operation timings, a local Prometheus endpoint.

* `Timings` keeps the last N samples per operation (feed_decode, strategy, sign, send, ...) in a ring
  buffer; p50/p99 are computed on demand (scrapes, `status`), never on the hot path.
* `setup_logging` writes one JSON object per line. A filter scrubs anything that looks like a private key
  or a long hex secret from every message before it is formatted, so a careless `log.info(..., cfg)`
  cannot leak the key.
* `MetricsServer` serves a *private* registry on 127.0.0.1 by default (prometheus-client's own server in a
  daemon thread); values are pulled from the engine at scrape time by a custom collector, so the hot path
  only appends floats to lists.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections import deque
from typing import Any, Callable, Iterable

_KEY_RE = re.compile(r"0x[0-9a-fA-F]{64}\b|\b[0-9a-fA-F]{64}\b")


def scrub(text: str) -> str:
    """Replace 32-byte hex strings (private keys; addresses are 20 bytes and stay) with a marker."""
    return _KEY_RE.sub("<redacted>", text)


class Timings:
    """Ring buffers of durations in microseconds, one per operation name."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._samples: dict[str, deque[float]] = {}
        self.counts: dict[str, int] = {}

    def add(self, op: str, us: float) -> None:
        buf = self._samples.get(op)
        if buf is None:
            buf = self._samples[op] = deque(maxlen=self.size)
            self.counts[op] = 0
        buf.append(us)
        self.counts[op] += 1

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
class _EngineCollector:
    """Pulls a flat snapshot from the engine at scrape time."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        snap = self._snapshot()
        timing = GaugeMetricFamily("hlmm_op_latency_us", "operation latency percentiles (microseconds)",
                                   labels=["op", "quantile"])
        count = GaugeMetricFamily("hlmm_op_count", "operations timed", labels=["op"])
        for op, s in snap.get("timings", {}).items():
            count.add_metric([op], s["count"])
            for q, key in (("0.5", "p50_us"), ("0.99", "p99_us")):
                if s[key] is not None:
                    timing.add_metric([op, q], s[key])
        yield timing
        yield count
        cache = GaugeMetricFamily("hlmm_cache", "TTL cache statistics", labels=["cache", "stat"])
        for name, stats in snap.get("caches", {}).items():
            for stat, value in stats.items():
                cache.add_metric([name, stat], float(value))
        yield cache
        for name, value in snap.get("gauges", {}).items():
            if value is None:
                continue
            g = GaugeMetricFamily(f"hlmm_{name}", name.replace("_", " "))
            g.add_metric([], float(value))
            yield g
        per_coin = GaugeMetricFamily("hlmm_position", "signed position per coin", labels=["coin"])
        for coin, qty in snap.get("positions", {}).items():
            per_coin.add_metric([coin], float(qty))
        yield per_coin


class MetricsServer:
    """`start()` binds 127.0.0.1:port unless told otherwise; `port=0` picks a free port (tests)."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], port: int, addr: str = "127.0.0.1") -> None:
        self.snapshot, self.port, self.addr = snapshot, port, addr
        self._server: Any = None

    def start(self) -> int:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_EngineCollector(self.snapshot))
        self._server, _thread = start_http_server(self.port, addr=self.addr, registry=registry)
        self.port = self._server.server_port
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
