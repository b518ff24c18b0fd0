"""The venue's per-IP request weight: Hyperliquid's weight table and a rolling 60 s budget per client IP.

The limiter also keeps, per IP, the weight spent and the requests refused (HTTP 429) since it was last reset,
so a harness can read the venue's own view of how much of the budget a fleet of clients used
(`GET /admin/limits`).
"""
from __future__ import annotations

import collections
import time
from typing import Any, Callable

# IP weights (protocol notes §3, §9)
_INFO_WEIGHT_2 = {"l2Book", "allMids", "clearinghouseState", "spotClearinghouseState", "orderStatus",
                  "exchangeStatus"}
_INFO_WEIGHT_60 = {"userRole"}
_PER_20_ROWS = {"userFills", "userFillsByTime", "userFunding", "fundingHistory", "historicalOrders",
                "userNonFundingLedgerUpdates", "userTwapSliceFills"}


def info_weight(body: dict) -> int:
    kind = body.get("type")
    if kind in _INFO_WEIGHT_2:
        return 2
    if kind in _INFO_WEIGHT_60:
        return 60
    return 20


def info_row_surcharge(body: dict, payload: Any) -> int:
    """Extra weight charged after answering, by the number of rows returned."""
    if not isinstance(payload, list):
        return 0
    kind = body.get("type")
    if kind in _PER_20_ROWS:
        return len(payload) // 20
    if kind == "candleSnapshot":
        return len(payload) // 60
    return 0


def exchange_weight(body: dict) -> int:
    """Every action weighs 1 + floor(batch length / 40)."""
    action = body.get("action")
    n = 0
    if isinstance(action, dict):
        for key in ("orders", "cancels", "modifies"):
            if isinstance(action.get(key), list):
                n = len(action[key])
                break
    return 1 + n // 40


class IpWeightLimiter:
    """Rolling 60 s window of request weight per client IP (real time: clients are real)."""

    WINDOW_S = 60.0

    def __init__(self, limit: int = 1200, wall: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._wall = wall
        self._spent: dict[str, collections.deque] = {}
        self._total: dict[str, int] = {}
        self.spent_total: dict[str, int] = {}   # weight charged since the last reset, per IP
        self.refused: dict[str, int] = {}       # requests answered 429 since the last reset, per IP

    def reset(self, limit: int) -> None:
        self.limit = limit
        self._spent.clear()
        self._total.clear()
        self.spent_total.clear()
        self.refused.clear()

    def _trim(self, ip: str, now: float) -> None:
        spent = self._spent.setdefault(ip, collections.deque())
        while spent and now - spent[0][0] >= self.WINDOW_S:
            _, w = spent.popleft()
            self._total[ip] -= w

    def try_consume(self, ip: str, weight: int) -> bool:
        now = self._wall()
        self._trim(ip, now)
        if self._total.get(ip, 0) + weight > self.limit:
            self.refused[ip] = self.refused.get(ip, 0) + 1
            return False
        self.charge(ip, weight, now)
        return True

    def charge(self, ip: str, weight: int, now: float | None = None) -> None:
        if weight <= 0:
            return
        self._spent.setdefault(ip, collections.deque()).append((now or self._wall(), weight))
        self._total[ip] = self._total.get(ip, 0) + weight
        self.spent_total[ip] = self.spent_total.get(ip, 0) + weight

    def used(self, ip: str) -> int:
        self._trim(ip, self._wall())
        return self._total.get(ip, 0)

    def usage(self) -> dict[str, dict[str, int]]:
        """Per IP: weight in the current 60 s window, weight spent and requests refused since the last reset."""
        ips = set(self.spent_total) | set(self.refused)
        return {ip: {"window": self.used(ip), "spent": self.spent_total.get(ip, 0),
                     "refused_429": self.refused.get(ip, 0)} for ip in sorted(ips)}
