"""The effective configuration as TOML or JSON, with every secret-bearing value masked.

The TOML form is valid TOML (it parses back to the same tree), so `hlmm config check > hlmm.toml` gives a
complete, explicit file to start from; masked values must of course be filled in again.
"""
from __future__ import annotations

import json
import math
from typing import Any

from engine.config.model import HlmmConfig
from engine.config.secrets import mask_db_url, mask_url


def effective_dict(cfg: HlmmConfig) -> dict[str, Any]:
    """Every key with its effective value (defaults and derived values filled in), secrets masked."""
    data = cfg.model_dump(mode="json")
    data["ledger"]["url"] = mask_db_url(cfg.ledger.url)
    for rendered, target in zip(data["alerts"]["targets"], cfg.alerts.targets):
        rendered["url"] = mask_url(target.url.get_secret_value())
    return data


def to_json(cfg: HlmmConfig) -> str:
    return json.dumps(effective_dict(cfg), indent=2)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite float in config")  # validation forbids these; never render one
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(lines: list[str], header: str, table: dict[str, Any], array: bool = False) -> None:
    lines.append(f"[[{header}]]" if array else f"[{header}]")
    nested = []
    for key, value in table.items():
        if value is None:
            lines.append(f"# {key} = (not set)")  # TOML has no null
        elif isinstance(value, dict) or _is_table_array(value):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_scalar(value)}")
    for key, value in nested:
        lines.append("")
        if isinstance(value, dict):
            _table(lines, f"{header}.{key}", value)
        else:
            for item in value:
                _table(lines, f"{header}.{key}", item, array=True)


def to_toml(cfg: HlmmConfig, header: list[str] | None = None) -> str:
    lines = [f"# {line}" for line in header or []]
    for section, value in effective_dict(cfg).items():
        if lines:
            lines.append("")
        if isinstance(value, list):
            for index, item in enumerate(value):
                if index:
                    lines.append("")
                _table(lines, section, item, array=True)
        else:
            _table(lines, section, value)
    return "\n".join(lines) + "\n"
