"""One IP budget per host, with engines (issue 16): three `hlmm run` processes on this host, one account each,
trade against one `hlmm sim`. With `limits.ip_weight_redis_url` they take from one Redis bucket and the weight
the venue receives from this address (its own count, on the wire) stays within one budget; each on its own
bucket, together they send well past it. Needs the Redis at 127.0.0.1:6379 (skips with the reason if down)."""
from __future__ import annotations

import secrets
import socket
import time

import pytest
from eth_account import Account

from tests.engine.helpers import start_engine_process, write_config
from tests.fixtures.redis import redis_client

REDIS_URL = "redis://127.0.0.1:6379/12"  # a database of its own: the key is per host name
BUDGET, WINDOW_S, ENGINES = 120, 12.0, 3  # 120 weight a minute refills 2 a second: engines exhaust it at start


@pytest.fixture
def redis_db():
    client = redis_client(REDIS_URL)
    key = f"hlmm:ip-weight:{socket.gethostname()}"
    client.delete(key)
    yield
    client.delete(key)
    client.close()


def _spent(sim) -> int:
    return sim.admin("limits")["usage"].get("127.0.0.1", {}).get("spent", 0)


def _fleet_weight(sim, tmp_path, shared: bool) -> int:
    """Weight the venue received from this host in WINDOW_S seconds from the engines' launch."""
    procs = []
    extra = f'[limits]\nip_weight_per_min = {BUDGET}\n'
    if shared:
        extra += f'ip_weight_redis_url = "{REDIS_URL}"\n'
    extra += '\n[monitoring]\nmetrics_bind = ""\n'
    configs = []
    for i in range(ENGINES):
        key = "0x" + secrets.token_hex(32)
        address = Account.from_key(key).address
        sim.fund(address)
        home = tmp_path / f"{'shared' if shared else 'own'}-{i}"
        home.mkdir()
        configs.append((write_config(home, sim.url, address, extra=extra), key, home))
    start = _spent(sim)
    try:
        for config, key, home in configs:
            procs.append(start_engine_process(config, key, home / "engine.log"))
        time.sleep(WINDOW_S)
        return _spent(sim) - start
    finally:
        # SIGKILL: a clean stop on a starved budget waits its turn for every cancel; the venue's scheduled
        # cancel (the engines' dead man's switch) takes their quotes off within its horizon
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(10)


def test_engines_on_one_host_share_one_ip_budget(sim_server, tmp_path, redis_db):
    bound = BUDGET + BUDGET / 60 * WINDOW_S  # a full bucket, then its refill over the window
    shared = _fleet_weight(sim_server, tmp_path, shared=True)
    own = _fleet_weight(sim_server, tmp_path, shared=False)
    print(f"weight in {WINDOW_S:.0f} s: shared {shared}, own buckets {own}, one budget's bound {bound:.0f}")
    assert shared <= bound, (shared, bound)
    assert shared >= 0.6 * bound, (shared, bound)  # the engines wanted more than the budget: it was binding
    assert own > 1.5 * bound, (own, bound)  # each on its own bucket, together past one budget
