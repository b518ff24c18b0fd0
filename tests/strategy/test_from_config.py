"""The pure cores take their parameters from the real config model (engine.config) without surprises."""
import pytest

from engine.config import default_config
from engine.execution.diff import Tolerance
from engine.risk import KillSwitch, MarketView, Reason, RiskContext, RiskLimits, evaluate
from engine.strategy.carry import CarryParams
from engine.strategy.hedge import HedgeParams
from engine.strategy.quotes import LegState, QuoteParams, half_spread, quotes


@pytest.fixture()
def cfg():
    return default_config()


def test_defaults_map_onto_pure_params(cfg):
    qp = QuoteParams.from_config(cfg.strategy, regime_multiplier=1.5)
    assert qp.base_spread == cfg.strategy.base_spread and qp.regime_multiplier == 1.5
    assert qp.level_spacing == pytest.approx(cfg.strategy.level_spacing_bps / 10_000)
    assert qp.order_notional == cfg.strategy.order_size_usd
    state = LegState("HYPE", "perp", 2, 40.0, 10.0, sigma=0.003)
    assert half_spread(state, qp) == pytest.approx(cfg.strategy.base_spread / 2 * 1.5)
    assert quotes(state, qp)
    limits = RiskLimits.from_config(cfg.risk)
    assert limits.max_open_orders == cfg.risk.max_open_orders and limits.max_atr_pct == cfg.risk.vol_pause_threshold
    CarryParams.from_config(cfg.carry)
    HedgeParams(band_usd=cfg.carry.hedge_band_usd)
    Tolerance(price_tol_bps=cfg.strategy.requote_tolerance_bps)


def test_usd_position_cap_uses_reference_price():
    limits = RiskLimits(max_position_usd=1_000.0)
    ctx = RiskContext(0, {"HYPE": MarketView("HYPE", 40.0, 40.0, 0.001, 0)})

    class O:
        coin, is_buy, px = "HYPE", True, 40.0

        def __init__(self, sz):
            self.sz = sz

    d = evaluate([O(20.0), O(6.0)], ctx, limits, KillSwitch())  # cap = 25 coin at $40
    assert len(d.accepted) == 1 and d.rejected[0][1].reason == Reason.POSITION_LIMIT
