"""What the WebSocket sends, built from the venue: subscription identity/validation (pure) and
the market/user views (l2Book, bbo, asset contexts, candles, snapshots) read through `venue.info`,
so a push never disagrees with POST /info. Split out of sim/ws.py, which keeps the connections."""
from __future__ import annotations

import time
from typing import Any

import orjson

from sim.ws_user import USER_STATE_TYPES, UserChannels

CANDLE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M")
INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000,
               "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
               "1M": 2_592_000_000}
COIN_TYPES = {"l2Book", "trades", "bbo", "candle", "activeAssetCtx"}
USER_TYPES = {"orderUpdates", "userEvents", "userFills", "userFundings", "userNonFundingLedgerUpdates"}
USER_TYPES |= USER_STATE_TYPES  # account-state channels (sim/ws_user.py)


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


class SubscriptionError(ValueError):
    pass


def subscription_key(sub: Any, coins: set[str]) -> str:
    """Canonical identity of a subscription (what "Already subscribed" compares); raises on invalid."""
    if not isinstance(sub, dict) or not isinstance(sub.get("type"), str):
        raise SubscriptionError("missing type")
    kind = sub["type"]
    if kind == "allMids":
        return "allMids"
    if kind in COIN_TYPES:
        coin = sub.get("coin")
        if not isinstance(coin, str) or coin not in coins:
            raise SubscriptionError(f"unknown coin {coin!r}")
        if kind == "candle":
            interval = sub.get("interval")
            if interval not in INTERVAL_MS:
                raise SubscriptionError(f"unknown interval {interval!r}")
            return f"candle:{coin}:{interval}"
        if kind == "l2Book":
            sig = sub.get("nSigFigs")
            mant = sub.get("mantissa")
            if sig is not None and sig not in (2, 3, 4, 5):
                raise SubscriptionError(f"nSigFigs {sig!r}")
            if mant is not None and (sig != 5 or mant not in (1, 2, 5)):
                raise SubscriptionError(f"mantissa {mant!r}")
            return f"l2Book:{coin}:{sig}:{mant}"
        return f"{kind}:{coin}"
    if kind == "activeAssetData":  # perp only, one user and one coin
        coin, user = sub.get("coin"), sub.get("user")
        if not isinstance(coin, str) or coin not in coins or coin.startswith("@") or "/" in coin:
            raise SubscriptionError(f"unknown perp coin {coin!r}")
        return f"activeAssetData:{coin}:{_user(user)}"
    if kind in USER_TYPES:
        if sub.get("dex") not in (None, ""):
            raise SubscriptionError(f"unknown dex {sub.get('dex')!r}")
        return f"{kind}:{_user(sub.get('user'))}"
    raise SubscriptionError(f"unsupported type {kind!r}")


def _user(user: Any) -> str:
    if not isinstance(user, str) or len(user) != 42 or not user.startswith("0x"):
        raise SubscriptionError(f"bad user {user!r}")
    try:
        int(user[2:], 16)
    except ValueError:
        raise SubscriptionError(f"bad user {user!r}") from None
    return user.lower()


