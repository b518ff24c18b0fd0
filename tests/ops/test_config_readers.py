"""No configuration key exists that nothing reads: every leaf of the config model (engine/config) is read by
name somewhere outside engine/config — as an attribute (`cfg.risk.max_position_usd`, `strategy.gamma`) or by a
string (`getattr(flows_cfg, "drawdown_audit")`, `alerts_cfg.get("targets")`). A key added to the model and
documented in hlmm.example.toml but read by no code fails here, as limits.price_cache_ms once did."""
from __future__ import annotations

import ast
import re
import tomllib
import typing
from pathlib import Path

from pydantic import BaseModel

from engine.config import HlmmConfig

REPO = Path(__file__).resolve().parents[2]
READERS = [p for d in ("engine", "flows", "deployments") for p in (REPO / d).rglob("*.py")
           if "config" not in p.relative_to(REPO).parts[:2]]


def _model_of(annotation) -> type[BaseModel] | None:
    """The config table inside an annotation (`XConfig`, `list[XConfig]`), None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _model_of(arg)
        if inner is not None:
            return inner
    return None


def leaves(model: type[BaseModel], prefix: str = "") -> dict[str, str]:
    """dotted key -> field name, for every leaf of the model (lists of tables descend into the table)."""
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is not None:
            out.update(leaves(sub, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = name
    return out


def names_read() -> dict[str, set[str]]:
    """name -> modules reading it (attribute names and string constants)."""
    found: dict[str, set[str]] = {}
    for path in READERS:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name = node.attr if isinstance(node, ast.Attribute) else \
                node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
            if name and name.isidentifier():
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_config_key_has_a_reader():
    read = names_read()
    keys = leaves(HlmmConfig)
    assert "monitoring.metrics_bind" in keys and "alerts.targets.url" in keys  # the walk reaches every table
    unread = sorted(k for k, name in keys.items() if name not in read)
    assert unread == [], f"configuration keys nothing reads: {unread}"
    # the one reader of the metrics address is `hlmm run`
    assert read["metrics_bind"] == {"engine/commands/run.py"}


def test_example_file_documents_exactly_the_model():
    """hlmm.example.toml names every key (optional ones in comments, `# key = ...`) and no key the model lacks."""
    documented, section = set(), None
    for line in (REPO / "hlmm.example.toml").read_text().splitlines():
        header = re.match(r"^#?\s*\[\[?([a-z_.]+)\]\]?\s*$", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^#?\s?([a-z_]+)\s*=", line)
        if key and section:
            documented.add(f"{section}.{key.group(1)}")
    tomllib.loads((REPO / "hlmm.example.toml").read_text())  # and it is valid TOML
    assert documented == set(leaves(HlmmConfig)), documented ^ set(leaves(HlmmConfig))
