"""Every section's bad values give an error that names the dotted key, shows the value and what is allowed."""
from __future__ import annotations

import pytest

from engine.config import ConfigError, default_config, load_config

ADDR = "0x" + "ab" * 20

# (toml text, dotted key the error must name, text the error must also contain — the value or the rule)
BAD = [
    # venue
    ('[venue]\nnetwork = "mainnet2"', "venue.network", "'mainnet', 'testnet' or 'local'"),
    ('[venue]\nnetwork = 3', "venue.network", "'mainnet'"),
    ('[venue]\naccount_address = "0x123"', "venue.account_address", "'0x123'"),
    ('[venue]\naccount_address = "0x' + "g" * 40 + '"', "venue.account_address", "40 hex"),
    ('[venue]\nagent_address = "' + "ab" * 20 + '"', "venue.agent_address", "40 hex"),
    ('[venue]\nnetwork = "mainnet"', "venue.account_address", "required when venue.network is 'mainnet'"),
    ('[venue]\nnetwork = "testnet"\naccount_address = "0x' + "0" * 40 + '"', "venue.account_address", "placeholder"),
    ('[venue]\nbase_url = "ftp://example.com"', "venue.base_url", "'ftp://example.com'"),
    ('[venue]\nsecret_env = "NOT A NAME"', "venue.secret_env", "'NOT A NAME'"),
    ('[venue]\nsecret_file = "/nonexistent/hlmm.key"', "venue.secret_file", "not found"),
    ('[venue]\nsecret_env = "K"\nsecret_file = "/nonexistent/k"', "venue.secret_file", "only one key source"),
    # markets
    ("markets = []", "markets", "at least 1"),
    ('[[markets]]\ncoin = "HYPE"\nspot = false\nperp = false', "markets[0].spot", "both legs are off"),
    ('[[markets]]\ncoin = "HY PE"', "markets[0].coin", "'HY PE'"),
    ('[[markets]]\ncoin = "HYPE"\nspot_pair = "HYPEUSDC"', "markets[0].spot_pair", "BASE/QUOTE"),
    ('[[markets]]\ncoin = "HYPE"\nspot = "maybe"', "markets[0].spot", "true or false"),
    ('[[markets]]\nspot = true', "markets[0].coin", "required key is missing"),
    ('[[markets]]\ncoin = "BTC"\n[[markets]]\ncoin = "BTC"', "markets[1].coin", "appears twice"),
    # strategy
    ("[strategy]\nbase_spread = -0.001", "strategy.base_spread", "0 < value <= 0.1"),
    ("[strategy]\nbase_spread = 0", "strategy.base_spread", "0 < value <= 0.1"),
    ("[strategy]\nbase_spread = 0.245", "strategy.base_spread", "0.245"),
    ('[strategy]\nbase_spread = "wide"', "strategy.base_spread", "'wide'"),
    ("[strategy]\nbase_spread = nan", "strategy.base_spread", "nan"),
    ("[strategy]\natr_window = 1", "strategy.atr_window", "2 <= value <= 1000"),
    ("[strategy]\natr_window = 14.5", "strategy.atr_window", "14.5"),
    ('[strategy]\natr_timeframe = "7m"', "strategy.atr_timeframe", "'1m'"),
    ("[strategy]\natr_multiplier = -1", "strategy.atr_multiplier", "0 <= value <= 50"),
    ('[strategy]\nskew_model = "stoikov"', "strategy.skew_model", "'avellaneda_stoikov'"),
    ("[strategy]\ngamma = 0", "strategy.gamma", "0 < value <= 100"),
    ("[strategy]\nlevels = 0", "strategy.levels", "1 <= value <= 20"),
    ("[strategy]\nlevels = 21", "strategy.levels", "1 <= value <= 20"),
    ("[strategy]\nlevel_spacing_bps = -5", "strategy.level_spacing_bps", "0 <= value"),
    ("[strategy]\norder_size_usd = 5", "strategy.order_size_usd", "10 <= value"),
    ("[strategy]\norder_size_usd = 6000", "strategy.order_size_usd", "risk.max_order_notional_usd"),
    ("[strategy]\nrequote_tolerance_bps = -1", "strategy.requote_tolerance_bps", "0 <= value"),
    ("[strategy]\nmin_requote_interval_ms = -1", "strategy.min_requote_interval_ms", "0 <= value <= 600000"),
    # carry
    ("[carry]\ntarget_notional_usd = -1", "carry.target_notional_usd", "0 <= value"),
    ("[carry]\nfunding_lookback_hours = 0", "carry.funding_lookback_hours", "1 <= value <= 2160"),
    ("[carry]\nentry_threshold = 0.5", "carry.entry_threshold", "-0.04 <= value <= 0.04"),
    ("[carry]\nentry_threshold = 0.0001\nexit_threshold = 0.0002", "carry.exit_threshold", "exit_threshold <= entry"),
    ("[carry]\nperp_leverage = 0", "carry.perp_leverage", "1 <= value <= 50"),
    ("[carry]\nperp_leverage = 51", "carry.perp_leverage", "1 <= value <= 50"),
    ("[carry]\nhedge_band_usd = -10", "carry.hedge_band_usd", "0 <= value"),
    # risk
    ("[risk]\nmax_position_usd = 0", "risk.max_position_usd", "0 < value"),
    ("[risk]\nmax_order_notional_usd = -5", "risk.max_order_notional_usd", "0 < value"),
    ("[risk]\nmax_open_orders = 0", "risk.max_open_orders", "1 <= value <= 1000"),
    ("[risk]\nmax_open_orders = 5000", "risk.max_open_orders", "1 <= value <= 1000"),
    ("[risk]\nmax_drawdown_usd = -1", "risk.max_drawdown_usd", "0 < value"),
    ("[risk]\nmax_drawdown_pct = 5", "risk.max_drawdown_pct", "0 < value < 1"),
    ("[risk]\nvol_pause_threshold = 0", "risk.vol_pause_threshold", "0 < value <= 1"),
    ("[risk]\nstale_data_ms = 10", "risk.stale_data_ms", "100 <= value <= 600000"),
    # limits
    ("[monitoring]\nmetrics_bind = \"9108\"", "monitoring.metrics_bind", "HOST:PORT"),
    ("[monitoring]\nmetrics_bind = \"127.0.0.1:70000\"", "monitoring.metrics_bind", "HOST:PORT"),
    ("[limits]\nip_weight_per_min = 0", "limits.ip_weight_per_min", "1 <= value"),
    (f'[venue]\nnetwork = "mainnet"\naccount_address = "{ADDR}"\n[limits]\nip_weight_per_min = 5000',
     "limits.ip_weight_per_min", "1..1200"),
    # ledger
    ('[ledger]\nurl = "mysql://u@h/db"', "ledger.url", "sqlite:///PATH"),
    ('[ledger]\nurl = "sqlite://relative.db"', "ledger.url", "postgresql+psycopg://"),
    ("[ledger]\nurl = 5", "ledger.url", "string"),
    # alerts
    ('[[alerts.targets]]\nurl = "not a url"', "alerts.targets[0].url", "Apprise URL"),
    ('[[alerts.targets]]\nurl = "json://h/x"\nseverities = ["info", "panic"]', "alerts.targets[0].severities[1]",
     "'panic'"),
    ('[[alerts.targets]]\nurl = "json://h/x"\nseverities = []', "alerts.targets[0].severities", "at least 1"),
    ('[[alerts.targets]]\nseverities = ["info"]', "alerts.targets[0].url", "required key is missing"),
    ("[alerts]\ndedup_window_s = -1", "alerts.dedup_window_s", "0 <= value"),
    ("[alerts]\nthrottle_per_window = 0", "alerts.throttle_per_window", "1 <= value"),
    # flows
    ('[flows]\nrebalance = "* * *"', "flows.rebalance", "5 fields"),
    ('[flows]\ndaily_report = "61 0 * * *"', "flows.daily_report", "minute field has '61'"),
    ('[flows]\nfunding_accounting = "5 24 * * *"', "flows.funding_accounting", "hour field"),
    ('[flows]\nledger_audit = "*/0 * * * *"', "flows.ledger_audit", "bad step"),
    ('[flows]\nvol_regime = "0 0 * 13 *"', "flows.vol_regime", "month field"),
    ('[flows]\ndrawdown_audit = "0 0 * * 8"', "flows.drawdown_audit", "day of week field"),
    ('[flows]\ndrawdown_audit = "10-5 * * * *"', "flows.drawdown_audit", "reversed range"),
    ("[flows]\nrebalance = 0", "flows.rebalance", "1..2678400"),
    ("[flows]\nrebalance = true", "flows.rebalance", "boolean"),
    # a section of the wrong shape
    ('strategy = "fast"', "strategy", "'fast'"),
]


