"""The CSV capture loader on the real capture (counts from its SOURCE.md) and on small bad files."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import numpy as np
import pytest

from engine.backtest.cache import cached_books
from engine.backtest.csv_capture import iter_bbo
from engine.backtest.data import DataError, DataQuality, FeedGap, iter_books, iter_trades
from engine.backtest.gaps import iter_gaps
from tests.fixtures.paths import SHARED_DATA

CAPTURE = SHARED_DATA / "hl-l2-trades-djienne-as-2025-09-04"
# SOURCE.md: rows, unique tids, BBO updates, book snapshots sharing a millisecond with a BBO row
SOURCE = {"BTC": (6675, 6675, 13896, 2195), "ETH": (6884, 6867, 15259, 2389),
          "SOL": (4437, 4427, 13211, 2078), "WLFI": (2563, 2555, 8853, 1366)}


def utc_ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture(scope="module")
def capture():
    if not CAPTURE.is_dir():
        pytest.skip(f"real capture not found at {CAPTURE} (../shared/data beside the checkout)")
    return CAPTURE


@pytest.mark.parametrize("coin", list(SOURCE))
def test_capture_counts_match_source_md(capture, coin):
    rows, unique, bbo_updates, _ = SOURCE[coin]
    q = DataQuality()
    books = list(iter_books(capture, coin, q))
    trades = list(iter_trades(capture, coin, q))
    gaps = list(iter_gaps(capture, coin, quality=q))
    assert len(books) == 3785 and all(b.coin == coin for b in books)
    assert books[0].t_ms == utc_ms("2025-09-04 19:46:56.253") and books[-1].t_ms == utc_ms("2025-09-04 20:21:44.665")
    assert all(b.bids.shape == b.asks.shape == (20, 2) for b in books)
    assert all(b.bids[0, 0] < b.asks[0, 0] for b in books)  # "no book is crossed"
    assert len(trades) == unique and q.duplicate_trades == rows - unique  # ETH 17, SOL 10, WLFI 8, BTC 0
    assert q.reordered_trades == 0
    assert len({t.tid for t in trades}) == unique
    assert all(a.t_ms <= b.t_ms for a, b in zip(trades, trades[1:]))
    assert gaps == [FeedGap(utc_ms("2025-09-04 19:58:11.504"), utc_ms("2025-09-04 19:58:29.480"), gaps[0].reason)]
    assert "17976 ms" in gaps[0].reason and q.gaps == 1
    assert q.repeated_books == 3  # three snapshots received twice (same time, same levels), kept
    assert len(list(iter_bbo(capture, coin))) == bbo_updates


def test_rows_decode_to_the_file_values(capture):
    """An independent read of one book row and the trades with the stdlib csv module."""
    with open(capture / "orderbooks_SOL.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ev = list(iter_books(capture / "orderbooks_SOL.csv"))[1234]
    r = rows[1234]
    assert ev.t_ms == int(r["exchange_timestamp"])
    assert ev.bids[:, 0].tolist() == [float(r[f"bid_price_{i}"]) for i in range(20)]
    assert ev.asks[:, 1].tolist() == [float(r[f"ask_size_{i}"]) for i in range(20)]
    with open(capture / "trades_WLFI.csv", newline="") as fh:
        first = {}
        for r in csv.DictReader(fh):
            first.setdefault(int(r["trade_id"]), r)
    trades = list(iter_trades(capture / "trades_WLFI.csv"))
    assert len(trades) == len(first)
    for t in trades:
        r = first[t.tid]
        assert (t.t_ms, t.px, t.sz) == (int(r["exchange_timestamp"]), float(r["price"]), float(r["size"]))
        assert t.side == {"buy": "B", "sell": "A"}[r["side"]]


@pytest.mark.parametrize("coin", list(SOURCE))
def test_bbo_channel_agrees_with_book_level_0(capture, coin):
    """SOURCE.md check 2, through both parsers: where a snapshot and a BBO update share a millisecond, the best
    bid/ask price and size are equal."""
    bbo = {}
    for e in iter_bbo(capture, coin):
        bbo.setdefault(e.t_ms, []).append((e.bid_px, e.bid_sz, e.ask_px, e.ask_sz))
    shared = [b for b in iter_books(capture, coin) if b.t_ms in bbo]
    assert len({b.t_ms for b in shared}) == SOURCE[coin][3]
    assert all((b.bids.item(0), b.bids.item(1), b.asks.item(0), b.asks.item(1)) in bbo[b.t_ms] for b in shared)


def test_path_forms_coin_rules_and_cache(capture):
    via_dir = list(iter_books(capture, "ETH"))
    via_file = list(iter_books(capture / "orderbooks_ETH.csv"))
    via_cache = list(cached_books(capture, "ETH"))
    assert len(via_dir) == len(via_file) == len(via_cache) == 3785
    assert all(a.t_ms == b.t_ms == c.t_ms and np.array_equal(a.bids, c.bids) and np.array_equal(a.asks, b.asks)
               for a, b, c in zip(via_dir, via_file, via_cache))
    assert [t.tid for t in iter_trades(capture / "trades_ETH.csv")] == [t.tid for t in iter_trades(capture, "ETH")]
    with pytest.raises(DataError, match=r"holds the coins \['BTC', 'ETH', 'SOL', 'WLFI'\]; pass coin="):
        list(iter_books(capture))
    with pytest.raises(DataError, match="file is for coin 'ETH', but coin 'SOL'"):
        list(iter_books(capture / "orderbooks_ETH.csv", "SOL"))
    with pytest.raises(DataError, match="no orderbooks_DOGE.csv"):
        list(iter_books(capture, "DOGE"))


def test_hlmm_backtest_reads_the_capture_directory(capture, tmp_path):
    """`hlmm backtest --l2 DIR --coin ETH --trades DIR`: the capture's books and trades reach the engine's run."""
    from typer.testing import CliRunner

    from engine.cli import app

    res = CliRunner().invoke(app, ["backtest", "--l2", str(capture), "--coin", "ETH", "--trades", str(capture),
                                   "--json", "--no-cache"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    # every snapshot and every trade once (17 repeats dropped); trades printed before the first book have no
    # book to meet and are counted as skipped
    assert out["book_events"] == 3785
    assert out["trade_events"] + out["skipped_before_first_book"] == 6867 and out["skipped_before_first_book"] > 0
    assert out["data_quality"]["duplicate_trades"] == 17 and out["feed_gaps"] == 1


# ---------------------------------------------------------------- bad input

BOOK_HEADER = "timestamp,sequence,exchange_timestamp,bid_price_0,bid_size_0,ask_price_0,ask_size_0," \
              "bid_price_1,bid_size_1,ask_price_1,ask_size_1"
TRADE_HEADER = "timestamp,price,size,side,trade_id,exchange_timestamp"


def book_row(t: int, bids=((100.0, 1.0), (99.0, 2.0)), asks=((101.0, 1.0), (102.0, 2.0))) -> str:
    cells = ["0", str(t), str(t)]
    for (bp, bs), (ap, as_) in zip(bids, asks):
        cells += [str(bp), str(bs), str(ap), str(as_)]
    return ",".join(cells)


def trade_row(t: int, tid: int, px="100.0", sz="0.5", side="buy") -> str:
    return f"0,{px},{sz},{side},{tid},{t}"


@pytest.mark.parametrize("row,needle", [
    ("0,1,1000,100.0,1.0,101.0,1.0,abc,2.0,102.0,2.0", "field 'bid_price_1' is not a number: 'abc'"),
    ("0,1,1000,100.0,1.0,101.0,1.0,99.0,0,102.0,2.0", "field 'bid_size_1' must be a positive number, got '0'"),
    ("0,1,1000,100.0,1.0,101.0,1.0,100.0,2.0,102.0,2.0", "field 'bid_price_1' = 100.0 breaks the strictly descending"),
    ("0,1,1000,100.0,1.0,101.0,1.0,99.0,2.0,100.5,2.0", "field 'ask_price_1' = 100.5 breaks the strictly ascending"),
    ("0,1,1000,,,101.0,1.0,99.0,2.0,102.0,2.0", "field 'bid_price_1' follows the empty level 0"),
    ("0,1,999,100.0,1.0,101.0,1.0,99.0,2.0,102.0,2.0", "field 'exchange_timestamp' 999 goes back in time"),
    ("0,1,10x0,100.0,1.0,101.0,1.0,99.0,2.0,102.0,2.0", "field 'exchange_timestamp' must be integer epoch ms"),
    ("0,1,1000,100.0,1.0,101.0", "expected 11 fields, got 6"),
])
def test_bad_book_rows_name_file_line_and_field(tmp_path, row, needle):
    f = tmp_path / "orderbooks_X.csv"
    f.write_text("\n".join([BOOK_HEADER, book_row(1000), row]) + "\n")
    with pytest.raises(DataError) as err:
        list(iter_books(tmp_path, "X"))
    msg = str(err.value)
    assert msg.startswith(f"{f}:3: ") and needle in msg


def test_a_missing_level_is_fine_and_a_bad_header_is_named(tmp_path):
    f = tmp_path / "orderbooks_X.csv"
    f.write_text(f"{BOOK_HEADER}\n0,1,1000,100.0,1.0,101.0,1.0,,,102.0,2.0\n")
    (ev,) = iter_books(f)
    assert ev.bids.tolist() == [[100.0, 1.0]] and ev.asks.tolist() == [[101.0, 1.0], [102.0, 2.0]]
    f.write_text("timestamp,sequence,bid_price_0,bid_size_0,ask_price_0,ask_size_0\n")
    with pytest.raises(DataError, match=r"orderbooks_X.csv:1: header lacks column\(s\) \['exchange_timestamp'\]"):
        list(iter_books(f))
    f.write_text("")
    with pytest.raises(DataError, match=r"orderbooks_X.csv:1: empty file"):
        list(iter_books(f))


@pytest.mark.parametrize("row,needle", [
    (trade_row(1000, 7, side="long"), "field 'side' must be 'buy' or 'sell' (the aggressor), got 'long'"),
    (trade_row(1000, 7, px="-1"), "field 'price' must be a positive number, got '-1'"),
    ("0,100.0,0.5,buy,7x,1000", "field 'trade_id' must be a non-negative integer, got '7x'"),
    (trade_row(1000, 1, px="100.5"), "trade id 1 repeats"),  # same tid, other price: not a resend
    (trade_row(-1, 9), "field 'exchange_timestamp' must be integer epoch ms"),
    (trade_row(999, 9), "trade time 999 is 1001 ms before a trade read earlier (2000)"),
])
def test_bad_trade_rows_name_file_line_and_field(tmp_path, row, needle):
    f = tmp_path / "trades_X.csv"
    f.write_text("\n".join([TRADE_HEADER, trade_row(1000, 1), trade_row(2000, 2), row]) + "\n")
    with pytest.raises(DataError) as err:
        list(iter_trades(tmp_path, "X", reorder_window_ms=1000))
    assert str(err.value).startswith(f"{f}:4: ") and needle in str(err.value)


def test_repeated_trades_dropped_and_late_ones_sorted_within_the_window(tmp_path):
    f = tmp_path / "trades_X.csv"
    rows = [trade_row(1000, 1), trade_row(1500, 2), trade_row(1200, 3), trade_row(1500, 2),  # 3 late, 2 again
            trade_row(1200, 4), trade_row(2600, 5), trade_row(1700, 6)]
    f.write_text("\n".join([TRADE_HEADER] + rows) + "\n")
    q = DataQuality()
    got = [(t.t_ms, t.tid) for t in iter_trades(f, quality=q, reorder_window_ms=1000)]
    assert got == [(1000, 1), (1200, 3), (1200, 4), (1500, 2), (1700, 6), (2600, 5)]
    assert (q.duplicate_trades, q.reordered_trades) == (1, 3)
    with pytest.raises(DataError, match=r"trades_X.csv:8: trade time 1700 is 900 ms before"):
        list(iter_trades(f, reorder_window_ms=500))


def test_gap_threshold_is_a_parameter(tmp_path):
    f = tmp_path / "orderbooks_X.csv"
    f.write_text("\n".join([BOOK_HEADER] + [book_row(t) for t in (1000, 1500, 4500, 5000, 12_000)]) + "\n")
    assert [(g.t_ms, g.until_ms) for g in iter_gaps(f, min_gap_ms=2000)] == [(1500, 4500), (5000, 12_000)]
    assert [(g.t_ms, g.until_ms) for g in iter_gaps(f)] == [(5000, 12_000)]  # default 5 s
    assert "orderbooks_X.csv line 6" in next(iter(iter_gaps(f))).reason
    with pytest.raises(ValueError, match="min_gap_ms must be > 0"):
        list(iter_gaps(f, min_gap_ms=0))
