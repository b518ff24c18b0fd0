"""Loopback-only /admin routes of `hlmm sim` and the fault-injection state they control.

Not part of Hyperliquid's API: tests and the operator use these to fund accounts, move the
simulated clock, inject faults, snapshot/restore the venue and read its order events. Every route
refuses non-loopback clients with 403, even when the server listens on a public interface.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# What a client sees when `reject_p` refuses an action (HTTP 200, top-level err, nothing applied).
INJECTED_REJECT = "Injected fault: action refused by hlmm sim (reject_p)"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _ip(host: str) -> str:
    """Canonical text of an IP address (IPv4-mapped IPv6 as IPv4); other text unchanged."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    mapped = getattr(addr, "ipv4_mapped", None)
    return str(mapped or addr)


def _number(name: str, value: Any, lo: float, hi: float | None, text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < lo or (hi is not None and value > hi):
        raise ValueError(f"fault field {name} must be {text}, got {value!r}")
    return float(value)


def _targets(name: str, value: Any, one: Callable[[str], str | None], text: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"fault field {name} must be null (every client) or a non-empty list of {text}, "
                         f"got {value!r}")
    out = set()
    for item in value:
        norm = one(item) if isinstance(item, str) else None
        if norm is None:
            raise ValueError(f"fault field {name} must list only {text}, got {item!r}")
        out.add(norm)
    return frozenset(out)


def _address(text: str) -> str | None:
    return text.lower() if _ADDRESS.fullmatch(text) else None


def _ip_address(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return _ip(text)


def _check(name: str, value: Any) -> Any:
    """The stored value of one fault field (None → the field's default); ValueError names field and range."""
    if value is None:
        return Faults.DEFAULTS[name]
    if name.endswith("_p"):
        return _number(name, value, 0.0, 1.0, "a probability in [0, 1]")
    if name == "latency_ms":
        return _number(name, value, 0.0, None, "a number of milliseconds >= 0")
    if name == "ws_drop_every_s":
        return _number(name, value, 0.0, None, "null (off) or a number of seconds >= 0 (0 = off)")
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"fault field seed must be an integer, got {value!r}")
        return value
    if name == "target_users":
        return _targets(name, value, _address, "0x-prefixed 42-character addresses")
    return _targets(name, value, _ip_address, 'IP addresses (e.g. "127.0.0.2")')


@dataclass
class Faults:
    """Fault injection knobs. POST /admin/faults replaces them all (`{}` resets), PATCH changes the named ones.

    latency_ms         delay before answering /info, /exchange and WS posts
    http_5xx_p         probability of HTTP 500 body `null`; for /exchange the action is applied
                       first with probability http_5xx_applied_p (default 0.5): an ambiguous outcome,
                       as on the real venue, that clients must resolve by re-reading (cloids)
    http_429_p         probability of HTTP 429 body `null` (nothing applied)
    ws_drop_every_s    the server closes every (targeted) WebSocket connection every N seconds
    reject_p           probability that an /exchange action is refused with a top-level err
    seed               seeds the fault RNG so a fault sequence is reproducible
    target_users       None: every client; else only requests acting for / connections subscribed to
                       one of these accounts (lower-case) are hit (see `aims_at`)
    target_ips         None: every client; else only requests / connections from these client hosts
    """
    latency_ms: float = 0.0
    http_5xx_p: float = 0.0
    http_5xx_applied_p: float = 0.5
    http_429_p: float = 0.0
    ws_drop_every_s: float | None = None
    reject_p: float = 0.0
    seed: int = 0
    target_users: frozenset[str] | None = None
    target_ips: frozenset[str] | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    FIELDS = ("latency_ms", "http_5xx_p", "http_5xx_applied_p", "http_429_p", "ws_drop_every_s",
              "reject_p", "seed", "target_users", "target_ips")
    DEFAULTS = {"latency_ms": 0.0, "http_5xx_p": 0.0, "http_5xx_applied_p": 0.5, "http_429_p": 0.0,
                "ws_drop_every_s": None, "reject_p": 0.0, "seed": 0, "target_users": None, "target_ips": None}

    @classmethod
    def parse(cls, body: dict) -> "Faults":
        """POST semantics: the named fields, every other field at its default, the RNG seeded from `seed`."""
        return cls().merged(body)

    def merged(self, body: dict) -> "Faults":
        """PATCH semantics: a copy with only the named fields changed (null → the field's default).

        Every field is checked before anything is built, so a bad body raises ValueError and changes
        nothing. The copy shares this state's RNG (the fault sequence continues) unless `seed` is named,
        which reseeds it.
        """
        if not isinstance(body, dict):
            raise ValueError("faults body must be a JSON object")
        unknown = set(body) - set(self.FIELDS)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}; known: {', '.join(self.FIELDS)}")
        changed = dataclasses.replace(self, **{name: _check(name, body[name]) for name in body})
        if "seed" in body:
            changed.rng = random.Random(changed.seed)
        return changed

    def as_json(self) -> dict:
        out = {name: getattr(self, name) for name in self.FIELDS}
        for name in ("target_users", "target_ips"):
            if out[name] is not None:
                out[name] = sorted(out[name])
        return out

    def aims_at(self, ip: str, accounts: Callable[[], Iterable[str]]) -> bool:
        """Whether a request / WS connection from client host `ip` is hit by the faults.

        Every target list that is set must match: `ip` in target_ips, and one of `accounts()` (lower-case
        addresses, only called when target_users is set) in target_users. No list set: everything matches.
        """
        if self.target_ips is not None and _ip(ip) not in self.target_ips:
            return False
        if self.target_users is not None:
            return any(a in self.target_users for a in accounts())
        return True

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
    """GET: the state; POST: replace it (unnamed fields → defaults, drop timer restarted, RNG reseeded);
    PATCH: change only the named fields (drop timer restarted only if ws_drop_every_s changed, RNG
    reseeded only if seed is named). A bad body → 400 naming the field, nothing changed."""
    if request.method == "POST":
        sim.set_faults(Faults.parse(await _body(request)))
    elif request.method == "PATCH":
        sim.set_faults(sim.faults.merged(await _body(request)), restart_drop=False)
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
    return _json({"ip_weight_per_min": sim.limiter.limit, "ws_idle_timeout_s": sim.hub.idle_timeout_s,
                  "usage": sim.limiter.usage()})


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
    Route("/admin/faults", faults, methods=["GET", "POST", "PATCH"]),
    Route("/admin/limits", limits, methods=["GET", "POST"]),
    Route("/admin/snapshot", snapshot, methods=["POST"]),
    Route("/admin/restore", restore, methods=["POST"]),
    Route("/admin/events", events, methods=["GET"]),
]
