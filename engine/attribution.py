"""PnL attribution for the daily report: five parts that sum exactly to the account's equity change.

Model. The account holds USDC and instruments ``k`` (a perp coin such as ``HYPE``, a spot pair such as ``@1``)
with quantity ``q_k`` (perp: signed size ``szi``; spot: base-token balance) marked at ``m_k``. Its equity is

    E = C + Σ_k q_k · m_k

where ``C`` ("cash") is everything else: spot USDC plus the perp account's USDC with unrealized PnL moved into
the ``q·m`` term (for a perp, accountValue = C_perp + szi·mark). Only three things move ``C`` and ``q``:

- a fill on ``k`` with side ``s`` (+1 buy, −1 sell), price ``px``, size ``sz``, fee ``φ``: C −= s·px·sz, q_k += s·sz,
  and the fee comes out of C when paid in USDC, or out of q_k when paid in the base token (spot buys);
- a funding payment ``u`` (userFunding ``usdc``, user's view): C += u;
- an external deposit/withdrawal ``x`` (not PnL): C += x. Spot↔perp transfers move USDC inside C (net zero).

Writing each fill's cash flow against a reference price ``r`` (the mid at fill time; defaults to ``px``) splits
E₁ − E₀ − Σx exactly into:

- **spread_capture** = Σ_maker fills s·(r − px)·sz — edge earned against mid by resting (Alo) fills;
- **hedge_slippage** = Σ_taker fills s·(r − px)·sz — cost against mid of crossing (hedges, rebalances; ≤ 0
  normally); this is the "basis/hedge slippage" line;
- **fees** = −Σ (φ_usdc + φ_token·r) — fees paid (negative) and maker rebates (positive);
- **funding** = Σ u;
- **inventory_mtm** = Σ_k (q_k,₁·m_k,₁ − q_k,₀·m_k,₀) − Σ_fills r·Δq — mark-to-market of the inventory
  actually held, i.e. Σ q·Δm along the path; spot-vs-perp basis moves of a hedged carry land here.

The identity holds for any choice of ``r``: a worse reference only moves money between spread/slippage and
inventory_mtm. Everything is Decimal, so the sum is exact; ``unexplained`` = (observed equity change) − (sum
of parts) is what the venue's own accounting disagrees with us by (rounding of its printed balances).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.numbers import dec

QUOTE = "USDC"
ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class AccountSnapshot:
    """Equity, holdings and the marks that valued them, at one instant."""

    time: dt.datetime
    equity: Decimal                      # spot USDC + Σ spot token·mark + perp accountValue
    positions: Mapping[str, Decimal]     # instrument → quantity (perp szi, spot base balance)
    marks: Mapping[str, Decimal]         # instrument → mark used in ``equity``

    def value_of_positions(self) -> Decimal:
        missing = [k for k, q in self.positions.items() if q != 0 and k not in self.marks]
        if missing:
            raise ValueError(f"snapshot.marks: no mark for held instrument(s) {missing}")
        return sum((q * self.marks[k] for k, q in self.positions.items() if q != 0), ZERO)

    def as_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "equity": str(self.equity),
                "positions": {k: str(v) for k, v in self.positions.items()},
                "marks": {k: str(v) for k, v in self.marks.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "AccountSnapshot":
        return cls(dt.datetime.fromisoformat(d["time"]), dec(d["equity"], "snapshot.equity"),
                   {k: dec(v, f"snapshot.positions.{k}") for k, v in d["positions"].items()},
                   {k: dec(v, f"snapshot.marks.{k}") for k, v in d["marks"].items()})


@dataclasses.dataclass(frozen=True)
class Attribution:
    equity_change: Decimal      # E₁ − E₀ − external flows, as observed
    spread_capture: Decimal
    hedge_slippage: Decimal
    fees: Decimal
    funding: Decimal
    inventory_mtm: Decimal
    unexplained: Decimal        # equity_change − sum of parts
    n_fills: int
    n_maker: int
    volume_usd: Decimal

    @property
    def parts(self) -> dict[str, Decimal]:
        return {"spread_capture": self.spread_capture, "hedge_slippage": self.hedge_slippage, "fees": self.fees,
                "funding": self.funding, "inventory_mtm": self.inventory_mtm}

    @property
    def total(self) -> Decimal:
        return sum(self.parts.values(), ZERO)

    @property
    def maker_ratio(self) -> float:
        return self.n_maker / self.n_fills if self.n_fills else 0.0


class AttributionError(ValueError):
    pass


def attribute_pnl(start: AccountSnapshot, end: AccountSnapshot, fills: Sequence[Mapping[str, Any]],
                  funding: Sequence[Mapping[str, Any]], reference_px: Mapping[Any, Any] | None = None,
                  external_flows: Decimal | str | int = 0, position_tolerance: Decimal = Decimal("1e-9"),
                  ) -> Attribution:
    """Attribute E(end) − E(start) over the fills and funding between the two snapshots.

    ``fills`` are venue userFills dicts (coin, px, sz, side, fee, feeToken, crossed, tid); ``funding`` are
    userFunding rows (either the nested ``delta`` shape or flat ``{coin, usdc}``); ``reference_px`` maps a
    fill's ``tid`` to the mid at fill time. Raises ``AttributionError`` when start + fills ≠ end for some
    instrument (a fill is missing: the split would be meaningless).
    """
    if end.time < start.time:
        raise AttributionError("end snapshot is before start snapshot")
    refs = reference_px or {}
    spread = slip = fees = fund = ZERO
    ref_value_of_dq = ZERO
    dq: dict[str, Decimal] = {}
    n_maker = 0
    volume = ZERO
    for i, f in enumerate(fills):
        field = f"fills[{i}]"
        coin = f.get("coin")
        if not coin:
            raise AttributionError(f"{field}.coin: missing")
        side = f.get("side")
        if side not in ("B", "A"):
            raise AttributionError(f"{field}.side: expected 'B' or 'A', got {side!r}")
        s = 1 if side == "B" else -1
        px, sz = dec(f.get("px"), f"{field}.px"), dec(f.get("sz"), f"{field}.sz")
        fee = dec(f.get("fee", "0"), f"{field}.fee")
        r = refs.get(f.get("tid"))
        r = px if r is None else dec(r, f"reference_px[{f.get('tid')}]")
        edge = s * (r - px) * sz
        if f.get("crossed"):
            slip += edge
        else:
            spread += edge
            n_maker += 1
        volume += px * sz
        delta_q = s * sz
        if (f.get("feeToken") or QUOTE) == QUOTE:
            fees -= fee
        else:  # fee taken in the base token (spot buys): it shrinks the quantity received
            fees -= fee * r
            delta_q -= fee
        dq[coin] = dq.get(coin, ZERO) + delta_q
        ref_value_of_dq += r * delta_q
    for i, row in enumerate(funding):
        d = row.get("delta", row)
        fund += dec(d.get("usdc"), f"funding[{i}].usdc")

    for k in set(start.positions) | set(end.positions) | set(dq):
        q0, q1 = start.positions.get(k, ZERO), end.positions.get(k, ZERO)
        if abs(q0 + dq.get(k, ZERO) - q1) > position_tolerance:
            raise AttributionError(f"position {k}: start {q0} + fills {dq.get(k, ZERO)} != end {q1}; "
                                   "fills are missing from the window (run the ledger audit)")
    inv = end.value_of_positions() - start.value_of_positions() - ref_value_of_dq
    change = end.equity - start.equity - dec(external_flows, "external_flows")
    total = spread + slip + fees + fund + inv
    return Attribution(change, spread, slip, fees, fund, inv, change - total, len(fills), n_maker, volume)