@pytest.mark.parametrize("text, key, detail", BAD, ids=[f"{k}:{i}" for i, (_, k, _) in enumerate(BAD)])
def test_bad_value_names_key_value_and_allowed(load_error, text, key, detail):
    err = load_error(text)
    assert key in [p.key for p in err.problems], str(err)
    message = next(p.message for p in err.problems if p.key == key)
    assert message.startswith(key), message
    assert detail in message, message


def test_all_problems_reported_at_once(load_error):
    err = load_error("""
        [strategy]
        base_spread = -1
        levels = 0
        [carry]
        perp_leverage = 99
        [flows]
        rebalance = "bad"
    """)
    keys = {p.key for p in err.problems}
    assert {"strategy.base_spread", "strategy.levels", "carry.perp_leverage", "flows.rebalance"} <= keys
    assert "4 problems" in str(err)


@pytest.mark.parametrize("text, key", [
    ("[strategy]\nbase_spraed = 0.003", "strategy.base_spraed"),
    ("[venue]\nnetwrok = 'testnet'", "venue.netwrok"),
    ("[stratgy]\nbase_spread = 0.003", "stratgy"),
    ("[[markets]]\ncoin = 'HYPE'\nperp_enabled = true", "markets[0].perp_enabled"),
    ("[[alerts.targets]]\nurl = 'json://h'\nseverity = ['info']", "alerts.targets[0].severity"),
    ("[flows]\nrebalanse = 60", "flows.rebalanse"),
    ("[ledger]\nuri = 'sqlite:///x.db'", "ledger.uri"),
])
def test_unknown_key_refused(load_error, text, key):
    err = load_error(text)
    message = next(p.message for p in err.problems if p.key == key)
    assert "unknown key" in message


