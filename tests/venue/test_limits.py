"""Limits: bucket math on an injected clock, address budget, open-order cap, nonce uniqueness
(8 threads, 8 asyncio tasks, concurrent processes, restart)."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.venue.limits import (AddressBudget, IpWeightBucket, NonceManager, OpenOrderCap, action_batch_len,
                                 exchange_weight, info_surcharge, info_weight, open_order_cap)


class FakeClock:
    def __init__(self, t: int = 1_000_000) -> None:
        self.t = t

    def now_ms(self) -> int:
        return self.t


def test_weights_per_protocol():
    assert info_weight("l2Book") == 2 and info_weight("allMids") == 2 and info_weight("orderStatus") == 2
    assert info_weight("clearinghouseState") == 2 and info_weight("spotClearinghouseState") == 2
    assert info_weight("meta") == 20 and info_weight("openOrders") == 20 and info_weight("userFills") == 20
    assert info_weight("userRateLimit") == 20 and info_weight("userRole") == 60
    assert info_surcharge("userFills", 19) == 0 and info_surcharge("userFills", 2000) == 100
    assert info_surcharge("candleSnapshot", 5000) == 83 and info_surcharge("l2Book", 1000) == 0
    assert [exchange_weight(n) for n in (1, 39, 40, 79, 80, 200)] == [1, 1, 2, 2, 3, 6]
    assert action_batch_len({"type": "order", "orders": [1, 2, 3]}) == 3
    assert action_batch_len({"type": "cancelByCloid", "cancels": [1]}) == 1
    assert action_batch_len({"type": "batchModify", "modifies": [1, 2]}) == 2
    assert action_batch_len({"type": "noop"}) == 1


def test_bucket_keeps_a_reserve_for_cancels_and_the_dead_mans_switch():
    clk = FakeClock()
    b = IpWeightBucket(now_ms=clk.now_ms)  # 5 % of 1200 = 60 weight held back for priority requests
    for _ in range(57):
        assert b.try_take(20) == 0
    assert b.level == pytest.approx(60)
    assert b.try_take(20) == 1000  # quoting waits for the refill ...
    assert b.try_take(20, priority=True) == 0 and b.try_take(40, priority=True) == 0  # ... a cancel does not
    assert b.try_take(1, priority=True) == 50
    # a request as big as the whole bucket is not blocked forever by the reserve
    big = IpWeightBucket(capacity=100, now_ms=clk.now_ms, reserve=0.5)
    assert big.try_take(100) == 0


def test_bucket_refill_and_wait_math():
    clk = FakeClock()
    b = IpWeightBucket(now_ms=clk.now_ms, reserve=0)
    for _ in range(60):
        assert b.try_take(20) == 0
    assert b.level == pytest.approx(0)
    # 1200/min = 0.02 per ms: 20 weight needs 1000 ms
    assert b.try_take(20) == 1000
    clk.t += 500
    assert b.try_take(20) == 500
    clk.t += 500
    assert b.try_take(20) == 0
    # refill never exceeds capacity
    clk.t += 10 * 60_000
    assert b.level == 1200
    # surcharge after a reply puts the bucket in debt
    b.charge(1300)
    assert b.level == pytest.approx(-100)
    assert b.try_take(2) == 5100  # (2 + 100) / 0.02
    clk.t += 5100
    assert b.try_take(2) == 0
    # a 429 empties the bucket
    clk.t += 60_000
    b.on_429()
    assert b.level == 0
    with pytest.raises(ValueError):
        b.try_take(1201)


async def test_bucket_acquire_uses_injected_sleep():
    clk = FakeClock()
    slept = []

    async def fake_sleep(s):
        slept.append(s)
        clk.t += int(s * 1000)

    b = IpWeightBucket(capacity=100, period_ms=10_000, now_ms=clk.now_ms, sleep=fake_sleep, reserve=0)
    await b.acquire(100)
    await b.acquire(50)  # needs 5000 ms at 0.01/ms
    assert slept == [5.0] and b.throttled == 1


def test_address_budget():
    ab = AddressBudget()
    ab.refresh({"cumVlm": "2854574.59", "nRequestsUsed": 2890, "nRequestsCap": 2864574, "nRequestsSurplus": 0})
    assert ab.cap == 2864574 and ab.used == 2890
    assert AddressBudget.cap_for_volume(2854574.59) == 2864574
    assert ab.cancel_cap() == 2964574  # cap + 100k < 2 cap
    small = AddressBudget(used=9_999, cap=10_000)
    assert small.cancel_cap() == 20_000
    assert small.allows(1, now_ms=0)
    small.record(1, now_ms=0)
    assert small.remaining() == 0 and small.remaining(is_cancel=True) == 10_000
    assert small.allows(5, now_ms=0, is_cancel=True)
    # exhausted: one request per 10 s
    assert small.allows(1, now_ms=1000)
    small.record(1, now_ms=1000)
    assert not small.allows(1, now_ms=5000)
    assert small.allows(1, now_ms=11_000)
    with pytest.raises(ValueError, match="nRequestsUsed"):
        ab.refresh({"cumVlm": "1"})
    # a venue refusal carries the venue's own numbers
    ab.on_refusal("Too many cumulative requests sent (97460 > 97456) for cumulative volume traded $87457.46. "
                  "Place taker orders to free up 1 request per USDC traded.", now_ms=50_000)
    assert (ab.used, ab.cap) == (97460, 97456)
    assert not ab.allows(1, now_ms=55_000) and ab.allows(1, now_ms=60_000)
    assert ab.allows(50, now_ms=55_000, is_cancel=True)  # cancels have their own, larger cap


def test_open_order_cap():
    assert open_order_cap(0) == 1000 and open_order_cap(5_000_000) == 1001 and open_order_cap(1e12) == 5000
    c = OpenOrderCap(cap=1000, open=998)
    assert c.can_place(2) and not c.can_place(3) and c.room() == 2


def test_nonces_strictly_increasing_with_frozen_clock(tmp_path):
    clk = FakeClock(1_700_000_000_000)
    nm = NonceManager(tmp_path / "n", now_ms=clk.now_ms, block_ms=1000)
    got = [nm.next() for _ in range(5000)]
    assert got == sorted(set(got)) and got[0] == clk.t
    assert nm.fsyncs <= 6  # one reservation per 1000 nonces, not one per nonce
    clk.t += 10_000_000
    assert nm.next() == clk.t  # tracks the clock again once it is ahead
    nm.observe(clk.t + 50)
    assert nm.next() == clk.t + 51


def test_nonces_unique_across_8_threads(tmp_path):
    nm = NonceManager(tmp_path / "n")
    out: list[list[int]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(i):
        barrier.wait()
        for _ in range(2000):
            out[i].append(nm.next())

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    flat = [n for lst in out for n in lst]
    assert len(set(flat)) == len(flat) == 16000
    for lst in out:
        assert lst == sorted(lst)  # each sender sees increasing nonces


async def test_nonces_unique_across_8_asyncio_tasks(tmp_path):
    nm = NonceManager(tmp_path / "n")

    async def sender():
        got = []
        for _ in range(1000):
            got.append(nm.next())
            await asyncio.sleep(0)  # interleave the tasks
        return got

    results = await asyncio.gather(*(sender() for _ in range(8)))
    flat = [n for r in results for n in r]
    assert len(set(flat)) == len(flat) == 8000


_CHILD = """
import sys, time
from engine.venue.limits import NonceManager
nm = NonceManager(sys.argv[1], block_ms=int(sys.argv[3]))
out = [nm.next() for _ in range(int(sys.argv[2]))]
print(" ".join(map(str, out)))
"""


def _child(path: Path, n: int, block: int = 10_000) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(n), str(block)],
                            stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).parents[2]))


def test_nonces_survive_restart_and_concurrent_processes(tmp_path):
    path = tmp_path / "nonce"
    # restart: a second process on the same file never reuses (and never goes below) the first's nonces
    first = list(map(int, _child(path, 3000).communicate()[0].split()))
    second = list(map(int, _child(path, 3000).communicate()[0].split()))
    assert min(second) > max(first)
    # an in-process manager after that continues above both
    nm = NonceManager(path)
    assert nm.next() > max(second)
    # concurrent processes sharing the file (small block: many reservations race)
    procs = [_child(path, 2000, block=50) for _ in range(4)]
    outs = [list(map(int, p.communicate()[0].split())) for p in procs]
    flat = [n for o in outs for n in o]
    assert len(set(flat)) == len(flat) == 8000
    assert min(flat) > max(second)


def test_corrupt_nonce_file_is_named(tmp_path):
    p = tmp_path / "n"
    p.write_text("garbage")
    with pytest.raises(ValueError, match=str(p)):
        NonceManager(p)
