"""Loopback-only /admin routes of `hlmm sim` and the fault-injection state they control.

Not part of Hyperliquid's API: tests and the operator use these to fund accounts, move the
simulated clock, inject faults, snapshot/restore the venue and read its order events. Every route
refuses non-loopback clients with 403, even when the server listens on a public interface.
"""
from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# What a client sees when `reject_p` refuses an action (HTTP 200, top-level err, nothing applied).
INJECTED_REJECT = "Injected fault: action refused by hlmm sim (reject_p)"


@dataclass
class Faults:
    """Fault injection knobs; `{}` posted to /admin/faults resets all of them.

    latency_ms         delay before answering /info, /exchange and WS posts
    http_5xx_p         probability of HTTP 500 body `null`; for /exchange the action is applied
                       first with probability http_5xx_applied_p (default 0.5): an ambiguous outcome,
                       as on the real venue, that clients must resolve by re-reading (cloids)
    http_429_p         probability of HTTP 429 body `null` (nothing applied)
    ws_drop_every_s    the server closes every WebSocket connection every N seconds
    reject_p           probability that an /exchange action is refused with a top-level err
    seed               seeds the fault RNG so a fault sequence is reproducible
    """
    latency_ms: float = 0.0
    http_5xx_p: float = 0.0
    http_5xx_applied_p: float = 0.5
    http_429_p: float = 0.0
    ws_drop_every_s: float | None = None
    reject_p: float = 0.0
    seed: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    FIELDS = ("latency_ms", "http_5xx_p", "http_5xx_applied_p", "http_429_p", "ws_drop_every_s",
              "reject_p", "seed")

    @classmethod
    def parse(cls, body: dict) -> "Faults":
        unknown = set(body) - set(cls.FIELDS)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}; known: {', '.join(cls.FIELDS)}")
        faults = cls()
        for name in cls.FIELDS:
            if name not in body or body[name] is None:
                continue
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"fault field {name} must be a number, got {value!r}")
            if name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ValueError(f"fault field {name} must be a probability in [0, 1], got {value}")
            if name in ("latency_ms", "ws_drop_every_s") and value < 0:
                raise ValueError(f"fault field {name} must be >= 0, got {value}")
            setattr(faults, name, int(value) if name == "seed" else float(value))
        faults.rng = random.Random(faults.seed)
        return faults

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def hit(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, default=str), status_code=status, media_type="application/json")


def _error(msg: str, status: int = 400) -> Response:
    return _json({"error": msg}, status)


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("admin body must be a JSON object")
    return body


def _decimal(body: dict, name: str) -> Decimal:
    try:
        value = Decimal(str(body[name]))
    except KeyError:
        raise ValueError(f"missing field {name}") from None
    except InvalidOperation:
        raise ValueError(f"field {name} is not a number: {body[name]!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"field {name} must be a finite number >= 0, got {body[name]!r}")
    return value


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _loopback_only(handler):
    async def wrapped(request: Request) -> Response:
        host = request.client.host if request.client else ""
        if not is_loopback(host):
            return _error("admin API is loopback-only", 403)
        try:
            return await handler(request, request.app.state.sim)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(str(exc))
    return wrapped


@_loopback_only
async def fund(request: Request, sim) -> Response:
    body = await _body(request)
    user = body.get("user")
    if not isinstance(user, str) or len(user) != 42 or not user.startswith("0x"):
        raise ValueError(f"field user must be a 0x-prefixed 42-char address, got {user!r}")
    if body.get("spot"):
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise ValueError("field token is required with spot:true")
        sim.venue.fund_spot(user.lower(), token, _decimal(body, "amount"))
    else:
        sim.venue.fund_perp(user.lower(), _decimal(body, "usdc"))
    return _json({"status": "ok"})


@_loopback_only
async def clock(request: Request, sim) -> Response:
    if request.method == "POST":
        body = await _body(request)
        if "advance_ms" in body:
            ms = body["advance_ms"]
            if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
                raise ValueError(f"field advance_ms must be an integer >= 0, got {ms!r}")
            sim.clock.advance(ms)
            sim.venue.tick()  # funding / scheduleCancel due in the skipped interval fire now
            if sim.driver is not None:
                sim.driver.wake()
        if "speed" in body:
            speed = body["speed"]
            if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0:
                raise ValueError(f"field speed must be a number >= 0, got {speed!r}")
            sim.clock.set_speed(float(speed))
            sim.speed = float(speed)
    return _json({"now": sim.clock.now_ms(), "speed": sim.speed})


@_loopback_only
async def faults(request: Request, sim) -> Response:
    if request.method == "POST":
        sim.set_faults(Faults.parse(await _body(request)))
    return _json(sim.faults.as_json())


@_loopback_only
async def limits(request: Request, sim) -> Response:
    """Server limits tests may lower: {"ip_weight_per_min": N, "ws_idle_timeout_s": x}; {} restores defaults."""
    if request.method == "POST":
        body = await _body(request)
        unknown = set(body) - {"ip_weight_per_min", "ws_idle_timeout_s"}
        if unknown:
            raise ValueError(f"unknown limit field(s): {', '.join(sorted(unknown))}")
        weight = body.get("ip_weight_per_min", sim.default_ip_weight_per_min)
        idle = body.get("ws_idle_timeout_s", sim.default_ws_idle_timeout_s)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise ValueError(f"field ip_weight_per_min must be an integer >= 1, got {weight!r}")
        if isinstance(idle, bool) or not isinstance(idle, (int, float)) or idle <= 0:
            raise ValueError(f"field ws_idle_timeout_s must be a number > 0, got {idle!r}")
        sim.limiter.reset(weight)
        sim.hub.idle_timeout_s = float(idle)
    return _json({"ip_weight_per_min": sim.limiter.limit, "ws_idle_timeout_s": sim.hub.idle_timeout_s})


@_loopback_only
async def snapshot(request: Request, sim) -> Response:
    return _json(sim.venue.snapshot())


@_loopback_only
async def restore(request: Request, sim) -> Response:
    sim.venue.restore(await _body(request))
    if sim.driver is not None:
        sim.driver.resync()  # the restored state has its own resting system liquidity
    return _json({"status": "ok"})


@_loopback_only
async def events(request: Request, sim) -> Response:
    return _json(sim.venue.order_events())


routes = [
    Route("/admin/fund", fund, methods=["POST"]),
    Route("/admin/clock", clock, methods=["GET", "POST"]),
    Route("/admin/faults", faults, methods=["GET", "POST"]),
    Route("/admin/limits", limits, methods=["GET", "POST"]),
    Route("/admin/snapshot", snapshot, methods=["POST"]),
    Route("/admin/restore", restore, methods=["POST"]),
    Route("/admin/events", events, methods=["GET"]),
]
