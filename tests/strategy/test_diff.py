from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.execution.diff import CloidFactory, LiveOrder, Tolerance, diff_orders, parse_cloid
from engine.strategy.quotes import LegState, QuoteParams, Quote, quotes


def q(px, sz="1", is_buy=True, level=0, coin="HYPE"):
    return Quote(coin, "perp", is_buy, level, Decimal(px), Decimal(sz))


def lo(oid, px, sz="1", is_buy=True, coin="HYPE"):
    return LiveOrder(oid, coin, is_buy, Decimal(px), Decimal(sz))


def test_identical_book_is_left_alone():
    desired = quotes(LegState("HYPE", "perp", 2, 40.0, 0.0), QuoteParams())
    live = [LiveOrder(i, x.coin, x.is_buy, x.px, x.sz) for i, x in enumerate(desired)]
    plan = diff_orders(desired, live, Tolerance())
    assert plan.is_empty and len(plan.kept) == len(desired)


def test_within_tolerance_kept_outside_modified():
    tol = Tolerance(price_tol_bps=5, size_tol_frac=0.1)
    plan = diff_orders([q("40.00"), q("39.90", level=1)], [lo(1, "40.01"), lo(2, "39.50")], tol)
    assert [k[0].oid for k in plan.kept] == [1]  # 2.5 bp away: untouched
    assert [(m.live.oid, m.quote.px) for m in plan.modifies] == [(2, Decimal("39.90"))]
    plan = diff_orders([q("40.00", sz="1")], [lo(1, "40.00", sz="1.2")], tol)
    assert len(plan.modifies) == 1  # size off by 20 %


def test_extra_live_cancelled_extra_desired_placed_sides_never_mixed():
    plan = diff_orders([q("40.1", is_buy=False), q("40.2", is_buy=False, level=1)],
                       [lo(1, "39.9"), lo(2, "39.8")], Tolerance())
    assert {c.live.oid for c in plan.cancels} == {1, 2}
    assert [p.quote.px for p in plan.places] == [Decimal("40.1"), Decimal("40.2")] and not plan.modifies


def test_best_to_best_pairing():
    plan = diff_orders([q("40.5"), q("40.4", level=1)], [lo(9, "39.0"), lo(8, "39.5")], Tolerance())
    assert [(m.live.oid, str(m.quote.px)) for m in plan.modifies] == [(8, "40.5"), (9, "40.4")]


def test_cloids_deterministic_and_well_formed():
    a, b = CloidFactory(0xDEADBEEF), CloidFactory(0xDEADBEEF)
    ids = [a.next() for _ in range(3)]
    assert ids == [b.next() for _ in range(3)]
    assert all(len(c) == 34 and c.startswith("0x") and int(c, 16) for c in ids)
    assert parse_cloid(ids[2]) == (0xDEADBEEF, 3) and a.owns(ids[0]) and not CloidFactory(1).owns(ids[0])
    with pytest.raises(ValueError, match="32 hex"):
        parse_cloid("0x1234")


prices = st.integers(3900, 4100).map(lambda c: Decimal(c) / 100)
quote_st = st.builds(lambda px, sz, b: q(px, sz, b), prices, st.integers(1, 5).map(Decimal), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(quote_st, max_size=6), st.lists(st.tuples(prices, st.integers(1, 5), st.booleans()), max_size=6))
def test_plan_reaches_desired_state(desired, raw_live):
    live = [LiveOrder(i, "HYPE", b, px, Decimal(sz)) for i, (px, sz, b) in enumerate(raw_live)]
    tol = Tolerance(price_tol_bps=3, size_tol_frac=0.1)
    plan = diff_orders(desired, live, tol)
    touched = [m.live.oid for m in plan.modifies] + [c.live.oid for c in plan.cancels] + [k[0].oid for k in plan.kept]
    assert sorted(touched) == [o.oid for o in live]  # every live order has exactly one fate
    covered = [m.quote for m in plan.modifies] + [p.quote for p in plan.places] + [k[1] for k in plan.kept]
    assert sorted(covered, key=repr) == sorted(desired, key=repr)  # every desired quote exactly once
    assert all(tol.close_enough(o, d) and o.is_buy == d.is_buy for o, d in plan.kept)
    assert all(m.live.is_buy == m.quote.is_buy for m in plan.modifies)
    # never more actions than cancelling everything and placing everything anew
    assert plan.n_actions <= max(len(live), len(desired)) + min(len(live), len(desired))
    # the diff assigns no cloids (pure); stamping gives every new or replacement order its own
    assert all(m.cloid is None for m in plan.modifies) and all(p.cloid is None for p in plan.places)
    stamped = plan.stamp(CloidFactory(1).next)
    assert len({*(m.cloid for m in stamped.modifies), *(p.cloid for p in stamped.places)}) == \
        len(plan.modifies) + len(plan.places)
    assert [m.quote for m in stamped.modifies] == [m.quote for m in plan.modifies]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(lambda px, sz, b, lvl, coin: q(px, sz, b, lvl, coin), prices, st.integers(1, 5),
                          st.booleans(), st.integers(0, 3), st.sampled_from(["HYPE", "@1"])), max_size=8),
       st.data())
