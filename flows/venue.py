"""The flows' view of the venue: a small synchronous reader plus the two actions the flows take
(Ioc leg trades and usdClassTransfer).

Reads are plain synchronous POST /info calls (Hyperliquid's API, identical on mainnet, testnet and `hlmm sim`);
flows are short batch jobs. Actions go through the engine's venue client (signer bit-exact with the SDK,
cloid-based settlement of ambiguous replies). A refusal raises ``VenueActionError`` with the venue's own
message; nothing is retried blindly (callers re-read balances instead).
"""
from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from typing import Any

import httpx

from engine.numbers import dec

HOUR_MS = 3_600_000


class VenueError(RuntimeError):
    pass


class VenueActionError(VenueError):
    pass


@dataclasses.dataclass(frozen=True)
class SpotPair:
    coin: str          # venue coin string: "PURR/USDC" or "@1"
    base: str          # base token name, e.g. "HYPE"
    base_sz_decimals: int
    asset: int         # 10000 + index


class VenueReader:
    """Synchronous /info reads for the flows, through the engine's venue client (``VenueRest.info``: IP-weight
    bucket, retries with backoff on 5xx/429/transport errors). Flows are sync batch jobs, so the reader owns a
    private event loop; one reader per flow run."""

    def __init__(self, base_url: str, timeout: float = 10.0, ip_weight_per_min: int | None = None,
                 ip_weight_redis_url: str | None = None) -> None:
        import asyncio

        from engine.venue.shared_bucket import make_bucket
        from engine.venue.rest import VenueRest

        self.base_url = base_url.rstrip("/")
        self._loop = asyncio.new_event_loop()
        # the host's budget in Redis when configured: the flows' reads count against the engines' IP too
        bucket = make_bucket(ip_weight_per_min, ip_weight_redis_url) if ip_weight_per_min else None
        self._rest = VenueRest(self.base_url, bucket=bucket, timeout_s=timeout)
        self._timeout = timeout
        self.weight_used = 0  # IP weight spent by this reader (for the daily report's budget line)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._rest.aclose())
            self._loop.close()

    def __enter__(self) -> "VenueReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self, body: dict[str, Any]) -> Any:
        from engine.venue.limits import info_weight
        from engine.venue.rest import VenueError as RestError

        try:
            payload = self._loop.run_until_complete(self._rest.info(body))
        except RestError as exc:
            raise VenueError(f"info {body.get('type')}: {exc}") from exc
        self.weight_used += info_weight(body.get("type", "?"))
        return payload

    def local_clock_ms(self) -> int:
        """The local venue's simulated clock (`hlmm sim` admin endpoint; loopback only)."""
        resp = httpx.get(f"{self.base_url}/admin/clock", timeout=self._timeout)
        resp.raise_for_status()
        return int(resp.json()["now"])

    # --- typed reads -------------------------------------------------------------------------------
    def meta(self) -> dict:
        return self.info({"type": "meta", "dex": ""})

    def spot_meta(self) -> dict:
        return self.info({"type": "spotMeta"})

    def all_mids(self) -> dict[str, Decimal]:
        return {k: dec(v, f"allMids.{k}") for k, v in self.info({"type": "allMids", "dex": ""}).items()}

    def perp_marks(self) -> dict[str, Decimal]:
        meta, ctxs = self.info({"type": "metaAndAssetCtxs"})
        return {a["name"]: dec(c["markPx"], f"assetCtxs.{a['name']}.markPx") for a, c in zip(meta["universe"], ctxs)}

    def clearinghouse_state(self, user: str) -> dict:
        return self.info({"type": "clearinghouseState", "user": user, "dex": ""})

    def spot_clearinghouse_state(self, user: str) -> dict:
        return self.info({"type": "spotClearinghouseState", "user": user})

    def user_fills(self, user: str) -> list[dict]:
        return self.info({"type": "userFills", "user": user})

    def user_fills_by_time(self, user: str, start_ms: int, end_ms: int | None = None) -> list[dict]:
        """All fills in [start, end], paging by time (the venue returns ≤ 2000 per call)."""
        out: list[dict] = []
        seen: set[tuple[str, int]] = set()
        start = start_ms
        while True:
            page = self.info({"type": "userFillsByTime", "user": user, "startTime": start, "endTime": end_ms,
                              "aggregateByTime": False})
            fresh = [f for f in page if (f["coin"], int(f["tid"])) not in seen]
            for f in fresh:
                seen.add((f["coin"], int(f["tid"])))
            out.extend(fresh)
            if len(page) < 2000 or not fresh:
                return sorted(out, key=lambda f: (f["time"], f["tid"]))
            start = max(int(f["time"]) for f in page)

    def user_funding(self, user: str, start_ms: int, end_ms: int | None = None) -> list[dict]:
        return self._paged({"type": "userFunding", "user": user}, start_ms, end_ms,
                           key=lambda r: (r["delta"]["coin"], r["time"]))

    def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None) -> list[dict]:
        return self._paged({"type": "fundingHistory", "coin": coin}, start_ms, end_ms, key=lambda r: r["time"])

    def candles(self, coin: str, interval: str, start_ms: int, end_ms: int) -> list[dict]:
        return self.info({"type": "candleSnapshot",
                          "req": {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}})

    def user_role(self, user: str) -> dict:
        return self.info({"type": "userRole", "user": user})

    def user_rate_limit(self, user: str) -> dict:
        return self.info({"type": "userRateLimit", "user": user})

    def _paged(self, body: dict, start_ms: int, end_ms: int | None, key) -> list[dict]:
        out: list[dict] = []
        seen: set = set()
        start = start_ms
        while True:
            req = {**body, "startTime": start}
            if end_ms is not None:
                req["endTime"] = end_ms
            page = self.info(req)
            fresh = [r for r in page if key(r) not in seen]
            for r in fresh:
                seen.add(key(r))
            out.extend(fresh)
            if len(page) < 500 or not fresh:
                return sorted(out, key=lambda r: r["time"])
            start = max(int(r["time"]) for r in page)

    # --- derived -----------------------------------------------------------------------------------
    def usdc_pairs(self) -> dict[str, SpotPair]:
        """Every token's spot pair against USDC, by base token name (one spotMeta read)."""
        sm = self.spot_meta()
        tokens = {t["index"]: t for t in sm["tokens"]}
        out: dict[str, SpotPair] = {}
        for u in sm["universe"]:
            b, q = (tokens.get(i) for i in u["tokens"])
            if b and q and q["name"] == "USDC":
                out.setdefault(b["name"], SpotPair(u["name"], b["name"], int(b["szDecimals"]), 10000 + int(u["index"])))
        return out

    def spot_pair(self, base: str) -> SpotPair:
        """The spot pair BASE/USDC as the venue names it ("@1" etc.)."""
        pair = self.usdc_pairs().get(base)
        if pair is None:
            raise VenueError(f"spotMeta: no {base}/USDC pair")
        return pair

    def coin_names(self) -> dict[str, str]:
        """Display names: spot coins ("@1") as their pair ("HYPE/USDC"); perps keep their own name."""
        sm = self.spot_meta()
        tokens = {t["index"]: t["name"] for t in sm["tokens"]}
        return {u["name"]: "/".join(tokens.get(i, "?") for i in u["tokens"]) for u in sm["universe"]}

    def asset_of(self, coin: str) -> int:
        """Asset id of a perp name ("HYPE": its meta index) or a spot coin ("@1", "PURR/USDC": 10000 + index)."""
        for i, a in enumerate(self.meta()["universe"]):
            if a["name"] == coin:
                return i
        for u in self.spot_meta()["universe"]:
            if u["name"] == coin:
                return 10000 + int(u["index"])
        raise VenueError(f"meta/spotMeta: no asset named {coin}")

    def perp_sz_decimals(self, coin: str) -> int:
        for a in self.meta()["universe"]:
            if a["name"] == coin:
                return int(a["szDecimals"])
        raise VenueError(f"meta: no perp named {coin}")


