"""Column types that make the ledger exact on both SQLite and PostgreSQL.

`ExactDecimal`: money and sizes. PostgreSQL stores NUMERIC(38,18); SQLite has no exact decimal type (its
NUMERIC affinity turns values into binary floats), so there the value is stored as a canonical decimal string
and parsed back into `Decimal`. Both dialects accept the same range (at most 20 integer digits and 18
fractional digits) and refuse anything outside it instead of rounding silently, and both hand back the same
canonical `Decimal` (trailing zeros stripped; integers with exponent 0), so a value read back compares and
prints the same on either database (print money with `format(d, "f")`: `str()` may use exponent notation). Binary floats are refused: they are not exact, so accepting one would hide a bug upstream.
On SQLite the stored text does not sort or sum numerically in SQL: do arithmetic in Python.

`UTCDateTime`: timestamps. Aware datetimes only (a naive one is refused: its instant is ambiguous); stored as
UTC (timestamptz on PostgreSQL, ISO text on SQLite, which then sorts chronologically) and returned aware in UTC.
"""
from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal, InvalidOperation

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

PRECISION = 38
SCALE = 18


_CTX = Context(prec=PRECISION + SCALE + 4)  # wide enough that normalize() never rounds a value in range
_ONE = Decimal(1)
_SCALE_Q = Decimal(1).scaleb(-SCALE)


def canonical(value: Decimal) -> Decimal:
    """`value` without trailing zeros, integers with exponent 0: Decimal('1.50') → Decimal('1.5'),
    Decimal('1E+2') → Decimal('100'). Numerically equal to the input (`value` must be in the ledger's range,
    as `to_decimal` checks first; the context is wide enough that nothing rounds)."""
    if not value:
        return Decimal(0)
    n = value.normalize(_CTX)
    if n == n.to_integral_value():  # normalize writes 100 as 1E+2: integers get exponent 0
        return n.quantize(_ONE, context=_CTX)
    return n


_PARSED: dict[object, Decimal] = {}  # value -> its canonical Decimal: prices and sizes repeat, parse each once
_PARSED_MAX = 8192


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Parse an exact decimal from Decimal, int or a decimal string; ValueError naming `field` otherwise."""
    kind = type(value)
    if kind is Decimal or kind is str:  # (exact types: a bool or float never reaches the cache)
        try:
            hit = _PARSED.get(value)
        except TypeError:  # a signalling NaN cannot be hashed: refused below
            hit = None
        if hit is not None:
            return hit
        d = _to_decimal(value, field)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[value] = d  # equal Decimals (1.5, 1.50) have the same canonical form, so sharing a key is exact
        return d
    return _to_decimal(value, field)


def _to_decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{field}: {value!r} is a {type(value).__name__}; pass a Decimal, int or decimal string"
                         " (binary floats are not exact)")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{field}: {value!r} is not a decimal number") from None
    else:
        raise ValueError(f"{field}: expected a decimal number, got {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    # range first: canonical() of 1E+400000 would build a 400001-digit number
    if d != 0 and d.adjusted() >= PRECISION - SCALE:
        raise ValueError(f"{field}: {value!r} has {d.adjusted() + 1} integer digits; the ledger keeps at most "
                         f"{PRECISION - SCALE}")
    d = canonical(d)
    if d != d.quantize(_SCALE_Q, context=_CTX):  # (as_tuple() would say how many, at twice the cost)
        raise ValueError(f"{field}: {value!r} has {-d.as_tuple().exponent} decimal places; the ledger keeps at "
                         f"most {SCALE}")
    return d


class ExactDecimal(TypeDecorator):
    """Decimal in, the same Decimal (canonical form) out, on SQLite and PostgreSQL."""

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(PRECISION, SCALE, asdecimal=True))

    def process_bind_param(self, value, dialect: Dialect):
        if value is None:
            return None
        d = to_decimal(value, f"{type(self).__name__} column")
        return format(d, "f") if dialect.name == "sqlite" else d

    def process_result_value(self, value, dialect: Dialect):
        if value is None:
            return None
        return canonical(Decimal(value) if isinstance(value, str) else value)

    @property
    def python_type(self) -> type:
        return Decimal


def require_aware(value: object, field: str = "time") -> dt.datetime:
    """The datetime converted to UTC; ValueError naming `field` for naive datetimes and non-datetimes."""
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{field}: expected a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{field}: naive datetime {value.isoformat()} refused; pass a timezone-aware datetime "
                         "(e.g. datetime.now(timezone.utc))")
    return value.astimezone(dt.timezone.utc)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # made once: the writer converts every order state's time
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)
_MS = dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    """Venue milliseconds → aware UTC datetime (exact: integer arithmetic, no float)."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


def to_ms(value: dt.datetime) -> int:
    """Aware datetime → venue milliseconds (truncating sub-ms)."""
    return (require_aware(value) - _EPOCH) // _MS


class UTCDateTime(TypeDecorator):
    """Aware datetime in (naive refused), the same instant out as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect: Dialect):
        if value is None:
            return None
        utc = require_aware(value, f"{type(self).__name__} column")
        # SQLite's DateTime stores naive ISO text; storing UTC there keeps text order == time order. The naive
        # UTC time is the instant's distance from the epoch put on the naive epoch: the same value as
        # utc.replace(tzinfo=None), which costs ten times as much (its keyword parsing), on every row written
        return _NAIVE_EPOCH + (utc - _EPOCH) if dialect.name == "sqlite" else utc

    def process_result_value(self, value, dialect: Dialect):
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC text
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    @property
    def python_type(self) -> type:
        return dt.datetime
