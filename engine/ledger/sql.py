"""SQL helpers shared by the repository modules: checked text fields, JSON values, dialect-aware INSERT."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from engine.ledger.types import canonical, require_aware


def _text(value: object, field: str, max_len: int, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValueError(f"{field}: {value!r} is not a non-empty string of at most {max_len} characters")
    return value


def _json(value: Any, field: str) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return format(canonical(obj), "f")   # exact, as the venue writes numbers
        if isinstance(obj, dt.datetime):
            return require_aware(obj, field).isoformat()
        raise TypeError(type(obj).__name__)

    try:
        return json.dumps(value, sort_keys=True, default=default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field}: not JSON-serializable ({exc})") from None


def _insert(session: Session, table: Table):
    """INSERT for the session's dialect, with ON CONFLICT support."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"ledger.url: unsupported dialect {name!r}")
