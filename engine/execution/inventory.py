"""Inventory as the venue reports it: perp positions, spot balances, perp account value.

Rebuilt from REST snapshots (clearinghouseState / spotClearinghouseState) at start, after every resync, after
hedges and periodically — never from memory across restarts. Between snapshots, each fill moves the
position to `startPosition ± sz` (an absolute value the venue computed, so a fill counted twice cannot
double the position); a later REST snapshot overrides it.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

ZERO = Decimal(0)
SEEN_TIDS = 10_000  # fills remembered for de-duplication (a resync re-sends at most the last 2,000)


@dataclass(slots=True)
class Inventory:
    perp: dict[str, Decimal] = field(default_factory=dict)      # perp coin -> szi
    spot: dict[str, Decimal] = field(default_factory=dict)      # token -> total balance
    spot_hold: dict[str, Decimal] = field(default_factory=dict)
    perp_account_value: Decimal = ZERO
    perp_raw_usd: Decimal = ZERO  # the perp account's cash: account value minus Σ szi·mark (moves with fills)
    perp_mark: dict[str, Decimal] = field(default_factory=dict)  # coin -> the venue's mark at the last snapshot
    snapshot_ms: int | None = None
    # (coin, tid) of the fills applied, oldest first: venue tids are not in time order, so a fill is known
    # by its id, never by comparing ids
    seen_tids: OrderedDict = field(default_factory=OrderedDict)
    spot_base: dict[str, str] = field(default_factory=dict)     # spot pair coin ("@1") -> base token
    spot_quote: dict[str, str] = field(default_factory=dict)    # spot pair coin -> quote token
    fills_applied: int = 0  # fills applied so far: a snapshot read across a change of it may predate a fill

    def on_snapshot(self, chs: Any, spot_balances: Mapping[str, Any], now_ms: int) -> None:
        self.perp = {p.coin: p.szi for p in chs.positions}
        self.perp_account_value = chs.account_value
        self.perp_raw_usd = chs.account_value - sum(
            (p.position_value if p.szi > 0 else -p.position_value for p in chs.positions if p.szi), ZERO)
        self.perp_mark = {p.coin: p.position_value / abs(p.szi) for p in chs.positions if p.szi}
        self.spot = {name: b.total for name, b in spot_balances.items()}
        self.spot_hold = {name: b.hold for name, b in spot_balances.items()}
        self.snapshot_ms = now_ms

    def on_fill(self, coin: str, side: str, sz: Decimal, px: Decimal, fee: Decimal, fee_token: str,
                start_position: Decimal, tid: int) -> bool:
        """Apply one of our fills; returns False for a fill already applied (same tid)."""
        key = (coin, tid)
        if key in self.seen_tids:
            return False
        self.seen_tids[key] = None
        if len(self.seen_tids) > SEEN_TIDS:
            self.seen_tids.popitem(last=False)
        self.fills_applied += 1
        signed = sz if side == "B" else -sz
        base = self.spot_base.get(coin)
        if base is not None:
            quote = self.spot_quote.get(coin, "USDC")
            self.spot[base] = start_position + signed
            self.spot[quote] = self.spot.get(quote, ZERO) - signed * px - (fee if fee_token == quote else ZERO)
            if fee_token == base:
                self.spot[base] -= fee
        else:
            self.perp[coin] = start_position + signed
            self.perp_raw_usd -= signed * px + (fee if fee_token == "USDC" else ZERO)
        return True

    def on_funding(self, usdc: Decimal) -> None:
        """A funding payment (user's view: positive = received) moves the perp account's cash."""
        self.perp_raw_usd += usdc

    def perp_value(self, mids: Mapping[str, float]) -> float:
        """The perp account's value at `mids` (cash + Σ szi·mid); a coin without a mid is valued at the
        venue's mark of the last snapshot."""
        value = float(self.perp_raw_usd)
        for coin, szi in self.perp.items():
            if szi:
                mid = mids.get(coin) or float(self.perp_mark.get(coin, 0))
                value += float(szi) * mid
        return value

    def qty(self, coin: str) -> Decimal:
        """Signed position of a wire coin: perp szi, or the spot pair's base balance."""
        base = self.spot_base.get(coin)
        if base is not None:
            return self.spot.get(base, ZERO)
        return self.perp.get(coin, ZERO)

    def free(self, token: str) -> Decimal:
        return self.spot.get(token, ZERO) - self.spot_hold.get(token, ZERO)

    def as_dict(self) -> dict[str, Any]:
        return {"perp": {k: str(v) for k, v in self.perp.items()},
                "spot": {k: str(v) for k, v in self.spot.items()},
                "perp_account_value": str(self.perp_account_value)}
