"""Ledger vs venue diff (pure): which fills / funding payments the ledger is missing or has wrong.

Identity of a fill is (coin, tid) — the venue's unique trade id scoped by coin; of a funding payment
(coin, time). The venue is the source of truth: anything it has that the ledger lacks is ``missing``;
anything the ledger has that the venue does not is ``extra`` (reported, never deleted automatically);
same key with different px/sz/side/fee is ``mismatched``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.numbers import dec


@dataclasses.dataclass(frozen=True)
class Diff:
    missing: tuple[Mapping[str, Any], ...]      # venue rows to write into the ledger
    extra: tuple[tuple, ...]                   # ledger keys the venue does not know
    mismatched: tuple[tuple, ...]              # keys whose values differ

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.mismatched)


def fill_key(f: Mapping[str, Any]) -> tuple[str, int]:
    return (str(f["coin"]), int(f["tid"]))


def funding_key(row: Mapping[str, Any]) -> tuple[str, int]:
    d = row.get("delta", row)
    return (str(d["coin"]), int(row.get("time", d.get("time"))))


def _fill_values(f: Mapping[str, Any]) -> tuple:
    return (dec(f["px"], "px"), dec(f["sz"], "sz"), f["side"], dec(f.get("fee", 0), "fee"))


def _funding_values(row: Mapping[str, Any]) -> tuple:
    d = row.get("delta", row)
    return (dec(d["usdc"], "usdc"),)


def _diff(venue, ledger, key, values) -> Diff:
    have = {key(r): r for r in ledger}
    missing, mismatched = [], []
    venue_keys = set()
    for r in venue:
        k = key(r)
        venue_keys.add(k)
        mine = have.get(k)
        if mine is None:
            missing.append(r)
        elif values(mine) != values(r):
            mismatched.append(k)
    extra = sorted(k for k in have if k not in venue_keys)
    return Diff(tuple(missing), tuple(extra), tuple(sorted(mismatched)))


def diff_fills(venue: Sequence[Mapping[str, Any]], ledger: Sequence[Mapping[str, Any]]) -> Diff:
    return _diff(venue, ledger, fill_key, _fill_values)


def diff_funding(venue: Sequence[Mapping[str, Any]], ledger: Sequence[Mapping[str, Any]]) -> Diff:
    return _diff(venue, ledger, funding_key, _funding_values)


def sum_usdc(rows: Sequence[Mapping[str, Any]]) -> Decimal:
    return sum((_funding_values(r)[0] for r in rows), Decimal(0))
