"""Queue and latency models: properties over random event sequences (hypothesis) plus worked cases."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest.latency import ConstantLatency, LogNormalLatency
from engine.backtest.models import BUY, SELL, BookView, ProbabilisticQueue, RiskAverseQueue, SimOrder, make_queue_model

PX = 100.0


def book(side: int, best_same: float, level_at_px: float, best_opp: float):
    """Snapshot with our price level holding `level_at_px` (absent when 0) and a deeper level behind it."""
    same = [(best_same, 1.0)] if best_same != PX else []
    if level_at_px > 0:
        same.append((PX, level_at_px))
    same.append((PX - 5 * side, 3.0))  # a deeper level so our price stays inside the shown range
    same = sorted(same, key=lambda l: -l[0] * side)
    opp = np.array([(best_opp, 2.0)], dtype=float)
    same = np.array(same, dtype=float)
    return (same, opp) if side == BUY else (opp, same)


# an event is ("trade", size) at our price or ("book", level size at our price, extra behind) — no through
# prices, no crossing: the only way to be filled is volume trading at our price.
at_px_events = st.lists(st.one_of(
    st.tuples(st.just("trade"), st.floats(0.001, 5.0)),
    st.tuples(st.just("book"), st.floats(0.0, 10.0)),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from([BUY, SELL]), initial=st.floats(0.0, 10.0), qty=st.floats(0.01, 3.0),
       events=at_px_events, model=st.sampled_from(["risk-averse", "probabilistic"]), seed=st.integers(0, 99))
def test_never_fills_before_the_volume_ahead_has_traded(side, initial, qty, events, model, seed):
    q = make_queue_model(model, seed)
    order = SimOrder(1, side, PX, qty)
    best_same = PX + side  # one better level on our side: our level emptying is not the market passing us
    opp = PX + 2 * side  # the other side stays away: never reaches us
    q.on_live(order, BookView(*book(side, best_same, initial, opp)))
    assert order.queue_ahead == pytest.approx(initial)
    traded = 0.0  # volume traded at our price since the order went live
    unexplained = 0.0  # size that left the level without trading (cancels), summed over snapshots
    level = initial
    traded_since_book = 0.0
    for ev in events:
        if ev[0] == "trade":
            q.on_trade(order, PX, ev[1])
            traded += ev[1]
            traded_since_book += ev[1]
        else:
            new_level = ev[1]
            unexplained += max(level - traded_since_book - new_level, 0.0)
            level, traded_since_book = new_level, 0.0
            q.on_book(order, BookView(*book(side, best_same, new_level, opp)))
        # the bound: ahead can only leave by trading at our price or by cancelling (visible as unexplained)
        assert order.filled <= max(0.0, traded + unexplained - initial) + 1e-9
        assert order.filled <= qty + 1e-12 and order.qty >= -1e-12


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from([BUY, SELL]), initial=st.floats(0.0, 10.0), qty=st.floats(0.01, 3.0),
       trades=st.lists(st.floats(0.001, 5.0), max_size=30))
def test_risk_averse_fills_exactly_the_volume_past_the_queue(side, initial, qty, trades):
    """Only trades at our price and no snapshots: filled == min(qty, max(0, traded − ahead)) after every trade."""
    q = RiskAverseQueue()
    order = SimOrder(1, side, PX, qty)
    q.on_live(order, BookView(*book(side, PX, initial, PX + side)))
    traded = 0.0
    for sz in trades:
        q.on_trade(order, PX, sz)
        traded += sz
        assert order.filled == pytest.approx(min(qty, max(0.0, traded - initial)), abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(side=st.sampled_from([BUY, SELL]), initial=st.floats(0.0, 5.0), model=st.sampled_from(["risk-averse", "probabilistic"]),
       seed=st.integers(0, 99),
       events=st.lists(st.one_of(
           st.tuples(st.just("trade"), st.integers(-5, 5), st.floats(0.001, 3.0)),  # ticks from our price
           st.tuples(st.just("book"), st.integers(-5, 5), st.integers(-5, 5), st.floats(0.0, 5.0)),
       ), max_size=30))
def test_no_fill_at_a_price_the_market_never_reached(side, initial, model, seed, events):
    """A fill needs a trade at/through our price or an opposite best at/through it; our level vanishing while
    the same side's best moves past it is not a fill (it only puts us at the front); a print fills at most its
    size left after the queue ahead, a crossing snapshot at most the crossing size not credited before."""
    q = make_queue_model(model, seed)
    order = SimOrder(1, side, PX, 1.0)
    q.on_live(order, BookView(*book(side, PX, initial, PX + side)))
    for ev in events:
        before = order.filled
        reached = False
        if ev[0] == "trade":
            px = PX + ev[1]
            ahead, credit = order.queue_ahead, order.crossing_credit
            got = q.on_trade(order, px, ev[2])
            reached = (px <= PX) if side == BUY else (px >= PX)
            assert got <= max(0.0, ev[2] - ahead - credit) + 1e-12, "a print filled more than it left after the queue"
        else:
            opp_best = PX + side * max(ev[1], 0)  # opposite side at or beyond our price (0 ticks = crossing)
            same_best = PX - side * abs(ev[2])
            level = ev[3] if same_best == PX else 0.0
            credit = order.crossing_credit
            got = q.on_book(order, BookView(*book(side, same_best, level, opp_best)))
            reached = opp_best == PX
            assert got <= max(0.0, 2.0 - credit) + 1e-12, "a crossing filled size already credited"  # 2.0 at opp best
        if order.filled > before:
            assert reached, "filled although nothing reached our price"
    assert order.filled <= 1.0 + 1e-12


def test_worked_example_back_of_queue():
    """Bid at 100 behind 2.0: a 1.5 sell at 100 moves us to 0.5 ahead; a 1.0 sell fills 0.5 of our 1.0."""
    q = RiskAverseQueue()
    o = SimOrder(7, BUY, PX, 1.0)
    q.on_live(o, BookView(np.array([[PX, 2.0], [99.0, 1.0]]), np.array([[101.0, 1.0]])))
    assert o.queue_ahead == 2.0
    assert q.on_trade(o, PX, 1.5) == 0.0 and o.queue_ahead == pytest.approx(0.5)
    assert q.on_trade(o, PX, 1.0) == pytest.approx(0.5)
    assert q.on_trade(o, 101.0, 5.0) == 0.0  # a trade above our bid is not for us
    assert q.on_trade(o, 99.0, 0.1) == pytest.approx(0.1)  # through our price: the print's size, not the rest
    assert q.on_trade(o, 99.0, 1.0) == pytest.approx(0.4)
    assert o.qty == pytest.approx(0.0)


def test_worked_example_print_through_the_price():
    """Bid 1.0 at 100 behind 2.0: a 1.5 print through (at 99) is eaten by the 2.0 ahead (no fill) and leaves
    nobody ahead (the level traded through); the next 0.3 print at 99 fills 0.3, never the whole order."""
    q = RiskAverseQueue()
    o = SimOrder(7, BUY, PX, 1.0)
    q.on_live(o, BookView(np.array([[PX, 2.0], [99.0, 1.0]]), np.array([[101.0, 1.0]])))
    assert q.on_trade(o, 99.0, 1.5) == 0.0 and o.queue_ahead == 0.0
    assert q.on_trade(o, 99.0, 0.3) == pytest.approx(0.3)
    assert q.on_trade(o, 98.0, 2.5) == pytest.approx(0.7) and o.qty == pytest.approx(0.0)
    s = SimOrder(8, SELL, PX, 1.0)  # an ask: through = a print above it
    q.on_live(s, BookView(np.array([[99.0, 1.0]]), np.array([[PX, 0.5], [101.0, 1.0]])))
    assert q.on_trade(s, 99.0, 9.0) == 0.0  # below our ask: not for us
    assert q.on_trade(s, 101.0, 0.8) == pytest.approx(0.3)  # 0.5 ahead first


@pytest.mark.parametrize("model", ["risk-averse", "probabilistic"])
def test_a_vanished_level_moves_us_to_the_front_but_never_fills(model):
    """Our level disappears and the best bid moves below it, with no trade and no crossing: cancelled or
    executed, we cannot tell from the snapshot, so it is not a fill; we are at the front for the next print."""
    asks = np.array([[101.0, 1.0]])
    for seed in range(30):  # the old probabilistic rule filled here with probability p_through
        q, o = make_queue_model(model, seed), SimOrder(1, BUY, PX, 1.0)
        q.on_live(o, BookView(np.array([[PX, 4.0], [99.0, 1.0]]), asks))
        assert q.on_book(o, BookView(np.array([[99.0, 1.0], [98.0, 2.0]]), asks)) == 0.0
        assert o.filled == 0.0 and o.queue_ahead == 0.0
        assert q.on_trade(o, PX, 0.25) == pytest.approx(0.25)


def test_risk_averse_ignores_cancels_probabilistic_advances_seeded():
    bids0 = np.array([[PX, 10.0], [99.0, 1.0]])
    bids1 = np.array([[PX, 4.0], [99.0, 1.0]])  # 6 left the level, no trades: cancels
    asks = np.array([[101.0, 1.0]])
    ra, o1 = RiskAverseQueue(), SimOrder(1, BUY, PX, 1.0)
    ra.on_live(o1, BookView(bids0, asks))
    ra.on_book(o1, BookView(bids1, asks))
    assert o1.queue_ahead == 4.0  # clamped to what is visible, not advanced further
    outcomes = set()
    for seed in range(20):
        pq, o = ProbabilisticQueue(seed=seed), SimOrder(1, BUY, PX, 1.0)
        pq.on_live(o, BookView(bids0, asks))
        o.queue_ahead = 5.0  # half the level ahead of us: p(ahead) = 0.5 with power 1
        pq.on_book(o, BookView(bids1, asks))
        outcomes.add(o.queue_ahead)
    assert outcomes == {0.0, 4.0}  # both draws happen across seeds
    runs = []
    for _ in range(2):
        pq, o = ProbabilisticQueue(seed=3), SimOrder(1, BUY, PX, 1.0)
        pq.on_live(o, BookView(bids0, asks))
        o.queue_ahead = 5.0
        pq.on_book(o, BookView(bids1, asks))
        runs.append(o.queue_ahead)
    assert runs[0] == runs[1]


def test_order_deeper_than_the_snapshot_waits_behind_the_largest_level():
    q = RiskAverseQueue()
    o = SimOrder(1, BUY, 90.0, 1.0)
    q.on_live(o, BookView(np.array([[PX, 2.0], [99.0, 7.0]]), np.array([[101.0, 1.0]])))
    assert o.level_qty is None and o.queue_ahead == 7.0


def test_latency_models():
    c = ConstantLatency(entry=40, market_data=3)
    assert (c.entry_ms(), c.market_data_ms()) == (40, 3)
    a = [LogNormalLatency(seed=5).entry_ms() for _ in range(3)]
    b = LogNormalLatency(seed=5)
    seq1 = [b.entry_ms() for _ in range(50)]
    b2 = LogNormalLatency(seed=5)
    assert seq1 == [b2.entry_ms() for _ in range(50)]
    assert len(set(seq1)) > 5 and min(seq1) >= 0 and a[0] == seq1[0]
    with pytest.raises(ValueError):
        ConstantLatency(entry=-1)


def test_unknown_queue_model_is_named():
    with pytest.raises(ValueError, match="unknown queue model 'fifo'"):
        make_queue_model("fifo")


@pytest.mark.parametrize("model", ["risk-averse", "probabilistic"])
def test_a_crossing_book_fills_only_the_size_that_crossed(model):
    """A snapshot whose asks reach our bid: those asks would have traded with us first, up to their size."""
    q = make_queue_model(model, 0)
    o = SimOrder(1, BUY, PX, 1.0)
    bids = np.array([[99.0, 5.0]])
    q.on_live(o, BookView(bids, np.array([[101.0, 1.0]])))
    assert q.on_book(o, BookView(bids, np.array([[PX, 0.3], [100.5, 2.0]]))) == pytest.approx(0.3)
    # the same 0.3 still resting at our price: the same volume, not more
    assert q.on_book(o, BookView(bids, np.array([[PX, 0.3], [100.5, 2.0]]))) == 0.0
    # crossing size grew from 0.3 to 0.6: only the growth is new
    assert q.on_book(o, BookView(bids, np.array([[99.5, 0.2], [PX, 0.4], [101.0, 9.0]]))) == pytest.approx(0.3)
    # a print at our price lifts 0.5 of the credited 0.6: it is that volume, not a fill; what rests after it
    # and is seen again (0.1) is still credited, size that came back on top of it (0.2) is new
    assert q.on_trade(o, PX, 0.5) == 0.0 and o.crossing_credit == pytest.approx(0.1)
    assert q.on_book(o, BookView(bids, np.array([[PX, 0.3], [101.0, 9.0]]))) == pytest.approx(0.2)
    # a snapshot that does not cross forgets the credit: size crossing again later is new
    assert q.on_book(o, BookView(bids, np.array([[100.5, 1.0]]))) == 0.0 and o.crossing_credit == 0.0
    assert q.on_book(o, BookView(bids, np.array([[PX, 0.05], [100.5, 1.0]]))) == pytest.approx(0.05)
    assert o.qty == pytest.approx(0.15) and o.filled == pytest.approx(0.85)
    s = SimOrder(2, SELL, PX, 1.0)
    q.on_live(s, BookView(np.array([[99.0, 1.0]]), np.array([[101.0, 5.0]])))
    assert q.on_book(s, BookView(np.array([[100.5, 0.25], [PX, 5.0]]), np.array([[101.0, 5.0]]))) == pytest.approx(1.0)


def test_book_view_levels_by_price():
    """Shown level → its size, a gap inside the shown range → 0, beyond the deepest shown level → None (unknown);
    list input reads the same as arrays; best/last prices come from the edges."""
    bids = np.array([[100.0, 1.5], [99.5, 2.0], [98.0, 4.0]])
    asks = np.array([[100.5, 0.7], [101.0, 3.0]])
    for view in (BookView(bids, asks), BookView(bids.tolist(), asks.tolist())):
        assert (view.best_bid, view.last_bid, view.best_ask, view.last_ask) == (100.0, 98.0, 100.5, 101.0)
        assert view.level_qty(99.5, BUY) == 2.0 and view.level_qty(98.0, BUY) == 4.0
        assert view.level_qty(99.0, BUY) == 0.0  # gap between shown levels: nobody there
        assert view.level_qty(97.5, BUY) is None  # deeper than shown
        assert view.level_qty(101.0, SELL) == 3.0 and view.level_qty(100.75, SELL) == 0.0
        assert view.level_qty(102.0, SELL) is None
        assert view.largest(BUY) == 4.0 and view.crossing_qty(101.0, BUY) == pytest.approx(3.7)
        assert view.bids == bids.tolist() and view.asks == asks.tolist()
    empty = BookView(np.empty((0, 2)), np.empty((0, 2)))
    assert empty.best_bid is None and empty.level_qty(1.0, BUY) == 0.0 and empty.largest(SELL) == 0.0


def test_book_fills_equals_on_book_one_by_one():
    """The batch entry point gives the same fills and leaves the same order state as on_book per order."""
    def orders():
        return [SimOrder(1, BUY, 100.0, 1.0), SimOrder(2, BUY, 99.5, 1.0), SimOrder(3, SELL, 101.0, 2.0),
                SimOrder(4, BUY, 97.0, 1.0)]

    b0 = BookView(np.array([[100.0, 1.5], [99.5, 2.0], [98.0, 4.0]]), np.array([[100.5, 0.7], [101.0, 3.0]]))
    b1 = BookView(np.array([[99.5, 0.5], [98.0, 4.0]]), np.array([[99.5, 0.4], [100.0, 0.3], [101.0, 1.0]]))
    for model in (lambda: RiskAverseQueue(), lambda: ProbabilisticQueue(seed=5)):
        qa, qb = model(), model()
        a, b = orders(), orders()
        for o in a:
            qa.on_live(o, b0)
        for o in b:
            qb.on_live(o, b0)
        one_by_one = [(o.oid, f) for o in a if (f := qa.on_book(o, b1)) > 0]
        batch = [(o.oid, f) for o, f in (qb.book_fills(b, b1) or [])]
        # asks at/below each bid: 0.4 + 0.3 under 100.0, 0.4 under 99.5; the ask at 101 and the deep bid do not fill
        assert one_by_one == batch == [(1, pytest.approx(0.7)), (2, pytest.approx(0.4))]
        assert [(o.qty, o.queue_ahead, o.level_qty, o.traded_at_px) for o in a] == \
               [(o.qty, o.queue_ahead, o.level_qty, o.traded_at_px) for o in b]
        assert (b[2].queue_ahead, b[2].level_qty) == (1.0, 1.0) and b[3].level_qty is None
