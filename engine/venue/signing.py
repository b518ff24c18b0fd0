"""Fast Hyperliquid signer, bit-exact with hyperliquid-python-sdk 0.24.0 (protocol §5).

The SDK builds a full EIP-712 typed-data dict per signature and runs eth-account's generic encoder, which
costs ~1 ms. Everything in that dict except the action hash is constant, so we compute the domain
separators and type hashes once and per signature do only: msgpack(action) → keccak → struct hash →
digest → secp256k1 recoverable sign (libsecp256k1 via coincurve; RFC 6979 deterministic nonces and low-s,
the same as eth-keys, hence identical bytes).

L1 actions (order, cancel, batchModify, …): digest = keccak(0x1901 ‖ domainSep(Exchange,1,1337,0x0) ‖
keccak(typeHash(Agent) ‖ keccak(source) ‖ connectionId)), source "a" on mainnet, "b" elsewhere, and
connectionId = keccak(msgpack(action) ‖ nonce_be8 ‖ vault flag[+addr] ‖ [0x00 ‖ expiresAfter_be8]).

User-signed actions (usdClassTransfer, approveAgent, …): EIP-712 with domain HyperliquidSignTransaction,
chainId 0x66eee; the signer writes signatureChainId and hyperliquidChain into the action like the SDK.

Flavour: mainnet iff base_url == "https://api.hyperliquid.xyz" — exactly the SDK's test, so a local venue or
testnet URL signs testnet-style. The private key lives only inside a coincurve object; repr/str never show it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import coincurve
import msgpack
from eth_utils import to_checksum_address

from engine.venue.crypto import keccak256, sign_recoverable

MAINNET_API_URL = "https://api.hyperliquid.xyz"
USER_SIGNED_CHAIN_ID = 0x66EEE  # what the SDK puts in signatureChainId
_ZERO_WORD = b"\x00" * 32

# actions whose envelope must carry vaultAddress null (the SDK forces it)
VAULT_FORCED_NULL = frozenset({"usdClassTransfer", "sendAsset"})


def is_mainnet_url(base_url: str) -> bool:
    """The SDK's rule, byte for byte (a trailing slash makes it testnet-flavoured, as in the SDK)."""
    return base_url == MAINNET_API_URL


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")


def _domain_separator(name: str, chain_id: int) -> bytes:
    return keccak256(_DOMAIN_TYPEHASH + keccak256(name.encode()) + keccak256(b"1") + _word(chain_id) + _ZERO_WORD)


_L1_DOMAIN = b"\x19\x01" + _domain_separator("Exchange", 1337)
_AGENT_TYPEHASH = keccak256(b"Agent(string source,bytes32 connectionId)")
# struct-hash prefix per flavour: typeHash ‖ keccak(source)
_AGENT_PREFIX = {True: _AGENT_TYPEHASH + keccak256(b"a"), False: _AGENT_TYPEHASH + keccak256(b"b")}
_USER_DOMAIN = b"\x19\x01" + _domain_separator("HyperliquidSignTransaction", USER_SIGNED_CHAIN_ID)


@dataclass(frozen=True)
class UserSignedType:
    """One EIP-712 primary type of a user-signed action; fields in signing order (hyperliquidChain first)."""
    primary_type: str
    fields: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        sig = f"{self.primary_type}(" + ",".join(f"{t} {n}" for n, t in self.fields) + ")"
        object.__setattr__(self, "typehash", keccak256(sig.encode()))

    def struct_hash(self, action: Mapping[str, Any]) -> bytes:
        parts = [self.typehash]  # type: ignore[attr-defined]
        for name, typ in self.fields:
            try:
                v = action[name]
            except KeyError:
                raise ValueError(f"{self.primary_type}: action is missing field {name!r}") from None
            if typ == "string":
                parts.append(keccak256(v.encode()))
            elif typ == "bool":
                parts.append(_word(1 if v else 0))
            elif typ in ("uint64", "uint256"):
                parts.append(_word(int(v)))
            elif typ == "address":
                parts.append(_word(int(v, 16)))
            elif typ == "bytes32":
                parts.append(bytes(v).rjust(32, b"\x00"))
            else:  # pragma: no cover - table below is fixed
                raise ValueError(f"unsupported EIP-712 type {typ}")
        return keccak256(b"".join(parts))


USD_CLASS_TRANSFER = UserSignedType("HyperliquidTransaction:UsdClassTransfer", (
    ("hyperliquidChain", "string"), ("amount", "string"), ("toPerp", "bool"), ("nonce", "uint64")))
APPROVE_AGENT = UserSignedType("HyperliquidTransaction:ApproveAgent", (
    ("hyperliquidChain", "string"), ("agentAddress", "address"), ("agentName", "string"), ("nonce", "uint64")))
USD_SEND = UserSignedType("HyperliquidTransaction:UsdSend", (
    ("hyperliquidChain", "string"), ("destination", "string"), ("amount", "string"), ("time", "uint64")))
SPOT_SEND = UserSignedType("HyperliquidTransaction:SpotSend", (
    ("hyperliquidChain", "string"), ("destination", "string"), ("token", "string"), ("amount", "string"),
    ("time", "uint64")))
USER_SIGNED_TYPES = {"usdClassTransfer": USD_CLASS_TRANSFER, "approveAgent": APPROVE_AGENT,
                     "usdSend": USD_SEND, "spotSend": SPOT_SEND}


def action_hash(action: Mapping[str, Any], vault_address: str | None, nonce: int,
                expires_after: int | None) -> bytes:
    """The L1 connectionId. `action` must already be in wire key order."""
    data = msgpack.packb(action)
    data += nonce.to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01" + bytes.fromhex(vault_address[2:] if vault_address.startswith("0x") else vault_address)
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak256(data)