def test_keep_exact_is_the_diff_when_it_answers(desired, data):
    """`keep_exact` (the quoter's shortcut after a plan went through as planned) returns either nothing or
    exactly the plan `diff_orders` returns — same kept pairs, same order — for any tolerance."""
    from engine.execution.diff import keep_exact

    live = [LiveOrder(100 + i, d.coin, d.is_buy, d.px, d.sz) for i, d in enumerate(desired)]
    # perturb some inputs: drop, resize, reprice or duplicate an order, or shuffle them
    how = data.draw(st.sampled_from(["same", "shuffle", "resize", "reprice", "drop", "extra"]))
    if live and how != "same":
        i = data.draw(st.integers(0, len(live) - 1))
        o = live[i]
        if how == "shuffle":
            live = data.draw(st.permutations(live))
        elif how == "resize":
            live[i] = LiveOrder(o.oid, o.coin, o.is_buy, o.px, o.sz + 1)
        elif how == "reprice":
            live[i] = LiveOrder(o.oid, o.coin, o.is_buy, o.px + Decimal("0.01"), o.sz)
        elif how == "drop":
            live.pop(i)
        else:
            live.append(LiveOrder(999, o.coin, o.is_buy, o.px, o.sz))
    for tol in (Tolerance(0, 0), Tolerance(3, 0.1), Tolerance(50, 0.5)):
        fast = keep_exact(desired, live)
        if fast is not None:
            assert fast == diff_orders(desired, live, tol)
    unique = len({(d.coin, d.is_buy, d.px) for d in desired}) == len(desired)
    if how in ("same", "shuffle") and unique:
        assert keep_exact(desired, live) is not None  # the case it is for is answered
    if how in ("resize", "reprice", "drop", "extra") and live:
        assert keep_exact(desired, live) is None


class _Loose(Tolerance):
    """A Tolerance subclass: the diff takes its generic path (close_enough per pair), which must agree."""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(lambda px, sz, b, lvl, coin: q(px, sz, b, lvl, coin), st.integers(3990, 4010).map(
    lambda c: Decimal(c) / 100), st.integers(1, 3), st.booleans(), st.integers(0, 2), st.sampled_from(["HYPE", "@1"])),
    max_size=8), st.lists(st.tuples(st.integers(3990, 4010), st.integers(1, 3), st.booleans(),
                                    st.sampled_from(["HYPE", "@1"]), st.integers(0, 20)), max_size=8),
       st.sampled_from([(0, 0), (3, 0.1), (5, 0.5), (50, 0.9)]))
def test_plan_follows_the_documented_matching_rule(desired, raw_live, tol_args):
    """The module docstring's rule, checked on the plan alone: per (coin, side) in sorted order, quotes best
    first (ties: lower level) each keep the nearest in-tolerance order still free (ties: lower oid); the rest
    pair best to best as modifies, leftover orders are cancelled and leftover quotes placed, all best first.
    Duplicate prices and oids (equal orders) are drawn on purpose."""
    live = [LiveOrder(oid, coin, b, Decimal(c) / 100, Decimal(sz)) for c, sz, b, coin, oid in raw_live]
    before = (list(desired), list(live))
    for tol in (Tolerance(*tol_args), _Loose(*tol_args)):
        plan = diff_orders(desired, live, tol)
        assert plan == diff_orders(tuple(desired), iter(live), tol)  # any sequence / iterable, same plan
        keys = sorted({(x.coin, x.is_buy) for x in [*desired, *live]})
        best_q = {k: sorted([d for d in desired if (d.coin, d.is_buy) == k],
                            key=lambda d: (-d.px if d.is_buy else d.px, d.level)) for k in keys}
        best_o = {k: sorted([o for o in live if (o.coin, o.is_buy) == k],
                            key=lambda o: (-o.px if o.is_buy else o.px, o.oid)) for k in keys}
        kept, modifies, cancels, places = [], [], [], []
        for k in keys:
            free = list(best_o[k])
            unmatched = []
            for d in best_q[k]:
                near = [o for o in free if tol.close_enough(o, d)]
                if not near:
                    unmatched.append(d)
                    continue
                # the first order whose (distance, oid) is smallest; removed by position
                i = min(range(len(free)), key=lambda j: (free[j] not in near, abs(free[j].px - d.px), free[j].oid))
                kept.append((free.pop(i), d))
            modifies += [(o, d) for d, o in zip(unmatched, free)]
            cancels += free[len(unmatched):]
            places += unmatched[len(free):]
        assert [(k[0], k[1]) for k in plan.kept] == kept
        assert [(m.live, m.quote) for m in plan.modifies] == modifies
        assert [c.live for c in plan.cancels] == cancels and [p.quote for p in plan.places] == places
        # identity, not only equality: the plan carries the caller's own objects
        assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(plan.kept, kept))
    assert all(map(lambda a, b: a is b, [*before[0], *before[1]], [*desired, *live]))  # inputs untouched
    assert len(desired) == len(before[0]) and len(live) == len(before[1])
