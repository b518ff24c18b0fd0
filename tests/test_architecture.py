"""The import rules of docs/architecture.md, checked on the source itself (every module's `import` statements).

A rule broken here is a design change: change docs/architecture.md with it, or move the code.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROOMS = ("engine", "sim", "flows", "deployments")
MAX_LINES = 420  # "files that do one job (split before ~400 lines)"

# state in, decision out: no I/O, no clock, no other room's machinery
PURE = ("engine.strategy", "engine.risk", "engine.calibration", "engine.execution.decide", "engine.execution.diff",
        "engine.execution.requote_gate", "engine.execution.requote_bounds", "engine.attribution", "engine.numbers")
PURE_STDLIB = {"__future__", "dataclasses", "decimal", "typing", "enum", "math", "collections.abc", "datetime"}
FLOWS_MAY_USE = ("engine.alerts", "engine.attribution", "engine.calibration", "engine.config", "engine.ledger",
                 "engine.numbers", "engine.strategy.rounding", "engine.venue")
# the calibrate flow's trials are `hlmm backtest` runs: it alone reaches the backtest, through its trial entry
FLOWS_BACKTEST = {"flows.calibrate": "engine.backtest.trial"}
BACKTEST_USERS = ("engine.backtest", "engine.bench", "engine.commands", "engine.cli")


def _modules() -> dict[str, tuple[pathlib.Path, set[str]]]:
    out = {}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic revisions: generated shape, no engine imports
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            imported: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    imported.update(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module)
            out[name] = (path, imported)
    return out


MODULES = _modules()


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _breaking(owner: tuple[str, ...] | str, rule) -> list[str]:
    return sorted(f"{m} imports {i}" for m, (_, imps) in MODULES.items() if _under(m, owner)
                  for i in imps if rule(m, i))


def test_the_source_tree_was_read():
    assert len(MODULES) > 150 and "engine.loop" in MODULES and "sim.venue" in MODULES


def test_the_venue_never_imports_the_engine():
    """A signer or rounding bug in the engine must be caught by the sim, not mirrored (and venue facts stay
    the engine's: the sim keeps its own)."""
    assert _breaking("sim", lambda m, i: _under(i, "engine")) == []


def test_prefect_stays_out_of_the_engine():
    """The command line may reach any room (`hlmm up` serves the flows); the engine's own modules never."""
    assert _breaking("engine", lambda m, i: _under(i, ("prefect", "flows", "deployments"))
                     and not _under(m, ("engine.cli", "engine.commands"))) == []


def test_pure_modules_import_only_pure_modules():
    def impure(m: str, i: str) -> bool:
        if _under(i, "engine"):
            return not _under(i, PURE) and i != "engine.strategy"
        return i not in PURE_STDLIB
    assert _breaking(PURE, impure) == []


def test_the_venue_client_knows_nothing_of_the_rest_of_the_engine():
    assert _breaking("engine.venue", lambda m, i: _under(i, "engine") and not _under(i, ("engine.venue",
                                                                                           "engine.clock"))) == []


def test_the_ledger_is_a_leaf():
    assert _breaking("engine.ledger", lambda m, i: _under(i, "engine") and not _under(i, "engine.ledger")) == []


def test_only_the_backtest_tools_import_the_backtest():
    assert _breaking("engine", lambda m, i: _under(i, "engine.backtest") and not _under(m, BACKTEST_USERS)) == []


def test_flows_use_the_engine_only_through_its_shared_modules():
    assert _breaking(("flows", "deployments"),
                     lambda m, i: _under(i, "engine") and not _under(i, FLOWS_MAY_USE)
                     and FLOWS_BACKTEST.get(m) != i) == []


@pytest.mark.parametrize("room", ROOMS)
def test_no_file_is_over_the_size_limit(room):
    long = sorted(f"{p.relative_to(ROOT)}: {n} lines" for p, _ in (v for k, v in MODULES.items() if _under(k, room))
                  if (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert long == []
