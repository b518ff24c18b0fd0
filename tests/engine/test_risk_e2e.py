"""Kill switch, stale feed and crossed/zero books against `hlmm sim`: quotes come off the venue."""
from __future__ import annotations

import asyncio
import json

from tests.engine.conftest import running_engine
from tests.engine.helpers import hlmm, open_orders, ours, until, KEY_ENV


def _coins(sim_url, user):
    return {o["coin"] for o in ours(open_orders(sim_url, user))}


async def test_kill_switch_pulls_quotes_and_survives_restart(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    async with running_engine(config, key) as engine:
        await until(lambda: _coins(sim_server.url, user) == {"HYPE", "@1"}, 15, what="quotes on both legs")
        r = await asyncio.to_thread(hlmm, "kill", "--why", "e2e test", "--config", str(config),
                                    env_extra={KEY_ENV: key})
        assert r.returncode == 0, r.stderr
        assert "ENGAGED" in r.stdout
        # read within a second, pulled by the next evaluation: no quote left on the venue
        await until(lambda: not ours(open_orders(sim_server.url, user)), 5, what="all quotes cancelled")
        assert engine.kill.engaged and engine.kill.why == "e2e test"
        await asyncio.sleep(1.5)  # several loops later: still nothing re-placed
        assert ours(open_orders(sim_server.url, user)) == []

    # restart: the switch is read from the ledger before the first quote
    async with running_engine(config, key) as engine:
        assert engine.kill.engaged
        await asyncio.sleep(1.5)
        assert ours(open_orders(sim_server.url, user)) == []
        status = await asyncio.to_thread(hlmm, "status", "--json", "--config", str(config), env_extra={KEY_ENV: key})
        assert status.returncode == 0, status.stderr
        import json
        st = json.loads(status.stdout)
        assert st["kill_switch"]["engaged"] is True and st["kill_switch"]["why"] == "e2e test"
        assert st["open_orders"] == [] and any(p["coin"] == "HYPE" for p in st["positions"])
        r = await asyncio.to_thread(hlmm, "resume", "--why", "test over", "--config", str(config))
        assert r.returncode == 0, r.stderr
        await until(lambda: _coins(sim_server.url, user) == {"HYPE", "@1"}, 10, what="quotes back after resume")
        assert not engine.kill.engaged


async def test_stale_feed_and_crossed_or_zero_books_pause_quoting(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    from tests.alerts.receiver import Receiver

    receiver = Receiver().start()
    config.write_text(config.read_text().replace("stale_data_ms = 3000", "stale_data_ms = 1000") +
                      f'\n[alerts]\ndedup_window_s = 0\ntargets = [{{url = "json://127.0.0.1:{receiver.port}/a"}}]\n')
    async with running_engine(config, key) as engine:
        await until(lambda: _coins(sim_server.url, user) == {"HYPE", "@1"}, 15, what="quotes on both legs")
        good = engine.books.book("HYPE")
        # the spot book stops arriving (feed silent for that coin): only the spot leg pauses
        engine.feed.unsubscribe({"type": "l2Book", "coin": "@1"})
        await until(lambda: _coins(sim_server.url, user) == {"HYPE"}, 6, what="stale spot book pauses the spot leg")
        engine.feed.unsubscribe({"type": "l2Book", "coin": "HYPE"})
        await until(lambda: not ours(open_orders(sim_server.url, user)), 6, what="stale feed pauses quoting")
        assert engine.markets[0].status.startswith("paused")
        # the pause reached a real receiver as an alert naming the market and why (stale data)
        titles = await until(lambda: [json.loads(p.body) for p in receiver.on("/a")
                                      if "HYPE: quoting paused" in json.loads(p.body)["title"]], 5,
                             what="the quoting-paused alert")
        assert "ms old >" in titles[-1]["message"] and user in titles[-1]["message"]  # how stale, and whose

        # a fresh, sane perp book resumes the perp leg only (spot data is still stale)
        engine.inject_book("HYPE", list(good.bids[:3]), list(good.asks[:3]))
        await until(lambda: _coins(sim_server.url, user) == {"HYPE"}, 5, what="perp quotes on a fresh book")

        # crossed book on the perp: quoting there stops, orders pulled
        bid, ask = good.bids[0][0], good.asks[0][0]
        engine.inject_book("HYPE", [(ask + 0.01, 10.0)], [(bid, 10.0)])
        await until(lambda: not ours(open_orders(sim_server.url, user)), 5, what="crossed book pauses")

        engine.inject_book("HYPE", list(good.bids[:3]), list(good.asks[:3]))
        await until(lambda: _coins(sim_server.url, user) == {"HYPE"}, 5, what="perp quotes back")
        # zero-size level
        engine.inject_book("HYPE", [(bid, 0.0)] + list(good.bids[1:3]), list(good.asks[:3]))
        await until(lambda: not ours(open_orders(sim_server.url, user)), 5, what="zero book pauses")

        for coin in ("HYPE", "@1"):
            engine.feed.subscribe({"type": "l2Book", "coin": coin})
        await until(lambda: _coins(sim_server.url, user) == {"HYPE", "@1"}, 10, what="quotes back with live data")
        await until(lambda: any("HYPE: quoting again" in json.loads(p.body)["title"] for p in receiver.on("/a")), 5,
                    what="the quoting-again alert")
    receiver.stop()


async def test_several_markets_in_one_process(engine_config, sim_server):
    config, address, key = engine_config
    user = address.lower()
    config.write_text(config.read_text().replace(
        '[[markets]]\ncoin = "HYPE"\nspot_pair = "HYPE/USDC"\n',
        '[[markets]]\ncoin = "HYPE"\nspot_pair = "HYPE/USDC"\n\n[[markets]]\ncoin = "SOL"\nspot = false\n'))
    async with running_engine(config, key) as engine:
        assert [m.coins for m in engine.markets] == [["HYPE", "@1"], ["SOL"]]
        await until(lambda: _coins(sim_server.url, user) == {"HYPE", "@1", "SOL"}, 15, what="three books quoted")
    assert ours(open_orders(sim_server.url, user)) == []
