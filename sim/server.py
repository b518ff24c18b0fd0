"""HTTP/WebSocket front of the local venue: Hyperliquid's POST /info, POST /exchange, GET /ws at the
base URL root (so the unmodified SDK works with `base_url="http://127.0.0.1:PORT"`), plus the
loopback-only /admin routes (sim/admin.py).

The venue is synchronous and single-threaded; every venue call happens on the server's event loop
(HTTP handlers, WS posts, the market driver, the ticker), so no locks are needed.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sim import admin, auth
from sim import exchange as exchange_mod
from sim.ipweight import IpWeightLimiter, exchange_weight, info_row_surcharge, info_weight  # noqa: F401 (re-exported)
from sim.ws import WsHub

log = logging.getLogger("sim.server")

DESERIALIZE_ERROR = "Failed to deserialize the JSON body into the target type"
TICK_INTERVAL_S = 0.1  # how often funding / scheduleCancel are checked against the sim clock

def accounts_of(venue: Any, kind: str, body: dict) -> list[str]:
    """The account(s) a request acts for, for fault targeting (lower-case; [] if none is known).

    /info: its "user" field. /exchange: vaultAddress if given, else the signer recovered as the venue
    does (an approved agent → its owner; an unknown signer → itself). Malformed → [].
    """
    if kind == "info":
        user = body.get("user")
        return [user.lower()] if isinstance(user, str) else []
    if not exchange_mod.envelope_ok(body):
        return []
    if isinstance(body.get("vaultAddress"), str):
        return [body["vaultAddress"].lower()]
    core, options = getattr(venue, "core", None), getattr(venue, "options", None)
    if core is None:
        return []
    try:
        signer = auth.signer_of(core, body, getattr(options, "accept_mainnet", True))
    except auth.AuthError:
        return []
    agent = None if body["action"].get("type") in auth.USER_SIGNED else core.agents.get(signer)
    return [agent[0] if agent is not None else signer]


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, default=str), status_code=status, media_type="application/json")


NULL_429 = 429
NULL_500 = 500


@dataclass
class SimServer:
    """Everything one running `hlmm sim` holds; `app.state.sim` in handlers."""
    venue: Any
    clock: Any
    driver: Any = None
    speed: float = 1.0
    default_ip_weight_per_min: int = 1200
    default_ws_idle_timeout_s: float = 60.0
    faults: admin.Faults = field(default_factory=admin.Faults)
    limiter: IpWeightLimiter = field(init=False)
    hub: WsHub = field(init=False)
    _tasks: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.limiter = IpWeightLimiter(self.default_ip_weight_per_min)
        self.hub = WsHub(self.venue, idle_timeout_s=self.default_ws_idle_timeout_s, post_handler=self.ws_post)
        self.hub.drop_filter = lambda conn: self.faults.aims_at(conn.ip, conn.users)

    def set_faults(self, faults: admin.Faults, restart_drop: bool = True) -> None:
        """Install a fault state. The WS-drop timer restarts when `restart_drop` (POST) or when
        ws_drop_every_s changed (PATCH); targets are read at each drop, so they never restart it."""
        before = self.faults.ws_drop_every_s or None
        self.faults = faults
        if restart_drop or (faults.ws_drop_every_s or None) != before:
            self.hub.set_drop_every(faults.ws_drop_every_s)

    # ------------------------------------------------------------------ core calls
    async def call(self, kind: str, body: Any, ip: str) -> tuple[int, Any]:
        """Rate limit, inject faults, call the venue. Returns (status, payload); payload None → `null`."""
        if not isinstance(body, dict):
            return 422, DESERIALIZE_ERROR
        weight = self._weight(kind, body, None)
        if not self.limiter.try_consume(ip, weight):
            return NULL_429, None
        faults = self.faults
        if faults.aims_at(ip, lambda: accounts_of(self.venue, kind, body)):
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000.0)
            if faults.hit(faults.http_429_p):
                return NULL_429, None
            if faults.hit(faults.http_5xx_p):
                if kind == "exchange" and faults.hit(faults.http_5xx_applied_p):
                    self.venue.exchange(body)
                return NULL_500, None
            if kind == "exchange" and faults.hit(faults.reject_p):
                return 200, {"status": "err", "response": admin.INJECTED_REJECT}
        if kind == "info":
            status, payload = self.venue.info(body)
            if status == 200:  # per-row surcharges are known only once answered
                self.limiter.charge(ip, self._weight(kind, body, payload) - weight)
            return status, payload
        return self.venue.exchange(body)

    def _weight(self, kind: str, body: dict, payload: Any) -> int:
        """IP weight: the venue's own table when it has one (sim core), else this module's copy."""
        weigh = getattr(self.venue, "weight_of", None)
        if weigh is not None:
            return int(weigh(body, payload))
        if kind == "info":
            return info_weight(body) + info_row_surcharge(body, payload)
        return exchange_weight(body)

    async def ws_post(self, kind: str, payload: dict, ip: str) -> tuple[int, Any]:
        return await self.call("info" if kind == "info" else "exchange", payload, ip)

    async def http(self, request: Request, kind: str) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)  # dicts keep wire key order: signatures hash the action as sent
        except ValueError:
            return PlainTextResponse(DESERIALIZE_ERROR, status_code=422)
        ip = request.client.host if request.client else "?"
        status, payload = await self.call(kind, body, ip)
        if status == 422 and isinstance(payload, str):
            return PlainTextResponse(payload, status_code=422)
        return _json(payload, status)

    # ------------------------------------------------------------------ lifecycle
    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._until_next_tick())
            try:
                self.venue.tick()
            except Exception:
                log.exception("venue tick failed")

    def _until_next_tick(self) -> float:
        """The regular tick, or sooner when a scheduled cancel falls due before it (it fires on time, with its
        orderUpdates, even on an idle venue)."""
        due = getattr(self.venue, "next_due_ms", lambda: None)()
        speed = getattr(self.clock, "speed", 1.0) or 0.0
        if due is None or speed <= 0:
            return TICK_INTERVAL_S
        wait = (due - self.clock.now_ms()) / 1000.0 / speed
        return min(TICK_INTERVAL_S, max(0.0, wait))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.hub.start()
        self._tasks.append(loop.create_task(self._ticker()))
        if self.driver is not None:
            self._tasks.append(loop.create_task(self.driver.run()))

    async def stop(self) -> None:
        if self.driver is not None:
            self.driver.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        await self.hub.stop()


def build_app(sim: SimServer) -> Starlette:
    async def info(request: Request) -> Response:
        return await sim.http(request, "info")

    async def exchange(request: Request) -> Response:
        return await sim.http(request, "exchange")

    async def ws(websocket: WebSocket) -> None:
        ip = websocket.client.host if websocket.client else "?"
        await sim.hub.serve(websocket, ip)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    app = Starlette(
        routes=[Route("/info", info, methods=["POST"]), Route("/exchange", exchange, methods=["POST"]),
                WebSocketRoute("/ws", ws), *admin.routes],
        lifespan=lifespan,
    )
    app.state.sim = sim
    return app


# ---------------------------------------------------------------------- runner
@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    seed: int = 0
    market: str = "synthetic"
    speed: float = 1.0
    fund: list[tuple[str, Decimal]] = field(default_factory=list)              # (address, USDC perp)
    fund_spot: list[tuple[str, str, Decimal]] = field(default_factory=list)    # (address, token, amount)
    state_file: Path | None = None
    ip_weight_per_min: int = 1200
    ws_idle_timeout_s: float = 60.0


def make_sim(cfg: ServerConfig) -> SimServer:
    """Build venue + clock + driver from the config; load --state first, then apply --fund."""
    from sim.clock import SimClock
    from sim.drivers import make_driver
    from sim.venue import Venue

    clock = SimClock()
    clock.set_speed(cfg.speed)
    venue = Venue(clock=clock, seed=cfg.seed)
    restored = False
    if cfg.state_file is not None and cfg.state_file.exists():
        venue.restore(json.loads(cfg.state_file.read_text()))
        restored = True
    # after a restore, --fund only credits accounts the state does not know (a restart never doubles money)
    fresh = {u for u, _ in cfg.fund} | {u for u, _, _ in cfg.fund_spot}
    if restored:
        fresh = {u for u in fresh if _is_empty_account(venue, u)}
    for user, usdc in cfg.fund:
        if user in fresh:
            venue.fund_perp(user.lower(), usdc)
    for user, token, amount in cfg.fund_spot:
        if user in fresh:
            venue.fund_spot(user.lower(), token, amount)
    driver = make_driver(cfg.market, venue=venue, clock=clock, seed=cfg.seed)
    return SimServer(venue=venue, clock=clock, driver=driver, speed=cfg.speed,
                     default_ip_weight_per_min=cfg.ip_weight_per_min,
                     default_ws_idle_timeout_s=cfg.ws_idle_timeout_s)


def _is_empty_account(venue: Any, user: str) -> bool:
    _, perp = venue.info({"type": "clearinghouseState", "user": user, "dex": ""})
    _, spot = venue.info({"type": "spotClearinghouseState", "user": user})
    no_perp = Decimal(str(perp["marginSummary"]["accountValue"])) == 0 and not perp["assetPositions"]
    no_spot = all(Decimal(str(b["total"])) == 0 for b in spot.get("balances", []))
    return no_perp and no_spot


def save_state(sim: SimServer, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(sim.venue.snapshot(), default=str))
    tmp.replace(path)  # atomic: a crash mid-write never leaves a half state file


def _server_class():
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises a captured SIGTERM/SIGINT after shutdown, killing the process before
        `--state` is saved; here a signal only asks for a graceful exit (status 0)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # second Ctrl-C: stop waiting for connections
            else:
                self.should_exit = True

    return Server


async def serve(cfg: ServerConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGINT/SIGTERM (uvicorn handles both), then save --state if given."""
    import uvicorn

    _Server = _server_class()
    sim = make_sim(cfg)
    app = build_app(sim)
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", lifespan="on",
                            ws="websockets-sansio", ws_ping_interval=None, access_log=False)
    server = _Server(config)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.02)
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        if on_ready is not None:
            on_ready(f"http://{host}:{cfg.port}")

    watcher = asyncio.get_running_loop().create_task(announce())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        if cfg.state_file is not None:
            save_state(sim, cfg.state_file)
