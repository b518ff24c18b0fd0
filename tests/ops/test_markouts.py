"""Fill markouts: the engine's recorder samples the mid after each fill on the event loop's timers and writes
rows as the samples come in (a later write fills empty columns, never overwrites one); on SQLite and PostgreSQL.
The horizons are shortened from 1/10/60 s so the test runs in a fraction of a second of real time."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal

from engine.ledger.db import session_scope
from engine.ledger.repo_ops import markouts_between
from engine.monitoring import MarkoutRecorder
from flows.logic.breakdown import markout_stats

USER = "0x" + "12" * 20
HORIZONS = ((0.05, "mid_1s"), (0.1, "mid_10s"), (0.3, "mid_60s"))


@dataclasses.dataclass
class Fill:  # the fields of engine.venue.account.Fill the recorder reads
    coin: str
    tid: int
    time: int
    side: str
    px: Decimal
    sz: Decimal
    crossed: bool


async def test_recorder_writes_mids_after_each_fill(ledger_engine):
    url = ledger_engine.url.render_as_string(hide_password=False)
    mid = {"HYPE": 30.0}
    rec = MarkoutRecorder(url, USER, lambda coin: mid.get(coin), flush_s=0.02, horizons=HORIZONS)
    t0 = 1_796_000_000_000
    rec.on_fill(Fill("HYPE", 1, t0, "B", Decimal("29.99"), Decimal("2"), False))   # we bought at 29.99
    rec.on_fill(Fill("HYPE", 1, t0, "B", Decimal("29.99"), Decimal("2"), False))   # the echo: ignored
    await asyncio.sleep(0.07)
    mid["HYPE"] = 29.9                                                              # then the market fell
    await asyncio.sleep(0.15)
    with session_scope(ledger_engine) as s:                                         # 1 s / 10 s written, 60 s not yet
        (row,) = markouts_between(s, USER, dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
                                  dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))
        assert (row.mid_0, row.mid_1s, row.mid_10s, row.mid_60s) == (Decimal("30.0"), Decimal("30.0"),
                                                                     Decimal("29.9"), None)
    del mid["HYPE"]                                                                 # no fresh book at 60 s
    await asyncio.sleep(0.2)
    rec.close()
    with session_scope(ledger_engine) as s:
        (row,) = markouts_between(s, USER, dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
                                  dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))
        assert row.mid_10s == Decimal("29.9") and row.mid_60s is None and row.px == Decimal("29.99")
        rows = [{c: getattr(row, c) for c in ("coin", "side", "px", "sz", "crossed", "mid_0", "mid_1s", "mid_10s",
                                               "mid_60s")}]
    (stats,) = markout_stats(rows)
    # bought at 29.99, mid 30.0 then 29.9: +3.33 bps, then (29.9 - 29.99) / 29.99 = -30.01 bps; 2 units: -0.18 USD
    assert stats.liquidity == "maker" and stats.fills == 1
    assert round(stats.mean_bps["1s"], 2) == Decimal("3.33") and round(stats.mean_bps["10s"], 2) == Decimal("-30.01")
    assert stats.total_usd["10s"] == Decimal("-0.180") and stats.mean_bps["60s"] is None
