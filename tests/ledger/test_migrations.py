"""Alembic migrations: from an empty database to head, models == migrations, and `hlmm db` on the CLI."""
from __future__ import annotations

import fnmatch
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from engine.ledger.db import MIGRATIONS, alembic_config, current_revision, head_revision, make_engine, upgrade
from engine.ledger.models import TABLES, metadata

REPO = pathlib.Path(__file__).resolve().parents[2]
HLMM = pathlib.Path(sys.executable).with_name("hlmm")


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_from_empty_creates_every_table_and_reaches_head(ledger_url):
    engine = make_engine(ledger_url)
    try:
        assert _tables(engine) == set()
        assert current_revision(engine) is None
        upgrade(ledger_url)
        assert _tables(engine) == set(TABLES) | {"alembic_version"}
        assert current_revision(engine) == head_revision() == "0003"
        upgrade(ledger_url)                      # already at head: a no-op, not an error
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:           # the schema the migrations built is the schema the models describe
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(ledger_url):
    upgrade(ledger_url)
    engine = make_engine(ledger_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert _tables(engine) <= {"alembic_version"}
        assert current_revision(engine) is None
        upgrade(ledger_url)
        assert _tables(engine) == set(TABLES) | {"alembic_version"}
    finally:
        engine.dispose()


def test_sqlite_parent_directory_is_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'hlmm.db'}"
    upgrade(url)
    assert (tmp_path / "deep" / "er" / "hlmm.db").is_file()


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("not a url", "Could not parse"),
])
def test_unsupported_urls_are_refused(url, message):
    with pytest.raises(Exception, match=message):
        make_engine(url)


def test_migration_files_ship_in_the_package():
    """Every file the migrations need matches pyproject's package-data, so an installed hlmm can upgrade."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["engine"]
    engine_dir = REPO / "engine"
    needed = [p for p in MIGRATIONS.rglob("*.py") if "__pycache__" not in p.parts]
    assert {p.name for p in needed} >= {"env.py", "0001_initial.py"}
    for path in needed:
        rel = path.relative_to(engine_dir).as_posix()
        assert any(fnmatch.fnmatch(rel, pattern) for pattern in patterns), f"{rel} not in package-data"


def _hlmm(*args: str, cwd: pathlib.Path, **env: str) -> subprocess.CompletedProcess:
    """The installed `hlmm` console script in a subprocess (no HLMM_* from the outer environment)."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("HLMM_")}
    return subprocess.run([str(HLMM), *args], cwd=cwd, env=clean | env, capture_output=True, text=True,
                          timeout=60)


def _hlmm_in_process(*args: str, cwd: pathlib.Path, monkeypatch, **env: str):
    """The same Typer app in this process (cheaper; the console script itself is covered above)."""
    from typer.testing import CliRunner

    from engine.cli import app

    for key in [k for k in os.environ if k.upper().startswith("HLMM_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, list(args))


def test_cli_db_upgrade_with_url(ledger_url, tmp_path):
    result = _hlmm("db", "upgrade", "--url", ledger_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("at revision 0003")
    engine = make_engine(ledger_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _tables(engine) >= set(TABLES)
    finally:
        engine.dispose()


def test_cli_db_current(ledger_url, tmp_path, monkeypatch):
    result = _hlmm_in_process("db", "current", "--url", ledger_url, cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.exit_code == 1 and "revision none (empty database); head 0003" in result.output
    upgrade(ledger_url)
    result = _hlmm_in_process("db", "current", "--url", ledger_url, cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.exit_code == 0 and "revision 0003; head 0003" in result.output


def test_cli_db_upgrade_takes_the_url_from_the_config(tmp_path, monkeypatch):
    db = tmp_path / "from-config" / "ledger.db"
    (tmp_path / "hlmm.toml").write_text(f'[ledger]\nurl = "sqlite:///{db}"\n')
    result = _hlmm_in_process("db", "upgrade", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert db.is_file() and str(db) in result.output
    # HLMM_* environment overrides the file, as for every hlmm command
    other = tmp_path / "from-env.db"
    result = _hlmm_in_process("db", "upgrade", cwd=tmp_path, monkeypatch=monkeypatch,
                              HLMM_LEDGER__URL=f"sqlite:///{other}")
    assert result.exit_code == 0, result.output
    assert other.is_file()


def test_cli_db_upgrade_errors_are_clear(tmp_path, monkeypatch):
    result = _hlmm_in_process("db", "upgrade", "--url", "mysql://u@h/db", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.exit_code == 2 and "unsupported database 'mysql'" in result.output
    (tmp_path / "hlmm.toml").write_text('[ledger]\nurl = "mysql://u@h/db"\n')
    result = _hlmm_in_process("db", "upgrade", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.exit_code == 2 and "ledger.url" in result.output


def test_cli_unreachable_database_is_one_line_with_the_password_masked(tmp_path, monkeypatch):
    url = "postgresql+psycopg://postgres:S3cretPw@127.0.0.1:1/hlmm"      # nothing listens on port 1
    for command in ("upgrade", "current"):
        result = _hlmm_in_process("db", command, "--url", url, cwd=tmp_path, monkeypatch=monkeypatch)
        assert result.exit_code == 2
        assert "postgres:****@127.0.0.1:1/hlmm" in result.output and "Connection refused" in result.output
        assert "S3cretPw" not in result.output and "Traceback" not in result.output
