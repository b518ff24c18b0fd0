"""The venue never imports the engine (or the flows): it checks signatures with the SDK, so a signer bug in the
engine is caught instead of mirrored (DESIGN.md, docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[2] / "sim"


def test_sim_imports_neither_engine_nor_flows():
    offenders = []
    for path in sorted(SIM.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.relative_to(SIM.parent)}: {n}" for n in names
                          if n.split(".")[0] in ("engine", "flows", "deployments")]
    assert len(list(SIM.rglob("*.py"))) > 20 and offenders == []
