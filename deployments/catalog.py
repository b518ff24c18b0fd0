"""Every deployment of the hlmm flows, in one table: `serve.py` builds from it and `prefect.yaml` must match it
(a test checks), so the embedded demo and production never drift apart. `render.py` (`hlmm deployments
render`) turns it into a prefect.yaml once per account config; adding a flow here adds it to every account.

Production schedules come from the config's [flows] section (engine/config/sections.py holds the
defaults, prefect.yaml matches them). Defaults (UTC): rebalance daily 00:30 (plus a manual, dry-run-by-default deployment for the UI), funding
accounting hourly at :05 (after the hourly funding), vol regime every 15 min, drawdown audit every 5 min,
ledger audit hourly at :15, daily report 00:05, calibrate 02:30 (plus a manual, dry-run-by-default
deployment). ``demo_interval_s`` is the accelerated cadence `serve --demo`
uses so that a short demo shows every flow running.
"""
from __future__ import annotations

import dataclasses
from typing import Any

WORK_POOL = "hlmm-process"


@dataclasses.dataclass(frozen=True)
class Deployment:
    flow: str                  # flow name (module flows/<flow>.py, function <flow>)
    name: str                  # deployment name: runs as '<flow>/<name>'
    schedule_key: str | None   # field of the config's [flows] section holding its schedule; None = manual only
    demo_interval_s: int | None
    parameters: dict[str, Any]
    description: str
    demo_parameters: dict[str, Any] = dataclasses.field(default_factory=dict)  # overrides under --demo

    def schedule(self, flows_cfg=None) -> tuple[str | None, int | None]:
        """(cron, interval seconds) from the config's [flows] section (its defaults when none is given)."""
        if self.schedule_key is None:
            return None, None
        if flows_cfg is None:
            from engine.config.sections import FlowsConfig

            flows_cfg = FlowsConfig()
        value = getattr(flows_cfg, self.schedule_key)
        return (value, None) if isinstance(value, str) else (None, int(value))

    @property
    def cron(self) -> str | None:
        return self.schedule()[0]

    @property
    def interval_s(self) -> int | None:
        return self.schedule()[1]

    @property
    def entrypoint(self) -> str:
        return f"flows/{self.flow}.py:{self.flow}"

    @property
    def module_entrypoint(self) -> str:
        """The same flow as a module path (no file, no colon): a worker imports it from the installed package."""
        return f"flows.{self.flow}.{self.flow}"

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"

    def name_for(self, label: str | None) -> str:
        """The deployment's name for one account: `<label>-<name>`, or the plain name without a label."""
        return f"{label}-{self.name}" if label else self.name


DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment("rebalance", "daily", "rebalance", None,
               {"spot_usdc_fraction": 0.5, "dry_run": False, "max_slippage_bps": 50.0},
               "Daily carry rebalance: resize legs to carry.target_notional_usd, split USDC spot/perp"),
    Deployment("rebalance", "manual", None, None,
               {"target_carry_notional": 1000.0, "spot_usdc_fraction": 0.5, "dry_run": True, "max_slippage_bps": 50.0},
               "Manual rebalance from the UI (dry run unless dry_run=false)"),
    Deployment("funding_accounting", "hourly", "funding_accounting", 120, {"lookback_hours": 24},
               "Funding payments → ledger; realized vs expected, carry APR"),
    Deployment("vol_regime", "every-15m", "vol_regime", 60, {"interval": "15m", "bars": 96},
               "Volatility regime → spread multiplier params, pause in extreme",
               demo_parameters={"interval": "1m", "bars": 60}),  # a fresh local venue has no 15m history
    Deployment("drawdown_audit", "every-5m", "drawdown_audit", 30, {"lookback_hours": 24.0},
               "Drawdown vs limit → kill switch"),
    Deployment("ledger_audit", "hourly", "ledger_audit", 120, {"lookback_hours": 24, "repair": True},
               "Venue fills/funding vs ledger; repair and alert"),
    # the demo reports every 45 s: its first run is the baseline, so the second (within a minute) has something
    Deployment("daily_report", "daily", "daily_report", 45, {"report_dir": "var/reports"},
               "Daily PnL attribution, charts, Apprise summary"),
    # calibration reads `hlmm record` files of the coin from data_dir; never on a timer in the demo (its
    # synthetic market is not worth calibrating on, and a sweep takes minutes of CPU)
    Deployment("calibrate", "nightly", "calibrate", None,
               {"data_dir": "var/recordings", "coin": "BTC", "in_sample_minutes": 240.0,
                "out_of_sample_minutes": 120.0, "n_trials": 50, "batch_size": 4, "dry_run": False},
               "Nightly calibration: search strategy params on the recordings, adopt under the guard"),
    Deployment("calibrate", "manual", None, None,
               {"data_dir": "var/recordings", "coin": "BTC", "in_sample_minutes": 240.0,
                "out_of_sample_minutes": 120.0, "n_trials": 50, "batch_size": 4, "dry_run": True},
               "Manual calibration from the UI (dry run unless dry_run=false)"),
)


def load_flow(flow_name: str):
    import importlib

    return getattr(importlib.import_module(f"flows.{flow_name}"), flow_name)
