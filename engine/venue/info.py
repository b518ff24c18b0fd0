"""Typed /info calls (protocol §3) on top of a raw `info(body)` coroutine; mixed into `VenueRest`.

Bodies are exactly what the SDK 0.24.0 sends (e.g. `dex:""`, `endTime: null` for userFillsByTime), so the
venue cannot tell us apart from the SDK. Time-range histories are paged (the venue returns ≤ 500 rows).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from engine.venue import account as A
from engine.venue import types as T

log = logging.getLogger(__name__)


class InfoMethods:
    """Needs `async info(body) -> payload` and `user` (default address for account queries)."""

    user: str | None

    async def info(self, body: dict) -> Any:  # pragma: no cover - provided by VenueRest
        raise NotImplementedError

    def _who(self, user: str | None) -> str:
        u = user or self.user
        if not u:
            raise ValueError("no user address: pass user= or construct VenueRest with an account/key")
        return u

    async def meta(self) -> T.Meta:
        return T.parse_meta(await self.info({"type": "meta", "dex": ""}))

    async def spot_meta(self) -> T.SpotMeta:
        return T.parse_spot_meta(await self.info({"type": "spotMeta"}))

    async def meta_and_asset_ctxs(self) -> tuple[T.Meta, list[T.PerpCtx]]:
        return T.parse_meta_and_ctxs(await self.info({"type": "metaAndAssetCtxs"}))

    async def spot_meta_and_asset_ctxs(self) -> tuple[T.SpotMeta, list[T.SpotCtx]]:
        return T.parse_spot_meta_and_ctxs(await self.info({"type": "spotMetaAndAssetCtxs"}))

    async def all_mids(self) -> dict[str, float]:
        return T.parse_all_mids(await self.info({"type": "allMids", "dex": ""}))

    async def l2_book(self, coin: str, n_sig_figs: int | None = None) -> T.L2Book:
        body: dict = {"type": "l2Book", "coin": coin}
        if n_sig_figs is not None:
            body["nSigFigs"] = n_sig_figs
        return T.parse_l2_book(await self.info(body))

    async def clearinghouse_state(self, user: str | None = None) -> A.ClearinghouseState:
        return A.parse_clearinghouse_state(await self.info({"type": "clearinghouseState", "user": self._who(user),
                                                            "dex": ""}))

    async def spot_clearinghouse_state(self, user: str | None = None) -> dict[str, A.SpotBalance]:
        return A.parse_spot_state(await self.info({"type": "spotClearinghouseState", "user": self._who(user)}))

    async def open_orders(self, user: str | None = None) -> list[A.OpenOrder]:
        return A.parse_open_orders(await self.info({"type": "openOrders", "user": self._who(user), "dex": ""}))

    async def frontend_open_orders(self, user: str | None = None) -> list[A.OpenOrder]:
        return A.parse_open_orders(await self.info({"type": "frontendOpenOrders", "user": self._who(user),
                                                    "dex": ""}))

    async def order_status(self, oid: int | str, user: str | None = None) -> A.OrderStatus:
        """By oid (int) or cloid ("0x…" string): the venue looks both up in the same `oid` field."""
        return A.parse_order_status(await self.info({"type": "orderStatus", "user": self._who(user), "oid": oid}))

    async def user_fills(self, user: str | None = None) -> list[A.Fill]:
        return A.parse_fills(await self.info({"type": "userFills", "user": self._who(user)}))

    async def user_rate_limit(self, user: str | None = None) -> A.UserRateLimit:
        r = A.parse_user_rate_limit(await self.info({"type": "userRateLimit", "user": self._who(user)}))
        if self.budget is not None:
            self.budget.refresh(r.raw)
        return r

    async def candle_snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[T.Candle]:
        return T.parse_candles(await self.info({"type": "candleSnapshot", "req": {
            "coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}}))

    async def _paged(self, body: dict, parse: Callable[[Any], list], start_ms: int, end_ms: int | None,
                     max_pages: int) -> list:
        """Time-range pagination: next startTime = newest time seen (inclusive, so rows sharing that ms are
        not lost); duplicates dropped by venue identity; stops when a page brings nothing new."""
        seen: set = set()
        out: list = []
        start = start_ms
        for _ in range(max_pages):
            page = parse(await self.info({**body, "startTime": start, **({"endTime": end_ms} if (
                end_ms is not None or body["type"] == "userFillsByTime") else {})}))
            new = [r for r in page if r.key not in seen]
            if not new:
                break
            for r in new:
                seen.add(r.key)
            out.extend(new)
            newest = max(r.time for r in page)
            if end_ms is not None and newest >= end_ms:
                break
            start = newest
        else:
            log.warning("%s: stopped after %d pages", body["type"], max_pages)
        out.sort(key=lambda r: r.time)
        return out

    async def user_fills_by_time(self, start_ms: int, end_ms: int | None = None, user: str | None = None,
                                 max_pages: int = 50) -> list[A.Fill]:
        return await self._paged({"type": "userFillsByTime", "user": self._who(user), "aggregateByTime": False},
                                 lambda p: A.parse_fills(p, "userFillsByTime"), start_ms, end_ms, max_pages)

    async def user_funding(self, start_ms: int, end_ms: int | None = None, user: str | None = None,
                           max_pages: int = 50) -> list[A.FundingPayment]:
        return await self._paged({"type": "userFunding", "user": self._who(user)}, A.parse_user_funding,
                                 start_ms, end_ms, max_pages)

    async def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None,
                              max_pages: int = 50) -> list[T.FundingRate]:
        return await self._paged({"type": "fundingHistory", "coin": coin}, T.parse_funding_history,
                                 start_ms, end_ms, max_pages)
