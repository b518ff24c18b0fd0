"""Loaders on the real archive hour and on bad input; the decoded-snapshot cache."""
from __future__ import annotations

import gzip
import json
import os
import shutil

import numpy as np
import pytest

from engine.backtest.cache import cache_path, cached_books
from engine.backtest.data import DataError, iter_books, iter_recording, iter_trades, load_books

ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book"


def test_archive_lz4_and_gzip_decode_to_the_same_books(shared_data):
    a = load_books(shared_data / f"{ARCHIVE}.lz4")
    b = load_books(shared_data / f"{ARCHIVE}.jsonl.gz")
    assert len(a) == len(b) == 5587  # SOURCE.md: 5,587 snapshots
    assert a[0].t_ms == 1704110399915 and a[-1].t_ms == 1704113999268
    assert all(x.t_ms == y.t_ms and np.array_equal(x.bids, y.bids) and np.array_equal(x.asks, y.asks)
               for x, y in zip(a, b))
    # independent read of one line with the stdlib
    with gzip.open(shared_data / f"{ARCHIVE}.jsonl.gz", "rt") as fh:
        for i, line in enumerate(fh):
            if i == 1234:
                d = json.loads(line)["raw"]["data"]
                break
    ev = a[1234]
    assert ev.coin == "BTC" and ev.t_ms == d["time"]
    assert ev.bids.shape == ev.asks.shape == (20, 2)
    assert ev.bids[:, 0].tolist() == [float(l["px"]) for l in d["levels"][0]]
    assert ev.asks[:, 1].tolist() == [float(l["sz"]) for l in d["levels"][1]]


def test_hftbacktest_capture_books_and_trades(shared_data):
    path = shared_data / "hftbacktest-examples/hyperliquid/btcusd_20250126.gz"
    books = list(iter_books(path))
    trades = list(iter_trades(path))
    assert len(books) == 46  # SOURCE.md: 46 l2Book snapshots, 9 trades messages
    assert len(list(iter_recording(path, {"trades"}))) == 9
    assert trades and all(t.side in ("A", "B") and t.px > 0 for t in trades)


