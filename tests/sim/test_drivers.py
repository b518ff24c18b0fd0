"""Market drivers: the synthetic path (pure), its calibration, replay of the official archive, mirror."""
from __future__ import annotations

import gzip
import json
import math
from decimal import Decimal

import numpy as np
import pytest

from sim.drivers import calibration as cal
from sim.drivers.ladder import tick_size, valid_price
from sim.drivers.replay import Recording
from sim.drivers.synthetic import CHUNK, SyntheticPath, ladder_levels
from tests.fixtures.sim import account_from_label, start_sim
from tests.sim.helpers import exchange, info, mid, round_px, statuses, wait_for

ARCHIVE = "hl-s3-l2book-btc-20240101/BTC_20240101_h12_l2Book.lz4"


def test_same_seed_same_path_any_access_order():
    a, b = SyntheticPath(7), SyntheticPath(7)
    steps = [5, CHUNK * 3 + 17, 1, CHUNK, CHUNK + 1, 40_000]
    forward = {s: a.at(s) for s in sorted(steps)}
    backward = {s: b.at(s) for s in sorted(steps, reverse=True)}  # b computes the far chunk first
    for s in steps:
        assert forward[s].mids == backward[s].mids
        assert forward[s].premiums == backward[s].premiums and forward[s].basis == backward[s].basis
        assert np.array_equal(forward[s].taker_u, backward[s].taker_u)
    other = SyntheticPath(8)
    assert other.at(100).mids != a.at(100).mids
    assert a.at(0).mids["HYPE"] == pytest.approx(cal.START_PX["HYPE"])


def test_path_statistics_match_calibration():
    path = SyntheticPath(3)
    hours = 48
    mids = path.mids(hours * 3600 + 1)
    hourly = np.diff(np.log(mids[::3600]))
    per_step = np.diff(np.log(mids))
    # per-step returns scaled to an hour: many samples, so tight
    assert per_step.std() * math.sqrt(3600) == pytest.approx(cal.HYPE_VOL_1H, rel=0.03)
    assert hourly.std() == pytest.approx(cal.HYPE_VOL_1H, rel=0.35)  # only 48 samples
    basis = np.array([path.at(s).basis for s in range(0, hours * 3600, 300)])
    assert basis.mean() == pytest.approx(cal.BASIS_MEAN, abs=2 * cal.BASIS_STD / math.sqrt(len(basis) / 4))
    assert basis.std() == pytest.approx(cal.BASIS_STD, rel=0.2)


def test_ladder_levels_are_venue_valid_and_deep():
    for coin, px, szd, spot in (("BTC", 62205.3, 5, False), ("HYPE", 27.881, 2, False), ("PURR/USDC", 0.2, 0, True),
                                ("@1", 27.9, 2, True), ("ETH", 9999.7, 4, False)):
        spacing = tick_size(px, szd, spot) * max(1, round(px * 1e-4 / float(tick_size(px, szd, spot))))
        bids, asks = ladder_levels(px, spacing, szd, spot, 40_000, 7, coin)
        assert len(bids) >= 20 and len(asks) >= 20, coin
        assert max(map(Decimal, bids)) < min(map(Decimal, asks))
        for p, s in list(bids.items()) + list(asks.items()):
            assert valid_price(Decimal(p), szd, spot), (coin, p)
            assert Decimal(p) * Decimal(s) >= 10
            assert -Decimal(s).as_tuple().exponent <= szd


def test_calibration_constants_match_the_data(shared_data):
    measured = cal.measure(shared_data)
    for name, value in measured.items():
        assert getattr(cal, name) == pytest.approx(value, rel=1e-3), name


def test_session_server_books_have_twenty_levels(sim_server):
    inf = info(sim_server)
    for coin in ("BTC", "ETH", "SOL", "HYPE", "PURR/USDC", "@1"):
        bids, asks = inf.l2_snapshot(coin)["levels"]
        assert len(bids) == 20 and len(asks) == 20, coin
    perp, spot = mid(inf, "HYPE"), mid(inf, "@1")
    assert abs(perp / spot - 1) < 0.01  # spot follows the perp through the calibrated basis


def test_recording_reads_archive_and_recorder_formats(shared_data, tmp_path):
    rec = Recording.load([shared_data / ARCHIVE])
    books = [e for e in rec.events if e[1] == "book"]
    assert len(books) == 5587 and books[0][2] == "BTC"
    assert all(len(e[3][0]) == 20 and len(e[3][1]) == 20 for e in books[:50])
    # the project recorder format ({"channel","data"} per line, gzip) and a fundingHistory file
    first = books[0]
    lines = [json.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": first[0], "levels": first[3]}}),
             json.dumps({"channel": "trades", "data": [{"coin": "BTC", "side": "B", "px": first[3][1][0]["px"],
                                                        "sz": "0.01", "time": first[0] + 5, "hash": "0x0", "tid": 1}]})]
    path = tmp_path / "rec.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    funding = tmp_path / "funding.json"
    funding.write_text(json.dumps([{"coin": "BTC", "fundingRate": "0.0000125", "premium": "0.0004", "time": first[0] - 10}]))
    rec2 = Recording.load([path, funding])
    assert [e[1] for e in rec2.events] == ["book", "trades"]
    assert rec2.premium_at("BTC", first[0]) == 0.0004
    # hftbacktest capture: "<ns> <WS message>" lines (46 l2Book + 9 trades)
    capture = Recording.load([shared_data / "hftbacktest-examples/hyperliquid/btcusd_20250126.gz"])
    kinds = [e[1] for e in capture.events]
    assert kinds.count("book") == 46 and kinds.count("trades") == 9
    with pytest.raises(ValueError, match="rec.txt:1"):
        bad = tmp_path / "rec.txt"
        bad.write_text("{broken\n")
        Recording.load([bad])


