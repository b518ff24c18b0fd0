"""Signature recovery, agents, nonces, deposits, expiresAfter — through signed bodies."""
from __future__ import annotations

import eth_account
from hyperliquid.utils import signing

from sim import auth

from .helpers import Trader, funded, make_venue, wire

SDK_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
SDK_ADDR = "0x14791697260e4c9a71f18484c9f997b308e59325"


def test_sdk_vectors_recover_to_the_sdk_test_address():
    v = make_venue()
    v.fund_perp(SDK_ADDR, 1000)
    # the SDK's own test vector (testnet flavour) — the venue must recover the test key's address
    body = {"action": {"type": "dummy", "num": 100000000000}, "nonce": 0,
            "signature": {"r": "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
                          "s": signing.sign_l1_action(eth_account.Account.from_key(SDK_KEY),
                                                      {"type": "dummy", "num": 100000000000}, None, 0, None,
                                                      False)["s"], "v": 28},
            "vaultAddress": None, "expiresAfter": None}
    assert auth.signer_of(v.core, body) == SDK_ADDR
    # mainnet flavour vector is accepted as a fallback
    body["signature"] = {"r": "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
                         "s": "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8", "v": 27}
    assert auth.signer_of(v.core, body) == SDK_ADDR


def test_unknown_signer_and_must_deposit():
    v = make_venue()
    stranger = Trader(v)
    out = stranger.order(wire(0, True, "90000", "0.001"))
    assert out == {"status": "err", "response": f"L1 error: User or API Wallet {stranger.address} does not exist."}
    v.fund_perp(stranger.address, 0)  # known address, never deposited
    out = stranger.order(wire(0, True, "90000", "0.001"))
    assert out == {"status": "err", "response": f"Must deposit before performing actions. User: {stranger.address}"}
    # a tampered signature recovers some other address: refused as unknown, nothing placed
    t = funded(v)
    nonce = t.nonce()
    action = {"type": "order", "orders": [wire(0, True, "90000", "0.001")], "grouping": "na"}
    sig = signing.sign_l1_action(t.wallet, action, None, nonce, None, False)
    action["orders"][0]["p"] = "90001"
    status, out = v.exchange({"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None,
                              "expiresAfter": None})
    assert status == 200 and out["status"] == "err"
    assert out["response"].startswith("L1 error: User or API Wallet 0x") and t.address not in out["response"]
    assert t.info("openOrders") == []


def test_agent_trades_for_its_user_and_queries_use_the_master():
    v = make_venue()
    master = funded(v)
    agent = master.approve_agent()
    rest = agent.statuses(wire(1, True, "3000", "0.01"))[0]["resting"]
    assert [o["oid"] for o in master.info("openOrders")] == [rest["oid"]]
    status, role = v.info({"type": "userRole", "user": agent.address})
    assert role == {"role": "agent", "data": {"user": master.address}}
    # the agent address itself has no account data
    assert v.info({"type": "openOrders", "user": agent.address})[1] == []
    # agents cannot move funds: user-signed actions from an agent key are refused
    a_self = Trader(v, agent.wallet.key.hex())
    out = a_self.usd_class_transfer("1", False)
    assert out["status"] == "err" and "does not exist" in out["response"]
    # a named agent approved later replaces nothing; re-approving the unnamed slot replaces the old agent
    named = master.approve_agent("bot")
    assert "resting" in named.statuses(wire(1, True, "3000", "0.01"))[0]
    agent2 = master.approve_agent()
    assert agent.order(wire(1, True, "3000", "0.01"))["status"] == "err"
    assert "resting" in agent2.statuses(wire(1, True, "3000", "0.01"))[0]


def test_nonce_rules_per_signer():
    v = make_venue()
    t = funded(v)
    noop = {"type": "noop"}
    n = t.nonce()
    assert t.post_l1(noop, nonce=n) == (200, {"status": "ok", "response": {"type": "default"}})
    assert t.post_l1(noop, nonce=n) == (200, {"status": "err", "response": f"Invalid nonce: duplicate nonce {n}"})
    # lower but unused nonces are fine until 100 are kept; then they must exceed the smallest
    base = n + 1000
    for i in range(100):
        assert t.post_l1(noop, nonce=base + i)[1]["status"] == "ok"
    low = t.post_l1(noop, nonce=base - 1)[1]
    assert low["status"] == "err" and low["response"].startswith("Invalid nonce")
    # another signer has its own nonce set
    other = funded(v)
    assert other.post_l1(noop, nonce=n)[1]["status"] == "ok"
    # outside (now - 2 days, now + 1 day)
    now = v.clock.now_ms()
    for bad in (now - 2 * 86_400_000, now + 86_400_000):
        out = other.post_l1(noop, nonce=bad)[1]
        assert out["status"] == "err" and "outside the allowed window" in out["response"]
    assert other.post_l1(noop, nonce=now - 2 * 86_400_000 + 1)[1]["status"] == "ok"


def test_expires_after_and_user_signed_nonce_must_match():
    v = make_venue()
    t = funded(v)
    now = v.clock.now_ms()
    assert t.post_l1({"type": "noop"}, expires_after=now + 1000)[1]["status"] == "ok"
    out = t.post_l1({"type": "noop"}, expires_after=now - 1)[1]
    assert out["status"] == "err" and out["response"].startswith("Action expired")
    nonce = t.nonce()
    action = {"type": "usdClassTransfer", "amount": "5", "toPerp": False, "nonce": nonce + 1}
    sig = signing.sign_usd_class_transfer_action(t.wallet, action, False)
    status, out = v.exchange({"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None,
                              "expiresAfter": None})
    assert out["status"] == "err" and "must equal the request nonce" in out["response"]


def test_malformed_bodies_are_422_plain_text():
    v = make_venue()
    t = funded(v)
    msg = "Failed to deserialize the JSON body into the target type"
    assert v.exchange({"action": {"type": "order"}, "nonce": 1}) == (422, msg)
    assert v.info({"type": "nope"}) == (422, msg)
    assert v.info({"type": "clearinghouseState"}) == (422, msg)
    bad = {"a": 0, "b": True, "p": 90000, "s": "0.001", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    assert t.post_l1({"type": "order", "orders": [wire(0, True, "90000", "0.001"), bad], "grouping": "na"}) == \
        (422, msg)
    assert t.info("openOrders") == []  # nothing half-done