class VenueViews:
    """Channel payloads computed from `venue.info` answers."""

    def __init__(self, venue: Any):
        self.venue = venue
        self.users = UserChannels(self.info, self.clock_now)
        self._coins: set[str] | None = None
        self.spot_coins: set[str] = set()

    def coins(self) -> set[str]:
        """Every coin string the venue knows: perp names, "PURR/USDC", "@1", ..."""
        if self._coins is None:
            meta = self.info({"type": "meta", "dex": ""})
            spot = self.info({"type": "spotMeta"})
            self.spot_coins = {p["name"] for p in spot["universe"]}
            self._coins = {a["name"] for a in meta["universe"]} | self.spot_coins
        return self._coins

    def info(self, body: dict) -> Any:
        status, payload = self.venue.info(body)
        if status != 200:
            raise RuntimeError(f"venue info {body.get('type')} answered {status}: {payload}")
        return payload

    def book(self, coin: str, sig: Any = None, mant: Any = None) -> dict:
        body: dict = {"type": "l2Book", "coin": coin}
        if sig is not None:
            body["nSigFigs"] = sig
        if mant is not None:
            body["mantissa"] = mant
        return self.info(body)

    def bbo(self, coin: str) -> dict:
        book = self.book(coin)
        bids, asks = book["levels"]
        return {"coin": coin, "time": book["time"], "bbo": [bids[0] if bids else None, asks[0] if asks else None]}

    def ctx_msg(self, coin: str) -> dict | None:
        if coin in self.coins() and coin in self.spot_coins:
            _, ctxs = self.info({"type": "spotMetaAndAssetCtxs"})
            for ctx in ctxs:
                if ctx.get("coin") == coin:
                    return {"channel": "activeSpotAssetCtx", "data": {"coin": coin, "ctx": ctx}}
            return None
        meta, ctxs = self.info({"type": "metaAndAssetCtxs"})
        for asset, ctx in zip(meta["universe"], ctxs):
            if asset["name"] == coin:
                return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}}
        return None

    def candle(self, coin: str, interval: str) -> dict | None:
        now = self.clock_now()
        step = INTERVAL_MS[interval]
        start = now - now % step
        rows = self.info({"type": "candleSnapshot",
                          "req": {"coin": coin, "interval": interval, "startTime": start, "endTime": now}})
        return rows[-1] if rows else None

    def clock_now(self) -> int:
        clock = getattr(self.venue, "clock", None)
        return clock.now_ms() if clock is not None else int(time.time() * 1000)

    def snapshot_for(self, sub: dict) -> list[dict]:
        """Messages a new subscriber gets at once (the real venue sends current state on subscribe)."""
        kind = sub["type"]
        if kind == "allMids":
            return [{"channel": "allMids", "data": {"mids": self.info({"type": "allMids", "dex": ""})}}]
        if kind == "l2Book":
            return [{"channel": "l2Book", "data": self.book(sub["coin"], sub.get("nSigFigs"), sub.get("mantissa"))}]
        if kind == "bbo":
            return [{"channel": "bbo", "data": self.bbo(sub["coin"])}]
        if kind == "activeAssetCtx":
            msg = self.ctx_msg(sub["coin"])
            return [msg] if msg else []
        if kind == "candle":
            candle = self.candle(sub["coin"], sub["interval"])
            return [{"channel": "candle", "data": candle}] if candle else []
        if kind == "activeAssetData":
            return [self.users.message(kind, sub["user"].lower(), sub["coin"])]
        if kind not in USER_TYPES:
            return []  # trades: no snapshot, the next print arrives as it happens
        user = sub["user"].lower()
        if kind in USER_STATE_TYPES:
            msg = self.users.message(kind, user)
            return [msg] if msg is not None else []
        if kind == "userFills":
            fills = self.info({"type": "userFills", "user": user})
            return [{"channel": "userFills", "data": {"isSnapshot": True, "user": user, "fills": fills}}]
        if kind == "userFundings":
            # recent history: the venue pages 500 rows oldest-first, so ask for the last 3 days only
            rows = self.info({"type": "userFunding", "user": user, "startTime": self.clock_now() - 3 * 86_400_000})
            fundings = [{"time": r["time"], "coin": r["delta"]["coin"], "usdc": r["delta"]["usdc"],
                         "szi": r["delta"]["szi"], "fundingRate": r["delta"]["fundingRate"]} for r in rows]
            return [{"channel": "userFundings", "data": {"isSnapshot": True, "user": user, "fundings": fundings}}]
        if kind == "userNonFundingLedgerUpdates":
            status, rows = self.venue.info({"type": "userNonFundingLedgerUpdates", "user": user,
                                            "startTime": 0, "endTime": None})
            rows = rows if status == 200 and isinstance(rows, list) else []
            return [{"channel": "userNonFundingLedgerUpdates",
                     "data": {"isSnapshot": True, "user": user, "nonFundingLedgerUpdates": rows}}]
        return []
