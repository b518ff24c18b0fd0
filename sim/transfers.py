"""Money-moving user-signed actions: usdClassTransfer, usdSend, spotSend, sendAsset; and approveBuilderFee.

Amounts are decimal strings; a transfer never leaves a balance below what open orders hold or what the
perp account needs (`withdrawable`). Every movement writes the userNonFundingLedgerUpdates row of both
sides.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .accounts import User
from .core import Core
from .numbers import dec_str, to_dec
from .replies import BadRequest, ok, refuse

SUBACCOUNTS_UNSUPPORTED = "Vaults and sub-accounts are not supported by this venue."


def _amount(text) -> Decimal | None:
    """Transfer amount; None for the " subaccount:0x…" form (sub-accounts are not modelled)."""
    if not isinstance(text, str):
        raise BadRequest("amount")
    if " subaccount:" in text:
        return None
    try:
        d = to_dec(text, "amount")
    except ValueError:
        raise BadRequest("amount") from None
    return d


def _ledger(core: Core, u: User, now: int, delta: dict) -> None:
    row = {"time": now, "hash": core.tx_hash, "delta": delta}
    u.ledger.append(row)
    core.events.add("ledger", u.address, row)


def _moved(u: User, to: User, value) -> None:
    """Value that changed hands between two users counts as their deposit / withdrawal (portfolio PnL)."""
    if to is not u:
        u.inflow -= value
        to.inflow += value


def _usd_class_transfer(core, u, action, now, opts):
    amount = _amount(action.get("amount"))
    to_perp = action.get("toPerp")
    if not isinstance(to_perp, bool):
        raise BadRequest("toPerp")
    if amount is None:
        return refuse(SUBACCOUNTS_UNSUPPORTED)
    if amount <= 0:
        return refuse("Invalid transfer amount")
    if to_perp:
        if u.spot_free(0) < amount:
            return refuse("Insufficient balance for transfer")
        core.debit_spot(u, 0, amount)
        u.perp_usdc += amount
    else:
        if u.withdrawable(core.u.by_coin, core.u.by_asset, core.marks()) < amount:
            return refuse("Insufficient margin for transfer")
        u.perp_usdc -= amount
        core.credit_spot(u, 0, amount)
    _ledger(core, u, now, {"type": "accountClassTransfer", "usdc": dec_str(amount), "toPerp": to_perp})
    return ok("default")


def _usd_send(core, u, action, now, opts):
    amount = _amount(action.get("amount"))
    dest = action.get("destination")
    if not isinstance(dest, str) or len(dest) != 42:
        raise BadRequest("destination")
    if amount is None:
        return refuse(SUBACCOUNTS_UNSUPPORTED)
    if amount <= 0 or u.withdrawable(core.u.by_coin, core.u.by_asset, core.marks()) < amount:
        return refuse("Insufficient margin for transfer")
    to = core.user(dest)
    u.perp_usdc -= amount
    to.perp_usdc += amount
    _moved(u, to, amount)
    to.deposited = True
    for who in (u, to):
        _ledger(core, who, now, {"type": "send", "user": u.address, "destination": to.address, "token": "USDC",
                                 "amount": dec_str(amount), "usdcValue": dec_str(amount), "fee": "0.0"})
    return ok("default")


def _spot_send(core, u, action, now, opts):
    amount = _amount(action.get("amount"))
    dest, token = action.get("destination"), action.get("token")
    if not isinstance(dest, str) or len(dest) != 42 or not isinstance(token, str):
        raise BadRequest("spotSend")
    if amount is None:
        return refuse(SUBACCOUNTS_UNSUPPORTED)
    tok = core.u.token_by_name.get(token.split(":")[0])
    if tok is None:
        return refuse(f"Unknown token {token}")
    if amount <= 0 or u.spot_free(tok.index) < amount:
        return refuse("Insufficient balance for token transfer")
    to = core.user(dest)
    core.debit_spot(u, tok.index, amount)
    core.credit_spot(to, tok.index, amount)
    _moved(u, to, amount * core.token_px(tok.index))
    to.deposited = True
    for who in (u, to):
        _ledger(core, who, now, {"type": "spotTransfer", "token": tok.name, "amount": dec_str(amount),
                                 "user": u.address, "destination": to.address, "fee": "0.0"})
    return ok("default")


def _send_asset(core, u, action, now, opts):
    """sendAsset between the perp ("") and spot ("spot") balances, of the signer or of another user. Other dexes
    (HIP-3) and sub-accounts do not exist on this venue."""
    amount = _amount(action.get("amount"))
    dest, token = action.get("destination"), action.get("token")
    src_dex, dst_dex, sub = action.get("sourceDex"), action.get("destinationDex"), action.get("fromSubAccount", "")
    if not (isinstance(dest, str) and len(dest) == 42 and isinstance(token, str) and isinstance(src_dex, str)
            and isinstance(dst_dex, str) and isinstance(sub, str)):
        raise BadRequest("sendAsset")
    if amount is None or sub:
        return refuse(SUBACCOUNTS_UNSUPPORTED)
    for dex in (src_dex, dst_dex):
        if dex not in ("", "spot"):
            return refuse(f"Unknown dex {dex!r}: this venue has the perp dex \"\" and \"spot\" only.")
    tok = core.u.token_by_name.get(token.split(":")[0])
    if tok is None:
        return refuse(f"Unknown token {token}")
    if "" in (src_dex, dst_dex) and tok.index != 0:
        return refuse("Token must be the collateral token (USDC) to transfer to or from a perp dex.")
    if amount <= 0:
        return refuse("Invalid transfer amount")
    to = core.user(dest)
    if src_dex == "":
        if u.withdrawable(core.u.by_coin, core.u.by_asset, core.marks()) < amount:
            return refuse("Insufficient margin for transfer")
        u.perp_usdc -= amount
    else:
        if u.spot_free(tok.index) < amount:
            return refuse("Insufficient balance for token transfer")
        core.debit_spot(u, tok.index, amount)
    if dst_dex == "":
        to.perp_usdc += amount
    else:
        core.credit_spot(to, tok.index, amount)
    to.deposited = True
    value = amount * core.token_px(tok.index)
    _moved(u, to, value)
    row = {"type": "send", "user": u.address, "destination": to.address, "sourceDex": src_dex,
           "destinationDex": dst_dex, "token": tok.name, "amount": dec_str(amount), "usdcValue": dec_str(value),
           "fee": "0.0", "nativeTokenFee": "0.0", "nonce": action.get("nonce")}
    for who in ((u,) if to is u else (u, to)):
        _ledger(core, who, now, dict(row))
    return ok("default")


BUILDER_MIN_VALUE = Decimal(100)  # a builder needs 100 USDC of perp account value to be approved
MAX_BUILDER_TENTHS = 1000  # 1 %: the spot cap, the most any order can carry


def builder_tenths(rate) -> int | None:
    """"0.001%" -> 1 (tenths of a basis point); None if it is not a percent string on that grid."""
    if not isinstance(rate, str) or not rate.endswith("%"):
        return None
    try:
        tenths = Decimal(rate[:-1]) * 1000
    except InvalidOperation:
        return None
    if not tenths.is_finite() or tenths < 0 or tenths != tenths.to_integral_value():
        return None
    return int(tenths)


def _approve_builder_fee(core, u, action, now, opts):
    builder = action.get("builder")
    if not isinstance(builder, str) or len(builder) != 42 or not builder.startswith("0x"):
        raise BadRequest("builder")
    tenths = builder_tenths(action.get("maxFeeRate"))
    if tenths is None or tenths > MAX_BUILDER_TENTHS:
        return refuse(f"Invalid max fee rate {action.get('maxFeeRate')!r}: a percent of at most 1% in steps of "
                      "0.001%")
    b = core.users.get(builder.lower())
    if b is None or b.account_value(core.marks()) < BUILDER_MIN_VALUE:
        return refuse("Builder has insufficient balance to be approved.")
    if tenths:
        u.builder_max[b.address] = tenths
    else:  # approving 0 revokes
        u.builder_max.pop(b.address, None)
    return ok("default")


TRANSFER_HANDLERS = {
    "usdClassTransfer": _usd_class_transfer, "usdSend": _usd_send, "spotSend": _spot_send, "sendAsset": _send_asset,
    "approveBuilderFee": _approve_builder_fee,
}
