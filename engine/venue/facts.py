"""Hyperliquid facts the engine relies on, in one place (protocol notes §3, §7, §11).

Numbers and words the venue defines and the engine only repeats: fee rates of the base tier, default max
leverage of the coins we backtest, the order status words of `orderUpdates` / `orderStatus` and what each
means for an order's life. The local venue (`sim/`) keeps its own copy of what it implements and never
imports this module: a fact mistyped here is then caught by the engine's tests against the sim instead of
being mirrored by it.
"""
from __future__ import annotations

import enum

# fee rates of the base tier as fractions of notional (protocol §7)
PERP_TAKER_FEE = 0.00045
PERP_MAKER_FEE = 0.00015
SPOT_TAKER_FEE = 0.0007
SPOT_MAKER_FEE = 0.0004
TAKER_FEE = {"perp": PERP_TAKER_FEE, "spot": SPOT_TAKER_FEE}
MAKER_FEE = {"perp": PERP_MAKER_FEE, "spot": SPOT_MAKER_FEE}

# max leverage of the perps a backtest universe is built for (meta.universe[].maxLeverage); 20 otherwise
MAX_LEVERAGE = {"BTC": 40, "ETH": 25, "SOL": 20, "HYPE": 10}
DEFAULT_MAX_LEVERAGE = 20

# szDecimals (meta / spotMeta) of the coins our recorded data covers; other coins need --sz-decimals
SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "HYPE": 2, "WLFI": 0, "@107": 2, "@1": 2, "HYPE/USDC": 2,
               "PURR/USDC": 0}

MIN_ORDER_NOTIONAL_USD = 10.0
FUNDING_INTERVAL_MS = 3_600_000
ORACLE_UPDATE_MS = 3_000  # validators publish oracle prices about every 3 s
SCHEDULE_CANCEL_MIN_LEAD_MS = 5_000
SCHEDULE_CANCEL_FIRES_PER_DAY = 10


class VenueOrderEnd(enum.Enum):
    """What a venue order status word says about the order's life."""
    OPEN = "open"            # resting (also after a partial fill)
    FILLED = "filled"
    CANCELED = "canceled"    # by us or by the venue (self-trade, margin, dead man's switch, ...)
    REJECTED = "rejected"    # never rested


# every status word of orderUpdates / orderStatus / historicalOrders (protocol §4.5) → its meaning
_STATUS_END = {
    "open": VenueOrderEnd.OPEN, "triggered": VenueOrderEnd.OPEN, "filled": VenueOrderEnd.FILLED,
    "canceled": VenueOrderEnd.CANCELED, "marginCanceled": VenueOrderEnd.CANCELED,
    "vaultWithdrawalCanceled": VenueOrderEnd.CANCELED, "openInterestCapCanceled": VenueOrderEnd.CANCELED,
    "selfTradeCanceled": VenueOrderEnd.CANCELED, "reduceOnlyCanceled": VenueOrderEnd.CANCELED,
    "siblingFilledCanceled": VenueOrderEnd.CANCELED, "delistedCanceled": VenueOrderEnd.CANCELED,
    "liquidatedCanceled": VenueOrderEnd.CANCELED, "scheduledCancel": VenueOrderEnd.CANCELED,
}


def order_end(status: str) -> VenueOrderEnd:
    """Meaning of a venue status word; every '...Rejected' word (and bare 'rejected') is a reject, and a word
    not known here is treated as a cancel (the order is gone) — the safe reading for risk."""
    end = _STATUS_END.get(status)
    if end is not None:
        return end
    if status.endswith("Rejected") or status == "rejected":
        return VenueOrderEnd.REJECTED
    return VenueOrderEnd.CANCELED
