"""The pure cores take their parameters from the real config model (engine.config) without surprises."""
import pytest

from engine.config import default_config
from engine.execution.diff import Tolerance
from engine.risk import KillSwitch, MarketView, Reason, RiskContext, RiskLimits, evaluate
from engine.strategy.carry import CarryParams
from engine.strategy.hedge import HedgeParams
from engine.strategy.quotes import LegState, QuoteParams, centre_price, half_spread, quotes


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


@pytest.mark.parametrize("q,horizon", [(3.0, 0.5), (-2.0, 1.0), (3.0, 0.0)])
def test_reservation_price_is_avellaneda_stoikov(cfg, q, horizon):
    """The paper's numerical setting (s = 100, σ = 2 per unit time, γ = 0.1) reached through the config key:
    with inventory q and T − t = `strategy.horizon_bars`, the quote centre is s − qγσ²(T − t)."""
    strategy = cfg.strategy.model_copy(update={"gamma": 0.1, "horizon_bars": horizon})
    qp = QuoteParams.from_config(strategy)
    assert qp.horizon_bars == horizon
    s, sigma_px, gamma = 100.0, 2.0, 0.1
    state = LegState("HYPE", "perp", 2, s, q, sigma=sigma_px / s)  # the engine's σ is a fraction of mid
    assert centre_price(state, qp) == pytest.approx(s - q * gamma * sigma_px ** 2 * horizon)
    # the default keeps the old fixed one-bar horizon
    assert QuoteParams.from_config(cfg.strategy).horizon_bars == 1.0


def test_horizon_key_is_validated(tmp_path):
    from engine.config import ConfigError, load_config

    path = tmp_path / "bad.toml"
    path.write_text("[strategy]\nhorizon_bars = -1\n")
    with pytest.raises(ConfigError, match="strategy.horizon_bars"):
        load_config(path, env={})
