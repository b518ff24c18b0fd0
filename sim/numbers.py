"""Number handling on the wire: parse decimal strings into scaled integers, print like Hyperliquid.

Prices and sizes inside the book are integers scaled by 10**decimals of their market (so the
book compares and sums ints); money in accounts is exact `Decimal`.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

ZERO = Decimal(0)


_PARSED: dict[tuple[str, int], tuple[int, bool] | None] = {}


def parse_scaled(text: object, decimals: int) -> tuple[int, bool] | None:
    """"12.50" at 3 decimals -> (12500, True). Second item False when `text` has more significant
    decimals than allowed. None when `text` is not a plain non-negative decimal string. The answers for
    recurring strings (a market maker re-sends the same few prices and sizes) are remembered."""
    if type(text) is str:
        key = (text, decimals)
        hit = _PARSED.get(key, _MISS)
        if hit is not _MISS:
            return hit
        if len(_PARSED) >= 16384:
            _PARSED.clear()
        hit = _PARSED[key] = _parse_scaled(text, decimals)
        return hit
    return None


_MISS = object()


def _parse_scaled(text: str, decimals: int) -> tuple[int, bool] | None:
    if not text or len(text) > 40:
        return None
    if "." in text:
        ip, _, fp = text.partition(".")
        fp = fp.rstrip("0")
    else:
        ip, fp = text, ""
    if not ip:
        ip = "0"
    if not (ip.isdigit() and ip.isascii() and (not fp or (fp.isdigit() and fp.isascii()))):
        return None
    if len(fp) > decimals:
        return int(ip + fp), False
    return int(ip + fp + "0" * (decimals - len(fp))), True


def sig_figs_ok(scaled: int, decimals: int, max_sig: int = 5) -> bool:
    """Hyperliquid tick rule part 1: at most `max_sig` significant figures unless an integer."""
    if scaled % (10 ** decimals) == 0:
        return True
    digits = str(scaled).rstrip("0")
    return len(digits) <= max_sig


_PRINTED: dict[tuple[int, int], str] = {}


def scaled_str(value: int, decimals: int) -> str:
    """Print a scaled int the way Hyperliquid prints numbers: "30135.0", "0.0012", "-2.5". Prices and sizes
    recur from order to order: the strings are remembered."""
    key = (value, decimals)
    s = _PRINTED.get(key)
    if s is None:
        if len(_PRINTED) >= 8192:
            _PRINTED.clear()
        s = _PRINTED[key] = _scaled_str(value, decimals)
    return s


def _scaled_str(value: int, decimals: int) -> str:
    neg = value < 0
    q, r = divmod(-value if neg else value, 10 ** decimals)
    if r:
        s = f"{q}.{str(r).rjust(decimals, '0').rstrip('0')}"
    else:
        s = f"{q}.0"
    return "-" + s if neg else s


def dec_str(d: Decimal) -> str:
    """Decimal -> Hyperliquid response string (integers get ".0", no exponent, no -0)."""
    if not d:
        return "0.0"
    if d == d.to_integral_value():
        return f"{int(d)}.0"
    s = format(d.normalize(), "f")
    return s


def to_dec(value: object, field: str) -> Decimal:
    """Decimal from str/int/Decimal (floats go through str so 0.1 stays 0.1); ValueError names the field."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got {value!r}")
    try:
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValueError(f"{field}: not a number: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"{field}: not a finite number: {value!r}")
    return d

