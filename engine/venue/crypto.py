"""The two primitives the signer spends its time in: keccak-256 and secp256k1 recoverable signing.

Why not just `Crypto.Hash.keccak.new(...)` and `PrivateKey.sign_recoverable(...)`: both are thin wrappers whose
per-call Python overhead (object creation, ffi allocations, argument wrapping) is larger than the C work for
the ~100-byte inputs we hash. We call the same C libraries (pycryptodome's `_keccak`, coincurve's
libsecp256k1) directly through cffi with per-thread reusable state/buffers: ~1 µs per keccak instead of ~3.7,
and ~2 µs less per signature. Correctness is pinned by tests against eth_utils.keccak and the SDK's signatures;
if the pycryptodome library cannot be loaded we fall back to its public API.
"""
from __future__ import annotations

import os
import threading

from coincurve._libsecp256k1 import ffi as _secp_ffi
from coincurve._libsecp256k1 import lib as _secp_lib
from coincurve.context import GLOBAL_CONTEXT as _SECP_CTX

_tls = threading.local()

try:
    import cffi
    import Crypto.Hash

    _kffi = cffi.FFI()
    _kffi.cdef("""int keccak_init(void **state, size_t capacity_bytes, uint8_t rounds);
                  int keccak_absorb(void *state, const uint8_t *in, size_t len);
                  int keccak_digest(void *state, uint8_t *digest, size_t len, uint8_t padding);
                  int keccak_reset(void *state);""")
    _klib = _kffi.dlopen(os.path.join(os.path.dirname(Crypto.Hash.__file__), "_keccak.abi3.so"))
except Exception:  # pragma: no cover - depends on the installed wheel layout
    _klib = None


def _keccak_state():
    """Per-thread keccak state + output buffer (state is reset before each use, never shared)."""
    st = getattr(_tls, "k", None)
    if st is None:
        pp = _kffi.new("void **")
        if _klib.keccak_init(pp, 64, 24) != 0:  # capacity 512 bits = keccak-256, 24 rounds
            raise RuntimeError("keccak_init failed")
        out = _kffi.new("uint8_t[32]")
        st = _tls.k = (pp[0], out, _kffi.buffer(out))
    return st


if _klib is not None:
    def keccak256(data: bytes) -> bytes:
        state, out, buf = _keccak_state()
        _klib.keccak_reset(state)
        _klib.keccak_absorb(state, data, len(data))
        _klib.keccak_digest(state, out, 32, 1)  # padding 0x01 = original Keccak (Ethereum), not SHA3
        return buf[:]
else:  # pragma: no cover
    from Crypto.Hash import keccak as _keccak_mod

    def keccak256(data: bytes) -> bytes:
        return _keccak_mod.new(data=data, digest_bits=256).digest()


def _sign_buffers():
    b = getattr(_tls, "s", None)
    if b is None:
        sig = _secp_ffi.new("secp256k1_ecdsa_recoverable_signature *")
        out = _secp_ffi.new("unsigned char[64]")
        recid = _secp_ffi.new("int *")
        b = _tls.s = (sig, out, recid, _secp_ffi.buffer(out))
    return b


def sign_recoverable(secret: bytes, digest: bytes) -> tuple[int, int, int]:
    """(r, s, recid) for a 32-byte digest; RFC 6979 nonce, low-s (libsecp256k1 defaults)."""
    sig, out, recid, buf = _sign_buffers()
    if not _secp_lib.secp256k1_ecdsa_sign_recoverable(_SECP_CTX.ctx, sig, digest, secret,
                                                       _secp_ffi.NULL, _secp_ffi.NULL):
        raise ValueError("secp256k1 signing failed")
    _secp_lib.secp256k1_ecdsa_recoverable_signature_serialize_compact(_SECP_CTX.ctx, out, recid, sig)
    raw = buf[:]
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"), recid[0]
