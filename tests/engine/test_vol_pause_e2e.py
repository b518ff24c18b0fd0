"""Volatility pause end-to-end on a private `hlmm sim`: the engine quotes while it has no ATR reading yet;
once bars built from the venue's book mids give an ATR% above risk.vol_pause_threshold, the engine pulls
the coin's quotes (both legs) and says why. A fresh sim has no candle history for the start-up warm-up
(candleSnapshot), so the bars come from the feed: the venue clock is moved a bar at a time."""
from __future__ import annotations

import asyncio

from tests.engine.conftest import running_engine
from tests.engine.helpers import KEY_ENV, open_orders, ours, until, write_config


async def test_atr_above_threshold_pulls_the_coins_quotes(tmp_path, engine_sim, engine_account, monkeypatch):
    address, key = engine_account
    monkeypatch.setenv(KEY_ENV, key)
    user = address.lower()
    config = write_config(tmp_path, engine_sim.url, address)
    text = config.read_text()
    text = text.replace("min_requote_interval_ms = 100", "min_requote_interval_ms = 100\natr_window = 2\n"
                                                          "atr_timeframe = \"1m\"")
    text = text.replace("stale_data_ms = 3000", "stale_data_ms = 3000\nvol_pause_threshold = 0.000001")
    config.write_text(text)

    def coins():
        return {o["coin"] for o in ours(open_orders(engine_sim.url, user))}

    # a long dead man's horizon: moving the venue clock a minute must not fire it (that would pull quotes too)
    async with running_engine(config, key, deadman_horizon_ms=3_600_000) as engine:
        m = engine.markets[0]
        assert engine.limits.max_atr_pct == 0.000001

        def atr():
            book = engine.books.book("HYPE")
            return m.vol.atr_pct(book.mid) if book is not None and book.mid else None
        if atr() is None:  # no reading yet: nothing to pause on, the engine quotes
            await until(lambda: coins() == {"HYPE", "@1"}, 20, what="quotes while there is no ATR reading")
        for _ in range(8):  # close 1-minute bars on the venue clock until the ATR is ready
            if atr() is not None:
                break
            await asyncio.to_thread(engine_sim.admin, "clock", {"advance_ms": 60_000})
            await asyncio.sleep(0.6)  # book pushes with the new venue time close the bar
        reading = atr()
        assert reading is not None and reading > engine.limits.max_atr_pct, reading

        await until(lambda: not coins(), 10, what="the vol pause pulls both legs' quotes")
        assert m.status.startswith("paused") and "ATR" in m.status, m.status
        await asyncio.sleep(1.0)  # several evaluations later: still nothing quoted
        assert coins() == set()
        assert engine.deadman.state.fires == 0
