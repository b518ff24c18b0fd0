"""Who signed an /exchange request, for whom, and whether its nonce may be used (protocol §5).

Signatures are recovered with the official SDK's own inverse functions (testnet flavour first,
because the SDK signs that way for every non-mainnet URL; mainnet flavour as a fallback), never
with the engine's signer, so a signing bug in the engine shows up here as an unknown signer.
"""
from __future__ import annotations

from bisect import bisect_left, insort

from hyperliquid.utils import signing

from . import subaccounts
from .accounts import User
from .core import Core

DAY_MS = 86_400_000
NONCES_KEPT = 100
APPROVE_AGENT_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]
APPROVE_BUILDER_FEE_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "maxFeeRate", "type": "string"},
    {"name": "builder", "type": "address"},
    {"name": "nonce", "type": "uint64"},
]
# user-signed (EIP-712) actions: type -> (field types, primaryType, field that must equal the envelope nonce)
USER_SIGNED = {
    "usdClassTransfer": (signing.USD_CLASS_TRANSFER_SIGN_TYPES, "HyperliquidTransaction:UsdClassTransfer", "nonce"),
    "approveAgent": (APPROVE_AGENT_TYPES, "HyperliquidTransaction:ApproveAgent", "nonce"),
    "usdSend": (signing.USD_SEND_SIGN_TYPES, "HyperliquidTransaction:UsdSend", "time"),
    "spotSend": (signing.SPOT_TRANSFER_SIGN_TYPES, "HyperliquidTransaction:SpotSend", "time"),
    "withdraw3": (signing.WITHDRAW_SIGN_TYPES, "HyperliquidTransaction:Withdraw", "time"),
    "approveBuilderFee": (APPROVE_BUILDER_FEE_TYPES, "HyperliquidTransaction:ApproveBuilderFee", "nonce"),
    "sendAsset": (signing.SEND_ASSET_SIGN_TYPES, "HyperliquidTransaction:SendAsset", "nonce"),
}
MAX_NAMED_AGENTS = 3


class AuthError(Exception):
    """Whole-action refusal: answered as {"status":"err","response": str(exc)}."""


def _recover(body: dict, mainnet: bool) -> str:
    action = body["action"]
    sig = body["signature"]
    spec = USER_SIGNED.get(action.get("type"))
    if spec is None:
        return signing.recover_agent_or_user_from_l1_action(
            action, sig, body.get("vaultAddress"), body["nonce"], body.get("expiresAfter"), mainnet)
    message = dict(action)  # the SDK's recover writes hyperliquidChain into the dict it gets
    if message.get("type") == "approveAgent" and "agentName" not in message:
        message["agentName"] = ""  # the SDK signs "" and then deletes the key when no name is given
    return signing.recover_user_from_user_signed_action(message, sig, spec[0], spec[1], mainnet)


def signer_of(core: Core, body: dict, accept_mainnet: bool = True) -> str:
    """Lowercase address that produced the signature (a user, an agent or garbage)."""
    try:
        addr = _recover(body, False).lower()
    except Exception as exc:  # malformed r/s/v or typed data: no address can be recovered
        raise AuthError(f"L1 error: could not recover signer: {type(exc).__name__}") from None
    if accept_mainnet and addr not in core.users and addr not in core.agents:
        try:
            alt = _recover(body, True).lower()
        except Exception:
            return addr
        if alt in core.users or alt in core.agents:
            return alt
    return addr


def resolve(core: Core, body: dict, signer: str, now: int) -> User:
    """The account the action acts for; raises AuthError with the venue's text."""
    action = body["action"]
    user_signed = action.get("type") in USER_SIGNED
    agent = None if user_signed else core.agents.get(signer)
    if agent is not None:
        if agent[2] is not None and agent[2] < now:
            raise AuthError(f"L1 error: User or API Wallet {signer} does not exist.")
        u = core.users[agent[0]]
    else:
        u = core.users.get(signer)
        if u is None or u.system:
            raise AuthError(f"L1 error: User or API Wallet {signer} does not exist.")
    if not u.deposited and not u.has_funds():
        raise AuthError(f"Must deposit before performing actions. User: {u.address}")
    if body.get("vaultAddress") is not None:
        if user_signed:
            raise AuthError("vaultAddress must be null for user-signed actions")
        try:  # the master (or its agent) acts for one of its sub-accounts: the action lands there
            u = subaccounts.acting_for(core, u, body["vaultAddress"])
        except ValueError as exc:
            raise AuthError(str(exc)) from None
    if user_signed:
        field = USER_SIGNED[action["type"]][2]
        if action.get(field) != body["nonce"]:
            raise AuthError(f"Invalid nonce: action {field} {action.get(field)} must equal the request nonce "
                            f"{body['nonce']}")
        if body.get("expiresAfter") is not None:
            raise AuthError("expiresAfter is not supported for user-signed actions")
    return u


def check_nonce(core: Core, signer: str, nonce: int, now: int, window: bool = True) -> None:
    """Per-signer rules: unused, above the smallest of the 100 highest kept, inside (now-2d, now+1d)."""
    kept = core.nonces.get(signer)
    if kept:
        i = bisect_left(kept, nonce)
        if i < len(kept) and kept[i] == nonce:
            raise AuthError(f"Invalid nonce: duplicate nonce {nonce}")
        if len(kept) >= NONCES_KEPT and nonce < kept[0]:
            raise AuthError(f"Invalid nonce: nonce {nonce} is lower than the smallest of the last "
                            f"{NONCES_KEPT} nonces ({kept[0]})")
    if window and not (now - 2 * DAY_MS < nonce < now + DAY_MS):
        raise AuthError(f"Invalid nonce: nonce {nonce} is outside the allowed window "
                        f"({now - 2 * DAY_MS}, {now + DAY_MS})")


def use_nonce(core: Core, signer: str, nonce: int) -> None:
    kept = core.nonces.setdefault(signer, [])
    insort(kept, nonce)
    if len(kept) > NONCES_KEPT:
        del kept[0]


def approve_agent(core: Core, u: User, action: dict) -> None:
    addr = action.get("agentAddress")
    name = action.get("agentName", "") or ""
    if not isinstance(addr, str) or len(addr) != 42 or not addr.startswith("0x"):
        raise AuthError("Invalid agent address")
    addr = addr.lower()
    if addr == u.address:
        raise AuthError("Cannot approve yourself as an agent")
    mine = {a: v for a, v in core.agents.items() if v[0] == u.address}
    for a, v in mine.items():  # re-approving a name (or the unnamed slot) replaces that agent
        if v[1] == name:
            del core.agents[a]
    if name and sum(1 for v in mine.values() if v[1] and v[1] != name) >= MAX_NAMED_AGENTS:
        raise AuthError(f"Too many named agents (max {MAX_NAMED_AGENTS})")
    valid_until = None
    if " valid_until " in name:  # the live venue accepts "name valid_until <ms>"
        try:
            valid_until = int(name.rsplit(" valid_until ", 1)[1])
        except ValueError:
            pass
    core.agents[addr] = [u.address, name, valid_until]
