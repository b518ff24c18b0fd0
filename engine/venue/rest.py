"""`VenueRest`: the engine's and flows' async client for POST /info and POST /exchange.

* One keep-alive `httpx.AsyncClient`; every request is first charged to the IP-weight bucket (limits.py).
* /info calls are idempotent: retried with jittered exponential backoff on HTTP 5xx, 429 and transport
  errors, and parsed into typed results (types.py).
* /exchange actions are NEVER re-sent. When the reply is ambiguous (timeout, dropped connection, HTTP 5xx)
  the client settles it (`_resolve`): it first *burns the action's nonce* with a `noop` signed with that same
  nonce — accepted means the original can never execute; "duplicate nonce" means it already did — and then
  reads `orderStatus` by cloid/oid for each order or cancel. Every order gets a cloid (one is generated when
  the caller gave none) so this lookup is always possible. See errors.py for the whole contract.
* The private key is held by a `Signer` and never appears in repr, logs or exception text.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
from typing import Any, Awaitable, Callable, Sequence

import httpx
import orjson

from engine.clock import WallClock
from engine.venue import wire
from engine.venue.errors import Classified, Disposition, Outcome, classify_http
from engine.venue.info import InfoMethods
from engine.venue.limits import (AddressBudget, IpWeightBucket, NonceManager, action_batch_len, exchange_weight,
                                 info_surcharge, info_weight)
from engine.venue.resolve import _BATCH_KINDS, Settlement, VenueError
from engine.venue.results import ActionResult, Resolution, parse_exchange_reply
from engine.venue.signing import USER_SIGNED_TYPES, Signer

__all__ = ["VenueRest", "VenueError"]  # VenueError lives in resolve.py; callers import it from here
log = logging.getLogger(__name__)
_HEADERS = {"Content-Type": "application/json"}
# transport failures where the request provably never reached the server
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class VenueRest(InfoMethods, Settlement):
    """Async client for one account. `private_key` (or `signer`) is the signing key — the master's or an
    approved agent's; `account_address` is whose data to query (the master, required when an agent signs);
    `vault_address` acts for a sub-account/vault. Pass a persistent `NonceManager(path)` in production so a
    restart never reuses a nonce; the default one lives in memory only."""

    def __init__(self, base_url: str, *, signer: Signer | None = None, private_key: str | None = None,
                 account_address: str | None = None, vault_address: str | None = None,
                 expires_after_ms: int | None = None, bucket: IpWeightBucket | None = None,
                 nonces: NonceManager | None = None, budget: AddressBudget | None = None,
                 timeout_s: float = 10.0, exchange_timeout_s: float | None = None, info_retries: int = 4,
                 backoff_base_s: float = 0.2, backoff_max_s: float = 5.0, resolve_attempts: int = 4,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, rng: random.Random | None = None,
                 now_ms: Callable[[], int] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, client: Any = None) -> None:
        self.base_url = base_url.rstrip("/") if base_url.endswith("/") else base_url
        if signer is None and private_key is not None:
            signer = Signer.for_url(private_key, base_url)  # flavour from the URL exactly like the SDK
        self.signer = signer
        self.vault_address = vault_address.lower() if vault_address else None
        self.account_address = account_address or (signer.address if signer else None)
        self.expires_after_ms = expires_after_ms
        # actions may use a tighter timeout than info/resolution (a slow reply is settled, not waited for)
        self._exchange_timeout = httpx.Timeout(exchange_timeout_s) if exchange_timeout_s else None
        self.bucket = bucket or IpWeightBucket()
        self.nonces = nonces or NonceManager()
        self.budget = budget
        self.info_retries = info_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.resolve_attempts = resolve_attempts
        self._sleep = sleep
        self._now_ms = now_ms or WallClock().now_ms
        self._rng = rng or random.Random()
        # `client`: anything with httpx.AsyncClient's `post(path, content=, timeout=)` and `aclose()` — the
        # in-process backtest passes one that calls the venue directly (engine/backtest/inproc.py)
        # a client that also answers `request_object(path, body) -> (status, payload)` is an in-process venue:
        # the same requests and replies as over HTTP, without serialising them (engine/backtest/inproc.py)
        self._objects = getattr(client, "request_object", None)
        self._client = client if client is not None else httpx.AsyncClient(
            base_url=self.base_url, headers=_HEADERS, transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30))
        self.stats = {"info": 0, "info_retries": 0, "actions": 0, "ambiguous": 0, "resolved_placed": 0,
                      "resolved_not_placed": 0, "resolved_unknown": 0}

    def __repr__(self) -> str:
        return f"VenueRest({self.base_url!r}, user={self.user}, signer={self.signer!r})"

    @property
    def user(self) -> str | None:
        """Whose account data to query: the vault/sub-account if set, else the master (never the agent)."""
        return self.vault_address or self.account_address

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "VenueRest":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ info
    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt) * self._rng.uniform(0.5, 1.5)

    async def info(self, body: dict) -> Any:
        """Raw /info call: weight first, retries on 5xx/429/transport errors, surcharge after the reply."""
        kind = body.get("type", "?")
        weight = info_weight(kind)
        last: Classified | None = None
        for attempt in range(self.info_retries + 1):
            if attempt:
                self.stats["info_retries"] += 1
                await self._sleep(self._backoff(attempt - 1))
            if self.bucket.try_take(weight):  # not available now: wait for it (as send_action does)
                await self.bucket.acquire(weight)
            self.stats["info"] += 1
            if self._objects is not None:  # an in-process venue: the same request, no bytes
                status, payload = await self._objects("/info", body)
                if status == 200:
                    if isinstance(payload, list):
                        self.bucket.charge(info_surcharge(kind, len(payload)))
                    return payload
                last = classify_http(status, payload if isinstance(payload, str) else orjson.dumps(payload).decode())
                if last.disposition(for_action=False) is not Disposition.RETRY:
                    break
                continue
            try:
                resp = await self._client.post("/info", content=orjson.dumps(body))
            except httpx.TransportError as exc:
                last = Classified(Outcome.RETRY_LATER, None, f"{type(exc).__name__}: {exc}")
                continue
            if resp.status_code == 200:
                try:
                    payload = orjson.loads(resp.content)
                except orjson.JSONDecodeError:
                    raise VenueError(Classified(Outcome.FATAL, None, f"non-JSON reply {resp.text[:200]!r}"),
                                     f"info {kind}") from None
                if isinstance(payload, list):
                    self.bucket.charge(info_surcharge(kind, len(payload)))
                return payload
            last = classify_http(resp.status_code, resp.text)
            if last.outcome is Outcome.RATE_LIMITED_IP:
                self.bucket.on_429()
            if last.disposition(for_action=False) is not Disposition.RETRY:
                break
        assert last is not None
        raise VenueError(last, f"info {kind}")

    # ------------------------------------------------------------------ exchange
    def _need_signer(self) -> Signer:
        if self.signer is None:
            raise ValueError("VenueRest has no signer: construct it with private_key= or signer= to send actions")
        return self.signer

    @staticmethod
    def new_cloid() -> str:
        return "0x" + os.urandom(16).hex()

    async def _post_exchange(self, env: dict, timeout: httpx.Timeout | None = None
                             ) -> tuple[int | None, Any, str | None]:
        """(status, payload, transport_error). status None = transport error (see `_NOT_SENT`)."""
        if self._objects is not None:
            status, payload = await self._objects("/exchange", env)
            return status, payload, None
        try:
            if timeout is not None:
                resp = await self._client.post("/exchange", content=orjson.dumps(env), timeout=timeout)
            else:
                resp = await self._client.post("/exchange", content=orjson.dumps(env))
        except _NOT_SENT as exc:
            return None, None, f"not sent: {type(exc).__name__}"
        except httpx.TransportError as exc:
            return None, None, f"ambiguous: {type(exc).__name__}: {exc}"
        try:
            payload = orjson.loads(resp.content) if resp.status_code == 200 else resp.text
        except orjson.JSONDecodeError:
            payload = resp.text
        return resp.status_code, payload, None

    async def send_action(self, action: dict, *, vault_address: str | None = ...,  # type: ignore[assignment]
                          nonce: int | None = None) -> ActionResult:
        """Sign and send one action exactly once; settle ambiguous replies by reading the venue.
        `nonce` only for user-signed actions that embed it (already taken from the nonce manager)."""
        vault = self.vault_address if vault_address is ... else vault_address
        kind = action.get("type", "?")
        n = action_batch_len(action)
        # pulling quotes and the dead man's switch (which only ever cancels) draw on the larger cancel allowance
        # of the address budget and go first for IP weight: neither may wait behind quoting
        is_cancel = kind in ("cancel", "cancelByCloid", "scheduleCancel")
        if self.budget is not None and not self.budget.allows(n, self._now_ms(), is_cancel):
            return ActionResult(kind, 0, False, error=Classified(
                Outcome.ADDRESS_BUDGET, None, "local address budget exhausted (waiting for the 10 s slot)"))
        env = self.prepare(action, vault_address=vault, nonce=nonce)
        nonce = env["nonce"]
        weight = exchange_weight(n)
        if self.bucket.try_take(weight, is_cancel):
            await self.bucket.acquire(weight, is_cancel)
        if self.budget is not None:
            self.budget.record(n, self._now_ms(), is_cancel)
        self.stats["actions"] += 1
        status, payload, terr = await self._post_exchange(env, self._exchange_timeout)
        if status is None and terr and terr.startswith("not sent"):
            return ActionResult(kind, nonce, False, error=Classified(Outcome.RETRY_LATER, None, terr),
                                resolution=Resolution.RESOLVED_NOT_PLACED)
        if status is None or status >= 500:
            why = terr or f"HTTP {status}"
            log.warning("exchange %s nonce %d ambiguous (%s): resolving", kind, nonce, why)
            self.stats["ambiguous"] += 1
            return await self._resolve(action, nonce, vault, why)
        if status != 200:
            c = classify_http(status, payload if isinstance(payload, str) else None)
            if c.outcome is Outcome.RATE_LIMITED_IP:
                self.bucket.on_429()
            return ActionResult(kind, nonce, False, error=c, http_status=status, raw=payload)
        result = parse_exchange_reply(kind, nonce, payload, n if kind in _BATCH_KINDS else None)
        if result.error is not None and result.error.outcome is Outcome.NONCE:
            self.nonces.observe(nonce)
        if result.error is not None and result.error.outcome is Outcome.ADDRESS_BUDGET and self.budget is not None:
            self.budget.on_refusal(result.error.message, self._now_ms())
        return result

    def prepare(self, action: dict, *, vault_address: str | None = ...,  # type: ignore[assignment]
                nonce: int | None = None) -> dict:
        """Signed /exchange body (fresh nonce, expiresAfter per config) — for sending over the WS `post`
        path (Feed.post_action); `send_action` uses it too. Settle a lost reply with `settle`."""
        signer = self._need_signer()
        vault = self.vault_address if vault_address is ... else vault_address
        if nonce is None:
            nonce = self.nonces.next()
        user_signed = action.get("type") in USER_SIGNED_TYPES
        expires = None if user_signed or self.expires_after_ms is None else nonce + self.expires_after_ms
        return signer.envelope(action, nonce, vault, expires)

    def parse_reply(self, envelope: dict, payload: Any) -> ActionResult:
        """An exchange reply body (e.g. from a WS post) → ActionResult."""
        kind = envelope["action"].get("type", "?")
        n = action_batch_len(envelope["action"]) if kind in _BATCH_KINDS else None
        return parse_exchange_reply(kind, envelope["nonce"], payload, n)

    async def settle(self, envelope: dict, why: str) -> ActionResult:
        """Settle an action whose reply was lost (WS post timed out / connection dropped): never re-send."""
        self.stats["ambiguous"] += 1
        return await self._resolve(envelope["action"], envelope["nonce"], envelope.get("vaultAddress"), why)

    # ------------------------------------------------------------------ actions
    def _with_cloids(self, orders: Sequence[dict]) -> list[dict]:
        out = []
        for o in orders:
            if "c" not in o:
                o = {**o, "c": self.new_cloid()}  # "c" is the last wire key, so appending keeps SDK key order
            out.append(o)
        return out

    async def place_orders(self, orders: Sequence[dict], grouping: wire.Grouping = "na",
                           builder: dict | None = None) -> ActionResult:
        """Orders in wire form (wire.order_wire); each gets a cloid if it has none."""
        return await self.send_action(wire.order_action(self._with_cloids(orders), grouping, builder))

    async def cancel(self, cancels: Sequence[tuple[int, int]]) -> ActionResult:
        return await self.send_action(wire.cancel_action(cancels))

    async def cancel_by_cloid(self, cancels: Sequence[tuple[int, str]]) -> ActionResult:
        return await self.send_action(wire.cancel_by_cloid_action(cancels))

    async def batch_modify(self, modifies: Sequence[tuple[int | str, dict]]) -> ActionResult:
        mods = [(ref, o if "c" in o else {**o, "c": self.new_cloid()}) for ref, o in modifies]
        return await self.send_action(wire.batch_modify_action(mods))

    async def schedule_cancel(self, time_ms: int | None) -> ActionResult:
        return await self.send_action(wire.schedule_cancel_action(time_ms))

    async def update_leverage(self, asset: int, leverage: int, is_cross: bool = True) -> ActionResult:
        return await self.send_action(wire.update_leverage_action(asset, leverage, is_cross))

    async def noop(self) -> ActionResult:
        return await self.send_action(wire.noop_action())

    async def usd_class_transfer(self, amount, to_perp: bool) -> ActionResult:
        """Perp ↔ spot USDC (to_perp True = spot→perp). Must be signed by the master key, not an agent."""
        nonce = self.nonces.next()  # the action embeds the envelope nonce
        action = wire.usd_class_transfer_action(amount, to_perp, nonce, self.vault_address)
        return await self.send_action(action, vault_address=None, nonce=nonce)

    async def approve_agent(self, name: str | None = None) -> tuple[ActionResult, str]:
        """Approve a fresh agent key; returns (result, agent private key hex). The key is returned once and
        never logged — store it like any other secret."""
        from eth_account import Account  # only here: key → address

        agent_key = "0x" + secrets.token_hex(32)
        nonce = self.nonces.next()
        action = wire.approve_agent_action(Account.from_key(agent_key).address, name, nonce)
        return await self.send_action(action, nonce=nonce), agent_key
