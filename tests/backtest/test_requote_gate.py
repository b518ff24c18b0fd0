"""The requote gate is an optimisation, not a rule: with it the engine must make exactly the decisions it makes
without it. Two runs of the same market (perp alone; spot + perp with funding, carry and hedges on; the same held
at the position limit with the spot balance spent), one with the gate forced shut, must produce the same orders,
fills and P&L — while the gated run skips a good share of decisions."""
from __future__ import annotations

import pathlib

import pytest

from engine.backtest.data import DataQuality
from engine.backtest.engine_run import EngineBacktest
from engine.backtest.runner import ReplayOptions
from engine.backtest.streams import merge_events
from engine.backtest.synthetic import synthetic_books, synthetic_funding
from engine.execution.requote_gate import RequoteGate

H = 3_600_000
START = 1_750_000_000_000


# at the limit: 4 bp quotes fill until spot and perp both sit at the $2,000 position cap and the spot leg's quote
# balance is spent; from then on risk refuses, at every decision, the quotes that would add to either leg
SPOT_USDC = 1900.0  # the carry's spot buys spend the quote balance down to under one lot
AT_LIMIT = "[risk]\nmax_position_usd = 2000\n"


def _run(tmp_path: pathlib.Path, tolerance: float, two_legs: bool, at_limit: bool = False):
    cfg = tmp_path / f"gate-{tolerance}-{two_legs}-{at_limit}.toml"
    # perp only: a 6 bp market filled often; two legs: 20 bp quotes (fewer fills) with the carry and hedger on
    spread = "0.0004" if at_limit else "0.002" if two_legs else "0.0006"
    cfg.write_text(f"[strategy]\nbase_spread = {spread}\natr_multiplier = 0\nrequote_tolerance_bps = {tolerance}\n"
                   "[carry]\ntarget_notional_usd = 500\nentry_threshold = 0.00001\n" + (AT_LIMIT if at_limit else ""))
    perp, spot = synthetic_books(START, H // 3, seed=3, vol_bp=0.5, spot=two_legs)
    funding = synthetic_funding(START - 200 * H, 201 * H, seed=3, base=0.00003, p_switch=0.0)
    opts = ReplayOptions(l2=pathlib.Path("synthetic"), config=cfg,
                         start_spot_usdc=SPOT_USDC if at_limit else 10_000.0)
    books = {"perp": perp, "spot": spot} if two_legs else {"perp": perp}
    bt = EngineBacktest(opts, ("HYPE", 2), ("@107", 2) if two_legs else None, merge_events(books, None, funding),
                        funding=funding, quality=DataQuality())
    res = bt.run()
    skipped = sum(q.gate.skipped for q in bt.engine.quoters.values())
    for k in ("wall_s", "events_per_s", "wall_phases_s"):
        res.pop(k)
    return res, skipped


@pytest.mark.parametrize("tolerance,two_legs,at_limit", [(2.0, False, False), (2.0, True, False), (2.0, True, True)])
def test_gated_and_ungated_runs_decide_the_same(tmp_path, monkeypatch, tolerance, two_legs, at_limit):
    gated, skipped = _run(tmp_path, tolerance, two_legs, at_limit)
    book_events = gated["counters"]["engine_book_events"]
    # a good share of touch changes proved harmless (at the limit, only once both legs have got there)
    assert skipped > book_events / (8 if at_limit else 5), (skipped, book_events)
    assert gated["fills"] > 0 and gated["orders"].get("open", 0) > 20

    monkeypatch.setattr(RequoteGate, "holds", lambda self, books, now: False)  # every change decides in full
    ungated, none = _run(tmp_path, tolerance, two_legs, at_limit)
    assert none == 0
    requotes = (gated["counters"].pop("engine_requotes"), ungated["counters"].pop("engine_requotes"))
    assert requotes[0] < requotes[1]
    assert gated == ungated
