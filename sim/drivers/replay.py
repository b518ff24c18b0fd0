"""Replay recorded market data into the venue: `--market replay:PATH[,PATH...]`.

Readable inputs (each PATH a file or a directory of them; .lz4 / .gz / plain):
- Hyperliquid's official archive (`s3://hyperliquid-archive/market_data/.../l2Book/COIN.lz4`): one
  `{"time", "ver_num", "raw": {"channel": "l2Book", "data": {...}}}` per line;
- the project recorder: one WS message `{"channel": "l2Book"|"trades", "data": ...}` per line;
- hftbacktest captures: `<ns timestamp> <WS message>` per line;
- funding history: a JSON array in the `fundingHistory` shape (`{coin, fundingRate, premium, time}`).

Recorded exchange times are mapped onto the simulated clock (first record = driver start) and played
at the clock's speed. Each l2Book snapshot replaces the coin's system-account liquidity with the
snapshot levels; each recorded trade is printed by a system taker at its price; the funding row in
force sets the oracle (oracle = mid / (1 + premium)) and pins the venue's hourly rate to the recorded
fundingRate (`Venue.set_funding_rate`), so funding payments follow the record exactly.
"""
from __future__ import annotations

import bisect
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from sim.drivers import Driver, log
from sim.drivers.ladder import SYSTEM_TAKER, Ladder, market_info, price_str


def _open_text(path: Path) -> Iterator[str]:
    if path.suffix == ".lz4":
        import lz4.frame

        with lz4.frame.open(path, "rt") as fh:
            yield from fh
    elif path.suffix == ".gz":
        with gzip.open(path, "rt") as fh:
            yield from fh
    else:
        with open(path) as fh:
            yield from fh


def _message(line: str) -> dict | None:
    """The WS message inside one line of any supported recording format."""
    line = line.strip()
    if not line:
        return None
    if line[0] != "{":  # hftbacktest: "<ns> <json>"
        _, _, line = line.partition(" ")
    obj = json.loads(line)
    if "raw" in obj and isinstance(obj["raw"], dict):  # official archive
        obj = obj["raw"]
    return obj if isinstance(obj, dict) and "channel" in obj else None


