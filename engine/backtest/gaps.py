"""Feed gaps of a recording: where it holds no market data because the feed (or the recorder) was down.

A replay turns each gap into a disconnect of the engine's feed, so missing time is never taken for a quiet market.
"""
from __future__ import annotations

import pathlib
from typing import Iterator

from engine.backtest.data import DataQuality, FeedGap, RecordedMessage, capture_reader, messages_of


def _market_time(msg: RecordedMessage, coin: str | None) -> int | None:
    """Exchange time of an l2Book / trades message of `coin` (None for other channels and coins)."""
    d = msg.data
    if msg.channel == "l2Book" and isinstance(d, dict) and isinstance(d.get("time"), int):
        return d["time"] if coin is None or d.get("coin") == coin else None
    if msg.channel == "trades" and isinstance(d, list):
        ts = [t["time"] for t in d if isinstance(t, dict) and isinstance(t.get("time"), int)
              and (coin is None or t.get("coin") == coin)]
        return max(ts) if ts else None
    return None


def iter_gaps(path: str | pathlib.Path, coin: str | None = None, min_gap_ms: int | None = None,
              quality: DataQuality | None = None) -> Iterator[FeedGap]:
    """Feed gaps of a recording, in time order.

    A recording (`hlmm record`) marks each dropped connection with a `recorder` `reconnect` line and each recorder
    process's start with a `start` line (a gap after earlier files of a directory); consecutive
    markers (failed retries) are one gap, from the last market data before them to the next l2Book (the venue
    sends a full snapshot on resubscription). Silence alone is not a gap there: the venue pushes l2Book only
    when the book changes, so a quiet coin is silent for long. A CSV capture has no markers: its gaps are book
    silences longer than `min_gap_ms` (default `csv_capture.DEFAULT_GAP_MS`).
    """
    p = pathlib.Path(path)
    cap = capture_reader(p)
    if cap is not None:
        yield from cap.iter_gaps(p, coin, cap.DEFAULT_GAP_MS if min_gap_ms is None else min_gap_ms, quality)
        return
    last: int | None = None
    opened: tuple[int, list[str]] | None = None  # (start, reasons) of a gap waiting for its resync snapshot
    for _, _, msg in messages_of(p, coin):
        if msg.channel == "recorder":
            d = msg.data if isinstance(msg.data, dict) else {}
            event = d.get("event")
            # "start": a recorder process began; after earlier data (a directory's older files) the time it was
            # down is missing. The first start of a recording has nothing before it: no gap.
            if event == "reconnect" or (event == "start" and last is not None):
                if opened is None:
                    opened = (last if last is not None else msg.t_ms, [])
                opened[1].append(f"recorder reconnect ({d.get('error') or 'connection lost'})"
                                 if event == "reconnect" else "recorder restarted")
            continue
        t = _market_time(msg, coin)
        if t is None:
            continue
        if opened is not None and msg.channel == "l2Book":
            yield _gap(opened, t, quality)
            opened = None
        last = t if last is None else max(last, t)
    if opened is not None:
        yield _gap(opened, None, quality)


def _gap(opened: tuple[int, list[str]], until: int | None, quality: DataQuality | None) -> FeedGap:
    start, reasons = opened
    if quality is not None:
        quality.gaps += 1
    tries = f" after {len(reasons)} attempts" if len(reasons) > 1 else ""
    return FeedGap(start, until, f"{reasons[0]}{tries}")
