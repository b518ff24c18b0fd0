"""The requote gate is an optimisation, not a rule: with it the engine must make exactly the decisions it makes
without it. Two runs of the same two-leg market (spot + perp, funding, carry and hedges on), one with the gate
forced shut, must produce the same orders, fills and P&L — while the gated run skips most decisions."""
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


def _run(tmp_path: pathlib.Path, tolerance: float, two_legs: bool):
    cfg = tmp_path / f"gate-{tolerance}-{two_legs}.toml"
    # perp only: a 6 bp market filled often; two legs: 20 bp quotes (fewer fills) with the carry and hedger on
    spread = "0.002" if two_legs else "0.0006"
    cfg.write_text(f"[strategy]\nbase_spread = {spread}\natr_multiplier = 0\nrequote_tolerance_bps = {tolerance}\n"
                   "[carry]\ntarget_notional_usd = 500\nentry_threshold = 0.00001\n")
    perp, spot = synthetic_books(START, H // 3, seed=3, vol_bp=0.5, spot=two_legs)
    funding = synthetic_funding(START - 200 * H, 201 * H, seed=3, base=0.00003, p_switch=0.0)
    opts = ReplayOptions(l2=pathlib.Path("synthetic"), config=cfg)
    books = {"perp": perp, "spot": spot} if two_legs else {"perp": perp}
    bt = EngineBacktest(opts, ("HYPE", 2), ("@107", 2) if two_legs else None, merge_events(books, None, funding),
                        funding=funding, quality=DataQuality())
    res = bt.run()
    skipped = sum(q.gate.skipped for q in bt.engine.quoters.values())
    for k in ("wall_s", "events_per_s", "wall_phases_s"):
        res.pop(k)
    return res, skipped


@pytest.mark.parametrize("tolerance,two_legs", [(2.0, False), (2.0, True)])
def test_gated_and_ungated_runs_decide_the_same(tmp_path, monkeypatch, tolerance, two_legs):
    gated, skipped = _run(tmp_path, tolerance, two_legs)
    book_events = gated["counters"]["engine_book_events"]
    assert skipped > book_events / 5, (skipped, book_events)  # a good share of touch changes proved harmless
    assert gated["fills"] > 0 and gated["orders"].get("open", 0) > 20

    monkeypatch.setattr(RequoteGate, "holds", lambda self, books, now: False)  # every change decides in full
    ungated, none = _run(tmp_path, tolerance, two_legs)
    assert none == 0
    requotes = (gated["counters"].pop("engine_requotes"), ungated["counters"].pop("engine_requotes"))
    assert requotes[0] < requotes[1]
    assert gated == ungated
