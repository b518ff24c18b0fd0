"""One IP-weight budget per host in Redis (issue 16): several REST clients with the real limiter, each on its own
thread and Redis connection, read the real `hlmm sim` over sockets; the weight they actually send (counted on the
wire, not by the buckets) stays within one budget. Without Redis each client has its own budget and together they
send about three times as much. Needs the Redis at 127.0.0.1:6379 (skips with the reason when it is down)."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import httpx
import pytest

from engine.venue.limits import IpWeightBucket, info_weight
from engine.venue.rest import VenueRest
from engine.venue.shared_bucket import SharedIpWeightBucket, make_bucket
from tests.fixtures.redis import redis_client

REDIS_URL = "redis://127.0.0.1:6379/0"
CAPACITY, PERIOD_MS, RUN_S, CLIENTS = 40, 4_000, 2.0, 3   # 10 weight/s refill: a budget a test can exhaust fast


@pytest.fixture
def redis_key():
    client = redis_client(REDIS_URL)
    key = f"hlmm:test:ip-weight:{uuid.uuid4().hex}"
    yield key
    client.delete(key)
    client.close()


class CountingTransport(httpx.AsyncHTTPTransport):
    """The weight of every /info request that really left the client, with its time."""

    def __init__(self, sent: list) -> None:
        super().__init__()
        self.sent = sent

    async def handle_async_request(self, request):
        self.sent.append((time.monotonic(), info_weight(json.loads(request.content)["type"])))
        return await super().handle_async_request(request)


def _hammer(url: str, bucket, sent: list) -> None:
    """Read l2Book (weight 2) as fast as the bucket lets, for RUN_S seconds, on this thread's own loop."""
    async def go() -> None:
        async with VenueRest(url, bucket=bucket, transport=CountingTransport(sent)) as rest:
            end = time.monotonic() + RUN_S
            while time.monotonic() < end:
                await rest.l2_book("ETH")
    asyncio.run(go())


def _run(sim_url: str, buckets: list) -> tuple[float, float]:
    """(weight sent, the most one bucket allows over the span from the first send to the last: its capacity
    plus what refills meanwhile)."""
    sent: list = []
    threads = [threading.Thread(target=_hammer, args=(sim_url, b, sent)) for b in buckets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    span_ms = (max(t for t, _ in sent) - min(t for t, _ in sent)) * 1000
    return sum(w for _, w in sent), CAPACITY + CAPACITY * span_ms / PERIOD_MS


def test_clients_sharing_a_redis_budget_stay_within_it(sim, redis_key):
    buckets = [SharedIpWeightBucket(REDIS_URL, CAPACITY, PERIOD_MS, key=redis_key, reserve=0) for _ in range(CLIENTS)]
    total, budget = _run(sim.url, buckets)
    # + one request's weight: the span is measured at the sends, the refill runs between the takes just before
    assert CAPACITY <= total <= budget + 2, (total, budget)
    assert all(b.taken > 0 for b in buckets)            # every client got a share, none starved
    # and without Redis: each process its own budget, together well over one host's
    alone, budget = _run(sim.url, [IpWeightBucket(CAPACITY, PERIOD_MS, reserve=0) for _ in range(CLIENTS)])
    assert alone > 2 * budget, (alone, budget)


def test_the_shared_bucket_keeps_the_local_arithmetic(redis_key):
    b = SharedIpWeightBucket(REDIS_URL, 100, 60_000, key=redis_key)   # reserve 5 for cancels
    assert b.try_take(90) == 0 and b.try_take(10) > 0                  # an ordinary take leaves the reserve
    assert b.try_take(5, priority=True) == 0                            # a cancel may use it
    b.charge(20)
    assert b.level < -14                                                # surcharges go into debt
    b.on_429()
    assert b.level <= 0.1
    with pytest.raises(ValueError, match="exceeds bucket capacity"):
        b.try_take(101)


def test_redis_down_falls_back_to_this_process(caplog):
    b = SharedIpWeightBucket("redis://127.0.0.1:1/0", 10, 60_000, key="unused", reserve=0)
    assert b.try_take(6) == 0 and b.try_take(6) > 0                     # counted locally, still bounded
    assert "unreachable" in caplog.text


def test_the_config_key_chooses_the_bucket(tmp_path):
    from engine.clock import WallClock
    from engine.config import ConfigError, load_config
    from engine.monitoring import Timings
    from engine.runtime import make_rest

    def cfg(extra: str):
        (tmp_path / "hlmm.toml").write_text(f'[venue]\nnetwork = "local"\n[limits]\n{extra}\n')
        return load_config(tmp_path / "hlmm.toml", env={})

    key = "0x" + "11" * 32
    shared = make_rest(cfg(f'ip_weight_redis_url = "{REDIS_URL}"'), key, None, WallClock(), None, Timings())
    own = make_rest(cfg(""), key, None, WallClock(), None, Timings())
    assert isinstance(shared.bucket, SharedIpWeightBucket) and isinstance(own.bucket, IpWeightBucket)
    assert isinstance(make_bucket(1200, None), IpWeightBucket)
    with pytest.raises(ConfigError, match="limits.ip_weight_redis_url"):
        cfg('ip_weight_redis_url = "http://127.0.0.1:6379"')
