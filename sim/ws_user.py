"""WebSocket account-state channels: webData2, webData3, clearinghouseState, spotState, openOrders,
activeAssetData, twapStates, userTwapSliceFills, userTwapHistory (and notification, which is event-only).

Each is a view of `venue.info`, so a push never disagrees with POST /info. A subscriber gets the current state at
once; after that a channel is pushed when its user's account changed (a fill, an order update, funding, a
transfer) or, because marks move positions' values, at most once a second of real time — and only when the
payload differs from the last one sent on that key.
"""
from __future__ import annotations

from typing import Any, Callable

STATE_TYPES = ("webData2", "webData3", "clearinghouseState", "spotState", "openOrders", "twapStates")
TWAP_SNAPSHOT_TYPES = ("userTwapSliceFills", "userTwapHistory")
USER_STATE_TYPES = set(STATE_TYPES) | set(TWAP_SNAPSHOT_TYPES) | {"notification"}
REFRESH_S = 1.0


class UserChannels:
    def __init__(self, info: Callable[[dict], Any], now_ms: Callable[[], int]):
        self.info = info
        self.now_ms = now_ms
        self.dirty: set[str] = set()
        self._last_text: dict[str, str] = {}
        self._last_push: dict[str, float] = {}

    # ------------------------------------------------------------------ payloads
    def message(self, kind: str, user: str, coin: str | None = None) -> dict | None:
        if kind == "webData2":
            return {"channel": "webData2", "data": self.info({"type": "webData2", "user": user})}
        if kind == "webData3":
            wd = self.info({"type": "webData2", "user": user})
            state = {k: wd[k] for k in ("agentAddress", "agentValidUntil", "cumLedger", "serverTime", "isVault",
                                         "user")}
            return {"channel": "webData3", "data": {"userState": state, "perpDexStates": [
                {"totalVaultEquity": "0.0", "leadingVaults": []}]}}
        if kind == "clearinghouseState":
            return {"channel": "clearinghouseState", "data": {
                "dex": "", "user": user,
                "clearinghouseState": self.info({"type": "clearinghouseState", "user": user, "dex": ""})}}
        if kind == "spotState":
            return {"channel": "spotState", "data": {
                "user": user, "spotState": self.info({"type": "spotClearinghouseState", "user": user})}}
        if kind == "openOrders":
            return {"channel": "openOrders", "data": {
                "dex": "", "user": user, "orders": self.info({"type": "frontendOpenOrders", "user": user, "dex": ""})}}
        if kind == "twapStates":  # TWAP orders are not modelled: never any state
            return {"channel": "twapStates", "data": {"dex": "", "user": user, "states": []}}
        if kind == "activeAssetData":
            return {"channel": "activeAssetData",
                    "data": self.info({"type": "activeAssetData", "user": user, "coin": coin})}
        if kind == "userTwapSliceFills":
            return {"channel": kind, "data": {"isSnapshot": True, "user": user, "twapSliceFills": []}}
        if kind == "userTwapHistory":
            return {"channel": kind, "data": {"isSnapshot": True, "user": user, "history": []}}
        return None  # notification: events only, nothing to say on subscribe

    @staticmethod
    def parse_key(key: str) -> tuple[str, str, str | None]:
        """"webData2:0xabc" -> (kind, user, None); "activeAssetData:HYPE:0xabc" -> (kind, user, coin)."""
        parts = key.split(":")
        if parts[0] == "activeAssetData":
            return parts[0], parts[2], parts[1]
        return parts[0], parts[1], None

    def remember(self, key: str, text: str, now: float) -> None:
        self._last_text[key] = text
        self._last_push[key] = now

    # ------------------------------------------------------------------ pushes
    def flush(self, by_key: dict, now: float, fan: Callable[[str, str], None], dumps) -> None:
        """Push every subscribed state key whose user changed, or that is due for its mark refresh."""
        dirty, self.dirty = self.dirty, set()
        for key, conns in list(by_key.items()):
            if not conns:
                continue
            kind, user, coin = self.parse_key(key)
            if kind not in STATE_TYPES and kind != "activeAssetData":
                continue
            if user not in dirty and now - self._last_push.get(key, 0.0) < REFRESH_S:
                continue
            msg = self.message(kind, user, coin)
            text = dumps(msg)
            self._last_push[key] = now
            if self._last_text.get(key) == text:
                continue
            self._last_text[key] = text
            fan(key, text)
