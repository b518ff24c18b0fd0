"""Candles built from the venue's own trades.

Only 1-minute candles are stored; every other interval is aggregated from them on request, so a
trade costs one dict update no matter how many intervals clients ask for. Buckets are aligned to
the epoch with fixed lengths (1M = 30 days, same as the WS hub's table).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal

from .numbers import dec_str

MINUTE = 60_000
INTERVAL_MS = {"1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "30m": 30 * MINUTE,
               "1h": 60 * MINUTE, "2h": 120 * MINUTE, "4h": 240 * MINUTE, "8h": 480 * MINUTE,
               "12h": 720 * MINUTE, "1d": 1440 * MINUTE, "3d": 3 * 1440 * MINUTE, "1w": 7 * 1440 * MINUTE,
               "1M": 30 * 1440 * MINUTE}
MAX_CANDLES = 5000


class CandleStore:
    def __init__(self) -> None:
        self.minutes: dict[str, dict[int, list]] = {}  # coin -> minute start -> [o, h, l, c, v, n, notional]
        self.keys: dict[str, list[int]] = {}  # coin -> sorted minute starts

    def add(self, coin: str, ts: int, px: Decimal, sz: Decimal, ntl: Decimal) -> None:
        start = ts - ts % MINUTE
        book = self.minutes.get(coin)
        if book is None:
            book = self.minutes[coin] = {}
            self.keys[coin] = []
        c = book.get(start)
        if c is None:
            book[start] = [px, px, px, px, sz, 1, ntl]
            keys = self.keys[coin]
            if not keys or start > keys[-1]:
                keys.append(start)
            else:
                keys.insert(bisect_left(keys, start), start)
            return
        if px > c[1]:
            c[1] = px
        if px < c[2]:
            c[2] = px
        c[3] = px
        c[4] += sz
        c[5] += 1
        c[6] += ntl

    def minute_rows(self, coin: str, start: int, end: int) -> list[tuple[int, list]]:
        keys = self.keys.get(coin, [])
        book = self.minutes.get(coin, {})
        return [(k, book[k]) for k in keys[bisect_left(keys, start): bisect_right(keys, end)]]

    def snapshot(self, coin: str, interval: str, start: int, end: int) -> list[dict]:
        step = INTERVAL_MS[interval]
        first = start - start % step
        out: dict[int, list] = {}
        for k, c in self.minute_rows(coin, first, end):
            b = k - k % step
            agg = out.get(b)
            if agg is None:
                out[b] = list(c)
            else:
                agg[1] = max(agg[1], c[1])
                agg[2] = min(agg[2], c[2])
                agg[3] = c[3]
                agg[4] += c[4]
                agg[5] += c[5]
                agg[6] += c[6]
        rows = [{"t": b, "T": b + step - 1, "s": coin, "i": interval, "o": dec_str(c[0]), "c": dec_str(c[3]),
                 "h": dec_str(c[1]), "l": dec_str(c[2]), "v": dec_str(c[4]), "n": c[5]}
                for b, c in sorted(out.items())]
        return rows[-MAX_CANDLES:]

    def day_stats(self, coin: str, now: int) -> tuple[Decimal, Decimal, Decimal | None]:
        """(notional volume, base volume, first price) over the last 24 h."""
        ntl = base = Decimal(0)
        first = None
        for _, c in self.minute_rows(coin, now - 1440 * MINUTE, now):
            if first is None:
                first = c[0]
            base += c[4]
            ntl += c[6]
        return ntl, base, first

    def to_json(self) -> dict:
        return {coin: [[k, *map(str, c[:5]), c[5], str(c[6])] for k, c in sorted(b.items())]
                for coin, b in self.minutes.items()}

    def load_json(self, data: dict) -> None:
        self.minutes, self.keys = {}, {}
        for coin, rows in data.items():
            self.minutes[coin] = {r[0]: [Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4]),
                                         Decimal(r[5]), r[6], Decimal(r[7])] for r in rows}
            self.keys[coin] = sorted(self.minutes[coin])
