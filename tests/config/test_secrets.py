"""Private keys: refused inline, read from an env var or an owner-only file, never echoed anywhere."""
from __future__ import annotations

import os

import pytest

from engine.config import ConfigError, default_config, load_config, mask_db_url, mask_url, resolve_private_key


@pytest.mark.parametrize("template, key", [
    ('[venue]\nprivate_key = "{k}"', "venue.private_key"),
    ('[venue]\nsecret = "{k}"', "venue.secret"),
    ('[venue]\nkey = "{bare}"', "venue.key"),                  # 64 hex without 0x, under a key-ish name
    ('private_key = "{k}"', "private_key"),
    ('[strategy]\nwallet_key = "{bare}"', "strategy.wallet_key"),
    ('[venue]\nsecret_env = "{k}"', "venue.secret_env"),        # the key itself where its env NAME belongs
    ('[venue]\nsecret_file = "{k}"', "venue.secret_file"),
    ('[[markets]]\ncoin = "{k}"', "markets[0].coin"),           # any 0x+64-hex string anywhere
    ('[[alerts.targets]]\nurl = "json://h"\nseverities = ["{k}"]', "alerts.targets[0].severities[0]"),
])
def test_inline_private_key_refused_with_explanation(load_error, key_like, template, key):
    err = load_error(template.format(k=key_like, bare=key_like[2:]))
    message = next(p.message for p in err.problems if p.key == key)
    assert "refused" in message and "venue.secret_env" in message and "chmod 600" in message
    for text in (str(err), repr(err), *(p.message for p in err.problems)):
        assert key_like[2:].lower() not in text.lower()


def test_secret_env_holding_the_key_gets_a_specific_hint(load_error, key_like):
    err = load_error(f'[venue]\nsecret_env = "{key_like}"')
    assert "NAME of the environment variable" in str(err)


def test_inline_key_from_environment_refused(write_toml, key_like):
    with pytest.raises(ConfigError) as info:
        load_config(write_toml(""), {"HLMM_VENUE__PRIVATE_KEY": key_like})
    assert "from the environment" in str(info.value) and "refused" in str(info.value)
    assert key_like[2:] not in str(info.value)


def _key_file(tmp_path, key: str, mode: int):
    path = tmp_path / "agent.key"
    path.write_text(key + "\n")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_key_file_is_read(write_toml, tmp_path, key_like, mode):
    path = _key_file(tmp_path, key_like.upper().replace("0X", "0x"), mode)
    cfg = load_config(write_toml(f'[venue]\nsecret_file = "{path}"'), {})
    assert resolve_private_key(cfg.venue) == key_like.lower()
    assert key_like[2:] not in repr(cfg) and key_like[2:] not in str(cfg.model_dump())


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_other_readable_key_file_refused(load_error, tmp_path, key_like, mode):
    path = _key_file(tmp_path, key_like, mode)
    err = load_error(f'[venue]\nsecret_file = "{path}"')
    message = next(p.message for p in err.problems if p.key == "venue.secret_file")
    assert f"mode is {mode:04o}" in message and f"chmod 600 {path}" in message
    assert key_like[2:] not in str(err)


def test_key_file_loosened_after_load_is_refused_at_use(write_toml, tmp_path, key_like):
    path = _key_file(tmp_path, key_like, 0o600)
    cfg = load_config(write_toml(f'[venue]\nsecret_file = "{path}"'), {})
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="mode is 0644") as info:
        resolve_private_key(cfg.venue)
    assert key_like[2:] not in str(info.value)


def test_key_from_env_var(write_toml, key_like):
    cfg = load_config(write_toml('[venue]\nsecret_env = "MY_HL_KEY"'), {})
    assert resolve_private_key(cfg.venue, {"MY_HL_KEY": key_like[2:]}) == key_like  # 0x added
    assert resolve_private_key(cfg.venue, {"MY_HL_KEY": f"  {key_like}\n"}) == key_like


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_env_var_names_the_variable(write_toml, value):
    cfg = load_config(write_toml('[venue]\nsecret_env = "MY_HL_KEY"'), {})
    env = {} if value is None else {"MY_HL_KEY": value}
    with pytest.raises(ConfigError, match="MY_HL_KEY.*not set"):
        resolve_private_key(cfg.venue, env)


