"""Our signer + wire builders vs the unmodified official SDK, on thousands of random actions.

The reference is the SDK's own `Exchange` (constructed with meta/spotMeta so it makes no request), with its
`_post_action` captured instead of POSTed and its timestamp pinned: so the SDK builds the action *and* signs
it, and we compare the whole /exchange body (values, key order, signature bytes) with ours.
"""
from __future__ import annotations

import json
import random
from decimal import Decimal

import eth_account
import pytest
from hyperliquid import exchange as sdk_exchange
from hyperliquid.exchange import Exchange
from hyperliquid.utils import signing as sdk_signing
from hyperliquid.utils.constants import MAINNET_API_URL, TESTNET_API_URL
from hyperliquid.utils.types import Cloid

from engine.venue import wire
from engine.venue.signing import Signer, action_hash, is_mainnet_url
from engine.venue.wire import WireError, float_to_wire

N = 1000
LOCAL_URL = "http://127.0.0.1:3001"
PERPS = [("BTC", 5), ("ETH", 4), ("SOL", 2), ("HYPE", 2), ("DOGE", 0), ("kPEPE", 0)] + [
    (f"P{i}", i % 6) for i in range(40)]
SPOT_PAIRS = 150  # asset ids 10000..10149


def _meta():
    return {"universe": [{"name": n, "szDecimals": d} for n, d in PERPS]}


def _spot_meta():
    tokens = [{"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0, "tokenId": "0x" + "0" * 32,
               "isCanonical": True, "evmContract": None, "fullName": None}]
    universe = []
    for i in range(SPOT_PAIRS):
        tokens.append({"name": f"T{i}", "szDecimals": i % 5, "weiDecimals": 8, "index": i + 1,
                       "tokenId": "0x" + f"{i:032x}", "isCanonical": False, "evmContract": None, "fullName": None})
        universe.append({"name": "PURR/USDC" if i == 0 else f"@{i}", "tokens": [i + 1, 0], "index": i,
                         "isCanonical": i == 0})
    return {"tokens": tokens, "universe": universe}


COINS = [n for n, _ in PERPS] + ["PURR/USDC"] + [f"@{i}" for i in range(1, SPOT_PAIRS)]


class CapturingExchange(Exchange):
    """The SDK's Exchange, but the body it would POST is returned instead of sent."""

    def _post_action(self, action, signature, nonce):
        self.sent = {"action": action, "nonce": nonce, "signature": signature,
                     "vaultAddress": self.vault_address if action["type"] not in ["usdClassTransfer", "sendAsset"]
                     else None,
                     "expiresAfter": self.expires_after}
        return self.sent


@pytest.fixture(scope="module")
def keys():
    rng = random.Random(7)
    return ["0x" + rng.randbytes(32).hex() for _ in range(4)]


class Case:
    """One random setting: key, flavour, vault, expiresAfter, nonce; an SDK exchange and our signer."""

    def __init__(self, rng: random.Random, keys: list[str], meta, spot_meta):
        self.key = rng.choice(keys)
        self.url = rng.choice([MAINNET_API_URL, TESTNET_API_URL, LOCAL_URL])
        self.vault = ("0x" + rng.randbytes(20).hex()) if rng.random() < 0.3 else None
        self.expires = rng.randrange(1_700_000_000_000, 1_900_000_000_000) if rng.random() < 0.3 else None
        self.nonce = rng.randrange(1_700_000_000_000, 1_900_000_000_000)
        self.sdk = CapturingExchange(eth_account.Account.from_key(self.key), self.url, meta=meta,
                                     vault_address=self.vault, spot_meta=spot_meta)
        self.sdk.set_expires_after(self.expires)
        self.ours = Signer.for_url(self.key, self.url)
        self.asset = self.sdk.info.name_to_asset


def _num(rng: random.Random) -> float:
    """Prices/sizes across magnitudes, representable with ≤ 8 decimals (like real rounded quotes)."""
    mag = rng.randint(-6, 6)
    decimals = max(0, min(8, rng.randint(0, 5) - mag + 1))
    return round(rng.uniform(1, 10) * 10 ** mag, decimals) or 1.0


def _cloid(rng):
    return Cloid.from_int(rng.getrandbits(128)) if rng.random() < 0.6 else None


def _order_type(rng):
    if rng.random() < 0.8:
        return {"limit": {"tif": rng.choice(["Alo", "Ioc", "Gtc"])}}
    return {"trigger": {"triggerPx": _num(rng), "isMarket": rng.random() < 0.5, "tpsl": rng.choice(["tp", "sl"])}}


def _our_order_type(ot):
    if "limit" in ot:
        return wire.limit_type(ot["limit"]["tif"])
    t = ot["trigger"]
    return wire.trigger_type(t["triggerPx"], t["isMarket"], t["tpsl"])


