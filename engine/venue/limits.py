"""Client-side limits (protocol §3, §9): IP weight bucket, per-address action budget, open-order cap, nonces.

All time comes from an injected `now_ms()` callable so the arithmetic is testable without sleeping; only
`IpWeightBucket.acquire` waits, through an injectable async sleep.
"""
from __future__ import annotations

import asyncio
import fcntl
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from engine.clock import WallClock

NowMs = Callable[[], int]

# ---------------------------------------------------------------- weights (§3, §9)
IP_WEIGHT_PER_MIN = 1200
_INFO_WEIGHT_2 = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
                            "exchangeStatus"})
_INFO_WEIGHT_60 = frozenset({"userRole"})
# info types whose replies cost extra per returned row, and the row divisor
_PER_ROW = {"userFills": 20, "userFillsByTime": 20, "userFunding": 20, "fundingHistory": 20,
            "historicalOrders": 20, "userNonFundingLedgerUpdates": 20, "userTwapSliceFills": 20,
            "candleSnapshot": 60}


def info_weight(info_type: str) -> int:
    """Weight charged before sending an /info request of this type."""
    if info_type in _INFO_WEIGHT_2:
        return 2
    if info_type in _INFO_WEIGHT_60:
        return 60
    return 20


def info_surcharge(info_type: str, n_rows: int) -> int:
    """Extra weight known only after the reply: 1 per 20 rows (histories) or per 60 (candles)."""
    div = _PER_ROW.get(info_type)
    return n_rows // div if div and n_rows > 0 else 0


def exchange_weight(batch_len: int) -> int:
    """Every /exchange action: 1 + floor(batch length / 40)."""
    return 1 + max(0, batch_len) // 40


def action_batch_len(action: dict) -> int:
    """Number of orders/cancels an action carries (what counts against weight and address budget)."""
    for key in ("orders", "cancels", "modifies"):
        v = action.get(key)
        if isinstance(v, list):
            return len(v)
    return 1


# ---------------------------------------------------------------- IP weight bucket
class IpWeightBucket:
    """Token bucket of `capacity` weight refilled linearly over `period_ms` (1200 per minute).

    `try_take` never blocks: it returns 0 when the weight was taken, else the ms to wait. Surcharges learned
    after a reply are `charge`d and may drive the level negative (debt), delaying later requests — that is
    how the server counts too. An HTTP 429 calls `on_429`, which empties the bucket so we back off.
    """

    def __init__(self, capacity: float = IP_WEIGHT_PER_MIN, period_ms: int = 60_000,
                 now_ms: NowMs | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, reserve: float = 0.05) -> None:
        """`reserve`: the share of the capacity only priority requests may use (cancels and the dead man's
        switch: pulling quotes and re-arming must never wait behind quoting)."""
        if capacity <= 0 or period_ms <= 0:
            raise ValueError("capacity and period_ms must be > 0")
        if not 0 <= reserve < 1:
            raise ValueError(f"reserve must be in [0, 1), got {reserve}")
        self.capacity = float(capacity)
        self.reserve = self.capacity * reserve
        self.rate_per_ms = self.capacity / period_ms
        self._now = now_ms or WallClock().now_ms
        self._sleep = sleep
        self._level = self.capacity
        self._at = self._now()
        self._lock = threading.Lock()
        self.taken = 0.0
        self.throttled = 0

    def _refill(self) -> None:
        now = self._now()
        if now > self._at:
            self._level = min(self.capacity, self._level + (now - self._at) * self.rate_per_ms)
            self._at = now

    @property
    def level(self) -> float:
        with self._lock:
            self._refill()
            return self._level

    def try_take(self, weight: float, priority: bool = False) -> float:
        """Take `weight` now (returns 0) or say how many ms to wait. Ordinary requests leave the reserve
        alone; priority ones may use all of it."""
        if weight > self.capacity:
            raise ValueError(f"weight {weight} exceeds bucket capacity {self.capacity}")
        # ordinary requests leave the reserve alone (but a request bigger than what the reserve leaves over
        # can still go once the bucket is full)
        floor = 0.0 if priority else min(self.reserve, self.capacity - weight)
        with self._lock:
            self._refill()
            if self._level - floor >= weight:
                self._level -= weight
                self.taken += weight
                return 0.0
            return math.ceil((weight + floor - self._level) / self.rate_per_ms)

    def charge(self, weight: float) -> None:
        """Weight learned after the fact (per-row surcharges); may go into debt."""
        if weight <= 0:
            return
        with self._lock:
            self._refill()
            self._level -= weight
            self.taken += weight

    def on_429(self) -> None:
        with self._lock:
            self._refill()
            self._level = min(self._level, 0.0)

    async def acquire(self, weight: float, priority: bool = False) -> None:
        await take_weight(self, weight, priority)


async def take_weight(bucket: Any, weight: float, priority: bool = False) -> None:
    """Wait until `bucket` (this process's or the host's shared one) gives `weight`, counting each wait."""
    while True:
        wait_ms = bucket.try_take(weight, priority)
        if not wait_ms:
            return
        bucket.throttled += 1
        await bucket._sleep(wait_ms / 1000)


# ---------------------------------------------------------------- per-address action budget
_BUDGET_RE = re.compile(r"Too many cumulative requests sent \((\d+) > (\d+)\)")


