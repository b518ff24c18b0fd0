"""Field access helpers shared by the /info parsers: every failure names the field (package-private)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


class VenueDataError(ValueError):
    """A venue reply is missing a field or has one of the wrong type (message names it)."""


def _get(d: Any, key: str, where: str) -> Any:
    try:
        return d[key]
    except (KeyError, TypeError, IndexError):
        raise VenueDataError(f"{where}: missing field {key!r}") from None


def _dec(v: Any, where: str) -> Decimal:
    if isinstance(v, bool) or v is None:
        raise VenueDataError(f"{where}: expected a decimal string, got {v!r}")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise VenueDataError(f"{where}: not a decimal: {v!r}") from None
    if not d.is_finite():
        raise VenueDataError(f"{where}: not finite: {v!r}")
    return d


def _opt_dec(v: Any, where: str) -> Decimal | None:
    return None if v is None else _dec(v, where)


def _flt(v: Any, where: str) -> float:
    if isinstance(v, bool) or v is None:
        raise VenueDataError(f"{where}: expected a number string, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise VenueDataError(f"{where}: not a number: {v!r}") from None


def _opt_flt(v: Any, where: str) -> float | None:
    return None if v is None else _flt(v, where)


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise VenueDataError(f"{where}: expected an int, got {v!r}")
    return v


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise VenueDataError(f"{where}: expected a list, got {type(v).__name__}")
    return v
