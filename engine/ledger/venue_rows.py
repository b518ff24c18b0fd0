"""Venue records (userFills / userFunding / WS userFundings shapes, protocol §2-§3, §6) → ledger column values.

Pure parsing: every problem is a ValueError whose message starts with the path of the bad field
(`fills[3].px: ...`), so a caller can say exactly which record the venue (or a test) got wrong. Parsers never
touch the database; repo.py parses a whole batch before writing any of it.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping

from engine.ledger.models import SIDES
from engine.ledger.types import from_ms, to_decimal

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_CLOID = re.compile(r"^0x[0-9a-fA-F]{32}$")
_U64 = 2**64


def user_address(user: object, field: str = "user") -> str:
    """A 42-char hex address, lowercased (the venue prints lowercase; the ledger keys on it)."""
    if not isinstance(user, str) or not _ADDRESS.match(user):
        raise ValueError(f"{field}: {user!r} is not a 0x-prefixed 40-hex-digit address")
    return user.lower()


def leg_of(coin: str) -> str:
    """'spot' for spot pair names ('PURR/USDC', '@107'), 'perp' otherwise (incl. builder dex 'dex:COIN')."""
    return "spot" if coin.startswith("@") or "/" in coin else "perp"


def _get(row: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in row or row[key] is None:
        raise ValueError(f"{where}.{key}: missing")
    return row[key]


def _str(row: Mapping[str, Any], key: str, where: str, max_len: int) -> str:
    value = _get(row, key, where)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ValueError(f"{where}.{key}: {value!r} is not a non-empty string of at most {max_len} characters")
    return value


def _int(row: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(row, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        # venue ids and times are JSON integers; a string or float here means a different (wrong) shape
        raise ValueError(f"{where}.{key}: {value!r} is not an integer")
    if not 0 <= value < _U64:
        raise ValueError(f"{where}.{key}: {value} is out of range for an unsigned 64-bit id")
    return value


def _dec(row: Mapping[str, Any], key: str, where: str) -> Decimal:
    return to_decimal(_get(row, key, where), f"{where}.{key}")


def _time(row: Mapping[str, Any], key: str, where: str) -> Any:
    ms = _int(row, key, where)
    if ms >= 253402300800000:  # year 10000: a seconds/µs mix-up, not a real time
        raise ValueError(f"{where}.{key}: {ms} is not a millisecond timestamp")
    return from_ms(ms)


def parse_fill(user: str, row: object, where: str) -> dict[str, Any]:
    """One userFills row → `fills` column values (user already validated)."""
    if not isinstance(row, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
    coin = _str(row, "coin", where, 32)
    side = _get(row, "side", where)
    if side not in SIDES:
        raise ValueError(f"{where}.side: {side!r} is not 'B' or 'A'")
    tx_hash = _get(row, "hash", where)
    if not isinstance(tx_hash, str) or not _HASH.match(tx_hash):
        raise ValueError(f"{where}.hash: {tx_hash!r} is not a 0x-prefixed 64-hex-digit hash")
    crossed = _get(row, "crossed", where)
    if not isinstance(crossed, bool):
        raise ValueError(f"{where}.crossed: {crossed!r} is not a boolean")
    cloid = row.get("cloid")
    if cloid is not None and (not isinstance(cloid, str) or not _CLOID.match(cloid)):
        raise ValueError(f"{where}.cloid: {cloid!r} is not a 0x-prefixed 32-hex-digit cloid")
    px, sz = _dec(row, "px", where), _dec(row, "sz", where)
    if px <= 0:
        raise ValueError(f"{where}.px: {px} must be > 0")
    if sz <= 0:
        raise ValueError(f"{where}.sz: {sz} must be > 0")
    builder_fee = row.get("builderFee")
    return {
        "user": user, "coin": coin, "leg": leg_of(coin), "tid": _int(row, "tid", where),
        "hash": tx_hash.lower(), "oid": _int(row, "oid", where), "cloid": cloid.lower() if cloid else None,
        "side": side, "px": px, "sz": sz, "fee": _dec(row, "fee", where),
        "fee_token": _str(row, "feeToken", where, 16),
        "builder_fee": None if builder_fee is None else to_decimal(builder_fee, f"{where}.builderFee"),
        "crossed": crossed, "closed_pnl": _dec(row, "closedPnl", where),
        "start_position": _dec(row, "startPosition", where), "dir": _str(row, "dir", where, 48),
        "time": _time(row, "time", where),
    }


def parse_funding(user: str, row: object, where: str) -> dict[str, Any]:
    """One funding row → `funding_payments` column values. Accepts the REST userFunding shape
    `{time, hash, delta: {type: "funding", coin, usdc, szi, fundingRate}}` and the WS userFundings shape
    `{time, coin, usdc, szi, fundingRate}`."""
    if not isinstance(row, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
    tx_hash = row.get("hash")
    if "delta" in row:
        delta = row["delta"]
        if not isinstance(delta, Mapping):
            raise ValueError(f"{where}.delta: expected an object, got {type(delta).__name__}")
        if delta.get("type") != "funding":
            raise ValueError(f"{where}.delta.type: {delta.get('type')!r} is not 'funding'")
        body, body_where = delta, f"{where}.delta"
    else:
        body, body_where = row, where
    if tx_hash is not None and (not isinstance(tx_hash, str) or not _HASH.match(tx_hash)):
        raise ValueError(f"{where}.hash: {tx_hash!r} is not a 0x-prefixed 64-hex-digit hash")
    return {
        "user": user, "coin": _str(body, "coin", body_where, 32), "time": _time(row, "time", where),
        "usdc": _dec(body, "usdc", body_where), "szi": _dec(body, "szi", body_where),
        "rate": _dec(body, "fundingRate", body_where), "hash": tx_hash.lower() if tx_hash else None,
    }