class VenueActions:
    """Signed actions for the flows, sent through the engine's venue client (``engine.venue.rest.VenueRest``):
    every action goes out exactly once; an ambiguous reply (timeout, 5xx) is settled by burning its nonce and
    re-reading the venue, never by re-sending. ``key`` is the signing key (main wallet or agent); ``account``
    the account acted for. An agent key can trade; only the main wallet's key can move USDC."""

    def __init__(self, base_url: str, account: str, key: str, timeout: float = 10.0) -> None:
        from engine.venue.limits import NonceManager
        from engine.venue.signing import Signer

        self.base_url = base_url.rstrip("/")
        self.account = account
        self._signer = Signer.for_url(key, self.base_url)
        self._nonces = NonceManager()  # one per flow run: strictly increasing across its actions
        self._timeout = timeout

    @property
    def signer(self) -> str:
        return self._signer.address

    @property
    def is_main_wallet(self) -> bool:
        return self.signer.lower() == self.account.lower()

    def _run(self, call):
        import asyncio

        from engine.venue.rest import VenueRest

        async def go():
            async with VenueRest(self.base_url, signer=self._signer, account_address=self.account,
                                 nonces=self._nonces, timeout_s=self._timeout) as rest:
                return await call(rest)

        return asyncio.run(go())

    def usd_class_transfer(self, amount: Decimal, to_perp: bool):
        if not self.is_main_wallet:
            raise VenueActionError("usdClassTransfer needs the main wallet's key; the configured key is an agent")
        if amount <= 0:
            raise ValueError(f"amount: must be > 0, got {amount}")
        result = self._run(lambda rest: rest.usd_class_transfer(format(amount, "f"), to_perp))
        if not result.ok:
            why = result.error.message if result.error else f"unsettled ({result.resolution})"
            raise VenueActionError(f"usdClassTransfer refused: {why}")
        return result

    def ioc(self, asset: int, is_buy: bool, size: Decimal, limit_px: Decimal) -> dict:
        """One Ioc order; returns ``{"filled": Decimal|None, "avg_px": Decimal|None, "oid", "error"}``
        (filled None: the reply was lost and the venue only told us the order ran — re-read positions)."""
        from engine.venue import wire

        order = wire.order_wire(asset, is_buy, limit_px, size, tif="Ioc")
        result = self._run(lambda rest: rest.place_orders([order]))
        if not result.ok and not result.statuses:
            raise VenueActionError(f"order asset={asset} refused: "
                                   f"{result.error.message if result.error else result.resolution}")
        (st,) = result.statuses
        if st.kind == "filled":
            return {"filled": st.total_sz, "avg_px": st.avg_px, "oid": st.oid, "error": None}
        if st.resolution is not None:
            return {"filled": None, "avg_px": None, "oid": st.oid,
                    "error": None if st.placed else f"not placed ({st.resolution.value})"}
        return {"filled": Decimal(0), "avg_px": None, "oid": st.oid,
                "error": st.error.message if st.error else f"unexpected status {st.kind}"}


def now_ms() -> int:
    """Wall clock for flow windows (flows are I/O edges; logic takes times as arguments)."""
    return int(time.time() * 1000)
