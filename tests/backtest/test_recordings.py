"""A directory of `hlmm record` files (engine/backtest/recordings.py): names, retention, rotation, spot legs, the
salvage of a killed recorder's `.part`, and the cache key of a directory (a rotation or a deletion changes it)."""
from __future__ import annotations

import gzip
import os
import types
import zlib

import orjson
import pytest

from engine.backtest.cache import cache_path
from engine.backtest.recordings import (expired, file_name, files_of, is_recording_of, rotation_due, salvage,
                                        wire_coins)


def test_names_sort_in_time_order_and_match_only_their_coin():
    a, b = file_name("BTC", 1_767_225_600_000), file_name("BTC", 1_767_225_600_999)
    assert a == "BTC_20260101T000000000Z.jsonl.gz" and a < b < file_name("BTC", 1_767_225_601_000)
    assert file_name("@107", 0).startswith("at107_") and file_name("HYPE/USDC", 0).startswith("HYPE-USDC_")
    assert is_recording_of(a, "BTC") and is_recording_of("BTC_20260101T000000Z.jsonl.gz", "BTC")  # older names
    assert not is_recording_of(a, "BT") and not is_recording_of(a + ".part", "BTC")
    assert not is_recording_of("BTC_notes.jsonl.gz", "BTC")


def test_retention_keeps_every_file_holding_recent_data():
    files = [("old", 100.0), ("edge", 196.0), ("new", 199.0)]
    assert expired(files, now_s=200.0, retention_s=4.0) == ["old"]
    assert expired(files, now_s=200.0, retention_s=0) == []  # 0 keeps everything
    with pytest.raises(ValueError, match="retention_s must be >= 0"):
        expired(files, 200.0, -1)
    assert rotation_due(10.0, 11.0, 1.0) and not rotation_due(10.0, 10.5, 1.0) and not rotation_due(0, 1e9, 0)


def test_spot_legs_are_named_as_the_venue_names_them():
    m = types.SimpleNamespace
    markets = [m(coin="HYPE", perp=True, perp_name="HYPE", spot=True, spot_pair="HYPE/USDC"),
               m(coin="BTC", perp=True, perp_name="BTC", spot=False, spot_pair="BTC/USDC")]
    meta = {"tokens": [{"index": 0, "name": "USDC"}, {"index": 150, "name": "HYPE"}],
            "universe": [{"name": "@107", "tokens": [150, 0], "index": 107}]}
    assert wire_coins(markets, meta) == ["HYPE", "@107", "BTC"]
    assert wire_coins(markets, meta, ["ETH", "HYPE/USDC", "@107"]) == ["ETH", "@107"]  # recorder.coins win
    with pytest.raises(ValueError, match=r"markets\[0\].spot_pair = 'HYPE/USDC': the venue's spotMeta lists no"):
        wire_coins(markets, {"tokens": [], "universe": []})
    with pytest.raises(ValueError, match=r"recorder.coins\[1\] = 'PURR/USDC'"):
        wire_coins(markets, meta, ["BTC", "PURR/USDC"])


def _part(path, lines: list[bytes], tail: bytes = b"") -> None:
    """What a killed recorder leaves: a gzip stream sync-flushed after `lines` and a line cut in the middle
    (`tail`), with no end marker."""
    z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
    data = z.compress(b"".join(lines) + tail) + z.flush(zlib.Z_SYNC_FLUSH)
    path.write_bytes(data)


def test_a_killed_recorders_part_is_salvaged_with_its_complete_lines(tmp_path):
    lines = [orjson.dumps({"t": i, "channel": "l2Book", "data": {}}) + b"\n" for i in range(3)]
    part = tmp_path / (file_name("BTC", 0) + ".part")
    _part(part, lines + [b'{"t": 3, "chan'])
    os.utime(part, (1000, 1000))
    done = salvage(part)
    assert done == tmp_path / file_name("BTC", 0) and not part.exists()
    with gzip.open(done, "rb") as fh:
        assert fh.read() == b"".join(lines)  # the cut line is dropped, the stream is finished
    assert done.stat().st_mtime == 1000  # as old as its data: the retention must not think it new
    empty = tmp_path / (file_name("ETH", 0) + ".part")
    _part(empty, [])
    assert salvage(empty) is None and not empty.exists()


def test_a_directory_cache_key_changes_with_its_files(tmp_path):
    for ms in (0, 1000):
        with gzip.open(tmp_path / file_name("BTC", ms), "wb") as f:
            f.write(b"{}\n")
    (tmp_path / "notes.txt").write_text("not a recording")
    assert [p.name for p in files_of(tmp_path, "BTC")] == [file_name("BTC", 0), file_name("BTC", 1000)]
    key = cache_path(tmp_path, "BTC")
    (tmp_path / file_name("BTC", 0)).unlink()  # the retention deleted the oldest
    assert cache_path(tmp_path, "BTC") != key
