"""Feed bench: one WebSocket l2Book frame (bytes) → typed `L2Book` (float (px, sz, n) tuples).

Frames are real Hyperliquid BTC l2Book pushes (20 levels a side) from the hftbacktest capture in the shared
data folder when present, else the hour of official-archive BTC books there, else synthetic 20-level frames.
Reference in the same run: stdlib `json.loads` + the same dict walk to floats (what a plain client does);
also reported: bare `orjson.loads` to a dict (the floor of any decoder built on it) and the two alternative
level representations (strings kept; scaled ints) that decode.py chose floats over.
"""
from __future__ import annotations

import gc
import gzip
import json
import time
from pathlib import Path

import orjson

from engine.bench import Result, figure

ROUNDS = 200
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _frames() -> tuple[list[bytes], str]:
    cap = SHARED / "hftbacktest-examples" / "hyperliquid" / "btcusd_20250126.gz"
    if cap.exists():
        frames = []
        with gzip.open(cap, "rb") as fh:
            for line in fh:
                raw = line.split(b" ", 1)[1].strip()
                if b'"channel":"l2Book"' in raw:
                    frames.append(raw)
        if frames:
            return frames, f"real HL BTC WS capture ({len(frames)} frames)"
    arc = SHARED / "hl-s3-l2book-btc-20240101" / "BTC_20240101_h12_l2Book.jsonl.gz"
    if arc.exists():
        frames = []
        with gzip.open(arc, "rb") as fh:
            for i, line in zip(range(200), fh):
                frames.append(orjson.dumps(orjson.loads(line)["raw"]))
        return frames, f"official-archive BTC books ({len(frames)} frames)"
    frames = []
    for k in range(50):
        lv = [[{"px": f"{100000 - i - k}.0", "sz": f"{0.1 * (i + 1):.5f}", "n": i + 1} for i in range(20)],
              [{"px": f"{100001 + i + k}.0", "sz": f"{0.2 * (i + 1):.5f}", "n": i + 1} for i in range(20)]]
        frames.append(orjson.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": 1 + k, "levels": lv}}))
    return frames, "synthetic 20-level frames"


def _per_frame_us(fn, frames: list[bytes]) -> list[float]:
    for f in frames:
        fn(f)
    clock = time.perf_counter_ns
    out = []
    gc.disable()
    try:
        for _ in range(ROUNDS):
            for f in frames:
                t0 = clock()
                fn(f)
                out.append((clock() - t0) / 1000)
    finally:
        gc.enable()
    out.sort()
    return out


def _p50(s: list[float]) -> float:
    return s[len(s) // 2]


def _stdlib_decode(frame: bytes):
    d = json.loads(frame)["data"]
    lv = d["levels"]
    return (d["coin"], d["time"], [(float(l["px"]), float(l["sz"]), l["n"]) for l in lv[0]],
            [(float(l["px"]), float(l["sz"]), l["n"]) for l in lv[1]])


def _strings_decode(frame: bytes):
    """Alternative representation: keep px/sz strings (conversion deferred to every reader)."""
    d = orjson.loads(frame)["data"]
    lv = d["levels"]
    return (d["coin"], d["time"], tuple([(l["px"], l["sz"], l["n"]) for l in lv[0]]),
            tuple([(l["px"], l["sz"], l["n"]) for l in lv[1]]))


def _scaled_decode(frame: bytes, px_scale: int = 10, sz_scale: int = 100_000):
    """Alternative representation: integers scaled by the coin's decimals (BTC: 1 px decimal, 5 sz)."""
    d = orjson.loads(frame)["data"]
    lv = d["levels"]
    return (d["coin"], d["time"],
            tuple([(round(float(l["px"]) * px_scale), round(float(l["sz"]) * sz_scale), l["n"]) for l in lv[0]]),
            tuple([(round(float(l["px"]) * px_scale), round(float(l["sz"]) * sz_scale), l["n"]) for l in lv[1]]))


@figure("feed", names=("ws_book_decode_us", "ws_book_orjson_loads_us", "ws_book_decode_strings_us",
                       "ws_book_decode_scaled_int_us"))
def bench_feed() -> list[Result]:
    from engine.venue.decode import decode
    from engine.venue.types import L2Book

    frames, source = _frames()
    assert isinstance(decode(frames[0]), L2Book)
    ours = _per_frame_us(decode, frames)
    ref = _per_frame_us(_stdlib_decode, frames)
    floor = _per_frame_us(orjson.loads, frames)
    strings = _per_frame_us(_strings_decode, frames)
    scaled = _per_frame_us(_scaled_decode, frames)
    return [
        Result("ws_book_decode_us", _p50(ours), "us", f"json.loads + dict walk to floats; {source}", _p50(ref),
               "<= 30 us p50"),
        Result("ws_book_orjson_loads_us", _p50(floor), "us", "bare orjson.loads to dict (floor), same frames",
               None, None),
        Result("ws_book_decode_strings_us", _p50(strings), "us", "alternative: px/sz kept as strings", None, None),
        Result("ws_book_decode_scaled_int_us", _p50(scaled), "us", "alternative: px/sz as scaled ints", None,
               None),
    ]
