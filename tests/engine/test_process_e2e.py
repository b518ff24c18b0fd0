"""`hlmm run` as a real process: SIGKILL leaves the dead man's switch to the venue, a restart reconciles
(adopts its own orders, cancels orphans, no duplicates), SIGTERM cancels everything, a bad config refuses
to start with a message naming the setting."""
from __future__ import annotations

import collections
import signal

from tests.engine.helpers import (KEY_ENV, hlmm, open_orders, ours, start_engine_process, wait_sync,
                                  write_config)


def _quoting(sim_url, user, n=None):
    mine = ours(open_orders(sim_url, user))
    coins = {o["coin"] for o in mine}
    return mine if coins == {"HYPE", "@1"} and (n is None or len(mine) == n) else None


def _sdk_order_without_cloid(sim_server, key, px):
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    ex = Exchange(Account.from_key(key), base_url=sim_server.url)
    return ex.order("HYPE", True, 1.0, px, {"limit": {"tif": "Alo"}})


def test_sigkill_deadman_cancels_and_restart_reconciles(tmp_path, engine_sim, engine_account):
    sim_server = engine_sim  # private venue: this test moves its clock past the dead man's horizon
    address, key = engine_account
    user = address.lower()
    config = write_config(tmp_path, sim_server.url, address)
    log = tmp_path / "engine.log"
    a = start_engine_process(config, key, log, "--deadman-s", "8")
    try:
        first = wait_sync(lambda: _quoting(sim_server.url, user, 12), 30,
                          what="12 quotes (3 levels x 2 sides x 2 legs)")
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        # the dead process left its quotes; a foreign order (no cloid) appears on a quoted coin
        low = min(float(o["limitPx"]) for o in first if o["coin"] == "HYPE") * 0.98
        res = _sdk_order_without_cloid(sim_server, key, round(low, 2))
        assert res["status"] == "ok" and "resting" in res["response"]["data"]["statuses"][0], res
        assert len(open_orders(sim_server.url, user)) == 13

        b = start_engine_process(config, key, log, "--deadman-s", "8")
        try:
            def settled():
                orders = open_orders(sim_server.url, user)
                mine = ours(orders)
                if len(orders) != len(mine) or len(mine) != 12:
                    return None
                return orders
            orders = wait_sync(settled, 30, what="orphan cancelled and exactly 12 engine orders")
            assert len({o["cloid"] for o in orders}) == 12
            per_side = collections.Counter((o["coin"], o["side"]) for o in orders)
            assert set(per_side.values()) == {3}, per_side  # no duplicate levels
            # adopted, not re-placed: at least one of the dead process's orders is still resting
            assert {o["oid"] for o in first} & {o["oid"] for o in orders}
        finally:
            b.send_signal(signal.SIGKILL)
            b.wait(10)
        assert len(ours(open_orders(sim_server.url, user))) == 12
        sim_server.admin("clock", {"advance_ms": 10_000})  # past the armed horizon on the venue clock
        wait_sync(lambda: not open_orders(sim_server.url, user), 5, what="scheduleCancel fired")
        events = sim_server.admin("events")
        cancelled = [e for e in events if e["status"] == "scheduledCancel" and e["user"].lower() == user]
        assert len(cancelled) == 12, cancelled

        c = start_engine_process(config, key, log)
        try:
            wait_sync(lambda: _quoting(sim_server.url, user, 12), 30, what="quotes after restart")
        finally:
            c.send_signal(signal.SIGTERM)
            assert c.wait(20) == 0
        assert open_orders(sim_server.url, user) == []  # clean exit cancelled every quote
    finally:
        for p in (a,):
            if p.poll() is None:
                p.kill()
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert key[2:].lower() not in text.lower()  # the key never reaches the logs
    assert '"msg": "engine started' in text  # structured (JSON) log lines


def test_invalid_config_refuses_to_start(tmp_path, sim_server, fresh_account):
    address, key = fresh_account
    config = write_config(tmp_path, sim_server.url, address,
                          extra="[carry]\nentry_threshold = 0.0001\nexit_threshold = 0.001\n")
    r = hlmm("run", "--config", str(config), env_extra={KEY_ENV: key}, timeout=30)
    assert r.returncode == 2
    assert "carry.exit_threshold" in r.stderr and "not starting" in r.stderr
    assert key[2:] not in r.stderr + r.stdout

    good = write_config(tmp_path, sim_server.url, address)
    r = hlmm("run", "--config", str(good), timeout=30)  # no key in the environment
    assert r.returncode == 2 and "venue.secret_env" in r.stderr

    bad_market = write_config(tmp_path, sim_server.url, address)
    bad_market.write_text(bad_market.read_text().replace('spot_pair = "HYPE/USDC"', 'spot_pair = "NOPE/USDC"'))
    r = hlmm("run", "--config", str(bad_market), env_extra={KEY_ENV: key}, timeout=30)
    assert r.returncode == 2 and "markets[0].spot_pair" in r.stderr
    assert open_orders(sim_server.url, address.lower()) == []
