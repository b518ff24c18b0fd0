"""Local venue matching throughput (sim core).

`matching_orders_per_s`: single-order actions (Gtc quotes around the mid, Ioc takers crossing
them, cancels) pushed through `Venue.exchange_as` — the full /exchange processing (shape checks,
address budget, tick/lot/notional, margin, matching, fills, records) minus signature recovery.
`matching_orders_per_cpu_s`: the same run per process CPU second (stable when the machine is shared).
`matching_signed_orders_per_s`: the same flow as signed bodies through `Venue.exchange`
(pre-signed outside the timing; recovery with the SDK's eth-account based functions).
"""
from __future__ import annotations

import random
import time

from engine.bench import Result, figure

COIN_ASSET = 2  # SOL: szDecimals 2, price ~180


def _workload(n: int, users: list[str], seed: int = 1) -> list[tuple[str, dict]]:
    rnd = random.Random(seed)
    out: list[tuple[str, dict]] = []
    for i in range(n):
        user = rnd.choice(users)
        r = rnd.random()
        if r < 0.6:  # maker quote 0..20 ticks of 0.01 away from 180
            is_buy = rnd.random() < 0.5
            off = rnd.randint(1, 20) / 100
            px = 180 - off if is_buy else 180 + off
            tif = "Gtc"
        elif r < 0.9:  # taker crossing up to 15 ticks deep
            is_buy = rnd.random() < 0.5
            off = rnd.randint(0, 15) / 100
            px = 180 + off if is_buy else 180 - off
            tif = "Ioc"
        else:
            out.append((user, {"type": "cancel", "cancels": [{"a": COIN_ASSET, "o": -1}]}))  # oid filled in later
            continue
        sz = rnd.choice(["0.06", "0.1", "0.25", "0.5", "1.2"])
        out.append((user, {"type": "order", "orders": [{"a": COIN_ASSET, "b": is_buy, "p": f"{px:.2f}".rstrip("0").rstrip("."),
                                                         "s": sz, "r": False, "t": {"limit": {"tif": tif}}}],
                           "grouping": "na"}))
    return out


def _venue(users: list[str]):
    from sim.clock import SimClock
    from sim.venue import Venue

    venue = Venue(SimClock(start_ms=1_800_000_000_000, speed=0), seed=1)
    for u in users:
        venue.fund_perp(u, 10_000_000_000)
    return venue


def _run(venue, flow, submit) -> float:
    last_oid: dict[str, int] = {}
    t0 = time.perf_counter()
    for user, action in flow:
        if action["type"] == "cancel":
            action["cancels"][0]["o"] = last_oid.get(user, 0)
        status, out = submit(user, action)
        if action["type"] == "order":
            st = out["response"]["data"]["statuses"][0]
            if "resting" in st:
                last_oid[user] = st["resting"]["oid"]
    return time.perf_counter() - t0


@figure("matching", names=("matching_orders_per_s", "matching_orders_per_cpu_s", "matching_signed_orders_per_s"))
def bench_matching() -> list[Result]:
    import eth_account
    from hyperliquid.utils import signing

    wallets = [eth_account.Account.create(f"bench-{i}") for i in range(8)]
    users = [w.address.lower() for w in wallets]
    n = 40_000
    flow = _workload(n, users)
    best = best_cpu = None
    for _ in range(3):  # best of three: the machine is shared
        venue = _venue(users)
        c0 = time.process_time()
        dt = _run(venue, [(u, _copy(a)) for u, a in flow], venue.exchange_as)
        cpu = time.process_time() - c0
        best = dt if best is None else min(best, dt)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    fills = sum(len(u.fills) for u in venue.core.users.values()) // 2

    n_signed = 1_500
    venue = _venue(users)
    by_addr = {w.address.lower(): w for w in wallets}
    nonce = [venue.clock.now_ms()]

    # cancels need the live oid, so every body is signed in the loop; signing time is excluded
    sign_time = 0.0
    last_oid: dict[str, int] = {}
    t0 = time.perf_counter()
    for user, action in flow[:n_signed]:
        action = _copy(action)
        if action["type"] == "cancel":
            action["cancels"][0]["o"] = last_oid.get(user, 0)
        nonce[0] += 1
        s0 = time.perf_counter()
        body = _sign(by_addr[user], action, nonce[0], signing)
        sign_time += time.perf_counter() - s0
        status, out = venue.exchange(body)
        assert out["status"] == "ok", out
        if action["type"] == "order":
            st = out["response"]["data"]["statuses"][0]
            if "resting" in st:
                last_oid[user] = st["resting"]["oid"]
    signed_dt = time.perf_counter() - t0 - sign_time
    return [
        Result("matching_orders_per_s", n / best,
               f"orders/s (in-process, no signature; 60% Gtc quotes, 30% Ioc takers, 10% cancels; {fills:,} fills)",
               None, None, ">= 50k orders/s"),
        Result("matching_orders_per_cpu_s", n / best_cpu,
               "orders per CPU-second (same run; insensitive to other processes on a shared machine)",
               None, None, None),
        Result("matching_signed_orders_per_s", n_signed / signed_dt,
               "orders/s (Venue.exchange with SDK signature recovery; signing excluded)", None, None, None),
    ]


def _copy(action: dict) -> dict:
    if action["type"] == "cancel":
        return {"type": "cancel", "cancels": [dict(action["cancels"][0])]}
    return action


def _sign(wallet, action: dict, nonce: int, signing) -> dict:
    sig = signing.sign_l1_action(wallet, action, None, nonce, None, False)
    return {"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None, "expiresAfter": None}