def test_unknown_key_suggests_the_near_spelling(load_error):
    err = load_error("[strategy]\nbase_spraed = 0.003")
    assert "did you mean 'base_spread'" in str(err)


def test_not_toml_is_a_config_error(load_error):
    err = load_error("[strategy\nbase_spread = ")
    assert "not valid TOML" in str(err)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", {})


def test_defaults(tmp_path, monkeypatch):
    cfg = default_config()
    assert cfg.venue.network == "local" and cfg.venue.base_url == "http://127.0.0.1:8765"
    assert [(m.coin, m.spot, m.perp) for m in cfg.markets] == [("HYPE", True, True), ("BTC", False, True)]
    assert cfg.market("HYPE").spot_pair == "HYPE/USDC" and cfg.market("BTC").perp_name == "BTC"
    assert cfg.strategy.base_spread == 0.00245 and cfg.carry.funding_lookback_hours == 168
    assert cfg.carry.perp_leverage == 10 and cfg.ledger.url == "sqlite:///./var/hlmm.db"
    assert cfg.limits.ip_weight_per_min == 1200 and cfg.monitoring.metrics_bind == "127.0.0.1:9108"
    # No file given and no ./hlmm.toml: load_config is the built-in defaults too.
    monkeypatch.chdir(tmp_path)
    loaded = load_config(None, {})
    assert loaded == cfg and loaded.source_path is None


@pytest.mark.parametrize("network, url", [
    ("mainnet", "https://api.hyperliquid.xyz"),
    ("testnet", "https://api.hyperliquid-testnet.xyz"),
    ("local", "http://127.0.0.1:8765"),
])
def test_base_url_follows_network(write_toml, network, url):
    cfg = load_config(write_toml(f'[venue]\nnetwork = "{network}"\naccount_address = "{ADDR}"'), {})
    assert cfg.venue.base_url == url
    assert cfg.venue.ws_url == url.replace("http", "ws", 1) + "/ws"
    explicit = load_config(write_toml(f'[venue]\nnetwork = "{network}"\naccount_address = "{ADDR}"\n'
                                      'base_url = "http://127.0.0.1:9999/"'), {})
    assert explicit.venue.base_url == "http://127.0.0.1:9999"


def test_good_values_accepted(write_toml):
    cfg = load_config(write_toml(f"""
        [venue]
        network = "testnet"
        account_address = "{ADDR.upper().replace('0X', '0x')}"
        agent_address = "0x{'cd' * 20}"
        [[markets]]
        coin = "ETH"
        spot = false
        [[markets]]
        coin = "HYPE"
        spot_pair = "@1"
        [strategy]
        skew_model = "glft"
        atr_timeframe = "1h"
        [ledger]
        url = "postgresql+psycopg://postgres@127.0.0.1:5432/hlmm"
        [[alerts.targets]]
        url = "tgram://123:abc/456"
        severities = ["critical", "warning", "critical"]
        [flows]
        rebalance = "0 */4 * * mon-fri"
        daily_report = "30 23 1,15 jan-dec sun"
        vol_regime = 120
    """), {})
    assert cfg.venue.account_address == ADDR  # normalised to lowercase, as the venue keys users
    assert cfg.venue.signing_address == "0x" + "cd" * 20
    assert [m.coin for m in cfg.markets] == ["ETH", "HYPE"] and cfg.market("HYPE").spot_pair == "@1"
    assert cfg.alerts.targets[0].severities == ["warning", "critical"]
    assert cfg.flows.rebalance == "0 */4 * * mon-fri" and cfg.flows.vol_regime == 120


def test_config_is_immutable():
    cfg = default_config()
    with pytest.raises(Exception):
        cfg.strategy.base_spread = 1  # type: ignore[misc]
