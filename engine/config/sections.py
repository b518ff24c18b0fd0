"""The config sections other than `[venue]`: markets, strategy, carry, risk, limits, monitoring, ledger, alerts,
calibration, recorder, flows.

Ranges are deliberately wide (they catch typos and unit mistakes like 0.245 for 0.245 %), not opinions
about good parameters; the example file carries the opinions.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, field_validator, model_validator

from engine.config.venue import SECTION_CONFIG, problems

# Candle intervals Hyperliquid serves (candleSnapshot / candle subscription).
HL_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M")
SEVERITIES = ("info", "warning", "critical")


class MarketConfig(BaseModel):
    """One coin's book: its spot pair and its perp, each leg switchable."""
    model_config = SECTION_CONFIG

    coin: str = Field(json_schema_extra={"allowed": "an uppercase coin name, e.g. HYPE"})
    spot_pair: str | None = Field(default=None, json_schema_extra={"allowed": "BASE/QUOTE (e.g. HYPE/USDC) or @N"})
    perp_name: str | None = Field(default=None, json_schema_extra={"allowed": "a perp name, e.g. HYPE"})
    spot: bool = True
    perp: bool = True

    @field_validator("coin", "perp_name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^[A-Za-z0-9]{1,20}$", value):
            raise ValueError("must be 1-20 letters/digits, e.g. HYPE")
        return value.upper() if value.lower() == value else value  # keep kHYPE-style mixed case as given

    @field_validator("spot_pair")
    @classmethod
    def _check_pair(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^([A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,20}|@\d+)$", value):
            raise ValueError("must look like BASE/QUOTE (e.g. HYPE/USDC) or @N")
        return value

    @model_validator(mode="after")
    def _legs(self) -> "MarketConfig":
        if not (self.spot or self.perp):
            raise problems((("spot",), f"market {self.coin}: both legs are off; set spot = true and/or perp = true"))
        if self.spot_pair is None:
            object.__setattr__(self, "spot_pair", f"{self.coin}/USDC")
        if self.perp_name is None:
            object.__setattr__(self, "perp_name", self.coin)
        return self


def default_markets() -> list[MarketConfig]:
    return [MarketConfig(coin="HYPE", spot=True, perp=True), MarketConfig(coin="BTC", spot=False, perp=True)]


class StrategyConfig(BaseModel):
    model_config = SECTION_CONFIG

    base_spread: float = Field(0.00245, gt=0, le=0.1)          # fraction of mid: 0.00245 = 0.245 %
    atr_window: int = Field(14, ge=2, le=1000)
    atr_timeframe: Literal[HL_INTERVALS] = "1m"  # type: ignore[valid-type]
    atr_multiplier: float = Field(0.5, ge=0, le=50)          # half-spread >= atr_multiplier * ATR%
    skew_model: Literal["avellaneda_stoikov", "glft"] = "avellaneda_stoikov"
    gamma: float = Field(0.1, gt=0, le=100)                      # risk aversion
    horizon_bars: float = Field(1.0, ge=0, le=10_000)  # A–S horizon T − t in atr_timeframe bars
    levels: int = Field(3, ge=1, le=20)
    level_spacing_bps: float = Field(5.0, ge=0, le=1000)
    order_size_usd: float = Field(100.0, ge=10, le=10_000_000)   # Hyperliquid refuses orders under $10
    requote_tolerance_bps: float = Field(2.0, ge=0, le=1000)
    min_requote_interval_ms: int = Field(250, ge=0, le=600_000)


class CarryConfig(BaseModel):
    model_config = SECTION_CONFIG

    target_notional_usd: float = Field(1000.0, ge=0, le=1e9)
    funding_lookback_hours: int = Field(168, ge=1, le=24 * 90)
    entry_threshold: float = Field(0.0000125, ge=-0.04, le=0.04)  # hourly funding rate; HL caps at 4 %/h
    exit_threshold: float = Field(0.0, ge=-0.04, le=0.04)
    perp_leverage: int = Field(10, ge=1, le=50)
    hedge_band_usd: float = Field(50.0, ge=0, le=1e9)

    @model_validator(mode="after")
    def _hysteresis(self) -> "CarryConfig":
        if self.exit_threshold > self.entry_threshold:
            raise problems((("exit_threshold",), f"= {self.exit_threshold!r} is above carry.entry_threshold = "
                            f"{self.entry_threshold!r}; the carry would enter and exit at once (allowed: "
                            "exit_threshold <= entry_threshold)"))
        return self


class RiskConfig(BaseModel):
    model_config = SECTION_CONFIG

    max_position_usd: float = Field(10000.0, gt=0, le=1e9)      # per coin, spot + perp net
    max_order_notional_usd: float = Field(5000.0, gt=0, le=1e9)
    max_open_orders: int = Field(100, ge=1, le=1000)             # Hyperliquid's default open-order cap is 1000
    max_drawdown_usd: float | None = Field(500.0, gt=0, le=1e9)
    max_drawdown_pct: float | None = Field(0.05, gt=0, lt=1)  # fraction of peak equity
    vol_pause_threshold: float = Field(0.03, gt=0, le=1)         # ATR% (ATR / mid) above which quoting pauses
    stale_data_ms: int = Field(5000, ge=100, le=600_000)

    @model_validator(mode="after")
    def _some_drawdown_limit(self) -> "RiskConfig":
        if self.max_drawdown_usd is None and self.max_drawdown_pct is None:
            raise problems((("max_drawdown_usd",), "no drawdown limit; set risk.max_drawdown_usd and/or "
                            "risk.max_drawdown_pct"))
        return self


class LimitsConfig(BaseModel):
    model_config = SECTION_CONFIG

    ip_weight_per_min: int = Field(1200, ge=1, le=1_000_000)   # real venues: at most 1200 (checked in model)
    # one budget per host shared by every engine and flow on it (Hyperliquid counts weight per IP); None: each
    # process counts its own
    ip_weight_redis_url: str | None = Field(
        default=None, json_schema_extra={"allowed": "redis://HOST:PORT[/DB], rediss://... or unix://PATH"})

    @field_validator("ip_weight_redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.match(r"^(redis|rediss|unix)://\S+$", value):
            raise ValueError("must be a Redis URL: redis://HOST:PORT[/DB], rediss://... or unix://PATH")
        return value


class MonitoringConfig(BaseModel):
    model_config = SECTION_CONFIG

    # Where `hlmm run` serves its Prometheus metrics (engine/commands/run.py is the one reader); "" turns it off.
    metrics_bind: str = Field("127.0.0.1:9108",
                              json_schema_extra={"allowed": "HOST:PORT (e.g. 127.0.0.1:9108), or \"\" for off"})

    @field_validator("metrics_bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        value = value.strip()
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("must be HOST:PORT with a port 0..65535, or \"\" for off")
        return value


class LedgerConfig(BaseModel):
    model_config = SECTION_CONFIG

    # repr=False: a PostgreSQL URL may carry a password; render with engine.config.secrets.mask_db_url.
    url: str = Field("sqlite:///./var/hlmm.db", repr=False, json_schema_extra={
        "allowed": "sqlite:///PATH, postgresql://... or postgresql+psycopg://..."})

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^(sqlite:///.+|postgresql(\+psycopg)?://.+)$", value):
            raise ValueError("unsupported database URL")
        return value


def _severity_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class AlertTarget(BaseModel):
    model_config = SECTION_CONFIG

    url: SecretStr = Field(json_schema_extra={"allowed": "an Apprise URL, e.g. tgram://TOKEN/CHAT_ID"})
    severities: Annotated[list[Literal[SEVERITIES]], BeforeValidator(_severity_list)] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(SEVERITIES), min_length=1)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", value.get_secret_value().strip()):
            raise ValueError("must be an Apprise URL of the form scheme://...")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("severities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return [s for s in SEVERITIES if s in value]  # dedupe, canonical order


class AlertsConfig(BaseModel):
    model_config = SECTION_CONFIG

    targets: list[AlertTarget] = Field(default_factory=list)
    dedup_window_s: int = Field(300, ge=0, le=86_400 * 7)
    throttle_per_window: int = Field(10, ge=1, le=100_000)


class CalibrationConfig(BaseModel):
    """The `calibrate` flow (flows/calibrate.py): where its trials run and what guards an adoption."""
    model_config = SECTION_CONFIG

    # a running Dask scheduler, e.g. "tcp://10.0.0.5:8786"; "" = a LocalCluster inside the flow's process
    dask_scheduler: str = Field("", json_schema_extra={"allowed": "'' or a Dask scheduler address tcp://HOST:PORT"})
    local_workers: int = Field(2, ge=1, le=256)  # worker processes of that LocalCluster
    # out-of-sample score (USD) by which new params must beat the current ones to be adopted
    margin_usd: float = Field(0.5, ge=0, le=1e9)
    # largest move of one parameter per adoption, as a share of its search range (log range for log dimensions)
    max_step_fraction: float = Field(0.5, gt=0, le=1)

    @field_validator("dask_scheduler")
    @classmethod
    def _check_scheduler(cls, value: str) -> str:
        if value and not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s/]+", value):
            raise ValueError(f"must be '' or a scheduler address like tcp://HOST:8786, got {value!r}")
        return value


class RecorderConfig(BaseModel):
    """`hlmm record --config` (the recorder service, engine/backtest/recorder.py): what it records, where, and
    how much it keeps. The calibrate flow's `data_dir` reads the same directory."""
    model_config = SECTION_CONFIG

    out_dir: str = Field("var/recordings", min_length=1)
    # WS coin names (perps "BTC", spot "@107" or "HYPE/USDC"); [] = every [[markets]] leg, spot and perp
    coins: list[str] = Field(default_factory=list)
    rotate_minutes: float = Field(60.0, gt=0, le=1440)  # a new file per coin this often
    retention_hours: float = Field(48.0, ge=0, le=8760)  # finished files older than this are deleted; 0 = keep all

    @field_validator("coins")
    @classmethod
    def _check_coins(cls, value: list[str]) -> list[str]:
        for coin in value:
            if not re.fullmatch(r"@\d+|[A-Za-z0-9]{1,20}(/[A-Za-z0-9]{1,20})?", coin):
                raise ValueError(f"{coin!r} is not a coin: a perp name (BTC), a spot pair (HYPE/USDC) or @N")
        return value

    @model_validator(mode="after")
    def _retention_holds_a_file(self) -> "RecorderConfig":
        if self.retention_hours and self.retention_hours * 60 < self.rotate_minutes:
            raise problems((("retention_hours",), f"{self.retention_hours} h is shorter than one file "
                            f"(rotate_minutes = {self.rotate_minutes}); keep at least one rotation, or 0 for all"))
        return self


# ------------------------------------------------------------------------------------------------
# Flow schedules: a 5-field cron string or an interval in seconds

_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
                ("day of week", 0, 7))
_NAMES = {3: "jan feb mar apr may jun jul aug sep oct nov dec".split(), 4: "sun mon tue wed thu fri sat".split()}
MAX_INTERVAL_S = 31 * 86_400
SCHEDULE_ALLOWED = f"interval seconds 1..{MAX_INTERVAL_S} or a 5-field cron string like '5 * * * *'"


def _cron_value(text: str, index: int) -> int:
    name, low, high = _CRON_FIELDS[index]
    names = _NAMES.get(index, [])
    if text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"cron {name} field has {text!r}; allowed {low}-{high}")
    return int(text)


def _check_cron(expr: str) -> str:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    for index, field in enumerate(fields):
        for item in field.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                raise ValueError(f"cron {_CRON_FIELDS[index][0]} field has bad step {step!r}")
            if base == "*":
                continue
            first, _, last = base.partition("-")
            low = _cron_value(first, index)
            if last and low > _cron_value(last, index):
                raise ValueError(f"cron {_CRON_FIELDS[index][0]} field has a reversed range {base!r}")
    return " ".join(fields)


def _parse_schedule(value: object) -> int | str:
    if isinstance(value, bool):
        raise ValueError("must be interval seconds or a cron string, not a boolean")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not 1 <= value <= MAX_INTERVAL_S:
            raise ValueError(f"interval must be 1..{MAX_INTERVAL_S} seconds")
        return value
    if isinstance(value, str):
        return _check_cron(value.strip())
    raise ValueError("must be interval seconds or a cron string")


Schedule = Annotated[int | str, BeforeValidator(_parse_schedule)]


def _schedule(default: int | str) -> object:
    return Field(default, json_schema_extra={"allowed": SCHEDULE_ALLOWED})


class FlowsConfig(BaseModel):
    model_config = SECTION_CONFIG

    # The production schedules (UTC). deployments/catalog.py reads these defaults, prefect.yaml matches them
    # (a test checks), and `python -m deployments.serve --config FILE` applies a file's overrides.
    rebalance: Schedule = _schedule("30 0 * * *")           # daily, after the 00:00 funding and the report
    funding_accounting: Schedule = _schedule("5 * * * *")   # just after each hourly funding
    vol_regime: Schedule = _schedule(900)                   # every 15 min
    drawdown_audit: Schedule = _schedule(300)               # every 5 min
    ledger_audit: Schedule = _schedule("15 * * * *")        # hourly
    daily_report: Schedule = _schedule("5 0 * * *")         # 00:05 UTC
    calibrate: Schedule = _schedule("30 2 * * *")           # nightly, after the report, on the day's recordings
