import gzip
import json

import pytest

from engine.market.book import BBO, BookStore, L2Book, MarketDataError


def wire(bids, asks, coin="BTC", t=1_000):
    lv = lambda side: [{"px": str(p), "sz": str(s), "n": 1} for p, s in side]  # noqa: E731
    return {"coin": coin, "time": t, "levels": [lv(bids), lv(asks)]}


def test_best_mid_microprice():
    b = L2Book.from_wire(wire([(100, 1), (99, 5)], [(101, 3), (102, 1)]), received_ms=5)
    assert (b.best_bid, b.best_ask, b.mid, b.spread) == (100.0, 101.0, 100.5, 1.0)
    # more size on the ask: the next trade more likely hits the bid, microprice leans toward the bid
    assert b.microprice == pytest.approx((100 * 3 + 101 * 1) / 4) and b.microprice < b.mid
    assert b.is_usable and not b.is_crossed and not b.has_zero


@pytest.mark.parametrize("bids,asks,crossed,zero", [
    ([(101, 1)], [(101, 1)], True, False),  # locked counts as crossed
    ([(102, 1)], [(101, 1)], True, False),
    ([(100, 0)], [(101, 1)], False, True),
    ([(0, 1)], [(101, 1)], False, True),
])
def test_crossed_and_zero_books_are_unusable(bids, asks, crossed, zero):
    b = L2Book.from_wire(wire(bids, asks), 0)
    assert (b.is_crossed, b.has_zero) == (crossed, zero)
    assert not b.is_usable and b.mid is None and b.microprice is None


def test_one_sided_book_has_no_mid():
    b = L2Book.from_wire(wire([(100, 1)], []), 0)
    assert b.best_ask is None and b.mid is None and not b.is_crossed


def test_staleness():
    b = L2Book.from_wire(wire([(100, 1)], [(101, 1)]), received_ms=10_000)
    assert b.is_fresh(12_000, 2_000) and not b.is_fresh(12_001, 2_000)
    assert not b.is_fresh(9_000, 2_000)  # from "the future": clock mixup, not fresh
    assert b.age_ms(12_500) == 2_500


@pytest.mark.parametrize("mutate,field", [
    (lambda w: w.pop("coin"), "l2Book.coin"),
    (lambda w: w.update(time="1"), "l2Book.time"),
    (lambda w: w.update(levels=[[]]), "l2Book.levels"),
    (lambda w: w["levels"][1][0].update(px="abc"), r"l2Book.levels\[1\]\[0\].px"),
    (lambda w: w["levels"][0][0].update(sz="inf"), r"l2Book.levels\[0\]\[0\].sz"),
])
def test_bad_messages_name_the_field(mutate, field):
    w = wire([(100, 1)], [(101, 1)])
    mutate(w)
    with pytest.raises(MarketDataError, match=field):
        L2Book.from_wire(w, 0)


def test_bbo_and_store_prefer_newest():
    s = BookStore()
    s.on_book(L2Book.from_wire(wire([(100, 1)], [(102, 1)]), received_ms=1_000))
    assert s.mid("BTC", 1_500, 1_000) == 101.0
    s.on_bbo(BBO.from_wire({"coin": "BTC", "time": 2, "bbo": [{"px": "100.5", "sz": "1", "n": 1},
                                                              {"px": "101.5", "sz": "2", "n": 1}]}, 1_200))
    assert s.bbo("BTC").bid == (100.5, 1.0) and s.mid("BTC", 1_500, 1_000) == 101.0
    assert s.mid("BTC", 2_500, 1_000) is None  # everything stale: no mid at all
    s.on_all_mids({"mids": {"BTC": "101.2", "ETH": "3000"}}, 2_400)
    assert s.mid("BTC", 2_500, 1_000) == 101.2 and s.last_update_ms("BTC") == 2_400
    with pytest.raises(MarketDataError, match=r"allMids.mids\[ETH\]"):
        s.on_all_mids({"mids": {"BTC": "1", "ETH": None}}, 3_000)
    assert s.mid("BTC", 2_500, 1_000) == 101.2  # bad message changed nothing


def test_bbo_null_side():
    b = BBO.from_wire({"coin": "X", "time": 1, "bbo": [None, {"px": "2", "sz": "1", "n": 1}]}, 0)
    assert b.bid is None and b.mid is None


def test_real_archive_snapshots_parse_and_are_usable(shared_data):
    path = shared_data / "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.jsonl.gz"
    n = 0
    with gzip.open(path, "rt") as f:
        for line in f:
            data = json.loads(line)["raw"]["data"]
            b = L2Book.from_wire(data, received_ms=data["time"])
            assert b.is_usable, b.time_ms
            assert all(x[0] > y[0] for x, y in zip(b.bids, b.bids[1:]))
            assert all(x[0] < y[0] for x, y in zip(b.asks, b.asks[1:]))
            assert b.best_bid < b.microprice < b.best_ask
            n += 1
            if n == 500:
                break
    assert n == 500
