"""`HlmmConfig`: the whole configuration, one pydantic-settings model over the section models."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.config.deployment import DeploymentConfig
from engine.config.sections import (
    AlertsConfig, CalibrationConfig, CarryConfig, FlowsConfig, LedgerConfig, LimitsConfig, MarketConfig,
    MonitoringConfig, RecorderConfig, RiskConfig,
    StrategyConfig, default_markets,
)
from engine.config.venue import VenueConfig, problems

# Hyperliquid's REST budget per IP; the local venue may be driven harder (benchmarks).
REAL_VENUE_MAX_WEIGHT_PER_MIN = 1200
ENV_PREFIX = "HLMM_"


class HlmmConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False, extra="forbid",
        frozen=True, allow_inf_nan=False, validate_default=True, hide_input_in_errors=True,
    )

    venue: VenueConfig = Field(default_factory=VenueConfig)
    markets: list[MarketConfig] = Field(default_factory=default_markets, min_length=1,
                                        json_schema_extra={"allowed": "one or more [[markets]] tables"})
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    carry: CarryConfig = Field(default_factory=CarryConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    flows: FlowsConfig = Field(default_factory=FlowsConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    recorder: RecorderConfig = Field(default_factory=RecorderConfig)
    deployment: DeploymentConfig = Field(default_factory=DeploymentConfig)

    # Where the values came from, for `hlmm config check` and error messages.
    _source_path: Path | None = PrivateAttr(default=None)
    _env_overrides: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # load_config() reads the TOML file and the HLMM_* environment itself (through pydantic-settings'
        # EnvSettingsSource) so it can refuse inline keys and name each value's origin; the model then
        # validates exactly what it is given. HlmmConfig() alone is therefore the built-in defaults.
        return (init_settings,)

    @model_validator(mode="after")
    def _cross_section(self) -> "HlmmConfig":
        found: list[tuple[tuple, str]] = []
        coins = [m.coin for m in self.markets]
        for index, coin in enumerate(coins):
            if coin in coins[:index]:
                found.append((("markets", index, "coin"), f"= {coin!r} appears twice; one [[markets]] table per coin"))
        if self.risk.max_order_notional_usd < self.strategy.order_size_usd:
            found.append((("strategy", "order_size_usd"),
                          f"= {self.strategy.order_size_usd!r} is above risk.max_order_notional_usd = "
                          f"{self.risk.max_order_notional_usd!r}; every quote would be refused by risk "
                          "(allowed: order_size_usd <= risk.max_order_notional_usd)"))
        if self.venue.network != "local" and self.limits.ip_weight_per_min > REAL_VENUE_MAX_WEIGHT_PER_MIN:
            found.append((("limits", "ip_weight_per_min"),
                          f"= {self.limits.ip_weight_per_min!r} exceeds Hyperliquid's {REAL_VENUE_MAX_WEIGHT_PER_MIN}"
                          f" per minute on {self.venue.network} (allowed: 1..{REAL_VENUE_MAX_WEIGHT_PER_MIN})"))
        if found:
            raise problems(*found)
        return self

    @property
    def source_path(self) -> Path | None:
        """The TOML file these values came from, or None for the built-in defaults."""
        return self._source_path

    @property
    def env_overrides(self) -> tuple[str, ...]:
        """Names of the HLMM_* environment variables that overrode file values."""
        return self._env_overrides

    def market(self, coin: str) -> MarketConfig:
        for market in self.markets:
            if market.coin == coin:
                return market
        raise KeyError(f"no [[markets]] entry for coin {coin!r}")
