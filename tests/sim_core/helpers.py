"""Test helpers: sign actions exactly like SDK 0.24.0 does (its own signing functions, testnet
flavour as for any non-mainnet URL) and post them to an in-process Venue."""
from __future__ import annotations

import itertools

import eth_account
from hyperliquid.utils import signing

from sim.clock import SimClock
from sim.venue import Venue

START_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z, a whole hour


def make_venue(**kw) -> Venue:
    return Venue(SimClock(start_ms=START_MS, speed=0), seed=kw.pop("seed", 7), **kw)


def wire(asset: int, is_buy: bool, px: str, sz: str, tif: str = "Gtc", reduce_only: bool = False,
         cloid: str | None = None) -> dict:
    w = {"a": asset, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": {"limit": {"tif": tif}}}
    if cloid is not None:
        w["c"] = cloid
    return w


class Trader:
    """One wallet that signs L1 / user-signed actions and posts them to the venue."""

    _nonce_bump = itertools.count(1)

    def __init__(self, venue: Venue, key: str | None = None, acting_for: str | None = None):
        self.venue = venue
        self.wallet = eth_account.Account.from_key(key) if key else eth_account.Account.create()
        self.address = self.wallet.address.lower()
        self.user = (acting_for or self.address).lower()

    def nonce(self) -> int:
        return self.venue.clock.now_ms() + next(self._nonce_bump)

    def post_l1(self, action: dict, nonce: int | None = None, vault=None, expires_after=None):
        nonce = self.nonce() if nonce is None else nonce
        sig = signing.sign_l1_action(self.wallet, action, vault, nonce, expires_after, False)
        body = {"action": action, "nonce": nonce, "signature": sig, "vaultAddress": vault,
                "expiresAfter": expires_after}
        return self.venue.exchange(body)

    def order(self, *wires: dict, grouping: str = "na"):
        status, out = self.post_l1({"type": "order", "orders": list(wires), "grouping": grouping})
        assert status == 200, out
        return out

    def statuses(self, *wires: dict) -> list:
        out = self.order(*wires)
        assert out["status"] == "ok", out
        return out["response"]["data"]["statuses"]

    def cancel(self, asset: int, oid: int):
        return self.post_l1({"type": "cancel", "cancels": [{"a": asset, "o": oid}]})[1]

    def usd_class_transfer(self, amount: str, to_perp: bool):
        nonce = self.nonce()
        action = {"type": "usdClassTransfer", "amount": amount, "toPerp": to_perp, "nonce": nonce}
        sig = signing.sign_usd_class_transfer_action(self.wallet, action, False)
        return self.venue.exchange({"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None,
                                    "expiresAfter": None})[1]

    def approve_agent(self, name: str | None = None) -> "Trader":
        """Approve a fresh agent exactly like Exchange.approve_agent and return it as a Trader."""
        agent = eth_account.Account.create()
        nonce = self.nonce()
        action = {"type": "approveAgent", "agentAddress": agent.address, "agentName": name or "", "nonce": nonce}
        sig = signing.sign_agent(self.wallet, action, False)
        if name is None:
            del action["agentName"]
        status, out = self.venue.exchange({"action": action, "nonce": nonce, "signature": sig,
                                           "vaultAddress": None, "expiresAfter": None})
        assert (status, out) == (200, {"status": "ok", "response": {"type": "default"}}), out
        return Trader(self.venue, agent.key.hex(), acting_for=self.address)

    def info(self, kind: str, **extra):
        status, out = self.venue.info({"type": kind, "user": self.user, **extra})
        assert status == 200, out
        return out


def funded(venue: Venue, usdc: int = 1_000_000, spot_usdc: int = 100_000, hype: int = 1000) -> Trader:
    t = Trader(venue)
    venue.fund_perp(t.address, usdc)
    if spot_usdc:
        venue.fund_spot(t.address, "USDC", spot_usdc)
    if hype:
        venue.fund_spot(t.address, "HYPE", hype)
    return t
