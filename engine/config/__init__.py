"""Configuration: one TOML file (`hlmm.toml`, documented key by key in `hlmm.example.toml`) plus HLMM_*
environment overrides nested with `__` (HLMM_VENUE__NETWORK=testnet). Every error names the dotted key,
the bad value and what is allowed; private keys are never accepted inline.

    cfg = load_config()                  # ./hlmm.toml (or $HLMM_CONFIG) + os.environ, or built-in defaults
    key = resolve_private_key(cfg.venue) # from venue.secret_env or the 0600 venue.secret_file
"""
from engine.config.errors import ConfigError, Problem
from engine.config.loader import default_config, load_config
from engine.config.model import HlmmConfig
from engine.config.render import effective_dict, to_json, to_toml
from engine.config.secrets import mask_db_url, mask_url, resolve_private_key
from engine.config.sections import (
    AlertsConfig, AlertTarget, CalibrationConfig, CarryConfig, FlowsConfig, LedgerConfig, LimitsConfig, MarketConfig,
    MonitoringConfig,
    RecorderConfig,
    RiskConfig,
    StrategyConfig,
)
from engine.config.venue import DEFAULT_BASE_URLS, VenueConfig

__all__ = [
    "ConfigError", "Problem", "HlmmConfig", "load_config", "default_config", "resolve_private_key",
    "effective_dict", "to_json", "to_toml", "mask_url", "mask_db_url", "DEFAULT_BASE_URLS",
    "VenueConfig", "MarketConfig", "StrategyConfig", "CarryConfig", "RiskConfig", "LimitsConfig",
    "LedgerConfig", "AlertsConfig", "AlertTarget", "CalibrationConfig", "FlowsConfig", "MonitoringConfig",
    "RecorderConfig",
]
