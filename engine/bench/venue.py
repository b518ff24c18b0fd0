"""Venue bench: order round trip to a local `hlmm sim` over loopback.

One run starts its own `hlmm sim` subprocess (synthetic market, real clock), funds one account and
measures, per iteration, a post-only order far from the mid followed by its cancel:
- `order_rtt_*`: raw async httpx client; the action is signed before the clock starts, so the figure
  is the venue's HTTP round trip (request out → committed answer back);
- `order_rtt_sdk_*`: the official SDK's `Exchange.order` in the same run (its own signing +
  requests), the reference the raw figure is compared with.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import statistics
import subprocess
import time

from engine.bench import Result, figure
from engine.bench.localsim import start_local_sim

N_ORDERS = 200
WARMUP = 10
COIN, ASSET = "SOL", 2


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _start_sim(address: str) -> tuple[subprocess.Popen, str]:
    # the bench itself would exceed the real 1200/min IP budget
    return start_local_sim("--seed", "1", "--fund", f"{address}=1000000", "--ip-weight-per-min", "1000000")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _raw_round_trips(url: str, wallet, px: float) -> tuple[list[float], list[float]]:
    import httpx
    import orjson
    from hyperliquid.utils.signing import (order_request_to_order_wire, order_wires_to_order_action,
                                           sign_l1_action)

    order_lat, cancel_lat = [], []
    nonce = int(time.time() * 1000)
    wire = order_request_to_order_wire({"coin": COIN, "is_buy": True, "sz": 1.0, "limit_px": px,
                                        "order_type": {"limit": {"tif": "Alo"}}, "reduce_only": False}, ASSET)
    action = order_wires_to_order_action([wire])
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for i in range(N_ORDERS + WARMUP):
            nonce += 1
            body = orjson.dumps({"action": action, "nonce": nonce,
                                 "signature": sign_l1_action(wallet, action, None, nonce, None, False),
                                 "vaultAddress": None, "expiresAfter": None})
            t0 = time.perf_counter()
            resp = await client.post("/exchange", content=body, headers={"Content-Type": "application/json"})
            t1 = time.perf_counter()
            status = resp.json()["response"]["data"]["statuses"][0]
            if "resting" not in status:
                raise RuntimeError(f"bench order did not rest: {status}")
            cancel = {"type": "cancel", "cancels": [{"a": ASSET, "o": status["resting"]["oid"]}]}
            nonce += 1
            body = orjson.dumps({"action": cancel, "nonce": nonce,
                                 "signature": sign_l1_action(wallet, cancel, None, nonce, None, False),
                                 "vaultAddress": None, "expiresAfter": None})
            t2 = time.perf_counter()
            resp = await client.post("/exchange", content=body, headers={"Content-Type": "application/json"})
            t3 = time.perf_counter()
            if resp.json()["response"]["data"]["statuses"] != ["success"]:
                raise RuntimeError(f"bench cancel failed: {resp.text}")
            if i >= WARMUP:
                order_lat.append((t1 - t0) * 1000)
                cancel_lat.append((t3 - t2) * 1000)
    return order_lat, cancel_lat


def _sdk_round_trips(url: str, wallet, px: float) -> list[float]:
    from hyperliquid.exchange import Exchange

    ex = Exchange(wallet, url)
    lat = []
    for i in range(N_ORDERS + WARMUP):
        t0 = time.perf_counter()
        resp = ex.order(COIN, True, 1.0, px, {"limit": {"tif": "Alo"}})
        t1 = time.perf_counter()
        oid = resp["response"]["data"]["statuses"][0]["resting"]["oid"]
        ex.cancel(COIN, oid)
        if i >= WARMUP:
            lat.append((t1 - t0) * 1000)
    return lat


@figure("venue_order_rtt", names=("order_rtt_p50_ms", "order_rtt_p99_ms", "cancel_rtt_p50_ms",
                                  "order_rtt_sdk_p50_ms", "order_rtt_sdk_p99_ms"))
def order_round_trip() -> list[Result]:
    from eth_account import Account

    wallet = Account.from_key("0x" + hashlib.sha256(b"hlmm-bench-venue").hexdigest())
    proc, url = _start_sim(wallet.address)
    try:
        import httpx

        mid = float(httpx.post(f"{url}/info", json={"type": "allMids", "dex": ""}).json()[COIN])
        px = round(float(f"{mid * 0.9:.5g}"), 4)  # post-only bid 10 % under the mid: always rests
        raw, cancels = asyncio.run(_raw_round_trips(url, wallet, px))
        sdk = _sdk_round_trips(url, wallet, px)
    finally:
        _stop(proc)
    sdk50, sdk99 = statistics.median(sdk), _percentile(sdk, 0.99)
    goal = "official: median 200 ms, p99 900 ms end-to-end on the real venue"
    return [
        Result("order_rtt_p50_ms", statistics.median(raw), "ms", "SDK Exchange.order p50", sdk50, goal),
        Result("order_rtt_p99_ms", _percentile(raw, 0.99), "ms", "SDK Exchange.order p99", sdk99, goal),
        Result("cancel_rtt_p50_ms", statistics.median(cancels), "ms"),
        Result("order_rtt_sdk_p50_ms", sdk50, "ms"),
        Result("order_rtt_sdk_p99_ms", sdk99, "ms"),
    ]


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for r in order_round_trip():
        print(r.as_json())
