"""Pure pieces of execution: hedge clipping and reduce-only, OurOrders' race handling, cloid
ownership, dead man's switch fire counting (with a stand-in REST that records what would be sent)."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.execution.deadman import DAY_MS, DeadMan
from engine.execution.diff import CloidFactory, LiveOrder, Tolerance, diff_orders
from engine.execution.hedger import clip_hedge, is_reducing
from engine.execution.order_state import OrderState
from engine.execution.orders import OurOrders
from engine.execution.quoting import MarketQuoter
from engine.execution.reconcile import is_ours, make_run_id
from engine.monitoring import scrub
from engine.strategy.hedge import HedgeOrder
from engine.strategy.quotes import Quote
from engine.venue.errors import classify
from engine.venue.results import ActionResult


def _hedge(leg="perp", is_buy=True, sz="10", px="30"):
    return HedgeOrder("HYPE", leg, is_buy, Decimal(sz), Decimal(px), 0.0005, "test")


def test_clip_hedge_to_order_notional_cap():
    assert clip_hedge(_hedge(sz="10"), 2, 1000.0).sz == Decimal("10")
    clipped = clip_hedge(_hedge(sz="1000"), 2, 1000.0)
    assert clipped.sz == Decimal("32.66") and clipped.px * clipped.sz <= Decimal(980)
    assert clip_hedge(_hedge(sz="1000"), 2, 5.0) is None  # below the venue's $10 minimum


@pytest.mark.parametrize("is_buy,perp,sz,expected", [
    (True, -20.0, "10", True), (True, -5.0, "10", False), (False, 20.0, "20", True), (False, -1.0, "1", False),
    (True, 0.0, "1", False)])
def test_reduce_only_only_when_the_perp_shrinks(is_buy, perp, sz, expected):
    assert is_reducing(_hedge(is_buy=is_buy, sz=sz), perp) is expected
    assert is_reducing(_hedge(leg="spot", is_buy=is_buy, sz=sz), perp) is False


def test_our_orders_ignore_a_late_resting_reply_for_a_closed_order():
    t = OurOrders()
    cloid = "0x" + "0" * 32
    t.sent(cloid, "HYPE", True, Decimal("29.9"), Decimal("3"), 1)
    t.on_update(7, cloid, "HYPE", True, Decimal("29.9"), Decimal("0"), "filled", 2)  # push first
    assert t.on_result(cloid, "resting", 3, oid=7).state is OrderState.FILLED and len(t) == 0  # no ghost order
    other = "0x" + "1" * 32
    t.sent(other, "HYPE", False, Decimal("30.1"), Decimal("3"), 4)
    t.on_result(other, "resting", 5, oid=8)
    t.on_fill(8, other, Decimal("1"), 6)
    assert t.get(8).sz == Decimal("2") and t.get(8).state is OrderState.OPEN
    t.on_fill(8, other, Decimal("2"), 7)
    assert t.get(8).state is OrderState.FILLED and len(t) == 0
    # the venue lists an order of ours we never heard of (an earlier run's): adopted as open
    third = "0x" + "2" * 32
    t.on_snapshot([LiveOrder(9, "HYPE", True, Decimal("29.8"), Decimal("1"), third)], {"HYPE"}, 8, 8)
    assert t.get(9).state is OrderState.OPEN and [o.oid for o in t.resting({"HYPE"})] == [9]


def test_cloid_scheme_is_recognised_across_runs():
    a, b = CloidFactory(make_run_id(1)), CloidFactory(make_run_id(2))
    assert is_ours(a.next()) and is_ours(b.next())
    assert not is_ours(CloidFactory(0x12345678).next()) and not is_ours(None) and not is_ours("0x12")


def test_scrub_hides_private_keys_not_addresses():
    key = "0x" + "ab" * 32
    addr = "0x" + "cd" * 20
    out = scrub(f"key={key} user={addr}")
    assert key not in out and addr in out


class _Rest:
    def __init__(self):
        self.sent = []
        self.reply = None

    async def schedule_cancel(self, t):
        self.sent.append(t)
        if self.reply:
            return ActionResult("scheduleCancel", 1, False, error=classify(self.reply))
        return ActionResult("scheduleCancel", 1, True)


async def test_deadman_rearms_counts_fires_and_respects_the_budget():
    now = [DAY_MS * 100 + 1_000]
    rest = _Rest()
    dm = DeadMan(rest, lambda: now[0], horizon_ms=15_000)
    assert await dm.tick() and rest.sent == [now[0] + 15_000]
    now[0] += 1_000
    assert not await dm.tick()  # not due yet
    now[0] += 5_000  # refresh interval (horizon/3) passed
    assert await dm.tick() and dm.state.fires == 0
    for i in range(10):  # venue time jumps past the armed time every round: each one is a fire
        now[0] += 60_000
        await dm.tick()
    assert dm.state.fires == 10 and dm.state.disabled_reason
    n = len(rest.sent)
    now[0] += 60_000
    assert not await dm.tick() and len(rest.sent) == n  # budget spent: nothing sent
    now[0] = DAY_MS * 101 + 1_000  # next UTC day
    assert await dm.tick() and dm.state.fires == 0 and dm.state.disabled_reason is None
    rest.reply = "Too many scheduled cancel triggers today (max 10)."
    now[0] += 6_000
    assert not await dm.tick() and dm.state.fires == 10
    with pytest.raises(ValueError):
        DeadMan(rest, lambda: 0, horizon_ms=5_000)


def test_bench_paper_seconds_from_env():
    import pytest

    from engine.bench.engine import RUN_S, _paper_seconds

    assert _paper_seconds({}) == RUN_S
    assert _paper_seconds({"HLMM_BENCH_PAPER_S": "600"}) == 600.0
    for bad in ("0", "-5", "ten"):
        with pytest.raises(ValueError, match="HLMM_BENCH_PAPER_S"):
            _paper_seconds({"HLMM_BENCH_PAPER_S": bad})


def test_bench_tick_to_action_runs_the_engine_offline():
    """The tick_to_action bench drives the real engine (feed handler → MarketQuoter.decide → signed batchModify)
    and folds "the venue accepted everything" into OurOrders, so every later tick re-prices by modifies."""
    import asyncio
    import secrets

    from engine.bench.engine import _ticks

    samples, last_modify = asyncio.run(_ticks("0x" + secrets.token_hex(32), n_ticks=60))
    assert len(samples) == 40  # every tick after the first 20 produced a batchModify
    assert last_modify is not None and last_modify["type"] == "batchModify" and last_modify["modifies"]


def test_unwind_after_exit_shrink_and_reentry():
    from decimal import Decimal

    from engine.execution.carry import unwind_after
    from engine.strategy.carry import CarryTarget

    on = CarryTarget(Decimal("10"), Decimal("-10"), True, 1.0, "enter")
    smaller = CarryTarget(Decimal("4"), Decimal("-4"), True, 0.4, "resize")
    flat = CarryTarget.flat("funding below exit: unwind")
    assert unwind_after(on, flat, None) == 0  # exit → unwind to zero
    assert unwind_after(flat, flat, Decimal(0)) == 0  # a running unwind keeps going
    assert unwind_after(flat, flat, None) is None  # never carried: nothing to unwind (pre-funded spot stays)
    assert unwind_after(on, smaller, None) == Decimal("4")
    assert unwind_after(flat, on, Decimal(0)) is None  # re-entered: the top-up takes over
    assert unwind_after(on, on, None) is None


def test_unwind_orders_sell_spot_chunk_and_buy_back_perp_reduce_only():
    from decimal import Decimal

    from engine.execution.hedger import carry_pair, perp_buy_back, unwind_sell
    from engine.strategy.hedge import LegMarket

    spot = LegMarket("@1", "spot", 2, 29.9, 30.1, 0.0007)
    perp = LegMarket("HYPE", "perp", 2, 29.95, 30.05, 0.00045)
    assert carry_pair(10.0, -9.0) == 9.0 and carry_pair(10.0, 1.0) == 0.0
    sell = unwind_sell(10.0, -10.0, Decimal(0), 10.0, spot, 50.0, 0.002)
    assert not sell.is_buy and sell.leg == "spot" and sell.px < Decimal("29.9")
    assert sell.sz * Decimal("30") <= 50 and sell.px * sell.sz >= 10  # one band-sized chunk, above the minimum
    assert unwind_sell(10.0, -10.0, Decimal(0), 0.2, spot, 50.0, 0.002) is None  # spot held by orders
    assert unwind_sell(10.0, -10.0, Decimal("9.9"), 10.0, spot, 50.0, 0.002) is None  # done (< $10 left)
    buy = perp_buy_back(8.4, -10.0, perp, 0.002)
    assert buy.is_buy and buy.leg == "perp" and buy.sz == Decimal("1.6") and buy.px > Decimal("30.05")
    assert perp_buy_back(0.0, -0.2, perp, 0.002) is None  # below the venue minimum
    assert perp_buy_back(10.0, -10.0, perp, 0.002) is None  # delta neutral already


def test_deadman_fires_from_history_and_seed():
    import pytest

    from engine.execution.deadman import DAY_MS, DeadMan, fires_in_history, fires_param_key

    day = 20_400
    t = day * DAY_MS + 5_000
    rows = [{"status": "scheduledCancel", "statusTimestamp": t}, {"status": "scheduledCancel", "statusTimestamp": t},
            {"status": "scheduledCancel", "statusTimestamp": t + 60_000}, {"status": "canceled", "statusTimestamp": t},
            {"status": "scheduledCancel", "statusTimestamp": t - DAY_MS}]  # yesterday's fire does not count
    assert fires_in_history(rows, day) == 2  # two fires today (one cancelled two orders)
    with pytest.raises(ValueError, match="historicalOrders"):
        fires_in_history({"status": "err"}, day)
    assert fires_param_key(day) == "deadman.fires.2025-11-08"
    dm = DeadMan(rest=None, venue_now_ms=lambda: t, horizon_ms=15_000)
    dm.seed_fires(t, 3)
    dm.seed_fires(t, 1)  # never lowers the count
    assert dm.state.fires == 3 and dm.state.fires_day == day


def test_orders_in_flight_count_against_the_position_and_open_order_limits():
    """Issue 12, items 2 and 3: an order we sent and have no answer for (or are cancelling) may still rest and
    fill. The market's decision counts it as filled against the position cap and as a venue slot, so quotes
    cannot add to a position that in-flight orders may already take to the limit."""
    import asyncio
    import secrets
    import time
    from decimal import Decimal

    from engine.bench.engine import _offline_engine
    from engine.risk import Reason
    from engine.venue.types import L2Book

    async def run():
        eng, m, q = _offline_engine("0x" + secrets.token_hex(32))
        t = int(time.time() * 1000)
        for coin in ("HYPE", "@1"):
            eng.on_feed_event(L2Book(coin, t, ((29.99, 500.0, 1),), ((30.01, 500.0, 1),)))
        now = eng.clock.now_ms()
        quiet = q.inputs(now)
        assert quiet.pending == {} and quiet.other_orders == 0
        assert any(x.coin == "HYPE" and x.is_buy for x in q.decide(now).accepted)
        # the perp is short 10; a 335-coin bid sent, no reply yet: if it fills the perp is long 325 (9,750 USD
        # at 30), so of three 3.33-coin bid levels two fit under the 10,000 USD cap and the third does not
        eng.orders.sent("0x" + "ab" * 16, "HYPE", True, Decimal("29.9"), Decimal(335), now)
        busy = q.inputs(now)
        assert busy.pending == {"HYPE": (335.0, 0.0)} and busy.other_orders == 1
        d = q.decide(now)
        hype_bids = [x for x in d.accepted if x.coin == "HYPE" and x.is_buy]
        assert len(hype_bids) == 2
        assert any(c.reason == Reason.POSITION_LIMIT for _, c in d.risk.rejected)
        worst = float(eng.inventory.qty("HYPE")) + 335 + sum(float(x.sz) for x in hype_bids)
        assert worst * 30 <= eng.limits.max_position_usd
        await eng.rest.aclose()

    asyncio.run(run())


def test_count_outside_is_the_rest_of_the_count():
    t = OurOrders()
    for i, (coin, tif) in enumerate([("HYPE", "Alo"), ("@107", "Alo"), ("BTC", "Alo"), ("BTC", "Ioc"),
                                     ("HYPE", "Ioc"), ("ETH", "Gtc")]):
        t.sent(f"0x{i:032x}", coin, True, Decimal("10"), Decimal("1"), i, tif=tif)
    for coins in ({"HYPE", "@107"}, frozenset({"BTC"}), ["ETH", "HYPE"], set(), {"SOL"}):
        assert t.count(coins, outside=True) == t.count() - t.count(coins)
    assert (t.count(), t.count({"HYPE", "@107"}), t.count({"HYPE", "@107"}, outside=True)) == (4, 2, 2)


_coins = st.sampled_from(["HYPE", "@107", "BTC"])
_px = st.integers(2990, 3010).map(lambda c: Decimal(c) / 100)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(lambda c, b, lvl, px, sz: Quote(c, "perp", b, lvl, px, Decimal(sz)), _coins, st.booleans(),
                          st.integers(0, 2), _px, st.integers(1, 3)), max_size=8),
       st.lists(st.builds(lambda oid, c, b, px, sz: LiveOrder(oid, c, b, px, Decimal(sz)), st.integers(0, 9), _coins,
                          st.booleans(), _px, st.integers(1, 3)), max_size=8),
       st.sampled_from([Tolerance(0, 0), Tolerance(3, 0.1), Tolerance(40, 0.5)]), st.data())
def test_quoter_diff_is_the_whole_diff(accepted, resting, tol, data):
    """`MarketQuoter._diff` (coin by coin, with its no-op memo) returns exactly `diff_orders` over the whole
    input — same actions in the same order, the caller's own objects — however the coins interleave, on a
    first call and on repeats with the very same or with new objects."""
    q = MarketQuoter(SimpleNamespace(coins=["HYPE", "@107", "BTC"]), None)
    want = diff_orders(accepted, resting, tol)

    def same(a, b):
        assert a == b
        for x, y in zip((*a.modifies, *a.cancels, *a.places), (*b.modifies, *b.cancels, *b.places)):
            assert x.quote is y.quote if hasattr(x, "quote") else True
            assert x.live is y.live if hasattr(x, "live") else True
        assert all(x[0] is y[0] and x[1] is y[1] for x, y in zip(a.kept, b.kept))

    same(q._diff(tuple(accepted), tuple(resting), tol), want)
    same(q._diff(tuple(accepted), tuple(resting), tol), want)  # the memo's answer where a coin was a no-op
    if resting:  # one order replaced by an equal new object: that coin is diffed again, same plan by value
        i = data.draw(st.integers(0, len(resting) - 1))
        o = resting[i]
        resting = [*resting[:i], LiveOrder(o.oid, o.coin, o.is_buy, o.px, o.sz), *resting[i + 1:]]
        same(q._diff(tuple(accepted), tuple(resting), tol), diff_orders(accepted, resting, tol))