@pytest.mark.parametrize("line,needle", [
    ('{"t": 1, "channel": "l2Book"}', "missing field 'channel' or 'data'"),
    ('not json', "expected a JSON object or '<ns timestamp> <json>'"),
    ('{"t": -5, "channel": "l2Book", "data": {}}', "field 't' must be a non-negative integer"),
    ('{"t": 1, "channel": "l2Book", "data": {"coin": "BTC", "time": 9, "levels": [[{"px": "2", "sz": "1"},'
     ' {"px": "3", "sz": "1"}], []]}}', "bid levels must be strictly descending"),
    ('{"t": 1, "channel": "l2Book", "data": {"coin": "BTC", "time": 9, "levels": [[{"px": "2", "sz": "0"}], []]}}',
     "positive px and sz"),
    ('{"t": 1, "channel": "l2Book", "data": {"coin": "BTC", "time": "x", "levels": [[], []]}}',
     "l2Book field 'time' must be integer ms"),
    ('{"t": 1, "channel": "trades", "data": [{"coin": "BTC", "px": "1", "sz": "1", "side": "X", "time": 1}]}',
     "trade field 'side' must be 'A' or 'B'"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, line, needle):
    p = tmp_path / "rec.jsonl"
    good = '{"t": 1, "channel": "l2Book", "data": {"coin": "BTC", "time": 5, "levels": [[{"px": "2", "sz": "1"}], []]}}'
    p.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(DataError) as err:
        list(iter_books(p)) if "trades" not in line else list(iter_trades(p))
    assert f"{p}:3:" in str(err.value) and needle in str(err.value)


def test_books_going_back_in_time_are_refused(tmp_path):
    p = tmp_path / "r.jsonl.gz"
    mk = lambda t: json.dumps({"t": t, "channel": "l2Book", "data": {"coin": "BTC", "time": t, "levels": [[], []]}})
    p.write_bytes(gzip.compress((mk(10) + "\n" + mk(9) + "\n").encode()))
    with pytest.raises(DataError, match=r"r.jsonl.gz:2: l2Book time 9 goes backwards"):
        list(iter_books(p))


def test_truncated_compressed_file_is_a_data_error(tmp_path, shared_data):
    src = (shared_data / f"{ARCHIVE}.lz4").read_bytes()
    p = tmp_path / "cut.lz4"
    p.write_bytes(src[: len(src) // 2])
    with pytest.raises(DataError, match="cut.lz4"):
        list(iter_books(p))


def test_cache_matches_source_and_follows_changes(tmp_path, shared_data):
    src = tmp_path / "BTC.lz4"
    shutil.copy(shared_data / f"{ARCHIVE}.lz4", src)
    direct = load_books(src)
    first = list(cached_books(src))
    target = cache_path(src, None)
    assert target.is_file()
    second = list(cached_books(src))
    for run in (first, second):
        assert len(run) == len(direct)
        assert all(x.t_ms == y.t_ms and x.coin == y.coin and np.array_equal(x.bids, y.bids)
                   and np.array_equal(x.asks, y.asks) for x, y in zip(run, direct))
    target.write_bytes(b"garbage")  # corrupt cache: ignored and rebuilt
    assert len(list(cached_books(src))) == len(direct)
    os.utime(src, ns=(1, 1))  # the source changed (mtime): a different key, never the stale file
    assert cache_path(src, None) != target


def test_merge_orders_sources_and_bounds_funding():
    from decimal import Decimal

    from engine.backtest.data import BookEvent, TradeEvent
    from engine.backtest.history import FundingRow
    from engine.backtest.streams import merge_events

    e = np.empty((0, 2))
    perp = [BookEvent(t, "X", e, e) for t in (10, 20, 30)]
    spot = [BookEvent(t, "Y", e, e) for t in (15, 20)]
    trades = [TradeEvent(t, "X", 1.0, 1.0, "B") for t in (5, 20, 40)]
    fund = [FundingRow(t, "X", Decimal("0.0001"), 1) for t in (1, 20, 25, 31)]
    got = [(t, k, leg) for t, k, leg, _ in merge_events({"perp": iter(perp), "spot": iter(spot)},
                                                          {"perp": iter(trades)}, fund)]
    assert got == [(5, 0, "perp"), (10, 1, "perp"), (15, 1, "spot"), (20, 0, "perp"), (20, 1, "perp"),
                   (20, 1, "spot"), (20, 2, "perp"), (25, 2, "perp"), (30, 1, "perp"), (40, 0, "perp")]
    # a settlement at the last snapshot's time is still replayed
    got = [(t, k) for t, k, _, _ in merge_events({"perp": iter(perp)}, None,
                                                  [FundingRow(30, "X", Decimal("0.0001"), 1)])]
    assert got == [(10, 1), (20, 1), (30, 1), (30, 2)]


def test_funding_formats_agree_where_sources_overlap(shared_data):
    """Three collectors, three file layouts (ISO CSV, normalised csv.gz, raw API JSON): the loaders must give the
    same (time, rate) where SOURCE.md says the series are bit-identical."""
    from engine.backtest.history import load_funding

    a = {r.time_ms: r.rate for r in load_funding(
        shared_data / "hl-funding-btc-eth-2023-2026/funding_history_btc_eth.csv", "ETH")}
    z = {r.time_ms: r for r in load_funding(
        shared_data / "funding-multivenue-zushen-2025-2026/funding_hyperliquid.csv.gz", "ETH")}
    common = set(a) & set(z)
    assert len(common) == 4145  # SOURCE.md: 4,145/4,145 ETH rows
    assert all(a[t] == z[t].rate and z[t].interval_hours == 1 for t in common)
    sol_json = {r.time_ms: r.rate for r in load_funding(
        shared_data / "hl-sol-funding-basisfeasibility/sol_funding_history.json")}
    sol_z = {r.time_ms: r.rate for r in load_funding(
        shared_data / "funding-multivenue-zushen-2025-2026/funding_hyperliquid.csv.gz", "SOL")}
    common = set(sol_json) & set(sol_z)
    assert len(common) == 4230 and all(sol_json[t] == sol_z[t] for t in common)


def test_merge_carries_feed_gaps_as_kind_3_after_everything_at_the_same_time():
    from decimal import Decimal

    from engine.backtest.data import BookEvent, FeedGap, TradeEvent
    from engine.backtest.history import FundingRow
    from engine.backtest.streams import merge_events

    e = np.empty((0, 2))
    books = [BookEvent(t, "X", e, e) for t in (10, 20, 40)]
    trades = [TradeEvent(t, "X", 1.0, 1.0, "B", tid) for tid, t in enumerate((20, 30))]
    gaps = [FeedGap(20, 40, "recorder reconnect"), FeedGap(40, None, "recorder reconnect")]
    fund = [FundingRow(20, "X", Decimal("0.0001"), 1)]
    got = [(t, k) for t, k, _, _ in merge_events({"perp": iter(books)}, {"perp": iter(trades)}, fund,
                                                  {"perp": gaps})]
    assert got == [(10, 1), (20, 0), (20, 1), (20, 2), (20, 3), (30, 0), (40, 1), (40, 3)]
    # without gaps nothing changes for consumers that know kinds 0-2
    assert [k for _, k, _, _ in merge_events({"perp": iter(books)}, {"perp": iter(trades)}, fund)] == \
           [1, 0, 1, 2, 0, 1]


def _rewrite_with_reconnect(src, dst, cut: int, resend: int, tail_marker: bool = False) -> list:
    """Real WS payloads (hftbacktest's BTC capture) rewritten as an `hlmm record` file, with the recorder's
    reconnect markers after message `cut` (two attempts) and, as the venue does on resubscription, the last
    `resend` trades messages sent again. Returns the messages as read from the source."""
    msgs = list(iter_recording(src))
    lines = []
    for i, m in enumerate(msgs):
        lines.append({"t": m.t_ms, "channel": m.channel, "data": m.data})
        if i == cut:
            for err in ("ConnectionClosedError", "OSError"):
                lines.append({"t": m.t_ms + 5, "channel": "recorder", "data": {"event": "reconnect", "error": err}})
            again = [x for x in msgs[:cut + 1] if x.channel == "trades"][-resend:] if resend else []
            lines += [{"t": m.t_ms + 9, "channel": "trades", "data": x.data} for x in again]
    if tail_marker:
        lines.append({"t": msgs[-1].t_ms + 1, "channel": "recorder", "data": {"event": "reconnect", "error": "X"}})
    dst.write_bytes(gzip.compress("".join(json.dumps(l) + "\n" for l in lines).encode()))
    return msgs


def test_recording_reconnects_are_gaps_and_resent_trades_are_dropped(shared_data, tmp_path):
    from engine.backtest.data import DataQuality, FeedGap
    from engine.backtest.gaps import iter_gaps

    src = shared_data / "hftbacktest-examples/hyperliquid/btcusd_20250126.gz"
    rec = tmp_path / "BTC_20250126T000000Z.jsonl.gz"
    cut = 30  # of 55 messages (46 l2Book, 9 trades)
    msgs = _rewrite_with_reconnect(src, rec, cut=cut, resend=4)
    before = [m for m in msgs[:cut + 1] if m.channel in ("l2Book", "trades")]
    last_t = max(m.data["time"] if m.channel == "l2Book" else max(t["time"] for t in m.data) for m in before)
    next_book = next(m.data["time"] for m in msgs[cut + 1:] if m.channel == "l2Book")
    q = DataQuality()
    assert list(iter_gaps(rec, quality=q)) == [
        FeedGap(last_t, next_book, "recorder reconnect (ConnectionClosedError) after 2 attempts")]
    original = list(iter_trades(src))
    replayed = list(iter_trades(rec, quality=q))
    assert replayed == original and all(t.tid is not None for t in replayed)
    resent = sum(len(m.data) for m in [x for x in msgs[:cut + 1] if x.channel == "trades"][-4:])
    assert resent > 0 and (q.duplicate_trades, q.reordered_trades, q.gaps) == (resent, 0, 1)
    assert len(list(iter_books(rec))) == 46  # books are not touched by the markers
    _rewrite_with_reconnect(src, rec, cut=cut, resend=0, tail_marker=True)
    gaps = list(iter_gaps(rec))
    assert len(gaps) == 2 and gaps[1].until_ms is None  # the file ends inside the second gap


def test_trades_out_of_order_beyond_the_window_are_refused(tmp_path):
    p = tmp_path / "r.jsonl"
    mk = lambda t, tid: json.dumps({"t": t, "channel": "trades", "data": [
        {"coin": "BTC", "px": "1", "sz": "1", "side": "B", "time": t, "tid": tid}]})
    p.write_text("\n".join([mk(5000, 1), mk(4000, 2), mk(2000, 3)]) + "\n")
    with pytest.raises(DataError, match=r"r.jsonl:3: trade time 2000 is 3000 ms before a trade read earlier"):
        list(iter_trades(p))
    assert [t.tid for t in iter_trades(p, reorder_window_ms=3000)] == [3, 2, 1]
