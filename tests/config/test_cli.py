"""`hlmm config check`: effective config with secrets masked; exit 2 with the message on invalid config."""
from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.config import effective_dict, load_config

REPO = Path(__file__).resolve().parents[2]
HLMM = REPO / ".venv" / "bin" / "hlmm"
runner = CliRunner()

ALERT_TOKEN = "AAHs3cretBotToken"
DB_PASSWORD = "pgS3cretPw"
SECRET_TOML = f"""
[venue]
network = "testnet"
account_address = "0x{'ab' * 20}"
secret_env = "HLMM_TEST_AGENT_KEY"
[ledger]
url = "postgresql+psycopg://hl:{DB_PASSWORD}@127.0.0.1:5432/hlmm"
[[alerts.targets]]
url = "tgram://123456:{ALERT_TOKEN}/987654"
[[alerts.targets]]
url = "json://ops:{DB_PASSWORD}x@alerts.example.com:8080/hook"
severities = ["critical"]
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HLMM_")}
    env.update(extra)
    return env


def _assert_no_secrets(text: str, key: str) -> None:
    for secret in (key[2:], key[2:].upper(), ALERT_TOKEN, DB_PASSWORD, "123456", "987654"):
        assert secret not in text, secret


def test_check_masks_every_secret(write_toml, key_like):
    path = write_toml(SECRET_TOML)
    env = {"HLMM_TEST_AGENT_KEY": key_like, "HLMM_STRATEGY__BASE_SPREAD": "0.003"}
    for args in (["config", "check", str(path)], ["config", "check", str(path), "--json"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        _assert_no_secrets(result.output, key_like)
    text = runner.invoke(app, ["config", "check", str(path)], env=env).output
    assert "tgram://****" in text and "json://****@alerts.example.com:8080/****" in text
    assert "postgresql+psycopg://hl:****@127.0.0.1:5432/hlmm" in text
    assert "HLMM_TEST_AGENT_KEY (set)" in text and "HLMM_STRATEGY__BASE_SPREAD" in text
    assert "base_spread = 0.003" in text


def test_check_toml_output_is_the_effective_config(write_toml, key_like):
    path = write_toml('[venue]\nnetwork = "mainnet"\naccount_address = "0x' + "cd" * 20 + '"\n'
                      '[[markets]]\ncoin = "ETH"\nspot = false\n[flows]\nrebalance = "0 * * * *"\n')
    result = runner.invoke(app, ["config", "check", str(path)], env={})
    assert result.exit_code == 0, result.output
    parsed = tomllib.loads(result.stdout)
    expected = effective_dict(load_config(path, {}))
    # TOML has no null: unset optional keys are shown as comments instead.
    drop_none = lambda d: {k: drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}  # noqa: E731
    assert parsed == drop_none(expected)
    assert parsed["venue"]["base_url"] == "https://api.hyperliquid.xyz"


def test_check_json_flag(write_toml):
    result = runner.invoke(app, ["config", "check", str(write_toml("[carry]\nperp_leverage = 3\n")), "--json"],
                           env={})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["carry"]["perp_leverage"] == 3 and data["markets"][0]["coin"] == "HYPE"


def test_check_without_file_uses_defaults_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["config", "check"], env={})
    assert result.exit_code == 0, result.output
    assert "no hlmm.toml found; using the built-in defaults" in result.output
    assert 'network = "local"' in result.stdout


def test_check_invalid_exits_2_with_message(write_toml, key_like):
    path = write_toml(f'[strategy]\nbase_spread = -1\n[venue]\nprivate_key = "{key_like}"\n')
    result = runner.invoke(app, ["config", "check", str(path)], env={})
    assert result.exit_code == 2
    assert "strategy.base_spread = -1" in result.output and "venue.private_key" in result.output
    _assert_no_secrets(result.output, key_like)


def test_check_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["config", "check", str(tmp_path / "none.toml")], env={})
    assert result.exit_code == 2 and "not found" in result.output


def test_check_loose_key_file_refused_without_leaking(write_toml, tmp_path, key_like):
    key_path = tmp_path / "agent.key"
    key_path.write_text(key_like)
    key_path.chmod(0o644)
    result = runner.invoke(app, ["config", "check", str(write_toml(f'[venue]\nsecret_file = "{key_path}"'))],
                           env={})
    assert result.exit_code == 2 and "chmod 600" in result.output
    _assert_no_secrets(result.output, key_like)


@pytest.mark.skipif(not HLMM.exists(), reason="needs the project venv's hlmm entry point")
def test_check_via_installed_entry_point(write_toml, tmp_path, key_like):
    path = write_toml(SECRET_TOML)
    ok = subprocess.run([str(HLMM), "config", "check", str(path)], capture_output=True, text=True, timeout=120,
                        cwd=tmp_path, env=_clean_env(HLMM_TEST_AGENT_KEY=key_like, HLMM_RISK__MAX_OPEN_ORDERS="7"))
    assert ok.returncode == 0, ok.stderr
    assert "max_open_orders = 7" in ok.stdout and "tgram://****" in ok.stdout
    _assert_no_secrets(ok.stdout + ok.stderr, key_like)

    bad = subprocess.run([str(HLMM), "config", "check", "--json", str(path)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path,
                         env=_clean_env(HLMM_TEST_AGENT_KEY=key_like, HLMM_VENUE__PRIVATE_KEY=key_like))
    assert bad.returncode == 2 and "refused" in bad.stderr and bad.stdout == ""
    _assert_no_secrets(bad.stdout + bad.stderr, key_like)


def test_example_file_validates():
    cfg = load_config(REPO / "hlmm.example.toml", {})
    assert cfg.venue.network == "local" and cfg.venue.secret_env == "HLMM_PRIVATE_KEY"
    result = runner.invoke(app, ["config", "check", str(REPO / "hlmm.example.toml")], env={})
    assert result.exit_code == 0, result.output


def test_example_file_documents_every_key():
    text = (REPO / "hlmm.example.toml").read_text()
    defaults = effective_dict(load_config(REPO / "hlmm.example.toml", {}))
    for section, value in defaults.items():
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            for key in (k for k in table if k != "targets"):
                assert f"{key} =" in text, f"{section}.{key} is not in hlmm.example.toml"
    # Alert targets are commented examples (real URLs hold tokens), with both of their keys.
    assert "# [[alerts.targets]]" in text and '# url = "tgram://' in text and "# severities = [" in text
