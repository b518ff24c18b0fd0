"""Small helpers for the SDK conformance suite (the SDK itself is used unmodified)."""
from __future__ import annotations

import math
import time
from typing import Any, Callable

from eth_account import Account
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info

COIN_ASSET = {"BTC": 0, "ETH": 1, "SOL": 2, "HYPE": 3, "PURR/USDC": 10000, "@1": 10001}
SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "HYPE": 2, "PURR/USDC": 0, "@1": 2}


def exchange(sim, key: str, **kwargs) -> Exchange:
    return Exchange(Account.from_key(key), sim.url, **kwargs)


def info(sim) -> Info:
    return Info(sim.url, skip_ws=True)


def round_px(px: float, coin: str) -> float:
    """Venue-valid price: 5 significant figures, at most MAX_DECIMALS - szDecimals decimals."""
    is_spot = coin in ("PURR/USDC", "@1") or coin.startswith("@")
    decimals = (8 if is_spot else 6) - SZ_DECIMALS[coin]
    return round(float(f"{px:.5g}"), decimals)


def mid(info_client: Info, coin: str) -> float:
    return float(info_client.all_mids()[coin])


def book_top(info_client: Info, coin: str) -> tuple[float, float]:
    levels = info_client.l2_snapshot(coin)["levels"]
    return float(levels[0][0]["px"]), float(levels[1][0]["px"])


def size_for(notional: float, px: float, coin: str) -> float:
    """Size worth about `notional` at `px`, rounded up to the coin's lot."""
    q = 10 ** SZ_DECIMALS[coin]
    return math.ceil(notional / px * q) / q


def wait_for(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def statuses(resp: dict) -> list:
    assert resp["status"] == "ok", resp
    return resp["response"]["data"]["statuses"]


def sim_now(sim) -> int:
    return sim.admin("clock")["now"]
