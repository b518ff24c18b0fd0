"""Action builders: Python values → the exact dicts Hyperliquid signs and receives (protocol §4.2–§4.3).

Key order matters: the L1 signature is a keccak of the msgpack of the action *as sent*, and msgpack keeps
dict insertion order. Every builder here emits keys in the order the official SDK 0.24.0 emits them, so a
signature we make verifies exactly like one the SDK makes (checked by tests/venue/test_signing_vectors.py).

Numbers follow the SDK's `float_to_wire`: at most 8 decimals, refused if that would round, trailing zeros
stripped. Decimals are accepted too (exact; refused beyond 8 decimals). Tick/lot validity is the strategy's
job (engine/strategy/rounding.py); this layer only refuses to change a value.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Iterable, Literal, Sequence

Tif = Literal["Alo", "Ioc", "Gtc"]
Grouping = Literal["na", "normalTpsl", "positionTpsl"]
Number = float | int | Decimal

_CLOID_RE = re.compile(r"^0x[0-9a-fA-F]{32}$")
_ADDR_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TIFS = ("Alo", "Ioc", "Gtc")


class WireError(ValueError):
    """A value cannot be put on the wire unchanged (names the field)."""


def float_to_wire(x: Number, field: str = "value") -> str:
    """Number → minimal decimal string, SDK-identical for floats; never rounds silently."""
    if isinstance(x, float):
        rounded = f"{x:.8f}"
        if abs(float(rounded) - x) >= 1e-12:
            raise WireError(f"{field}={x!r} has more than 8 decimals (would round)")
        if len(rounded) > 27:
            # beyond 28 significant digits Decimal.normalize() rounds; take the SDK's exact path
            return f"{Decimal(rounded).normalize():f}"
        # equals Decimal(rounded).normalize() printed with :f — the fixed string always has a '.'
        # (also reproduces the SDK's "-0" quirk for -0.0), but ~4x cheaper
        return rounded.rstrip("0").rstrip(".")
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise WireError(f"{field}={x!r} is not finite")
        hit = _DECIMAL_WIRE.get(x)
        if hit is not None:
            return hit
        if len(_DECIMAL_WIRE) >= 8192:
            _DECIMAL_WIRE.clear()
        _DECIMAL_WIRE[x] = out = _decimal_to_wire(x, field)
        return out
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    raise WireError(f"{field}={x!r} must be a float, int or Decimal")


# prices and sizes on the tick/lot grid recur from order to order: their wire strings are remembered (equal
# Decimals give equal strings: trailing zeros are stripped either way)
_DECIMAL_WIRE: dict[Decimal, str] = {}


def _decimal_to_wire(x: Decimal, field: str) -> str:
    """The Decimal case of float_to_wire (exact; refused beyond 8 decimals or 28 significant digits)."""
    s = str(x)
    if len(s) <= 28 and "E" not in s:
        # fast path, same answer as below: a plain string of <= 28 chars has <= 28 digits (so normalize()
        # would not round), and stripping trailing zeros is what normalize() + ":f" print
        if "." in s:
            s = s.rstrip("0").rstrip(".")
            if "." in s and len(s) - s.index(".") - 1 > 8:
                raise WireError(f"{field}={x} has more than 8 decimals (would round)")
        return "0" if s in ("0", "-0") else s
    t = x.as_tuple()
    if len(t.digits) > 28:
        raise WireError(f"{field}={x} has more than 28 significant digits")
    n = x.normalize()
    if n.as_tuple().exponent < -8:  # type: ignore[operator]
        raise WireError(f"{field}={x} has more than 8 decimals (would round)")
    return "0" if n.is_zero() else f"{n:f}"  # Decimal has no "-0" reason to exist on the wire


def check_cloid(cloid: str) -> str:
    if not isinstance(cloid, str) or not _CLOID_RE.match(cloid):
        raise WireError(f"cloid={cloid!r} must be '0x' + 32 hex digits")
    return cloid


def cloid_from_int(n: int) -> str:
    """Same as the SDK's Cloid.from_int."""
    if not 0 <= n < 1 << 128:
        raise WireError(f"cloid int {n} out of 128-bit range")
    return f"{n:#034x}"


def _asset(a: int, field: str = "asset") -> int:
    if not isinstance(a, int) or isinstance(a, bool) or a < 0:
        raise WireError(f"{field}={a!r} must be a non-negative int")
    return a


