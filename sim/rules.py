"""Order validity rules and the venue's exact reject strings (protocol notes §4.4, §7).

Per-order errors carry the live venue's " asset=<id>" suffix; `err(...)` adds it.
"""
from __future__ import annotations

from .markets import PERP_MAX_DECIMALS, SPOT_MAX_DECIMALS, Market
from .numbers import parse_scaled, sig_figs_ok

MIN_PERP_NOTIONAL = 10  # USDC, px * sz at the limit price
MIN_SPOT_NOTIONAL = 10  # units of the quote token
MAX_BATCH = 200
MAX_OPEN_ORDERS = 1000

TICK = "Price must be divisible by tick size."
INVALID_PRICE = "Order has invalid price."
INVALID_SIZE = "Order has invalid size."
MIN_NTL = "Order must have minimum value of $10."
MIN_SPOT_NTL = "Order must have minimum value of 10 {quote}."
MARGIN = "Insufficient margin to place order."
REDUCE_ONLY = "Reduce only order would increase position."
BAD_ALO = "Post only order would have immediately matched, bbo was {bid}@{ask}."
IOC_CANCEL = "Order could not immediately match against any resting orders."
SPOT_BALANCE = "Order has insufficient spot balance to trade"
CANCEL_MISSING = "Order was never placed, already canceled, or filled."
MODIFY_MISSING = "Cannot modify canceled or filled order"
BAD_TRIGGER_PX = "Invalid TP/SL price."
BUILDER_TOO_HIGH = "Builder fee is above the maximum for this market (0.1% perps, 1% spot)."
PRICE_BAND = "Order price cannot be more than 80% away from the reference price"
TOO_MANY_OPEN = "Too many open orders (max {cap})."
UNKNOWN_ASSET = "Unknown asset."
BAD_TIF = "Order has invalid tif."
BATCH_TOO_BIG = "Signed action over weight limit of 200."
SCHEDULE_TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds from now."
SCHEDULE_TOO_MANY = "Too many scheduled cancel triggers today (max 10)."
LEVERAGE_SWITCH = "Cannot switch leverage type with open position."
LEVERAGE_INVALID = "Invalid leverage value."
BUDGET = ("Too many cumulative requests sent ({used} > {cap}) for cumulative volume traded ${vlm}. "
          "Place taker orders to free up 1 request per USDC traded.")

# order status recorded for each per-order reject (orderStatus / orderUpdates)
REJECT_STATUS = {
    TICK: "tickRejected", INVALID_PRICE: "tickRejected", MIN_NTL: "minTradeNtlRejected",
    MARGIN: "perpMarginRejected", REDUCE_ONLY: "reduceOnlyRejected", BAD_ALO: "badAloPxRejected",
    IOC_CANCEL: "iocCancelRejected", SPOT_BALANCE: "insufficientSpotBalanceRejected",
    BAD_TRIGGER_PX: "badTriggerPxRejected",
}


def err(text: str, asset: int) -> dict:
    return {"error": f"{text} asset={asset}"}


def parse_price(m: Market, text: object) -> tuple[int | None, str | None]:
    """Scaled price or the reject text. Tick = 5 significant figures (integers always ok) and
    at most MAX_DECIMALS - szDecimals decimals."""
    parsed = parse_scaled(text, m.px_decimals)
    if parsed is None:
        return None, INVALID_PRICE
    px, fits = parsed
    if px <= 0:
        return None, INVALID_PRICE
    if not fits or not sig_figs_ok(px, m.px_decimals):
        return None, TICK
    return px, None


def parse_size(m: Market, text: object) -> tuple[int | None, str | None]:
    """Scaled size or the reject text (lot = szDecimals decimals)."""
    parsed = parse_scaled(text, m.sz_decimals)
    if parsed is None:
        return None, INVALID_SIZE
    sz, fits = parsed
    if not fits or sz <= 0:
        return None, INVALID_SIZE
    return sz, None


def min_notional_text(m: Market, quote_name: str) -> str:
    return MIN_SPOT_NTL.format(quote=quote_name) if m.is_spot else MIN_NTL


# in px_int * sz_int units (10**-MAX_DECIMALS of the quote)
_MIN_NTL_INT = {True: MIN_SPOT_NOTIONAL * 10 ** SPOT_MAX_DECIMALS, False: MIN_PERP_NOTIONAL * 10 ** PERP_MAX_DECIMALS}


def below_min_notional(m: Market, px: int, sz: int) -> bool:
    return px * sz < _MIN_NTL_INT[m.is_spot]
