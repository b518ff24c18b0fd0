"""One order of ours as the engine knows it (`OurOrder`), and the states it moves through (`OrderState`).

`OurOrders` (execution/orders.py) keeps them; the executor, the feed router and the carry read their states.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from engine.execution.diff import LiveOrder
from engine.venue.facts import VenueOrderEnd

ZERO = Decimal(0)


class OrderState(enum.Enum):
    """An order's life as we know it. `live`: may still fill; `rank`: states only move to a higher rank."""
    INFLIGHT = ("inflight", 0, True)      # sent, no reply yet
    UNKNOWN = ("unknown", 1, True)        # an ambiguous reply could not be settled: treated as open until re-read
    OPEN = ("open", 2, True)              # resting on the venue
    CANCELING = ("canceling", 3, True)    # cancel (or the modify that replaces it) sent, no reply yet
    REJECTED = ("rejected", 4, False)     # never rested
    CANCELED = ("canceled", 4, False)     # by us or by the venue; `venue_status` says which
    FILLED = ("filled", 5, False)

    def __init__(self, word: str, rank: int, live: bool) -> None:
        # plain attributes: read on every order event, where an enum hash (`state in some_set`) costs more
        self.word = word
        self.rank = rank
        self.live = live


# the state an order is in once the venue's own word for it is known (engine/venue/facts.py `order_end`)
STATE_OF_END = {VenueOrderEnd.OPEN: OrderState.OPEN, VenueOrderEnd.FILLED: OrderState.FILLED,
                VenueOrderEnd.CANCELED: OrderState.CANCELED, VenueOrderEnd.REJECTED: OrderState.REJECTED}


@dataclass(slots=True)
class OurOrder:
    cloid: str
    coin: str
    is_buy: bool
    px: Decimal
    sz: Decimal            # remaining
    orig_sz: Decimal
    tif: str
    reduce_only: bool
    state: OrderState
    oid: int | None = None
    venue_status: str | None = None  # the venue's own word once known (open, filled, selfTradeCanceled, ...)
    reason: str | None = None
    updated_ms: int = 0
    _lo: LiveOrder | None = field(default=None, repr=False, compare=False)  # live_order(), while it holds

    @property
    def status(self) -> str:
        """What the ledger stores: the venue's word when known, else our state."""
        return self.venue_status or self.state.word

    def live_order(self) -> LiveOrder:
        """The order as the diff sees it; the same object until its oid, price or size changes (callers
        memoise on identity)."""
        lo = self._lo
        if lo is None or lo.oid != self.oid or lo.px is not self.px or lo.sz is not self.sz:
            lo = self._lo = LiveOrder(self.oid, self.coin, self.is_buy, self.px, self.sz, self.cloid)
        return lo
