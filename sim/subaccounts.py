"""Sub-accounts (protocol §5.5): a master creates them (`createSubAccount`), moves perp USDC to and from them
(`subAccountTransfer`), and its own key or its agent's signs L1 actions for them with `vaultAddress` set. A
sub-account has no key of its own; its orders, positions, fills and funding are its own, as on the live venue.

Not modelled: vaults (`vaultTransfer`, a vault's followers), `subAccountSpotTransfer`, and the live venue's
derivation of a sub-account's address (here a keccak of master and name, stable across runs).
"""
from __future__ import annotations

from decimal import Decimal

from eth_utils import keccak

from .accounts import User
from .core import Core
from .numbers import dec_str
from .replies import BadRequest, ok, refuse

MAX_SUB_ACCOUNTS = 10
USD_UNITS = Decimal(10) ** 6  # subAccountTransfer.usd is an integer of micro-USDC (the SDK's float_to_usd_int)


def sub_account_address(master: str, name: str) -> str:
    return "0x" + keccak(bytes.fromhex(master[2:]) + name.encode()).hex()[-40:]


def acting_for(core: Core, u: User, vault: str) -> User:
    """The sub-account `u` (the recovered master) acts for; raises ValueError with the venue's text."""
    sub = core.users.get(vault.lower())
    if sub is None or sub.master != u.address:
        raise ValueError(f"Vault or sub-account {vault.lower()} does not exist or is not controlled by {u.address}.")
    return sub


def _create(core: Core, u: User, action: dict, now: int, opts) -> dict:
    name = action.get("name")
    if not isinstance(name, str):
        raise BadRequest("name")
    if not 1 <= len(name) <= 16:
        return refuse("Sub-account name must be 1 to 16 characters.")
    if u.master is not None:
        return refuse("Sub-accounts cannot create sub-accounts.")
    if sum(1 for s in core.users.values() if s.master == u.address) >= MAX_SUB_ACCOUNTS:
        return refuse(f"Too many sub-accounts (max {MAX_SUB_ACCOUNTS}).")
    address = sub_account_address(u.address, name)
    if address in core.users:
        return refuse(f"Sub-account {name!r} already exists.")
    sub = core.user(address)
    sub.master, sub.deposited = u.address, True
    return {"status": "ok", "response": {"type": "createSubAccount", "data": address}}


def _transfer(core: Core, u: User, action: dict, now: int, opts) -> dict:
    to_sub, usd, who = action.get("isDeposit"), action.get("usd"), action.get("subAccountUser")
    if not isinstance(to_sub, bool) or isinstance(usd, bool) or not isinstance(usd, int) or not isinstance(who, str):
        raise BadRequest("subAccountTransfer")
    sub = core.users.get(who.lower())
    if sub is None or sub.master != u.address:
        return refuse(f"Sub-account {who.lower()} is not a sub-account of {u.address}.")
    amount = Decimal(usd) / USD_UNITS
    if amount <= 0:
        return refuse("Invalid transfer amount")
    src, dst = (u, sub) if to_sub else (sub, u)
    if src.withdrawable(core.u.by_coin, core.u.by_asset, core.marks()) < amount:
        return refuse("Insufficient margin for transfer")
    src.perp_usdc -= amount
    dst.perp_usdc += amount
    for x in (u, sub):
        row = {"time": now, "hash": core.tx_hash, "delta": {"type": "subAccountTransfer", "usdc": dec_str(amount),
                                                              "user": src.address, "destination": dst.address}}
        x.ledger.append(row)
        core.events.add("ledger", x.address, row)
    return ok("default")


SUB_ACCOUNT_HANDLERS = {"createSubAccount": _create, "subAccountTransfer": _transfer}

