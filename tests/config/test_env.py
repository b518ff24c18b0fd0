"""HLMM_* environment overrides (pydantic-settings, nested with `__`) on top of the TOML file."""
from __future__ import annotations

import pytest

from engine.config import ConfigError, load_config

ADDR = "0x" + "ab" * 20


def test_env_overrides_file_values(write_toml):
    path = write_toml("[strategy]\nbase_spread = 0.003\nlevels = 2\n")
    cfg = load_config(path, {"HLMM_STRATEGY__BASE_SPREAD": "0.004", "HLMM_CARRY__PERP_LEVERAGE": "5"})
    assert cfg.strategy.base_spread == 0.004      # env beats file
    assert cfg.strategy.levels == 2               # untouched file value kept
    assert cfg.carry.perp_leverage == 5           # env on top of a default
    assert cfg.env_overrides == ("HLMM_CARRY__PERP_LEVERAGE", "HLMM_STRATEGY__BASE_SPREAD")
    assert cfg.source_path == path


def test_env_names_are_case_insensitive(write_toml):
    cfg = load_config(write_toml(""), {"hlmm_strategy__base_spread": "0.005"})
    assert cfg.strategy.base_spread == 0.005


def test_env_switches_network_and_derived_url(write_toml):
    cfg = load_config(write_toml(""), {"HLMM_VENUE__NETWORK": "testnet", "HLMM_VENUE__ACCOUNT_ADDRESS": ADDR})
    assert cfg.venue.network == "testnet" and cfg.venue.base_url == "https://api.hyperliquid-testnet.xyz"


def test_env_ledger_url_flows_and_bool(write_toml):
    cfg = load_config(write_toml(""), {
        "HLMM_LEDGER__URL": "postgresql+psycopg://postgres@127.0.0.1:5432/hlmm",
        "HLMM_FLOWS__REBALANCE": "900",
        "HLMM_FLOWS__DAILY_REPORT": "15 1 * * *",
        "HLMM_MARKETS__1__SPOT": "true",
    })
    assert cfg.ledger.url.startswith("postgresql+psycopg://")
    assert cfg.flows.rebalance == 900 and cfg.flows.daily_report == "15 1 * * *"
    assert cfg.markets[1].coin == "BTC" and cfg.markets[1].spot is True


def test_env_patches_file_list_by_index_and_json_replaces(write_toml):
    path = write_toml('[[markets]]\ncoin = "ETH"\n[[markets]]\ncoin = "SOL"\n')
    cfg = load_config(path, {"HLMM_MARKETS__1__PERP": "false"})
    assert [(m.coin, m.spot, m.perp) for m in cfg.markets] == [("ETH", True, True), ("SOL", True, False)]
    cfg = load_config(path, {"HLMM_MARKETS": '[{"coin": "HYPE", "spot": false}]'})
    assert [(m.coin, m.spot) for m in cfg.markets] == [("HYPE", False)]
    with pytest.raises(ConfigError, match=r"markets\[5\].*skips entries"):
        load_config(path, {"HLMM_MARKETS__5__PERP": "false"})


def test_env_alert_targets_as_json(write_toml):
    cfg = load_config(write_toml(""), {"HLMM_ALERTS__TARGETS": '[{"url": "tgram://t/c", "severities": ["critical"]}]'})
    assert cfg.alerts.targets[0].severities == ["critical"]
    cfg = load_config(write_toml(""), {"HLMM_ALERTS__TARGETS__0__URL": "json://127.0.0.1:9/x"})
    assert cfg.alerts.targets[0].url.get_secret_value() == "json://127.0.0.1:9/x"


@pytest.mark.parametrize("name, value, key", [
    ("HLMM_STRATEGY__BASE_SPREAD", "-1", "strategy.base_spread"),
    ("HLMM_STRATEGY__LEVELS", "many", "strategy.levels"),
    ("HLMM_VENUE__NETWORK", "devnet", "venue.network"),
    ("HLMM_RISK__MAX_OPEN_ORDERS", "0", "risk.max_open_orders"),
    ("HLMM_FLOWS__REBALANCE", "every hour", "flows.rebalance"),
    ("HLMM_LEDGER__URL", "redis://x", "ledger.url"),
])
def test_bad_env_value_names_key_and_variable(write_toml, name, value, key):
    with pytest.raises(ConfigError) as info:
        load_config(write_toml(""), {name: value})
    message = next(p.message for p in info.value.problems if p.key == key)
    assert f"[set by {name}]" in message


def test_unknown_env_key_refused(write_toml):
    with pytest.raises(ConfigError, match=r"strategy\.base_spraed: unknown key"):
        load_config(write_toml(""), {"HLMM_STRATEGY__BASE_SPRAED": "0.003"})


def test_single_underscore_near_miss_is_an_error_not_ignored(write_toml):
    with pytest.raises(ConfigError, match="did you mean HLMM_STRATEGY__BASE_SPREAD"):
        load_config(write_toml(""), {"HLMM_STRATEGY_BASE_SPREAD": "0.003"})


def test_bad_json_section_names_variable(write_toml):
    with pytest.raises(ConfigError, match="HLMM_MARKETS: not valid JSON"):
        load_config(write_toml(""), {"HLMM_MARKETS": "HYPE,BTC"})


def test_unrelated_hlmm_variables_ignored(write_toml):
    # The key's own variable and other tools' HLMM_* settings are not config keys.
    cfg = load_config(write_toml('[venue]\nsecret_env = "HLMM_PRIVATE_KEY"'),
                      {"HLMM_PRIVATE_KEY": "0x" + "1" * 64, "HLMM_DATA_DIR": "/tmp"})
    assert cfg.venue.secret_env == "HLMM_PRIVATE_KEY"


def test_hlmm_config_names_the_file(write_toml, tmp_path, monkeypatch):
    path = write_toml("[strategy]\nlevels = 4\n", name="elsewhere.toml")
    monkeypatch.chdir(tmp_path)
    assert load_config(None, {"HLMM_CONFIG": str(path)}).strategy.levels == 4
    with pytest.raises(ConfigError, match="from HLMM_CONFIG"):
        load_config(None, {"HLMM_CONFIG": str(tmp_path / "missing.toml")})
    (tmp_path / "hlmm.toml").write_text("[strategy]\nlevels = 5\n")
    assert load_config(None, {}).strategy.levels == 5   # ./hlmm.toml is the default file
