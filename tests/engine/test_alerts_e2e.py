"""Every kind of engine alert reaches a real Apprise receiver from the `hlmm run` process (issue 12, item 7).

The engine's account is starved of its venue (every request answered 429, aimed at it alone): the dead man's
switch cannot re-arm, the engine says so and pulls its quotes (which the venue also refuses), the venue's
scheduled cancel fires, the engine reports the fire; then `hlmm kill` engages the kill switch. Each event must
arrive as an Apprise JSON post, with the account named and no secret in it. (The stale-data pause alert is
checked where the feed can be silenced: test_risk_e2e.)"""
from __future__ import annotations

import json
import signal

import httpx

from tests.alerts.receiver import Receiver
from tests.engine.helpers import KEY_ENV, hlmm, open_orders, ours, start_engine_process, wait_sync, write_config


def _titles(receiver: Receiver) -> str:
    """Every title received so far, one per line ("[engine] [WARNING] dead man's switch fired", ...)."""
    return "\n".join(json.loads(p.body)["title"] for p in receiver.on("/engine"))


def test_engine_alerts_reach_a_real_receiver(tmp_path, sim_server, fresh_account):
    address, key = fresh_account
    user = address.lower()
    receiver = Receiver().start()
    config = write_config(tmp_path, sim_server.url, address, extra=(
        "[alerts]\ndedup_window_s = 0\n"
        f'targets = [{{url = "json://127.0.0.1:{receiver.port}/engine"}}]\n'))
    faults = f"{sim_server.url}/admin/faults"
    log = tmp_path / "engine.log"
    proc = start_engine_process(config, key, log, "--deadman-s", "8")
    try:
        wait_sync(lambda: len(ours(open_orders(sim_server.url, user))) >= 4, 40, what="the engine quoting")
        r = httpx.patch(faults, json={"http_429_p": 1.0, "target_users": [user]})
        assert r.status_code == 200, r.text
        wait_sync(lambda: "dead man's switch fired" in _titles(receiver), 40,
                  what="the scheduled-cancel fire reported by the engine")
        assert "[engine] [WARNING] dead man's switch not armed" in _titles(receiver)  # said before the fire
        httpx.patch(faults, json={"http_429_p": 0.0, "target_users": None})
        # the venue's own record: its scheduled cancel took what our refused cancels could not
        assert any(e["status"] == "scheduledCancel" and e["user"].lower() == user for e in sim_server.admin("events"))
        r = hlmm("kill", "--config", str(config), "--why", "alert test", env_extra={KEY_ENV: key})
        assert r.returncode == 0, r.stderr
        wait_sync(lambda: "[engine] [CRITICAL] kill switch engaged" in _titles(receiver), 20,
                  what="the kill-switch alert")
    finally:
        httpx.patch(faults, json={"http_429_p": 0.0, "target_users": None})
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        receiver.stop()
    bodies = [json.loads(p.body) for p in receiver.on("/engine")]
    assert all(user in b["message"] for b in bodies), bodies  # every alert names the account
    assert all(key[2:].lower() not in json.dumps(b).lower() for b in bodies)
    assert {b["type"] for b in bodies} >= {"warning", "failure"}  # Apprise's names for warning / critical
