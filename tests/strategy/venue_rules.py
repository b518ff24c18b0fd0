"""An independent reading of protocol §7 for the tests, written from the spec text on strings (not by
calling engine/strategy/rounding.py), so a bug there cannot hide behind a mirror of itself."""
from __future__ import annotations

from decimal import Decimal


def price_ok(px: Decimal, sz_decimals: int, is_spot: bool) -> bool:
    s = format(px, "f")
    if s.startswith("-") or Decimal(s) == 0:
        return False
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if "." not in s:
        return True  # integers are always allowed
    whole, frac = s.split(".")
    max_dec = (8 if is_spot else 6) - sz_decimals
    sig = (whole + frac).lstrip("0")
    return len(frac) <= max_dec and len(sig) <= 5


def size_ok(sz: Decimal, sz_decimals: int) -> bool:
    s = format(sz, "f")
    frac = s.split(".")[1].rstrip("0") if "." in s else ""
    return Decimal(s) > 0 and len(frac) <= sz_decimals