def _random_order(rng):
    return {"coin": rng.choice(COINS), "is_buy": rng.random() < 0.5, "sz": _num(rng), "limit_px": _num(rng),
            "order_type": _order_type(rng), "reduce_only": rng.random() < 0.3, "cloid": _cloid(rng)}


def _our_order(case, o):
    return wire.order_wire(case.asset(o["coin"]), o["is_buy"], o["limit_px"], o["sz"], o["reduce_only"],
                           _our_order_type(o["order_type"]), o["cloid"].to_raw() if o["cloid"] else None)


def _same(ours: dict, theirs: dict):
    # json text equality also pins key order (which the msgpack hash depends on)
    assert json.dumps(ours) == json.dumps(theirs)


def _run(kind, rng, case, pin_nonce):
    sdk = case.sdk
    if kind == "order":
        orders = [_random_order(rng) for _ in range(rng.randint(1, 5))]
        grouping = rng.choice(["na", "na", "normalTpsl", "positionTpsl"])
        builder = None
        if rng.random() < 0.1:
            builder = {"b": "0x" + rng.randbytes(20).hex().upper(), "f": rng.randint(0, 100)}
        sdk.bulk_orders(orders, dict(builder) if builder else None, grouping)
        action = wire.order_action([_our_order(case, o) for o in orders], grouping, builder)
    elif kind == "cancel":
        reqs = [{"coin": rng.choice(COINS), "oid": rng.getrandbits(rng.choice([8, 40, 63]))}
                for _ in range(rng.randint(1, 6))]
        sdk.bulk_cancel(reqs)
        action = wire.cancel_action([(case.asset(r["coin"]), r["oid"]) for r in reqs])
    elif kind == "cancelByCloid":
        reqs = [{"coin": rng.choice(COINS), "cloid": Cloid.from_int(rng.getrandbits(128))}
                for _ in range(rng.randint(1, 6))]
        sdk.bulk_cancel_by_cloid(reqs)
        action = wire.cancel_by_cloid_action([(case.asset(r["coin"]), r["cloid"].to_raw()) for r in reqs])
    elif kind == "batchModify":
        mods = [{"oid": rng.getrandbits(40) if rng.random() < 0.5 else Cloid.from_int(rng.getrandbits(128)),
                 "order": _random_order(rng)} for _ in range(rng.randint(1, 4))]
        sdk.bulk_modify_orders_new(mods)
        action = wire.batch_modify_action(
            [(m["oid"].to_raw() if isinstance(m["oid"], Cloid) else m["oid"], _our_order(case, m["order"]))
             for m in mods])
    elif kind == "scheduleCancel":
        t = rng.randrange(1_700_000_000_000, 1_900_000_000_000) if rng.random() < 0.7 else None
        sdk.schedule_cancel(t)
        action = wire.schedule_cancel_action(t)
    elif kind == "updateLeverage":
        coin, lev, cross = rng.choice(COINS[:len(PERPS)]), rng.randint(1, 50), rng.random() < 0.5
        sdk.update_leverage(lev, coin, cross)
        action = wire.update_leverage_action(case.asset(coin), lev, cross)
    elif kind == "noop":
        sdk.noop(case.nonce)
        action = wire.noop_action()
    elif kind == "usdClassTransfer":
        amount = rng.choice([_num(rng), float(rng.randint(1, 10**6)), round(rng.uniform(0, 1000), 2)])
        to_perp = rng.random() < 0.5
        sdk.usd_class_transfer(amount, to_perp)
        action = wire.usd_class_transfer_action(amount, to_perp, case.nonce, case.vault)
    elif kind == "approveAgent":
        name = rng.choice([None, "", "mm", f"agent{rng.randint(0, 999)}"])
        sdk.approve_agent(name)
        agent = sdk.sent["action"]["agentAddress"]  # the SDK makes a fresh random agent key itself
        action = wire.approve_agent_action(agent, name, case.nonce)
    else:  # pragma: no cover
        raise AssertionError(kind)
    ours = case.ours.envelope(action, case.nonce, case.vault,
                              None if kind in ("usdClassTransfer", "approveAgent") else case.expires)
    _same(ours, sdk.sent)


KINDS = ["order", "cancel", "cancelByCloid", "batchModify", "scheduleCancel", "updateLeverage", "noop",
         "usdClassTransfer", "approveAgent"]


