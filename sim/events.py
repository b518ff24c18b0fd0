"""Change notices the venue sends to its subscribers (the WS hub, recorders, backtests).

Channel names are the WebSocket channel names. Events raised while one venue call runs are
buffered and delivered when the call has finished, so a subscriber always sees consistent state
when it calls back into `Venue.info`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple


class Event(NamedTuple):
    channel: str  # trades | book | ctx | orderUpdates | userFills | userFundings | nonUserCancel | ledger |
    # notification
    key: str | None  # coin for market channels, lowercase user address for user channels
    data: object


class EventBuffer:
    """Collects events during one venue call; merges list payloads per (channel, key)."""

    __slots__ = ("_lists", "_notices", "_order", "subscribers")

    def __init__(self) -> None:
        self._lists: dict[tuple[str, str | None], list] = {}
        self._notices: set[tuple[str, str | None]] = set()
        self._order: list[tuple[str, str | None]] = []
        self.subscribers: list[Callable[[Event], None]] = []

    def add(self, channel: str, key: str | None, item: object) -> None:
        """Append one item to the list payload of (channel, key)."""
        k = (channel, key)
        lst = self._lists.get(k)
        if lst is None:
            self._lists[k] = lst = []
            self._order.append(k)
        lst.append(item)

    def notice(self, channel: str, key: str | None) -> None:
        """A payload-less change notice (book, ctx)."""
        k = (channel, key)
        if k not in self._notices:
            self._notices.add(k)
            self._order.append(k)

    def flush(self) -> None:
        if not self._order:
            return
        order, lists = self._order, self._lists
        self._order, self._lists, self._notices = [], {}, set()
        if not self.subscribers:
            return
        for k in order:
            ev = Event(k[0], k[1], lists.get(k))
            for cb in list(self.subscribers):
                cb(ev)