def test_replay_server_shows_archive_book_and_advances(shared_data, tmp_path):
    rec = Recording.load([shared_data / ARCHIVE])
    books = [e for e in rec.events if e[1] == "book"]
    funding = tmp_path / "btc-funding.json"  # a fundingHistory answer covering the recorded hour
    funding.write_text(json.dumps([{"coin": "BTC", "fundingRate": "0.0000417", "premium": "0.0002336",
                                    "time": books[0][0] - 60_000}]))
    sim = start_sim("--market", f"replay:{shared_data / ARCHIVE},{funding}", "--speed", "0", log_dir=tmp_path)
    try:
        def matches(snapshot) -> bool:
            got = sim.info({"type": "l2Book", "coin": "BTC"})["levels"]
            want = snapshot[3]
            return all([(Decimal(a["px"]), Decimal(a["sz"])) for a in g] == [(Decimal(b["px"]), Decimal(b["sz"])) for b in w]
                       for g, w in zip(got, want))
        wait_for(lambda: matches(books[0]), what="first archive snapshot in the book")
        sim.admin("clock", {"advance_ms": 30_000})
        target = [b for b in books if b[0] - books[0][0] <= 30_000][-1]
        wait_for(lambda: matches(target), what="snapshot 30 s later")
        ctx = sim.info({"type": "metaAndAssetCtxs"})[1][0]
        bid, ask = (Decimal(side[0]["px"]) for side in target[3])
        # the oracle sits under the recorded mid by the recorded premium; the rate is the recorded one
        assert float(ctx["oraclePx"]) == pytest.approx(float((bid + ask) / 2) / 1.0002336, rel=1e-6)
        assert Decimal(ctx["funding"]) == Decimal("0.0000417")
    finally:
        sim.stop()


def test_mirror_copies_another_sim(tmp_path):
    source = start_sim("--speed", "0", "--seed", "11", log_dir=tmp_path)  # frozen: a still book to compare
    mirror = None
    try:
        mirror = start_sim("--market", f"mirror:{source.url}", log_dir=tmp_path)

        def same(coin: str) -> bool:
            a = source.info({"type": "l2Book", "coin": coin})["levels"]
            b = mirror.info({"type": "l2Book", "coin": coin})["levels"]
            return [[(x["px"], x["sz"]) for x in side] for side in a] == [[(x["px"], x["sz"]) for x in side] for side in b]

        for coin in ("BTC", "HYPE", "@1"):
            wait_for(lambda: same(coin), timeout=15, what=f"{coin} mirrored")
        # a user order on the source shows up in the mirror
        address, key = account_from_label("mirror-maker")
        source.fund(address)
        m = mid(info(source), "SOL")
        px = round_px(m * 1.0001, "SOL")
        bid, ask = (float(x[0]["px"]) for x in source.info({"type": "l2Book", "coin": "SOL"})["levels"])
        if not bid < px < ask:
            px = round_px((bid + ask) / 2, "SOL")
        statuses(exchange(source, key).order("SOL", True, 3.0, px, {"limit": {"tif": "Alo"}}))
        wait_for(lambda: same("SOL") and float(mirror.info({"type": "l2Book", "coin": "SOL"})["levels"][0][0]["px"]) == px,
                 timeout=15, what="user order mirrored")
    finally:
        if mirror:
            mirror.stop()
        source.stop()


def test_venue_premium_follows_the_synthetic_path():
    """The driver sets oracles so the venue's own premium measurement (impact prices vs oracle)
    reproduces the calibrated premium path; funding then follows from Hyperliquid's formula."""
    from sim.clock import SimClock
    from sim.drivers.synthetic import SyntheticDriver
    from sim.venue import Venue

    clock = SimClock(start_ms=1_700_000_000_000, speed=0)
    venue = Venue(clock=clock, seed=5)
    driver = SyntheticDriver(venue, clock, seed=5)
    for _ in range(120):
        clock.advance(1000)
        driver.poll()
        venue.tick()
    meta, ctxs = venue.info({"type": "metaAndAssetCtxs"})[1]
    point = driver.path.at(driver.step)
    for asset, ctx in zip(meta["universe"], ctxs):
        assert float(ctx["premium"]) == pytest.approx(point.premiums[asset["name"]], abs=2e-6), asset["name"]
        assert float(ctx["funding"]) == pytest.approx(cal.funding_from_premium(float(ctx["premium"])), abs=1e-9)
    bids, asks = venue.info({"type": "l2Book", "coin": "HYPE"})[1]["levels"]
    assert len(bids) == len(asks) == 20
