"""The requote gate is an optimisation, not a rule: with it the engine must make exactly the decisions it makes
without it. Two runs of the same market (perp alone; spot + perp with funding, carry and hedges on; the same held
at the position limit with the spot balance spent), one with the gate forced shut, must produce the same orders,
fills and P&L — while the gated run skips a good share of decisions. A fourth run has the feed go silent for 20 s
while the gate is open: only the quoter's staleness wake can notice it, and both runs must pause alike. A fifth
runs the benchmark's active config, where the carry's quotes sit one tick inside the touch. In every gated run,
each move the gate's cheap drift test refuses is also refused by a twin of the gate that builds the full proof."""
from __future__ import annotations

import copy
import pathlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.backtest.data import DataQuality
from engine.backtest.engine_run import EngineBacktest
from engine.backtest.runner import ReplayOptions
from engine.backtest.streams import merge_events
from engine.backtest.synthetic import synthetic_books, synthetic_funding
from engine.execution import requote_gate
from engine.execution.requote_bounds import rounding_range, pin_holds
from engine.execution.requote_gate import RequoteGate
from engine.strategy import rounding as R

H = 3_600_000
START = 1_750_000_000_000


# at the limit: 4 bp quotes fill until spot and perp both sit at the $2,000 position cap and the spot leg's quote
# balance is spent; from then on risk refuses, at every decision, the quotes that would add to either leg
SPOT_USDC = 1900.0  # the carry's spot buys spend the quote balance down to under one lot
AT_LIMIT = "[risk]\nmax_position_usd = 2000\n"


GAP = (START + H // 6, START + H // 6 + 20_000)  # no book on either leg for 20 s (risk.stale_data_ms is 5 s)


def _run(tmp_path: pathlib.Path, tolerance: float, two_legs: bool, at_limit: bool = False, gap: bool = False,
         active: bool = False):
    cfg = tmp_path / f"gate-{tolerance}-{two_legs}-{at_limit}-{gap}-{active}.toml"
    # perp only: a 6 bp market filled often; two legs: 20 bp quotes (fewer fills) with the carry and hedger on;
    # active: the benchmark's active config (4 bp quotes, the default $1,000 carry): the carry's bias pushes its
    # quotes through the touch, where the post-only guard holds them one tick inside it (`pinned_quote`)
    spread = "0.0004" if at_limit or active else "0.002" if two_legs else "0.0006"
    target = "" if active else "target_notional_usd = 500\n"
    cfg.write_text(f"[strategy]\nbase_spread = {spread}\natr_multiplier = 0\nrequote_tolerance_bps = {tolerance}\n"
                   f"[carry]\n{target}entry_threshold = 0.00001\n" + (AT_LIMIT if at_limit else ""))
    perp, spot = synthetic_books(START, H // 3, seed=3, vol_bp=0.5, spot=two_legs)
    if gap:  # silent, not marked: no GAP event, the engine has only its clock to notice it by
        perp, spot = ([b for b in books if not GAP[0] <= b.t_ms < GAP[1]] for books in (perp, spot))
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


@pytest.mark.parametrize("tolerance,two_legs,at_limit,gap,active", [
    (2.0, False, False, False, False), (2.0, True, False, False, False), (2.0, True, True, False, False),
    (2.0, True, False, True, False), (2.0, True, False, False, True)])
def test_gated_and_ungated_runs_decide_the_same(tmp_path, monkeypatch, tolerance, two_legs, at_limit, gap, active):
    pins = []  # (buy?, sized by the buy capacity?) of every pinned quote the gate kept on a touch

    def counted(pin, *args):
        held = pin_holds(pin, *args)
        if held:
            pins.append((pin[0], pin[-1] is not None))
        return held
    monkeypatch.setattr(requote_gate, "pin_holds", counted)
    # the cheap drift test may only refuse what the proof refuses too: wherever it answers, a twin of the gate
    # without it (its own proof, its own memo) must come to the same answer
    real_holds, real_drift = RequoteGate.holds, RequoteGate._drifted_out
    drifted, bypass = [], [False]

    def drift(self, tops):
        out = False if bypass[0] else real_drift(self, tops)
        drifted.append(out)
        return out

    def checked(self, books, now):
        twin = copy.copy(self)
        twin._shapes = dict(self._shapes)
        n = len(drifted)
        held = real_holds(self, books, now)
        if len(drifted) > n and drifted[n]:
            bypass[0] = True
            try:
                assert real_holds(twin, books, now) is held is False
            finally:
                bypass[0] = False
        return held
    monkeypatch.setattr(RequoteGate, "_drifted_out", drift)
    monkeypatch.setattr(RequoteGate, "holds", checked)
    gated, skipped = _run(tmp_path, tolerance, two_legs, at_limit, gap, active)
    assert any(drifted), "the drift test never answered: the runs did not exercise it"
    if active:  # the run covers every kind of pinned quote: asks, bids, and bids sized by the buy capacity
        assert {(False, False), (True, False), (True, True)} <= set(pins), set(pins)
    book_events = gated["counters"]["engine_book_events"]
    # a good share of touch changes proved harmless (at the limit, only once both legs have got there)
    assert skipped > book_events / (8 if at_limit else 5), (skipped, book_events)
    assert gated["fills"] > 0 and gated["orders"].get("open", 0) > 20

    monkeypatch.setattr(RequoteGate, "holds", lambda self, books, now: False)  # every change decides in full
    ungated, none = _run(tmp_path, tolerance, two_legs, at_limit, gap, active)
    assert none == 0
    paused_s = gated["time_in_status"].get("paused", 0.0) * H / 3 / 1000
    if gap:  # paused by the end of the silence (time in status goes by the status at each event: the whole
        # 20 s count as paused; the start adds ~1.5 s); when exactly, the ungated run's cancels pin below
        assert 20.0 < paused_s < 25.0, gated["time_in_status"]
    else:
        assert paused_s < 5.0, gated["time_in_status"]
    requotes = (gated["counters"].pop("engine_requotes"), ungated["counters"].pop("engine_requotes"))
    assert requotes[0] < requotes[1]
    assert gated == ungated


@settings(max_examples=3000, deadline=None)
@given(raw=st.floats(0.01, 200_000.0), move_bp=st.floats(-5.0, 5.0), is_buy=st.booleans(),
       sz_decimals=st.integers(0, 5), is_spot=st.booleans())
def test_rounding_bounds_where_the_next_rounded_price_can_land(raw, move_bp, is_buy, sz_decimals, is_spot):
    """The gate's rounding bound: a quote rounded from `raw` (bids down, asks up, as `quotes` does), and the
    quote rounded from the raw price after a move, differ by the raw move plus something inside
    `rounding_range`'s (down, up) — one tick wide once the first rounding is known."""
    direction = "down" if is_buy else "up"
    px = R.round_price(raw, sz_decimals, is_spot, direction)
    assume(px is not None)
    moved = raw * (1 + move_bp / 1e4)
    px2 = R.round_price(moved, sz_decimals, is_spot, direction)
    assume(px2 is not None)
    fpx = float(px)
    reach = max(fpx, raw, moved) * (1 + 10 / 1e4)
    tick = float(R.price_tick(reach, sz_decimals, is_spot))
    down, up = rounding_range(is_buy, fpx, raw, tick, sz_decimals, is_spot)
    assert down <= 0 <= up
    assert up - down <= 2 * tick / fpx * 1e4 * (1 + 1e-6)
    extra = (float(px2) - fpx - (moved - raw)) / fpx * 1e4  # what rounding added to the raw move, bp of px
    assert down - 1e-9 <= extra <= up + 1e-9, (px, px2, down, extra, up)