def test_malformed_key_error_names_source_but_not_value(write_toml, tmp_path, key_like):
    cfg = load_config(write_toml('[venue]\nsecret_env = "MY_HL_KEY"'), {})
    almost = key_like[:-1]  # 63 hex digits: close enough to be a real key's prefix
    with pytest.raises(ConfigError) as info:
        resolve_private_key(cfg.venue, {"MY_HL_KEY": almost})
    assert "MY_HL_KEY" in str(info.value) and almost[2:] not in str(info.value)
    path = _key_file(tmp_path, almost + "zz", 0o600)
    cfg = load_config(write_toml(f'[venue]\nsecret_file = "{path}"'), {})
    with pytest.raises(ConfigError) as info:
        resolve_private_key(cfg.venue)
    assert str(path) in str(info.value) and almost[2:] not in str(info.value)


def test_no_key_source_configured():
    with pytest.raises(ConfigError, match="no private key source"):
        resolve_private_key(default_config().venue, {})


@pytest.mark.parametrize("url, shown, hidden", [
    ("tgram://123456:AAHsecretToken/987654", "tgram://****", ["123456", "AAHsecretToken", "987654"]),
    ("slack://TokenA/TokenB/TokenC", "slack://****", ["TokenA", "TokenB", "TokenC"]),
    ("discord://webhook_id/webhook_token", "discord://****", ["webhook_id", "webhook_token"]),
    ("json://user:pass@alerts.example.com:8080/hook?x=1", "json://****@alerts.example.com:8080/****",
     ["user", "pass", "hook", "x=1"]),
    ("https://hooks.example.com/services/T0/B0/XYZ", "https://hooks.example.com/****", ["T0", "XYZ"]),
    ("jsons://alerts.example.com", "jsons://alerts.example.com", []),
])
def test_alert_urls_masked(url, shown, hidden):
    assert mask_url(url) == shown
    for part in hidden:
        assert part not in mask_url(url)


def test_database_password_masked():
    assert mask_db_url("postgresql+psycopg://hl:s3cr3t@db:5432/hlmm") == "postgresql+psycopg://hl:****@db:5432/hlmm"
    assert mask_db_url("sqlite:///./var/hlmm.db") == "sqlite:///./var/hlmm.db"


def test_repr_and_errors_hide_alert_tokens_and_db_password(write_toml, load_error):
    text = """
        [ledger]
        url = "postgresql://hl:s3cr3tpw@127.0.0.1/hlmm"
        [[alerts.targets]]
        url = "tgram://123456:AAHsecretToken/987654"
    """
    cfg = load_config(write_toml(text), {})
    assert cfg.alerts.targets[0].url.get_secret_value() == "tgram://123456:AAHsecretToken/987654"
    assert "AAHsecretToken" not in repr(cfg) and "s3cr3tpw" not in repr(cfg)
    # A config that fails elsewhere still never echoes them, nor a bad URL's secret parts.
    err = load_error(text + '\n[strategy]\nlevels = 0\n')
    assert "AAHsecretToken" not in str(err) and "s3cr3tpw" not in str(err)
    err = load_error('[ledger]\nurl = "mysql://hl:s3cr3tpw@h/db"\n[[alerts.targets]]\nurl = "tg ram://AAHsecretToken"')
    assert "ledger.url" in str(err) and "alerts.targets[0].url" in str(err)
    assert "AAHsecretToken" not in str(err) and "s3cr3tpw" not in str(err)


def test_direct_construction_errors_do_not_echo_inputs():
    from pydantic import ValidationError

    from engine.config import AlertTarget, LedgerConfig
    with pytest.raises(ValidationError) as info:
        AlertTarget(url="tgram:/AAHsecretToken", severities=["info"])
    assert "AAHsecretToken" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        LedgerConfig(url="mysql://hl:s3cr3tpw@h/db")
    assert "s3cr3tpw" not in str(info.value)