@pytest.mark.parametrize("kind", KINDS)
def test_random_actions_match_sdk(kind, keys, monkeypatch):
    rng = random.Random(f"hlmm-{kind}")
    meta, spot_meta = _meta(), _spot_meta()
    cases = [Case(rng, keys, meta, spot_meta) for _ in range(12)]  # SDK Exchange construction is not free
    flavours = set()
    for _ in range(N):
        case = rng.choice(cases)
        if kind in ("usdClassTransfer", "approveAgent"):
            case.sdk.set_expires_after(None)  # the SDK only works with None there
        else:
            case.sdk.set_expires_after(case.expires)
        case.nonce = rng.randrange(1_700_000_000_000, 1_900_000_000_000)
        monkeypatch.setattr(sdk_exchange, "get_timestamp_ms", lambda n=case.nonce: n)
        _run(kind, rng, case, case.nonce)
        flavours.add(case.ours.is_mainnet)
    assert flavours == {True, False}


def test_single_modify_matches_sdk_signature(keys):
    """`modify` (single) is not sent by the SDK; its signature is still the generic L1 one."""
    rng = random.Random(3)
    for _ in range(N):
        key = rng.choice(keys)
        mainnet = rng.random() < 0.5
        vault = "0x" + rng.randbytes(20).hex() if rng.random() < 0.5 else None
        exp = rng.randrange(10**12, 2 * 10**12) if rng.random() < 0.5 else None
        nonce = rng.randrange(10**12, 2 * 10**12)
        oid = rng.getrandbits(40) if rng.random() < 0.5 else wire.cloid_from_int(rng.getrandbits(128))
        action = wire.modify_action(oid, wire.order_wire(
            rng.randint(0, 10200), rng.random() < 0.5, _num(rng), _num(rng), rng.random() < 0.3,
            None, wire.cloid_from_int(rng.getrandbits(128)) if rng.random() < 0.5 else None,
            tif=rng.choice(["Alo", "Ioc", "Gtc"])))
        assert Signer(key, is_mainnet=mainnet).sign_l1(action, nonce, vault, exp) == sdk_signing.sign_l1_action(
            eth_account.Account.from_key(key), action, vault, nonce, exp, mainnet)


# ---- SDK test vectors (protocol §5.3) ----
VECTOR_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"


def test_sdk_vectors():
    s_main = Signer(VECTOR_KEY, is_mainnet=True)
    s_test = Signer(VECTOR_KEY, is_mainnet=False)
    assert s_main.address == "0x14791697260E4c9A71f18484C9f997B308e59325"
    action = {"type": "dummy", "num": 100000000000}
    sig = s_main.sign_l1(action, 0)
    assert sig["r"] == "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298"  # 63 hex digits
    assert sig["s"] == "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8"
    assert sig["v"] == 27
    sig_t = s_test.sign_l1(action, 0)
    assert sig_t["r"] == "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510"
    assert sig_t["v"] == 28
    order = wire.order_action([wire.order_wire(4, True, 1670.1, 0.0147, tif="Ioc")])
    assert action_hash(order, None, 1677777606040, None).hex() == \
        "0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"


def test_flavour_rule_is_the_sdks():
    assert is_mainnet_url("https://api.hyperliquid.xyz")
    for url in ("https://api.hyperliquid.xyz/", "https://api.hyperliquid-testnet.xyz", "http://localhost:3001"):
        assert not is_mainnet_url(url)


def test_float_to_wire_matches_sdk_and_refuses_rounding():
    rng = random.Random(11)
    for _ in range(20000):
        x = _num(rng) * rng.choice([1, -1])
        assert float_to_wire(x) == sdk_signing.float_to_wire(x)
    for x in (105000.0, 2.0, 0.1 + 0.2, 1.231e-05, -0.0, 0.0, 1e25, 99999.99999999):
        assert float_to_wire(x) == sdk_signing.float_to_wire(x)
    with pytest.raises(WireError, match="px"):
        float_to_wire(1.123456789, "px")
    assert float_to_wire(Decimal("1670.100")) == "1670.1"
    assert float_to_wire(Decimal("1E+3")) == "1000"
    with pytest.raises(WireError, match="sz"):
        float_to_wire(Decimal("0.000000001"), "sz")


def test_wire_rejects_bad_fields():
    with pytest.raises(WireError, match="cloid"):
        wire.order_wire(0, True, 1.0, 1.0, cloid="0x123")
    with pytest.raises(WireError, match="tif"):
        wire.order_wire(0, True, 1.0, 1.0, tif="Day")  # type: ignore[arg-type]
    with pytest.raises(WireError, match="asset"):
        wire.cancel_action([(-1, 5)])
    with pytest.raises(WireError, match="leverage"):
        wire.update_leverage_action(0, 0)


def test_private_key_never_shown():
    s = Signer(VECTOR_KEY, is_mainnet=False)
    secret = VECTOR_KEY[2:]
    assert secret not in repr(s) and secret not in str(s)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(s)
    with pytest.raises(ValueError) as ei:
        Signer("0x" + "zz" * 32, is_mainnet=False)
    assert "zz" not in str(ei.value)


