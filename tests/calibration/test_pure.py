"""engine/calibration: the search space, the objective, the walk-forward split and the adoption guard (pure)."""
from __future__ import annotations

import pytest

from engine.calibration.adoption import Guard, decide
from engine.calibration.objective import TrialMetrics, Weights, markouts, mean_abs_exposure, rank_importance, score
from engine.calibration.space import SPACE, Dimension, check_params, current_params
from engine.calibration.walkforward import MINUTE_MS, walk_forward
from engine.config.sections import StrategyConfig

CURRENT = current_params(StrategyConfig())


def metrics(**kw) -> TrialMetrics:
    base = dict(pnl_usd=0.0, fees_usd=0.0, fills=10, maker_ratio=1.0, volume_usd=1000.0, mean_abs_inventory_usd=0.0,
                end_inventory_usd=0.0, max_drawdown_usd=0.0, markout_bp=0.0, adverse_usd=0.0)
    return TrialMetrics(**{**base, **kw})


def test_the_space_names_real_strategy_keys_within_the_configs_ranges():
    fields = StrategyConfig.model_fields
    for d in SPACE:
        assert d.name in fields, d.name
        StrategyConfig(**{d.name: d.low})  # both bounds are legal config values
        StrategyConfig(**{d.name: d.high})
    assert {"base_spread", "gamma", "horizon_bars", "levels", "level_spacing_bps", "requote_tolerance_bps",
            "order_size_usd"} <= {d.name for d in SPACE}
    assert CURRENT["base_spread"] == 0.00245 and CURRENT["levels"] == 3


def test_check_params_names_each_bad_key():
    assert check_params({"levels": 2.0, "gamma": 0.5}) == {"levels": 2, "gamma": 0.5}
    with pytest.raises(ValueError) as e:
        check_params({"levels": 2.5, "gamma": 7, "spread": 1, "base_spread": "x"})
    msg = str(e.value)
    assert "levels: needs a whole number" in msg and "gamma: 7 outside [0.001, 1.0]" in msg
    assert "spread: not in the search space" in msg and "base_spread: needs a number" in msg
    with pytest.raises(ValueError, match="log dimension needs low > 0"):
        Dimension("x", 0, 1, log=True)


def test_score_charges_inventory_and_adverse_selection_and_no_fills():
    w = Weights(inventory=0.001, adverse=0.5, min_fills=1, no_fill_usd=5)
    assert score(metrics(pnl_usd=1.0, mean_abs_inventory_usd=200, adverse_usd=0.4), w) == pytest.approx(0.6)
    assert score(metrics(fills=0), w) == -5  # no market made: a fixed shortfall, not a free 0
    assert score(metrics(fills=1, pnl_usd=-0.2), Weights(min_fills=4, no_fill_usd=4)) == pytest.approx(-3)
    with pytest.raises(ValueError, match="adverse"):
        Weights(adverse=-1)


def test_markouts_and_exposure():
    mid_t, mids = [0, 5_000, 10_000, 20_000], [100.0, 101.0, 102.0, 99.0]
    # bought 1 at 100 at t=0: mid 102 at 10 s, +200 bp; sold 2 at 101 at t=10 s: mid 99 at 20 s, +198 bp
    bp, adverse = markouts([(0, 1, 100.0, 1.0), (10_000, -1, 101.0, 2.0)], mid_t, mids)
    assert bp == pytest.approx((200 + 2 / 101 * 10_000) / 2) and adverse == 0
    bp, adverse = markouts([(5_000, -1, 100.5, 1.0)], mid_t, mids)  # sold at 100.5 at 5 s: the mid as of 15 s is 102
    assert adverse == pytest.approx(1.5) and bp < 0
    assert markouts([], mid_t, mids) == (None, 0.0)
    # 1 coin held 10 s at mid 100, then 0 for 10 s: mean |exposure| 50 USD
    assert mean_abs_exposure([0, 10_000, 20_000], [1.0, 0.0, 0.0], [0], [100.0]) == pytest.approx(50)


def test_rank_importance_orders_by_rank_correlation():
    rows = [({"a": i, "b": (i * 7) % 5}, float(i)) for i in range(6)]
    imp = rank_importance(rows, ["b", "a"])
    assert imp[0] == ("a", pytest.approx(1.0)) and imp[1][0] == "b" and imp[1][1] < 1


def test_walk_forward_puts_out_of_sample_right_after_in_sample():
    w = walk_forward(0, 60 * MINUTE_MS, 12, 6, start_offset_minutes=0)
    assert w.in_sample == (0, 12 * MINUTE_MS) and w.out_of_sample == (12 * MINUTE_MS, 18 * MINUTE_MS)
    last = walk_forward(0, 60 * MINUTE_MS, 12, 6)  # default: the most recent data
    assert last.out_of_sample[1] == 60 * MINUTE_MS + 1 and last.in_sample[1] == last.out_of_sample[0]
    with pytest.raises(ValueError, match="do not fit the data's 60.0 min"):
        walk_forward(0, 60 * MINUTE_MS, 50, 20)
    with pytest.raises(ValueError, match="in_sample_minutes: must be > 0"):
        walk_forward(0, 60 * MINUTE_MS, 0, 6)


def test_adoption_guard_both_ways():
    cand = {**CURRENT, "base_spread": 0.0002, "atr_multiplier": 0.0}
    ok = decide(CURRENT, cand, current_oos=-5.0, candidate_oos=-0.1, guard=Guard(margin_usd=0.5))
    assert ok.adopt and "every step within" in ok.summary
    small = decide(CURRENT, cand, current_oos=-0.2, candidate_oos=-0.1, guard=Guard(margin_usd=0.5))
    assert not small.adopt and "below the 0.5000 USD margin" in small.summary
    far = decide(CURRENT, cand, current_oos=-5.0, candidate_oos=-0.1, guard=Guard(max_step_fraction=0.1))
    assert not far.adopt and "base_spread 0.00245 -> 0.0002" in far.summary
    assert not decide(CURRENT, None, -5.0, None, Guard()).adopt
    same = decide(CURRENT, dict(CURRENT), -1.0, 0.0, Guard(margin_usd=0.0))
    assert not same.adopt and "is the current params" in same.summary
    with pytest.raises(ValueError, match="max_step_fraction"):
        Guard(max_step_fraction=0)
