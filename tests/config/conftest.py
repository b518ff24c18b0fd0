"""Helpers for the config tests: write a TOML file, load it with a controlled environment."""
from __future__ import annotations

import secrets
import textwrap
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config


@pytest.fixture
def write_toml(tmp_path: Path):
    def write(text: str, name: str = "hlmm.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path
    return write


@pytest.fixture
def load_error(write_toml):
    """Load TOML text (with an optional env) and return the ConfigError it must raise."""
    def run(text: str, env: dict[str, str] | None = None) -> ConfigError:
        path = write_toml(text)
        with pytest.raises(ConfigError) as info:
            load_config(path, env or {})
        return info.value
    return run


@pytest.fixture
def key_like() -> str:
    """A fresh value shaped exactly like a real private key (never a fixed string that could be grepped)."""
    return "0x" + secrets.token_hex(32)


@pytest.fixture(autouse=True)
def _no_ambient_hlmm_env(monkeypatch):
    """The CLI reads os.environ; a developer's own HLMM_* settings must not change these tests' outcome."""
    import os
    for name in list(os.environ):
        if name.upper().startswith("HLMM_"):
            monkeypatch.delenv(name)