def limit_type(tif: Tif) -> dict:
    if tif not in _TIFS:
        raise WireError(f"tif={tif!r} must be one of {_TIFS}")
    return {"limit": {"tif": tif}}


def trigger_type(trigger_px: Number, is_market: bool, tpsl: Literal["tp", "sl"]) -> dict:
    if tpsl not in ("tp", "sl"):
        raise WireError(f"tpsl={tpsl!r} must be 'tp' or 'sl'")
    return {"trigger": {"isMarket": bool(is_market), "triggerPx": float_to_wire(trigger_px, "triggerPx"),
                        "tpsl": tpsl}}


def order_wire(asset: int, is_buy: bool, px: Number, sz: Number, reduce_only: bool = False,
               order_type: dict | None = None, cloid: str | None = None, *, tif: Tif = "Gtc") -> dict:
    """One order in wire form (keys a,b,p,s,r,t[,c]). `order_type` from limit_type/trigger_type, else `tif`."""
    w = {
        "a": _asset(asset),
        "b": bool(is_buy),
        "p": float_to_wire(px, "px"),
        "s": float_to_wire(sz, "sz"),
        "r": bool(reduce_only),
        "t": order_type if order_type is not None else limit_type(tif),
    }
    if cloid is not None:
        w["c"] = check_cloid(cloid)
    return w


def order_action(orders: Sequence[dict], grouping: Grouping = "na", builder: dict | None = None) -> dict:
    action = {"type": "order", "orders": list(orders), "grouping": grouping}
    if builder:
        if not _ADDR_RE.match(builder.get("b", "")) or not isinstance(builder.get("f"), int):
            raise WireError(f"builder={builder!r} must be {{'b': address, 'f': int tenths of bp}}")
        action["builder"] = {"b": builder["b"].lower(), "f": builder["f"]}
    return action


def cancel_action(cancels: Iterable[tuple[int, int]]) -> dict:
    """cancels: (asset, oid) pairs."""
    return {"type": "cancel", "cancels": [{"a": _asset(a), "o": int(o)} for a, o in cancels]}


def cancel_by_cloid_action(cancels: Iterable[tuple[int, str]]) -> dict:
    """cancels: (asset, cloid) pairs."""
    return {"type": "cancelByCloid",
            "cancels": [{"asset": _asset(a), "cloid": check_cloid(c)} for a, c in cancels]}


def _oid_or_cloid(oid: int | str) -> int | str:
    return check_cloid(oid) if isinstance(oid, str) else int(oid)


def batch_modify_action(modifies: Iterable[tuple[int | str, dict]]) -> dict:
    """modifies: (oid or cloid, order_wire) pairs."""
    return {"type": "batchModify", "modifies": [{"oid": _oid_or_cloid(o), "order": w} for o, w in modifies]}


def modify_action(oid: int | str, order: dict) -> dict:
    return {"type": "modify", "oid": _oid_or_cloid(oid), "order": order}


def schedule_cancel_action(time_ms: int | None) -> dict:
    action: dict = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = int(time_ms)
    return action


def update_leverage_action(asset: int, leverage: int, is_cross: bool = True) -> dict:
    if not isinstance(leverage, int) or isinstance(leverage, bool) or leverage < 1:
        raise WireError(f"leverage={leverage!r} must be an int >= 1")
    return {"type": "updateLeverage", "asset": _asset(asset), "isCross": bool(is_cross), "leverage": leverage}


def noop_action() -> dict:
    return {"type": "noop"}


def usd_class_transfer_action(amount: Number | str, to_perp: bool, nonce: int,
                              vault_address: str | None = None) -> dict:
    """The SDK sends `str(amount)` (so 12.5 → "12.5", 1.0 → "1.0"); we mirror that for floats and keep
    Decimal/str exact. The signer adds signatureChainId and hyperliquidChain."""
    str_amount = amount if isinstance(amount, str) else str(amount)
    if vault_address:
        str_amount += f" subaccount:{vault_address}"
    return {"type": "usdClassTransfer", "amount": str_amount, "toPerp": bool(to_perp), "nonce": int(nonce)}


def approve_agent_action(agent_address: str, agent_name: str | None, nonce: int) -> dict:
    """agentName None = unnamed agent: the signer signs "" and drops the key from the posted action,
    exactly as the SDK does."""
    if not _ADDR_RE.match(agent_address or ""):
        raise WireError(f"agentAddress={agent_address!r} must be a 0x address")
    return {"type": "approveAgent", "agentAddress": agent_address, "agentName": agent_name,
            "nonce": int(nonce)}
