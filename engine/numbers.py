"""Parsing venue numbers (decimal strings) into Decimal with errors that name the field."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def dec(value: Any, field: str) -> Decimal:
    """Exact Decimal from a venue string / int / Decimal. Floats go through repr so 0.1 stays 0.1."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: expected a number, got {value!r}")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{field}: expected a number, got {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"{field}: expected a finite number, got {value!r}")
    return d


def positive(value: Any, field: str) -> Decimal:
    d = dec(value, field)
    if d <= 0:
        raise ValueError(f"{field}: must be > 0, got {value!r}")
    return d
