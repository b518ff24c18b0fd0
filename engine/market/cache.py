"""TTL caches for slow-changing venue data (meta, spotMeta, margin tables, user rate limit).

Every REST info call spends IP weight (1200/min, protocol §9); `meta` is weight 20 and changes rarely. The
cache counts hits, misses and the REST calls it saved, so `hlmm status`/bench can show the weight budget it
protects. Time comes from the injected Clock, so expiry is deterministic in tests and backtests.
Concurrent misses for the same key share one in-flight load (single flight) instead of stampeding the API.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Hashable, TypeVar

from engine.clock import Clock

V = TypeVar("V")


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    expirations: int = 0
    loads: int = 0  # loader calls actually made (= REST calls spent)
    rest_calls_avoided: int = 0  # hits + callers that joined an in-flight load

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "expirations": self.expirations, "loads": self.loads,
                "rest_calls_avoided": self.rest_calls_avoided, "hit_rate": round(self.hit_rate, 4)}


class TTLCache(Generic[V]):
    _MISSING = object()

    def __init__(self, ttl_ms: int, clock: Clock, max_entries: int = 1024) -> None:
        if ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be > 0, got {ttl_ms}")
        self.ttl_ms = ttl_ms
        self.clock = clock
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._data: dict[Hashable, tuple[int, V]] = {}  # key -> (expires_at_ms, value)
        self._inflight: dict[Hashable, asyncio.Future] = {}

    def get(self, key: Hashable) -> V | None:
        """Cached value or None; counts a hit or a miss."""
        entry = self._data.get(key)
        if entry is not None:
            if self.clock.now_ms() < entry[0]:
                self.stats.hits += 1
                self.stats.rest_calls_avoided += 1
                return entry[1]
            del self._data[key]
            self.stats.expirations += 1
        self.stats.misses += 1
        return None

    def put(self, key: Hashable, value: V) -> None:
        if len(self._data) >= self.max_entries and key not in self._data:
            # evict the entry closest to expiry: cheapest to lose
            del self._data[min(self._data, key=lambda k: self._data[k][0])]
        self._data[key] = (self.clock.now_ms() + self.ttl_ms, value)

    def invalidate(self, key: Hashable | None = None) -> None:
        """Drop one key (or everything), e.g. after a venue reply shows the cached meta is outdated."""
        if key is None:
            self._data.clear()
        else:
            self._data.pop(key, None)

    def get_or_load(self, key: Hashable, loader: Callable[[], V]) -> V:
        value = self.get(key)
        if value is not None:
            return value
        self.stats.loads += 1
        value = loader()
        self.put(key, value)
        return value

    async def get_or_fetch(self, key: Hashable, fetch: Callable[[], Awaitable[V]]) -> V:
        value = self.get(key)
        if value is not None:
            return value
        pending = self._inflight.get(key)
        if pending is not None:
            self.stats.rest_calls_avoided += 1
            return await asyncio.shield(pending)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        self.stats.loads += 1
        try:
            value = await fetch()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: joiners re-raise it, nobody else must log "never retrieved"
            raise
        else:
            self.put(key, value)
            fut.set_result(value)
            return value
        finally:
            self._inflight.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
