"""Funding accounting (pure): realized vs expected funding per coin, realized carry APR, mismatch flags.

- **realized** = Σ userFunding ``usdc`` for the coin in the window (user's view: + received, − paid).
- **expected** for an hour h = −szi_h · px_h · rate_h with rate_h from the public ``fundingHistory`` and szi_h
  the position the venue says it charged (userFunding ``szi``), or our own position path when the venue
  has no row for that hour; px_h is the reference price for the hour (oracle/mark close).
- flags: ``missing_payment`` (the public history has a funding hour, we held a position, no payment),
  ``rate_mismatch`` (the rate on our payment ≠ the public rate), ``amount_mismatch`` (|realized − expected|
  above tolerance for that hour), ``unexpected_payment`` (a payment for an hour with no public rate).
- **realized carry APR** = realized / (mean |szi|·px over paid hours) × hours-per-year / hours in window.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.numbers import dec

HOUR_MS = 3_600_000
HOURS_PER_YEAR = Decimal(24 * 365)
ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class FundingFlag:
    coin: str
    hour_ms: int
    kind: str
    detail: str


@dataclasses.dataclass(frozen=True)
class CoinFunding:
    coin: str
    realized: Decimal
    expected: Decimal
    payments: int
    hours: int                      # funding hours in the window (from the public history)
    mean_notional: Decimal          # mean |szi|·px over paid hours
    realized_apr: Decimal | None    # None when nothing was held
    flags: tuple[FundingFlag, ...]


def _hour(ms: int) -> int:
    return (int(ms) // HOUR_MS) * HOUR_MS


def account_funding(user_funding: Sequence[Mapping[str, Any]],
                    rate_history: Mapping[str, Sequence[Mapping[str, Any]]],
                    price_at: Callable[[str, int], Decimal | None],
                    position_at: Callable[[str, int], Decimal] | None = None,
                    window_hours: int | None = None,
                    amount_tolerance: Decimal = Decimal("0.005"),
                    abs_tolerance: Decimal = Decimal("0.01")) -> dict[str, CoinFunding]:
    """Per-coin funding account. ``price_at(coin, hour_ms)`` gives the hour's reference price (None: no
    check of amounts that hour); ``position_at(coin, hour_ms)`` our own position (None: trust the venue rows).
    Tolerance per hour: max(abs_tolerance, amount_tolerance·|expected|)."""
    paid: dict[str, dict[int, tuple[Decimal, Decimal, Decimal]]] = {}
    for i, row in enumerate(user_funding):
        d = row.get("delta", row)
        coin = d.get("coin")
        if not coin:
            raise ValueError(f"userFunding[{i}].coin: missing")
        t = row.get("time", d.get("time"))
        if t is None:
            raise ValueError(f"userFunding[{i}].time: missing")
        paid.setdefault(coin, {})[_hour(t)] = (dec(d.get("usdc"), f"userFunding[{i}].usdc"),
                                                 dec(d.get("szi"), f"userFunding[{i}].szi"),
                                                 dec(d.get("fundingRate"), f"userFunding[{i}].fundingRate"))
    rates: dict[str, dict[int, Decimal]] = {}
    for coin, rows in rate_history.items():
        for i, r in enumerate(rows):
            rates.setdefault(coin, {})[_hour(r["time"])] = dec(r.get("fundingRate"), f"fundingHistory[{coin}][{i}].fundingRate")

    out: dict[str, CoinFunding] = {}
    for coin in sorted(set(paid) | set(rates)):
        flags: list[FundingFlag] = []
        realized = expected = ZERO
        notionals: list[Decimal] = []
        hours = sorted(set(paid.get(coin, {})) | set(rates.get(coin, {})))
        for h in hours:
            row = paid.get(coin, {}).get(h)
            rate = rates.get(coin, {}).get(h)
            px = price_at(coin, h)
            if row is not None:
                usdc, szi, row_rate = row
                realized += usdc
                if px is not None:
                    notionals.append(abs(szi) * px)
                if rate is None:
                    flags.append(FundingFlag(coin, h, "unexpected_payment", f"paid {usdc} with no public rate"))
                    continue
                if row_rate != rate:
                    flags.append(FundingFlag(coin, h, "rate_mismatch", f"charged rate {row_rate} != public {rate}"))
            else:
                szi = position_at(coin, h) if position_at else ZERO
                if rate is None or szi == 0:
                    continue
                flags.append(FundingFlag(coin, h, "missing_payment", f"held {szi} at rate {rate}, no payment"))
            if px is None:
                continue
            exp = -szi * px * rate
            expected += exp
            got = row[0] if row is not None else ZERO
            tol = max(abs_tolerance, amount_tolerance * abs(exp))
            if row is not None and abs(got - exp) > tol:
                flags.append(FundingFlag(coin, h, "amount_mismatch", f"paid {got}, expected {exp:.6f}"))
        n_hours = window_hours or len(rates.get(coin, {})) or len(hours)
        mean_notional = sum(notionals, ZERO) / len(notionals) if notionals else ZERO
        apr = (realized / mean_notional * HOURS_PER_YEAR / n_hours) if mean_notional > 0 and n_hours else None
        out[coin] = CoinFunding(coin, realized, expected, len(paid.get(coin, {})), n_hours, mean_notional, apr,
                                tuple(flags))
    return out
