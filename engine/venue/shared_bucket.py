"""The IP-weight bucket held in Redis: one budget for every engine and flow on a host.

Hyperliquid counts REST weight per IP (1200 per minute), so several engines on one host each holding their
own `IpWeightBucket` overrun it together. `SharedIpWeightBucket` has the same interface and arithmetic, but the
level lives in one Redis hash per host, and every take, charge and 429 is one Lua script run atomically by
Redis on Redis's own clock (`TIME`), so processes with skewed clocks still agree.

When Redis cannot be reached a call falls back to a bucket in this process (logged once per outage): a Redis
outage costs the shared accounting, never the engine's ability to pull its quotes.
"""
from __future__ import annotations

import asyncio
import logging
import math
import socket
from typing import Any, Awaitable, Callable

from engine.venue.limits import IP_WEIGHT_PER_MIN, IpWeightBucket, take_weight

log = logging.getLogger(__name__)
KEY_PREFIX = "hlmm:ip-weight:"
REDIS_TIMEOUT_S = 0.5  # a Redis slower than this falls back to the local bucket rather than stall the loop

# KEYS[1]: the hash {level, at (µs)}. ARGV: capacity, refill per µs, mode (take | charge | drain | peek),
# weight, floor (the reserve an ordinary take leaves alone), ttl ms. Returns {level, wait µs} as strings
# (Redis would truncate a Lua number to an integer).
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cap, rate, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local weight, floor = tonumber(ARGV[4]), tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'level', 'at')
local level, at = tonumber(s[1]), tonumber(s[2])
if level == nil or at == nil then level, at = cap, now end
if now > at then level = math.min(cap, level + (now - at) * rate); at = now end
local wait = 0
if mode == 'take' then
  if level - floor >= weight then level = level - weight else wait = (weight + floor - level) / rate end
elseif mode == 'charge' then
  level = level - weight
elseif mode == 'drain' then
  level = math.min(level, 0)
end
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {string.format('%.17g', level), string.format('%.17g', wait)}
"""


def host_key(host: str | None = None) -> str:
    """The Redis key of this host's budget: engines on one host share it; another host (another IP) has its own."""
    return KEY_PREFIX + (host or socket.gethostname())


class SharedIpWeightBucket:
    """`IpWeightBucket`'s interface (try_take, charge, on_429, acquire, level, capacity, reserve, taken,
    throttled) on a budget shared through Redis at `url`; `taken` and `throttled` count this process only."""

    def __init__(self, url: str, capacity: float = IP_WEIGHT_PER_MIN, period_ms: int = 60_000,
                 key: str | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 reserve: float = 0.05, client: Any = None) -> None:
        import redis  # only a host that configures a shared budget needs it loaded

        # the local fallback validates the arguments and keeps the arithmetic in one place
        self._local = IpWeightBucket(capacity, period_ms, sleep=sleep, reserve=reserve)
        self.capacity, self.reserve = self._local.capacity, self._local.reserve
        self.rate_per_ms = self._local.rate_per_ms
        self.key = key or host_key()
        self._ttl_ms = str(2 * period_ms)   # an idle host's hash expires once it would be full anyway
        self._redis = client or redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                                     socket_connect_timeout=REDIS_TIMEOUT_S)
        self._script = self._redis.register_script(_LUA)
        self._sleep = sleep
        self._errors = (redis.RedisError, OSError)
        self._down = False
        self.taken = 0.0
        self.throttled = 0

    def _run(self, mode: str, weight: float = 0.0, floor: float = 0.0) -> tuple[float, float] | None:
        """(level, wait ms) from Redis, or None when it cannot be reached (the caller uses the local bucket)."""
        try:
            level, wait_us = self._script(keys=[self.key], args=[
                repr(self.capacity), repr(self.rate_per_ms / 1000), mode, repr(float(weight)), repr(float(floor)),
                self._ttl_ms])
        except self._errors as exc:
            if not self._down:
                log.warning("shared IP-weight budget unreachable (%s); counting in this process until it is back",
                            type(exc).__name__)
            self._down = True
            return None
        if self._down:
            log.info("shared IP-weight budget reachable again")
            self._down = False
        return float(level), float(wait_us) / 1000

    @property
    def level(self) -> float:
        got = self._run("peek")
        return self._local.level if got is None else got[0]

    def try_take(self, weight: float, priority: bool = False) -> float:
        """Take `weight` now (returns 0) or say how many ms to wait; ordinary requests leave the reserve alone."""
        if weight > self.capacity:
            raise ValueError(f"weight {weight} exceeds bucket capacity {self.capacity}")
        floor = 0.0 if priority else min(self.reserve, self.capacity - weight)
        got = self._run("take", weight, floor)
        if got is None:
            wait = self._local.try_take(weight, priority)
        else:
            wait = math.ceil(got[1]) if got[1] > 0 else 0.0
        if not wait:
            self.taken += weight
        return wait

    def charge(self, weight: float) -> None:
        """Weight learned after the fact (per-row surcharges); may go into debt."""
        if weight <= 0:
            return
        if self._run("charge", weight) is None:
            self._local.charge(weight)
        self.taken += weight

    def on_429(self) -> None:
        if self._run("drain") is None:
            self._local.on_429()

    async def acquire(self, weight: float, priority: bool = False) -> None:
        await take_weight(self, weight, priority)


def make_bucket(capacity: float, redis_url: str | None = None, now_ms: Any = None) -> Any:
    """The IP-weight bucket for `limits.ip_weight_per_min`: shared through Redis when `limits.ip_weight_redis_url`
    is set, else this process's own (`now_ms`: its clock, e.g. a backtest's simulated one)."""
    if redis_url:
        return SharedIpWeightBucket(redis_url, capacity=capacity)
    return IpWeightBucket(capacity=capacity, now_ms=now_ms)
