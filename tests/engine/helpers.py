"""Helpers for the engine's end-to-end tests: a config file per test, venue reads, bounded polls."""
from __future__ import annotations

from decimal import Decimal

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx

REPO = Path(__file__).resolve().parents[2]
HLMM = REPO / ".venv" / "bin" / "hlmm"
KEY_ENV = "HLMM_ENGINE_TEST_KEY"


def write_config(tmp_path: Path, sim_url: str, address: str, *, extra: str = "", stale_ms: int = 3000,
                 ledger: Path | None = None) -> Path:
    ledger = ledger or tmp_path / "ledger.db"
    path = tmp_path / "hlmm.toml"
    path.write_text(f"""
[venue]
network = "local"
base_url = "{sim_url}"
account_address = "{address}"
secret_env = "{KEY_ENV}"

[[markets]]
coin = "HYPE"
spot_pair = "HYPE/USDC"

[strategy]
min_requote_interval_ms = 100

[risk]
max_position_usd = 100000
max_order_notional_usd = 50000
max_drawdown_usd = 100000
stale_data_ms = {stale_ms}

[ledger]
url = "sqlite:///{ledger}"
{extra}
""")
    return path


def venue(sim_url: str, body: dict) -> Any:
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{sim_url}/info", json=body)
        r.raise_for_status()
        return r.json()


def open_orders(sim_url: str, user: str) -> list[dict]:
    return venue(sim_url, {"type": "openOrders", "user": user})


def perp_szi(sim_url: str, user: str, coin: str = "HYPE") -> float:
    st = venue(sim_url, {"type": "clearinghouseState", "user": user})
    return sum(float(p["position"]["szi"]) for p in st["assetPositions"] if p["position"]["coin"] == coin)


def spot_total(sim_url: str, user: str, token: str = "HYPE") -> float:
    st = venue(sim_url, {"type": "spotClearinghouseState", "user": user})
    return sum(float(b["total"]) for b in st["balances"] if b["coin"] == token)


async def until(pred: Callable[[], Any], timeout: float = 10.0, every: float = 0.1, what: str = "condition") -> Any:
    """Poll `pred` (sync, run in a thread so the engine's loop keeps running) until truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(pred)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


def wait_sync(pred: Callable[[], Any], timeout: float = 10.0, every: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def start_engine_process(config: Path, key: str, log_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, KEY_ENV: key, "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("HLMM_") or k == KEY_ENV}
    log = open(log_path, "ab")
    return subprocess.Popen([str(HLMM), "run", "--config", str(config), *args], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=REPO)


def hlmm(*args: str, env_extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HLMM_")}
    env.update(env_extra or {})
    return subprocess.run([str(HLMM), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


def size_through(sim_url: str, coin: str, px: float, is_bid: bool) -> float:
    """Total book size at prices at least as good as `px` on one side: an Ioc of that size at `px` is sure to
    reach an order resting at `px` (better prices fill first, then the whole level)."""
    levels = venue(sim_url, {"type": "l2Book", "coin": coin})["levels"][0 if is_bid else 1]
    # summed exactly: a float sum (10471.949999999999) is refused by the SDK's float_to_wire
    return float(sum((Decimal(l["sz"]) for l in levels if (float(l["px"]) >= px if is_bid else float(l["px"]) <= px)),
                     Decimal(0)))


def ours(orders: list[dict]) -> list[dict]:
    return [o for o in orders if (o.get("cloid") or "").startswith("0x686c")]


__all__ = ["write_config", "venue", "open_orders", "perp_szi", "spot_total", "until", "wait_sync",
           "start_engine_process", "hlmm", "ours", "size_through", "KEY_ENV", "sys"]
