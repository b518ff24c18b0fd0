"""An adopted `calibration.<COIN>` params row reaches the engine's quote params (ControlsPoller.apply, the step
after the ledger read), with the regime multiplier on top; a bad row is ignored and the config's params kept."""
from __future__ import annotations

from engine.config.sections import StrategyConfig
from engine.control.controls import ControlsPoller
from engine.ledger_writer import Controls
from engine.risk import KillSwitch
from engine.strategy.quotes import QuoteParams

CFG = StrategyConfig()


def poller() -> ControlsPoller:
    return ControlsPoller(None, KillSwitch(), QuoteParams.from_config(CFG), CFG, ["BTC"], lambda: 0,
                          lambda *a: None)


def test_calibrated_params_reach_the_quote_params():
    p = poller()
    calib = {"base_spread": 0.0002, "levels": 2, "level_spacing_bps": 1.5, "order_size_usd": 40.0, "gamma": 0.01,
             "horizon_bars": 4.0, "atr_multiplier": 0.0, "requote_tolerance_bps": 0.5}
    ch = p.apply(Controls(), {"BTC": {"calibration": calib}})
    q = p.params_for("BTC")
    assert ch.params and (q.base_spread, q.levels, q.order_notional, q.gamma, q.horizon_bars) == \
        (0.0002, 2, 40.0, 0.01, 4.0)
    assert abs(q.level_spacing - 0.00015) < 1e-12 and q.atr_multiplier == 0 and q.regime_multiplier == 1
    same = p.apply(Controls(), {"BTC": {"calibration": dict(calib)}})
    assert not same.params and p.params_for("BTC") is q  # unchanged: the same object (the quote memo's key)
    p.apply(Controls(), {"BTC": {"calibration": calib, "spread_multiplier": 2.0}})
    assert p.params_for("BTC").regime_multiplier == 2 and p.params_for("BTC").base_spread == 0.0002


def test_a_bad_calibration_row_keeps_the_config_params():
    p = poller()
    p.apply(Controls(), {"BTC": {"calibration": {"base_spread": -1}}})
    assert p.params_for("BTC") == QuoteParams.from_config(CFG)
    p.apply(Controls(), {"BTC": {"calibration": {"levels": "three"}}})
    assert p.params_for("BTC") == QuoteParams.from_config(CFG)
