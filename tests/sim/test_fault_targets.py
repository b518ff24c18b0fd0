"""PATCH /admin/faults (change one setting, keep the rest and the WS-drop schedule) and fault targeting
(target_users / target_ips), against the real `hlmm sim` over sockets with the official SDK, httpx and
websockets as clients. Faults on the shared server are reset with POST {} in a `finally`.
"""
from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest
from eth_account import Account
from hyperliquid.exchange import Exchange
from hyperliquid.utils.error import ServerError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.sim.helpers import exchange, info, mid, round_px, statuses

OTHER_IP = "127.0.0.2"  # still loopback (127/8), so the admin routes answer it too


def patch(sim, body) -> httpx.Response:
    return httpx.patch(sim.url + "/admin/faults", json=body)


def patched(sim, body) -> dict:
    resp = patch(sim, body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def new_account(sim) -> tuple[str, str]:
    key = "0x" + secrets.token_hex(32)
    address = Account.from_key(key).address
    sim.fund(address)
    return address, key


def user_info(sim, user: str, client: httpx.Client | None = None) -> int:
    body = {"type": "clearinghouseState", "user": user, "dex": ""}
    if client is None:
        return httpx.post(sim.url + "/info", json=body).status_code
    return client.post(sim.url + "/info", json=body).status_code


def ws_connect(sim, source_ip: str | None = None):
    extra = {"source_address": (source_ip, 0)} if source_ip else {}
    return connect("ws" + sim.url[len("http"):] + "/ws", ping_interval=None, **extra)


def subscribe(ws, sub: dict) -> None:
    ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
    while True:  # the acknowledgement follows the greeting; snapshots may come after it
        msg = ws.recv(timeout=5)
        if msg.startswith("{") and json.loads(msg).get("channel") == "subscriptionResponse":
            return


def alive(ws) -> bool:
    """Ping and wait for the pong; False once the server has closed the connection."""
    try:
        ws.send('{"method":"ping"}')
        while True:  # skip the greeting and pushes
            msg = ws.recv(timeout=5)
            if msg.startswith("{") and json.loads(msg).get("channel") == "pong":
                return True
    except ConnectionClosed:
        return False


def test_patch_changes_only_the_named_fields(sim_server):
    addr = "0x" + "Ab" * 20
    try:
        base = sim_server.admin("faults", {"latency_ms": 5, "reject_p": 0.25, "seed": 3, "target_ips": [OTHER_IP]})
        after = patched(sim_server, {"http_429_p": 0.1})
        assert after == {**base, "http_429_p": 0.1}
        after = patched(sim_server, {"target_users": [addr]})
        assert after == {**base, "http_429_p": 0.1, "target_users": [addr.lower()]}
        assert sim_server.admin("faults") == after  # GET shows the full state, targets included
        # null resets one field to its default; POST still replaces everything
        assert patched(sim_server, {"target_ips": None, "latency_ms": None}) == {
            **after, "target_ips": None, "latency_ms": 0.0}
        replaced = sim_server.admin("faults", {"reject_p": 0.5})
        assert replaced["reject_p"] == 0.5 and replaced["http_429_p"] == 0.0 and replaced["target_users"] is None
    finally:
        sim_server.admin("faults", {})


def test_patch_reseeds_the_rng_only_when_seed_is_named(sim_server):
    def statuses_of(n: int) -> list[int]:
        with httpx.Client() as client:
            return [client.post(sim_server.url + "/info", json={"type": "allMids", "dex": ""}).status_code
                    for _ in range(n)]

    try:
        sim_server.admin("faults", {"http_5xx_p": 0.5, "seed": 3})
        sequence = statuses_of(20)
        assert set(sequence) == {200, 500} and sequence[:10] != sequence[10:]
        sim_server.admin("faults", {"http_5xx_p": 0.5, "seed": 3})  # POST reseeds
        assert statuses_of(10) == sequence[:10]
        patched(sim_server, {"latency_ms": 0})  # no seed named: the sequence goes on
        assert statuses_of(10) == sequence[10:]
        patched(sim_server, {"seed": 3})  # seed named: starts over
        assert statuses_of(10) == sequence[:10]
    finally:
        sim_server.admin("faults", {})


def test_patch_keeps_the_ws_drop_schedule(sim_server):
    """The drop timer runs on real time (asyncio.sleep), not the sim clock, so this measures wall time:
    drops every 1.2 s, PATCHes at 0.7 s (other fields, and the same period again): the drop must come
    on the original schedule (~1.2 s), not 1.2 s after the PATCH (>= 1.9 s)."""
    try:
        t0 = time.monotonic()
        sim_server.admin("faults", {"ws_drop_every_s": 1.2})
        with ws_connect(sim_server) as ws:
            assert alive(ws)
            time.sleep(max(0.0, t0 + 0.7 - time.monotonic()))
            state = patched(sim_server, {"ws_drop_every_s": 1.2, "latency_ms": 1, "target_ips": ["127.0.0.1"]})
            assert state["ws_drop_every_s"] == 1.2 and state["latency_ms"] == 1.0
            while alive(ws):
                assert time.monotonic() - t0 < 5, "the connection was never dropped"
                time.sleep(0.02)
            elapsed = time.monotonic() - t0
        assert 1.1 <= elapsed < 1.6, f"dropped {elapsed:.2f} s after the POST: the PATCH restarted the timer"
    finally:
        sim_server.admin("faults", {})


def test_targeted_5xx_hits_one_account_and_not_another(sim_server):
    (a, key_a), (b, key_b) = new_account(sim_server), new_account(sim_server)
    inf, ex_a, ex_b = info(sim_server), exchange(sim_server, key_a), exchange(sim_server, key_b)
    status, agent_key = ex_a.approve_agent()
    assert status["status"] == "ok", status
    agent_for_a = Exchange(Account.from_key(agent_key), sim_server.url, account_address=a)
    px = round_px(mid(inf, "SOL") * 0.9, "SOL")
    try:
        state = patched(sim_server, {"http_5xx_p": 1.0, "http_5xx_applied_p": 0.0, "target_users": [a.upper().replace("0X", "0x")]})
        assert state["target_users"] == [a.lower()] and state["target_ips"] is None
        with pytest.raises(ServerError) as exc:
            ex_a.order("SOL", True, 1.0, px, {"limit": {"tif": "Gtc"}})
        assert exc.value.status_code == 500
        with pytest.raises(ServerError):  # an agent's action is aimed at the account it acts for
            agent_for_a.order("SOL", True, 1.0, px, {"limit": {"tif": "Gtc"}})
        assert "resting" in statuses(ex_b.order("SOL", True, 1.0, px, {"limit": {"tif": "Gtc"}}))[0]
        assert user_info(sim_server, a) == 500 and user_info(sim_server, a.lower()) == 500
        assert user_info(sim_server, b) == 200
        assert httpx.post(sim_server.url + "/info", json={"type": "allMids", "dex": ""}).status_code == 200
    finally:
        sim_server.admin("faults", {})
    assert inf.open_orders(a) == [] and len(inf.open_orders(b)) == 1  # applied_p 0: nothing applied for a


def test_targeted_ws_drop_closes_only_that_users_connection(sim_server):
    a, b = (new_account(sim_server)[0] for _ in range(2))
    try:
        with ws_connect(sim_server) as ws_a, ws_connect(sim_server) as ws_b, ws_connect(sim_server) as ws_m:
            subscribe(ws_a, {"type": "userFills", "user": a})
            subscribe(ws_b, {"type": "userFills", "user": b})
            subscribe(ws_m, {"type": "bbo", "coin": "BTC"})  # no user: never aimed at by target_users
            patched(sim_server, {"ws_drop_every_s": 0.3, "target_users": [a]})
            deadline = time.monotonic() + 5
            while alive(ws_a):
                assert time.monotonic() < deadline, "the targeted connection was never dropped"
                time.sleep(0.02)
            assert ws_a.close_code == 1012
            for _ in range(10):  # >= 3 more drop periods
                assert alive(ws_b) and alive(ws_m)
                time.sleep(0.1)
    finally:
        sim_server.admin("faults", {})


def test_targeted_ips_and_users_must_both_match(sim_server):
    a, b = (new_account(sim_server)[0] for _ in range(2))
    other = httpx.Client(transport=httpx.HTTPTransport(local_address=OTHER_IP))
    try:
        patched(sim_server, {"http_429_p": 1.0, "target_ips": [OTHER_IP]})
        assert user_info(sim_server, a, other) == 429 and user_info(sim_server, a) == 200
        patched(sim_server, {"target_users": [a]})  # both lists set: both must match
        assert user_info(sim_server, a, other) == 429
        assert user_info(sim_server, b, other) == 200 and user_info(sim_server, a) == 200
        patched(sim_server, {"http_429_p": 0.0, "target_users": None, "ws_drop_every_s": 0.3})
        with ws_connect(sim_server, OTHER_IP) as ws_other, ws_connect(sim_server) as ws_local:
            deadline = time.monotonic() + 5
            while alive(ws_other):
                assert time.monotonic() < deadline, "the connection from the targeted host was never dropped"
                time.sleep(0.02)
            for _ in range(10):
                assert alive(ws_local)
                time.sleep(0.1)
    finally:
        other.close()
        sim_server.admin("faults", {})


@pytest.mark.parametrize("body, field, allowed", [
    ({"latency_ms": 3, "http_5xx_p": 2}, "http_5xx_p", "[0, 1]"),
    ({"latency_ms": -1}, "latency_ms", ">= 0"),
    ({"ws_drop_every_s": "1"}, "ws_drop_every_s", ">= 0"),
    ({"seed": 1.5, "latency_ms": 3}, "seed", "integer"),
    ({"latency_ms": 3, "target_users": ["0x12"]}, "target_users", "42-character addresses"),
    ({"target_users": []}, "target_users", "non-empty list"),
    ({"target_ips": ["localhost"], "reject_p": 1}, "target_ips", "IP addresses"),
    ({"latency_ms": 3, "nope": 1}, "nope", "known: latency_ms"),
])
def test_bad_patch_is_400_naming_the_field_and_changes_nothing(sim_server, body, field, allowed):
    try:
        before = sim_server.admin("faults", {"reject_p": 0.1, "seed": 5, "target_ips": [OTHER_IP]})
        resp = patch(sim_server, body)
        assert resp.status_code == 400
        assert field in resp.json()["error"] and allowed in resp.json()["error"], resp.json()
        assert sim_server.admin("faults") == before
    finally:
        sim_server.admin("faults", {})


def test_bad_patch_bodies_that_are_not_fault_objects(sim_server):
    try:
        before = sim_server.admin("faults", {"reject_p": 0.1})
        for content in (b"[1]", b"{not json", b'{"latency_ms": NaN}', b'{"http_429_p": Infinity}'):
            resp = httpx.patch(sim_server.url + "/admin/faults", content=content,
                               headers={"Content-Type": "application/json"})
            assert resp.status_code == 400, (content, resp.text)
        assert sim_server.admin("faults") == before
    finally:
        sim_server.admin("faults", {})


def test_aims_at_matching_rules():
    from sim.admin import Faults

    a, b = "0x" + "ab" * 20, "0x" + "cd" * 20
    everyone = Faults.parse({})
    assert everyone.aims_at("10.0.0.1", lambda: []) and everyone.aims_at("127.0.0.1", lambda: [a])
    both = Faults.parse({"target_users": [a.upper().replace("0X", "0x")], "target_ips": ["::ffff:127.0.0.2"]})
    assert both.aims_at("127.0.0.2", lambda: [b, a]) and both.aims_at("::ffff:127.0.0.2", lambda: [a])
    assert not both.aims_at("127.0.0.1", lambda: [a]) and not both.aims_at("127.0.0.2", lambda: [b])
    assert not both.aims_at("127.0.0.2", lambda: [])  # no known account: not aimed at
    ip_only = Faults.parse({"target_ips": ["127.0.0.2"]})
    assert ip_only.aims_at("127.0.0.2", lambda: pytest.fail("accounts are looked up only for target_users"))