def test_signer_threadsafe_same_results(keys):
    """Per-thread keccak/sign buffers: concurrent signing gives the same bytes as serial signing."""
    from concurrent.futures import ThreadPoolExecutor
    s = Signer(keys[0], is_mainnet=False)
    actions = [wire.order_action([wire.order_wire(i % 7, True, 100.0 + i, 1.0, tif="Alo")]) for i in range(400)]
    serial = [s.sign_l1(a, 10**12 + i) for i, a in enumerate(actions)]
    with ThreadPoolExecutor(8) as ex:
        par = list(ex.map(lambda ia: s.sign_l1(ia[1], 10**12 + ia[0]), enumerate(actions)))
    assert par == serial


# ---- the local venue (which verifies with eth-account / the SDK's recovery) accepts our signatures ----
SIM_ASSETS = [0, 1, 2, 3, 10000, 10001]


def _sim_action(kind: str, rng: random.Random, nonce: int) -> dict:
    def order():
        return wire.order_wire(rng.choice(SIM_ASSETS), rng.random() < 0.5, _num(rng), _num(rng),
                               rng.random() < 0.2, None, cloid=wire.cloid_from_int(rng.getrandbits(128)),
                               tif=rng.choice(["Alo", "Ioc", "Gtc"]))
    if kind == "order":
        return wire.order_action([order() for _ in range(rng.randint(1, 3))])
    if kind == "cancel":
        return wire.cancel_action([(rng.choice(SIM_ASSETS), rng.getrandbits(40))])
    if kind == "cancelByCloid":
        return wire.cancel_by_cloid_action([(rng.choice(SIM_ASSETS), wire.cloid_from_int(rng.getrandbits(128)))])
    if kind == "batchModify":
        return wire.batch_modify_action([(rng.getrandbits(40), order())])
    if kind == "scheduleCancel":
        return wire.schedule_cancel_action(nonce + 3_600_000 if rng.random() < 0.5 else None)
    if kind == "updateLeverage":
        return wire.update_leverage_action(rng.choice(SIM_ASSETS[:4]), rng.randint(1, 10), rng.random() < 0.5)
    if kind == "noop":
        return wire.noop_action()
    if kind == "usdClassTransfer":
        return wire.usd_class_transfer_action(round(rng.uniform(1, 100), 2), rng.random() < 0.5, nonce)
    if kind == "approveAgent":
        return wire.approve_agent_action("0x" + rng.randbytes(20).hex(), rng.choice([None, "x"]), nonce)
    raise AssertionError(kind)


def test_sim_accepts_a_sample_of_our_signatures(sim, fresh_account, tmp_path):
    import httpx

    from engine.venue.errors import Outcome, classify
    from engine.venue.limits import NonceManager

    addr, key = fresh_account
    signer = Signer.for_url(key, sim.url)
    assert not signer.is_mainnet
    nonces = NonceManager(tmp_path / "n")
    rng = random.Random(99)
    seen_ok = 0
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        for i in range(60):
            kind = KINDS[i % len(KINDS)]
            nonce = nonces.next()
            action = _sim_action(kind, rng, nonce)
            user_signed = kind in ("usdClassTransfer", "approveAgent")
            exp = None if user_signed or rng.random() < 0.5 else nonce + 60_000
            body = signer.envelope(action, nonce, None, exp)
            resp = client.post("/exchange", content=json.dumps(body), headers={"Content-Type": "application/json"})
            assert resp.status_code == 200, (kind, resp.status_code, resp.text)
            reply = resp.json()
            if reply["status"] == "err":
                # a business refusal is fine; a signature/nonce refusal is our bug
                assert classify(reply["response"]).outcome not in (Outcome.AUTH, Outcome.NONCE, Outcome.BAD_REQUEST,
                                                                   Outcome.UNKNOWN), (kind, reply)
            else:
                seen_ok += 1
    assert seen_ok >= 30


def test_usd_send_and_spot_send_match_sdk(keys):
    """The other two user-signed types the signer knows (not used by the engine yet, so checked directly)."""
    rng = random.Random(5)
    for _ in range(300):
        key, mainnet = rng.choice(keys), rng.random() < 0.5
        wallet = eth_account.Account.from_key(key)
        t = rng.randrange(10**12, 2 * 10**12)
        dest = "0x" + rng.randbytes(20).hex()
        if rng.random() < 0.5:
            a = {"type": "usdSend", "destination": dest, "amount": str(_num(rng)), "time": t}
            ref = sdk_signing.sign_usd_transfer_action(wallet, dict(a), mainnet)
        else:
            a = {"type": "spotSend", "destination": dest, "token": "PURR:0x" + rng.randbytes(16).hex(),
                 "amount": str(_num(rng)), "time": t}
            ref = sdk_signing.sign_spot_transfer_action(wallet, dict(a), mainnet)
        assert Signer(key, is_mainnet=mainnet).sign_user(a) == ref