class Recording:
    """Book snapshots, trades and funding rows loaded from files, ordered by exchange time."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, str, Any]] = []  # (time ms, "book"|"trades", coin, data)
        self.funding: dict[str, list[tuple[int, float, str]]] = {}  # coin -> [(time, premium, rate)] sorted

    @classmethod
    def load(cls, paths: list[str | Path]) -> "Recording":
        rec = cls()
        files: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                files += sorted(f for f in p.iterdir() if f.is_file() and not f.name.endswith(".md"))
            elif p.is_file():
                files.append(p)
            else:
                raise FileNotFoundError(f"replay input {p} does not exist")
        for f in files:
            rec._load_file(f)
        rec.events.sort(key=lambda e: e[0])
        for rows in rec.funding.values():
            rows.sort()
        if not rec.events:
            raise ValueError(f"replay inputs hold no l2Book or trades messages: {', '.join(map(str, files))}")
        return rec

    def _load_file(self, path: Path) -> None:
        if path.suffix == ".json":
            rows = json.loads(path.read_text())
            if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "fundingRate" in rows[0]:
                for row in rows:
                    premium = float(row.get("premium") or 0.0)
                    self.funding.setdefault(row["coin"], []).append(
                        (int(row["time"]), premium, str(row["fundingRate"])))
                return
            raise ValueError(f"{path}: a .json replay input must be a fundingHistory array")
        for n, line in enumerate(_open_text(path), 1):
            try:
                msg = _message(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a recorded message: {exc}") from None
            if msg is None:
                continue
            data = msg.get("data")
            if msg["channel"] == "l2Book" and isinstance(data, dict):
                self.events.append((int(data["time"]), "book", data["coin"], data["levels"]))
            elif msg["channel"] == "trades" and isinstance(data, list) and data:
                self.events.append((int(data[0]["time"]), "trades", data[0]["coin"], data))

    def funding_at(self, coin: str, t: int) -> tuple[float, str] | None:
        """(premium, hourly rate) of the funding row in force at recorded time t (the latest at or
        before t; the first row before the history starts)."""
        rows = self.funding.get(coin)
        if not rows:
            return None
        i = bisect.bisect_right(rows, (t, float("inf"), "")) - 1
        row = rows[max(i, 0)]
        return row[1], row[2]

    def premium_at(self, coin: str, t: int) -> float | None:
        found = self.funding_at(coin, t)
        return found[0] if found else None


def _side(levels: list[dict]) -> dict[str, str]:
    return {price_str(Decimal(lv["px"])): price_str(Decimal(lv["sz"])) for lv in levels}


class BookCopier:
    """Applies copied l2Book snapshots and trades to the venue through system accounts."""

    def __init__(self, venue: Any):
        self.venue = venue
        self.markets = market_info(venue)
        self.ladders: dict[str, Ladder] = {}
        self._warned: set[str] = set()
        self._rates: dict[str, str] = {}
        venue.subscribe(self._on_event)

    def _on_event(self, ev: Any) -> None:
        if ev.channel == "orderUpdates":
            for upd in ev.data:
                ladder = self.ladders.get(upd["order"]["coin"])
                if ladder and upd.get("status") != "open":
                    ladder.forget(upd["order"]["oid"])

    def resync(self) -> None:
        """Adopt the system orders resting in the venue (after a restore or a --state start)."""
        for coin in self.markets:
            ladder = self.ladders.setdefault(coin, Ladder(self.venue, coin))
            ladder.adopt()

    def known(self, coin: str) -> bool:
        if coin in self.markets:
            return True
        if coin not in self._warned:
            self._warned.add(coin)
            log.warning("copied market data for %s, which this venue does not list: ignored", coin)
        return False

    def funding_rate(self, coin: str, rate: str) -> None:
        """Pin the venue's hourly rate to the recorded one (when the venue supports it)."""
        setter = getattr(self.venue, "set_funding_rate", None)
        if setter is not None and self.known(coin) and not self.markets[coin]["is_spot"]:
            if self._rates.get(coin) != rate:
                self._rates[coin] = rate
                setter(coin, rate)

    def book(self, coin: str, levels: list, premium: float | None = None) -> None:
        if not self.known(coin):
            return
        ladder = self.ladders.setdefault(coin, Ladder(self.venue, coin))
        bids, asks = _side(levels[0]), _side(levels[1])
        ladder.sync(bids, asks)
        if not self.markets[coin]["is_spot"] and bids and asks:
            mid = (Decimal(levels[0][0]["px"]) + Decimal(levels[1][0]["px"])) / 2
            oracle = mid / (1 + Decimal(repr(premium))) if premium else mid
            self.set_oracle(coin, oracle)

    def set_oracle(self, coin: str, px: Decimal) -> None:
        if self.known(coin) and not self.markets[coin]["is_spot"]:
            self.venue.set_oracle(coin, price_str(px.quantize(Decimal("1e-6"))))

    def trades(self, coin: str, trades: list[dict]) -> None:
        if not self.known(coin):
            return
        for t in trades:
            # the recorded aggressor: side "B" = buyer took liquidity
            self.venue.system_order(SYSTEM_TAKER, coin, t["side"] == "B", price_str(Decimal(t["px"])),
                                    price_str(Decimal(t["sz"])), "Ioc")


class ReplayDriver(Driver):
    step_ms = 100

    def __init__(self, venue: Any, clock: Any, paths: list[str]):
        super().__init__(venue, clock)
        self.recording = Recording.load(paths)
        self.copier = BookCopier(venue)
        self.copier.resync()
        self.t0_sim = clock.now_ms()
        self.t0_rec = self.recording.events[0][0]
        self.cursor = 0
        self.finished = False

    def resync(self) -> None:
        self.copier.resync()

    def poll(self) -> None:
        events = self.recording.events
        horizon = self.t0_rec + (self.clock.now_ms() - self.t0_sim)
        end = bisect.bisect_right(events, horizon, lo=self.cursor, key=lambda e: e[0])
        if end == self.cursor:
            return
        batch = events[self.cursor:end]
        self.cursor = end
        last_book = {}  # only the newest snapshot per coin matters when several are due at once
        for i, (_, kind, coin, _) in enumerate(batch):
            if kind == "book":
                last_book[coin] = i
        for i, (t, kind, coin, data) in enumerate(batch):
            if kind == "book" and last_book[coin] == i:
                funding = self.recording.funding_at(coin, t)
                self.copier.book(coin, data, funding[0] if funding else None)
                if funding:
                    self.copier.funding_rate(coin, funding[1])
            elif kind == "trades":
                self.copier.trades(coin, data)
        if self.cursor >= len(events) and not self.finished:
            self.finished = True
            log.info("replay finished: %d messages; the last book stays", len(events))
