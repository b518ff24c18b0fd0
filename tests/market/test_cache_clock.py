import asyncio

import pytest

from engine.clock import Clock, SimulatedClock, WallClock
from engine.market.cache import TTLCache


def test_simulated_clock_moves_only_forward():
    c = SimulatedClock(1_000)
    c.advance(500)
    c.set(2_000)
    assert c.now_ms() == 2_000 and c.now().year == 1970
    with pytest.raises(ValueError, match="backwards"):
        c.set(1_999)
    assert isinstance(c, Clock) and isinstance(WallClock(), Clock)
    assert WallClock().now_ms() > 1_700_000_000_000 and WallClock().now().tzinfo is not None


def test_ttl_cache_expiry_and_stats():
    clock = SimulatedClock(0)
    cache: TTLCache[dict] = TTLCache(ttl_ms=1_000, clock=clock)
    loads = []
    loader = lambda: loads.append(1) or {"universe": len(loads)}  # noqa: E731
    assert cache.get_or_load("meta", loader) == {"universe": 1}
    clock.advance(999)
    assert cache.get_or_load("meta", loader) == {"universe": 1}
    clock.advance(1)
    assert cache.get_or_load("meta", loader) == {"universe": 2}
    s = cache.stats
    assert (s.hits, s.misses, s.expirations, s.loads, s.rest_calls_avoided) == (1, 2, 1, 2, 1)
    assert s.hit_rate == pytest.approx(1 / 3) and s.as_dict()["rest_calls_avoided"] == 1
    cache.invalidate("meta")
    assert cache.get("meta") is None


def test_ttl_cache_bounded():
    cache = TTLCache(ttl_ms=10, clock=SimulatedClock(), max_entries=2)
    for k in "abc":
        cache.put(k, k)
    assert len(cache) == 2


async def test_single_flight_shares_one_fetch():
    cache = TTLCache(ttl_ms=1_000, clock=SimulatedClock())
    calls = 0
    gate = asyncio.Event()

    async def fetch():
        nonlocal calls
        calls += 1
        await gate.wait()
        return "meta"

    tasks = [asyncio.create_task(cache.get_or_fetch("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == ["meta"] * 5
    assert calls == 1 and cache.stats.loads == 1 and cache.stats.rest_calls_avoided == 4


async def test_single_flight_propagates_errors_and_retries_next_time():
    cache = TTLCache(ttl_ms=1_000, clock=SimulatedClock())

    async def boom():
        raise RuntimeError("429")

    with pytest.raises(RuntimeError, match="429"):
        await cache.get_or_fetch("k", boom)

    async def ok():
        return 1

    assert await cache.get_or_fetch("k", ok) == 1
