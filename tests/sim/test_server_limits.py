"""Server behaviour around the venue: IP-weight limit, 422 bodies, faults, admin clock, scheduleCancel."""
from __future__ import annotations

import time

import httpx
import pytest
from hyperliquid.utils.error import ClientError, ServerError

from tests.sim.helpers import exchange, info, mid, round_px, statuses


def test_malformed_body_is_422_plain_text(sim_server):
    for path in ("/info", "/exchange"):
        resp = httpx.post(sim_server.url + path, content=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status_code == 422
        assert resp.text == "Failed to deserialize the JSON body into the target type"
        assert resp.headers["content-type"].startswith("text/plain")
    resp = httpx.post(sim_server.url + "/info", json=[1, 2])
    assert resp.status_code == 422 and resp.text == "Failed to deserialize the JSON body into the target type"


def test_ip_weight_flood_gets_429_null(sim_server):
    sim_server.admin("limits", {"ip_weight_per_min": 100})
    try:
        inf = info(sim_server)  # construction costs 40 (spotMeta + meta)
        with httpx.Client() as client:
            codes = [client.post(sim_server.url + "/info", json={"type": "l2Book", "coin": "BTC"}).status_code
                     for _ in range(40)]  # 2 each: 30 fit in the remaining 60
        assert codes[:30] == [200] * 30 and set(codes[30:]) == {429}
        assert sim_server.admin("limits")["usage"]["127.0.0.1"]["refused_429"] == 10  # the venue's own count
        resp = httpx.post(sim_server.url + "/info", json={"type": "allMids", "dex": ""})
        assert resp.status_code == 429 and resp.text == "null"
        with pytest.raises(ClientError) as exc:  # the SDK's mapping of 429 null
            inf.all_mids()
        assert exc.value.status_code == 429
    finally:
        sim_server.admin("limits", {})
    assert httpx.post(sim_server.url + "/info", json={"type": "allMids", "dex": ""}).status_code == 200


def test_faults_5xx_429_reject_then_cleared(sim_server, fresh_account):
    address, key = fresh_account
    inf, ex = info(sim_server), exchange(sim_server, key)
    m = mid(inf, "SOL")
    try:
        assert sim_server.admin("faults", {"http_5xx_p": 1.0, "http_5xx_applied_p": 0.0, "seed": 1})["http_5xx_p"] == 1.0
        with pytest.raises(ServerError) as exc:
            inf.all_mids()
        assert exc.value.status_code == 500
        resp = httpx.post(sim_server.url + "/info", json={"type": "allMids", "dex": ""})
        assert resp.status_code == 500 and resp.text == "null"
        with pytest.raises(ServerError):
            ex.order("SOL", True, 1.0, round_px(m * 0.9, "SOL"), {"limit": {"tif": "Gtc"}})
        sim_server.admin("faults", {})
        assert inf.open_orders(address) == []  # http_5xx_applied_p 0: nothing was applied

        sim_server.admin("faults", {"http_429_p": 1.0})
        with pytest.raises(ClientError) as exc:
            inf.all_mids()
        assert exc.value.status_code == 429

        sim_server.admin("faults", {"reject_p": 1.0})
        resp = ex.order("SOL", True, 1.0, round_px(m * 0.9, "SOL"), {"limit": {"tif": "Gtc"}})
        assert resp["status"] == "err" and "reject_p" in resp["response"]
        assert inf.open_orders(address) == []
    finally:
        sim_server.admin("faults", {})
    assert sim_server.admin("faults") == {"latency_ms": 0.0, "http_5xx_p": 0.0, "http_5xx_applied_p": 0.5,
                                          "http_429_p": 0.0, "ws_drop_every_s": None, "reject_p": 0.0, "seed": 0,
                                          "target_users": None, "target_ips": None}
    assert "resting" in statuses(ex.order("SOL", True, 1.0, round_px(m * 0.9, "SOL"), {"limit": {"tif": "Gtc"}}))[0]


def test_bad_admin_input_names_the_field(sim_server):
    resp = httpx.post(sim_server.url + "/admin/faults", json={"http_5xx_p": 2})
    assert resp.status_code == 400 and "http_5xx_p" in resp.json()["error"]
    resp = httpx.post(sim_server.url + "/admin/faults", json={"nope": 1})
    assert resp.status_code == 400 and "nope" in resp.json()["error"]
    resp = httpx.post(sim_server.url + "/admin/fund", json={"user": "0x12", "usdc": 5})
    assert resp.status_code == 400 and "user" in resp.json()["error"]
    resp = httpx.post(sim_server.url + "/admin/clock", json={"advance_ms": -5})
    assert resp.status_code == 400 and "advance_ms" in resp.json()["error"]


def test_ws_drop_fault_closes_connections(sim_server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    sim_server.admin("faults", {"ws_drop_every_s": 0.3})
    try:
        with connect("ws" + sim_server.url[len("http"):] + "/ws") as ws:
            with pytest.raises(ConnectionClosed):
                for _ in range(200):  # up to ~10 s
                    ws.send('{"method":"ping"}')  # not idle: only the fault can close it
                    ws.recv(timeout=5)
                    time.sleep(0.05)
    finally:
        sim_server.admin("faults", {})


def _non_loopback_ip() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # no packet is sent; picks the outbound interface
            ip = sock.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_admin_refuses_non_loopback_clients(tmp_path):
    from tests.fixtures.sim import start_sim

    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    sim = start_sim("--host", "0.0.0.0", "--market", "none", log_dir=tmp_path)
    try:
        public = sim.url.replace("127.0.0.1", ip)
        assert httpx.get(public + "/admin/clock").status_code == 403
        assert httpx.post(public + "/admin/fund", json={"user": "0x" + "11" * 20, "usdc": 5}).status_code == 403
        assert httpx.post(public + "/info", json={"type": "allMids", "dex": ""}).status_code == 200
        assert httpx.get(sim.url + "/admin/clock").status_code == 200  # loopback still allowed
    finally:
        sim.stop()
