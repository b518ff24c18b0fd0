"""Signing bench: our L1 signer vs the official SDK's `sign_l1_action` on the same one-order action.

Both sign identical bytes (tests/venue/test_signing_vectors.py proves equality), so the ratio is pure
implementation cost: the SDK builds a typed-data dict and runs eth-account's generic EIP-712 encoder per call
(coincurve is installed, so its final secp256k1 step is already native); ours precomputes the domain separator
and type hashes and calls keccak / libsecp256k1 directly.
"""
from __future__ import annotations

import gc
import time

from engine.bench import Result, figure

N_OURS = 20_000
N_SDK = 2_000
KEY = "0x" + "3b" * 32


def _samples_us(fn, n: int) -> list[float]:
    for _ in range(min(200, n)):  # warm caches / per-thread buffers
        fn()
    out = []
    clock = time.perf_counter_ns
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            t0 = clock()
            fn()
            out.append((clock() - t0) / 1000)
    finally:
        if gc_was:
            gc.enable()
    out.sort()
    return out


def _pct(sorted_samples: list[float], q: float) -> float:
    return sorted_samples[min(len(sorted_samples) - 1, int(q * (len(sorted_samples) - 1)))]


@figure("signing", names=("sign_l1_order_us", "sign_l1_order_p99_us"))
def bench_signing() -> list[Result]:
    import eth_account
    from hyperliquid.utils.signing import sign_l1_action

    from engine.venue import wire
    from engine.venue.signing import Signer

    action = wire.order_action([wire.order_wire(4, True, 1670.1, 0.0147, tif="Alo",
                                                cloid="0x" + "00112233445566778899aabbccddeeff")])
    nonce = 1_795_502_234_999
    ours = Signer(KEY, is_mainnet=False)
    wallet = eth_account.Account.from_key(KEY)
    assert ours.sign_l1(action, nonce) == sign_l1_action(wallet, action, None, nonce, None, False)
    mine = _samples_us(lambda: ours.sign_l1(action, nonce), N_OURS)
    sdk = _samples_us(lambda: sign_l1_action(wallet, action, None, nonce, None, False), N_SDK)
    ref = "SDK sign_l1_action (eth-account + coincurve), same action, same run"
    return [
        Result("sign_l1_order_us", _pct(mine, 0.5), "us", ref, _pct(sdk, 0.5), "<= 30 us and >= 7x the SDK"),
        Result("sign_l1_order_p99_us", _pct(mine, 0.99), "us", ref + " (p99)", _pct(sdk, 0.99), None),
    ]