@dataclass
class AddressBudget:
    """Requests cap = 10 000 + 1 per USDC of lifetime volume; each order/cancel in a batch counts 1.

    Cancels get the larger cap min(cap + 100 000, 2·cap) so we can always pull quotes. When exhausted the
    venue lets one request through per ~10 s. `refresh` takes a `userRateLimit` reply (the venue's truth);
    between refreshes we count locally.
    """
    used: int = 0
    cap: int = 10_000
    exhausted_interval_ms: int = 10_000
    _last_exhausted_send: int | None = None

    def refresh(self, user_rate_limit: dict) -> None:
        try:
            self.used = int(user_rate_limit["nRequestsUsed"])
            self.cap = int(user_rate_limit["nRequestsCap"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"userRateLimit reply missing/invalid field: {exc!r} in {user_rate_limit!r}") from None

    @staticmethod
    def cap_for_volume(cum_vlm: float) -> int:
        return 10_000 + int(cum_vlm)

    def cancel_cap(self) -> int:
        return min(self.cap + 100_000, 2 * self.cap)

    def remaining(self, is_cancel: bool = False) -> int:
        return (self.cancel_cap() if is_cancel else self.cap) - self.used

    def allows(self, n: int, now_ms: int, is_cancel: bool = False) -> bool:
        if self.used + n <= (self.cancel_cap() if is_cancel else self.cap):
            return True
        last = self._last_exhausted_send
        return last is None or now_ms - last >= self.exhausted_interval_ms

    def on_refusal(self, message: str, now_ms: int) -> None:
        """The venue refused with "Too many cumulative requests sent (USED > CAP) …": adopt its numbers and
        start the one-per-10 s regime from now."""
        m = _BUDGET_RE.search(message or "")
        if m:
            self.used, self.cap = int(m.group(1)), int(m.group(2))
        else:
            self.used = max(self.used, self.cap + 1)
        self._last_exhausted_send = now_ms

    def record(self, n: int, now_ms: int, is_cancel: bool = False) -> None:
        if self.used + n > (self.cancel_cap() if is_cancel else self.cap):
            self._last_exhausted_send = now_ms
        self.used += n


# ---------------------------------------------------------------- open-order cap
def open_order_cap(cum_vlm: float) -> int:
    """1000 + 1 per $5M traded, at most 5000 (§7)."""
    return min(5000, 1000 + int(cum_vlm // 5_000_000))


@dataclass
class OpenOrderCap:
    cap: int = 1000
    open: int = 0

    def room(self) -> int:
        return max(0, self.cap - self.open)

    def can_place(self, n: int) -> bool:
        return self.open + n <= self.cap


# ---------------------------------------------------------------- nonces
class NonceManager:
    """Strictly increasing, ms-based nonces, unique across threads, asyncio tasks and process restarts.

    nonce = max(now_ms, last + 1). The file holds a *reserved* high-water mark: before handing out a nonce
    above it we write `nonce + block_ms` (atomic replace + fsync, under an flock), so a crash can never lead a
    new process to reuse a nonce, and only one fsync happens per `block_ms` of nonces instead of per nonce.
    A new process — or one that finds the file moved on by another process holding the same file — starts
    after the reserved mark. `block_ms` keeps us within the venue's window (≤ 1 day ahead).
    """

    def __init__(self, path: str | os.PathLike | None = None, now_ms: NowMs | None = None,
                 block_ms: int = 10_000) -> None:
        if not 1 <= block_ms <= 3_600_000:
            raise ValueError(f"block_ms must be in 1..3600000, got {block_ms}")
        self._now = now_ms or WallClock().now_ms
        self._path = Path(path) if path is not None else None
        self._block = block_ms
        self._lock = threading.Lock()
        self._last = 0
        self._reserved = 0
        self.fsyncs = 0
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._file_lock():
                stored = self._read()
            self._last = stored
            self._reserved = stored

    def _file_lock(self):
        assert self._path is not None
        lock_path = self._path.with_name(self._path.name + ".lock")
        return _Flock(lock_path)

    def _read(self) -> int:
        assert self._path is not None
        try:
            text = self._path.read_text().strip()
        except FileNotFoundError:
            return 0
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"nonce file {self._path} is corrupt: {text[:40]!r}") from None

    def _write(self, value: int) -> None:
        assert self._path is not None
        tmp = self._path.with_name(self._path.name + f".tmp{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "w") as fh:
            fh.write(str(value))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)
        dfd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself must survive a crash
        finally:
            os.close(dfd)
        self.fsyncs += 1

    @property
    def last(self) -> int:
        return self._last

    def next(self) -> int:
        with self._lock:
            n = max(self._now(), self._last + 1)
            if self._path is not None and n > self._reserved:
                with self._file_lock():
                    on_disk = self._read()
                    if on_disk >= n:  # another process reserved past us: jump beyond its block
                        n = on_disk + 1
                    self._reserved = n + self._block
                    self._write(self._reserved)
            self._last = n
            return n

    def observe(self, nonce: int) -> None:
        """Venue said a nonce was used/too low (e.g. duplicate): never hand out anything at or below it."""
        with self._lock:
            self._last = max(self._last, nonce)


class _Flock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
