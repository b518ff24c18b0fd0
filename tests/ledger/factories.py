"""Venue-shaped records for ledger tests (shapes from protocol §3/§6: strings for numbers, ms times)."""
from __future__ import annotations

import hashlib

USER = "0x" + "ab" * 20
OTHER_USER = "0x" + "cd" * 20
T0_MS = 1_760_000_000_000  # 2025-10-09T08:53:20Z


def tx_hash(i: int) -> str:
    return "0x" + hashlib.sha256(f"tx-{i}".encode()).hexdigest()


def make_fill(i: int, coin: str = "HYPE", side: str = "B", px: str = "30.125", sz: str = "1.5",
              **extra) -> dict:
    fill = {"coin": coin, "px": px, "sz": sz, "side": side, "time": T0_MS + i * 1000, "startPosition": "0.0",
            "dir": "Open Long" if side == "B" else "Open Short", "closedPnl": "0.0", "hash": tx_hash(i),
            "oid": 1_000_000 + i, "crossed": i % 2 == 0, "fee": "0.0123", "tid": 10**14 + i, "feeToken": "USDC"}
    fill.update(extra)
    return fill


def make_funding_rest(hour: int, coin: str = "HYPE", usdc: str = "0.000375", szi: str = "-1.0",
                      rate: str = "0.0000125") -> dict:
    return {"time": T0_MS + hour * 3_600_000, "hash": tx_hash(10_000 + hour),
            "delta": {"type": "funding", "coin": coin, "usdc": usdc, "szi": szi, "fundingRate": rate,
                      "nSamples": None}}


def make_funding_ws(hour: int, coin: str = "HYPE", usdc: str = "0.000375", szi: str = "-1.0",
                    rate: str = "0.0000125") -> dict:
    return {"time": T0_MS + hour * 3_600_000, "coin": coin, "usdc": usdc, "szi": szi, "fundingRate": rate}