def l1_digest(connection_id: bytes, is_mainnet: bool) -> bytes:
    return keccak256(_L1_DOMAIN + keccak256(_AGENT_PREFIX[is_mainnet] + connection_id))


def _parse_key(private_key: str | bytes) -> bytes:
    if isinstance(private_key, str):
        h = private_key[2:] if private_key.startswith(("0x", "0X")) else private_key
        try:
            raw = bytes.fromhex(h)
        except ValueError:
            raise ValueError("private key is not hex") from None  # never echo the value
    else:
        raw = bytes(private_key)
    if len(raw) != 32:
        raise ValueError(f"private key must be 32 bytes, got {len(raw)}")
    try:
        coincurve.PrivateKey(raw)
    except Exception:
        raise ValueError("private key is not a valid secp256k1 scalar") from None
    return raw


class Signer:
    """Signs Hyperliquid actions for one key and one network flavour. Thread-safe (no mutable state)."""

    __slots__ = ("_secret", "address", "is_mainnet")

    def __init__(self, private_key: str | bytes, *, is_mainnet: bool) -> None:
        self._secret = _parse_key(private_key)
        pub = coincurve.PublicKey.from_secret(self._secret).format(compressed=False)[1:]
        self.address: str = to_checksum_address(keccak256(pub)[-20:])
        self.is_mainnet = bool(is_mainnet)

    @classmethod
    def for_url(cls, private_key: str | bytes, base_url: str) -> "Signer":
        return cls(private_key, is_mainnet=is_mainnet_url(base_url))

    def __repr__(self) -> str:
        return f"Signer(address={self.address}, mainnet={self.is_mainnet})"

    __str__ = __repr__

    def __reduce__(self):  # refuse to pickle the key into some cache or log
        raise TypeError("Signer holds a private key and cannot be pickled")

    def sign_digest(self, digest: bytes) -> dict:
        r, s, recid = sign_recoverable(self._secret, digest)
        return {"r": hex(r), "s": hex(s), "v": 27 + recid}

    def sign_l1(self, action: Mapping[str, Any], nonce: int, vault_address: str | None = None,
                expires_after: int | None = None) -> dict:
        """Signature for an L1 action (order, cancel, cancelByCloid, batchModify, modify, scheduleCancel,
        updateLeverage, noop, …) — same result as the SDK's sign_l1_action."""
        return self.sign_digest(l1_digest(action_hash(action, vault_address, nonce, expires_after),
                                          self.is_mainnet))

    def sign_user(self, action: dict, kind: UserSignedType | None = None) -> dict:
        """Signature for a user-signed action. Like the SDK, writes signatureChainId and hyperliquidChain
        into `action` (they are posted). Type chosen from action["type"] unless given."""
        if kind is None:
            try:
                kind = USER_SIGNED_TYPES[action["type"]]
            except KeyError:
                raise ValueError(f"no user-signed type for action type {action.get('type')!r}") from None
        action["signatureChainId"] = hex(USER_SIGNED_CHAIN_ID)
        action["hyperliquidChain"] = "Mainnet" if self.is_mainnet else "Testnet"
        return self.sign_digest(keccak256(_USER_DOMAIN + kind.struct_hash(action)))

    def envelope(self, action: dict, nonce: int, vault_address: str | None = None,
                 expires_after: int | None = None) -> dict:
        """Sign and wrap into the /exchange body (all five keys, like the SDK)."""
        kind = USER_SIGNED_TYPES.get(action.get("type", ""))
        if kind is not None:
            if expires_after is not None:
                raise ValueError("expiresAfter is not supported for user-signed actions")
            omit_name = action.get("type") == "approveAgent" and action.get("agentName") is None
            if omit_name:
                action["agentName"] = ""
            sig = self.sign_user(action, kind)
            if omit_name:  # SDK: signed with "", posted without the key
                del action["agentName"]
        else:
            sig = self.sign_l1(action, nonce, vault_address, expires_after)
        return {"action": action, "nonce": nonce, "signature": sig,
                "vaultAddress": None if action.get("type") in VAULT_FORCED_NULL else vault_address,
                "expiresAfter": expires_after}


class UnsignedSigner:
    """A `Signer` for an in-process venue that never verifies signatures (`sim.venue.Venue.exchange_as` acts
    as the account directly): the same envelopes and action bytes — user-signed actions still get
    signatureChainId / hyperliquidChain written in like the SDK — with a zero signature, so a backtest does
    not spend a keccak and an ECDSA signature on every action. Byte-exact signing is tested against the SDK
    separately (tests/venue/test_signing_vectors.py)."""

    __slots__ = ("address", "is_mainnet")

    def __init__(self, address: str, *, is_mainnet: bool = False) -> None:
        self.address = to_checksum_address(address)
        self.is_mainnet = bool(is_mainnet)

    def __repr__(self) -> str:
        return f"UnsignedSigner(address={self.address})"

    def envelope(self, action: dict, nonce: int, vault_address: str | None = None,
                 expires_after: int | None = None) -> dict:
        if action.get("type", "") in USER_SIGNED_TYPES:
            if expires_after is not None:
                raise ValueError("expiresAfter is not supported for user-signed actions")
            action["signatureChainId"] = hex(USER_SIGNED_CHAIN_ID)
            action["hyperliquidChain"] = "Mainnet" if self.is_mainnet else "Testnet"
        return {"action": action, "nonce": nonce, "signature": _ZERO_SIGNATURE,
                "vaultAddress": None if action.get("type") in VAULT_FORCED_NULL else vault_address,
                "expiresAfter": expires_after}


_ZERO_SIGNATURE = {"r": "0x0", "s": "0x0", "v": 27}
