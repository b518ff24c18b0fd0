"""TP/SL trigger orders (protocol notes §4.2, §7): `{"trigger": {"isMarket", "triggerPx", "tpsl"}}`.

An untriggered trigger order is an open order of its user (openOrders, cancel, scheduleCancel,
open-order cap) but it is not in the book and reserves no margin. It fires when the mark price
reaches `triggerPx` — a take-profit of a sell / stop-loss of a buy when the mark is at or above it,
the other two at or below — and then trades under the same oid: status `triggered`, then a market
order (Ioc at the mark ± 10 %, the venue's market TP/SL slippage) or a Gtc limit at the order's own
price. Grouping `normalTpsl` keeps the TP/SL children of the first order waiting until that parent
has filled completely (`waitingForFill`); `positionTpsl` orders follow the whole position (size 0
on the wire means "the position"). When one order of a TP/SL pair fires, its sibling is cancelled
(`siblingFilledCanceled`).
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .numbers import scaled_str

MARKET_SLIPPAGE = Decimal("0.1")  # market TP/SL execute up to 10 % through the mark
ORDER_TYPES = {("tp", True): "Take Profit Market", ("tp", False): "Take Profit Limit",
               ("sl", True): "Stop Market", ("sl", False): "Stop Limit"}


class Trigger:
    """The trigger part of an order. `group`: oid shared by the orders of one TP/SL pair (None alone);
    `position`: a positionTpsl order (its size is the position's); `fired`: it has triggered."""
    __slots__ = ("px", "is_market", "tpsl", "above", "group", "position", "fired")

    def __init__(self, px: int, is_market: bool, tpsl: str, above: bool, group: int | None = None,
                 position: bool = False, fired: bool = False) -> None:
        self.px = px  # scaled like the market's prices
        self.is_market = is_market
        self.tpsl = tpsl
        self.above = above  # fires when mark >= px (else mark <= px)
        self.group = group
        self.position = position
        self.fired = fired

    def to_json(self) -> list:
        return [self.px, self.is_market, self.tpsl, self.above, self.group, self.position, self.fired]

    @classmethod
    def from_json(cls, row: list) -> "Trigger":
        return cls(*row)

    def hit(self, mark_scaled: int) -> bool:
        return mark_scaled >= self.px if self.above else mark_scaled <= self.px


def fires_above(tpsl: str, is_buy: bool) -> bool:
    """A take-profit sells into a rise (buys into a fall); a stop-loss sells into a fall (buys into a rise)."""
    return (tpsl == "tp") != is_buy


def frontend_fields(o) -> dict:
    """The frontendOpenOrders / orderStatus fields that describe the trigger."""
    t = o.trig
    m = o.market
    if t is None:
        return {"triggerCondition": "N/A", "isTrigger": False, "triggerPx": "0.0", "isPositionTpsl": False,
                "orderType": "Limit", "tif": o.tif}
    shown = format(m.px_dec(t.px).normalize(), "f")  # the venue writes "Price above 71", not "71.0"
    return {"triggerCondition": f"Price {'above' if t.above else 'below'} {shown}", "isTrigger": True,
            "triggerPx": scaled_str(t.px, m.px_decimals), "isPositionTpsl": t.position,
            "orderType": ORDER_TYPES[(t.tpsl, t.is_market)], "tif": None}


def market_px(m, mark: Decimal, is_buy: bool) -> int:
    """Worst price of a fired market TP/SL: the mark ± 10 %, rounded inwards to a valid tick."""
    raw = mark * (1 + MARKET_SLIPPAGE if is_buy else 1 - MARKET_SLIPPAGE)
    exp = max(raw.adjusted() - 4, -m.px_decimals)  # 5 significant figures, at most px_decimals decimals
    step = Decimal(1).scaleb(exp)
    px = (raw / step).to_integral_value(ROUND_FLOOR if is_buy else ROUND_CEILING) * step
    return int(px.scaleb(m.px_decimals))

