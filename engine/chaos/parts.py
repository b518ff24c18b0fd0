"""The chaos run's moving parts, each a real process or client: the local venue, the engine as `hlmm run`, a
second account that sweeps our quotes through the official SDK, and a watcher of our resting orders.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from engine.orchestrate import OrchestrationError, free_port, hlmm_argv, tail

SPOT = "@1"  # the sim's HYPE/USDC pair


def now_ms() -> int:
    return int(time.time() * 1000)


# the harness's clients each send from their own loopback address: the venue's IP-weight limit (1200 a minute,
# openOrders costs 20) is per client address, and the engine's budget must stay the engine's own
OBSERVER_IP = "127.0.0.2"
TAKER_IP = "127.0.0.3"
WATCH_EVERY_S = 1.1  # one openOrders read per 1.1 s stays inside one address's budget


class Venue:
    """`hlmm sim` on a free port; `info` (from OBSERVER_IP) with retries: the faults hit our reads of the
    engine's account too. Admin calls go from 127.0.0.1 (the venue serves /admin on loopback only)."""

    def __init__(self, workdir: Path, seed: int, funding: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "sim.log"
        argv = hlmm_argv("sim", "--port", str(self.port), "--seed", str(seed), *funding)
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.http = httpx.Client(timeout=30)
        self.readers = {ip: httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address=ip))
                        for ip in (OBSERVER_IP, TAKER_IP)}
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise OrchestrationError(f"hlmm sim exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                if self.http.post(f"{self.url}/info", json={"type": "meta"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise OrchestrationError(f"hlmm sim did not answer within 60 s:\n{tail(self.log)}")
            time.sleep(0.1)

    def info(self, body: dict, attempts: int = 20, ip: str = OBSERVER_IP) -> Any:
        for i in range(attempts):
            try:
                r = self.readers[ip].post(f"{self.url}/info", json=body)
                if r.status_code == 200:
                    return r.json()
            except httpx.TransportError:
                pass
            time.sleep(min(0.05 * 2 ** i, 1.0))
        raise OrchestrationError(f"/info {body.get('type')} kept failing")

    def patch_faults(self, **fields: Any) -> dict:
        r = self.http.patch(f"{self.url}/admin/faults", json=fields)
        if r.status_code != 200:
            raise OrchestrationError(f"PATCH /admin/faults {fields}: {r.status_code} {r.text}")
        return r.json()

    def events(self) -> list[dict]:
        return self.http.get(f"{self.url}/admin/events").json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.http.close()
        for c in self.readers.values():
            c.close()


class EngineProcess:
    """`hlmm run` against the venue; `started_ms` once its log says it quotes."""

    def __init__(self, config: Path, log: Path, deadman_s: float, env: dict[str, str]) -> None:
        self.log_path = log
        offset = log.stat().st_size if log.exists() else 0
        self.proc = subprocess.Popen(hlmm_argv("run", "--config", str(config), "--deadman-s", str(deadman_s)),
                                     stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self._offset = offset
        self.started_ms: int | None = None
        self.ended_ms: int | None = None

    def poll_started(self) -> bool:
        if self.started_ms is None:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._offset)
                if b'"msg": "engine started' in fh.read():
                    self.started_ms = now_ms()
        return self.started_ms is not None

    def running(self) -> bool:
        return self.proc.poll() is None

    def sigkill(self) -> None:
        self.ended_ms = now_ms()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM: the engine cancels its quotes, disarms and flushes its ledger before it exits."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.ended_ms = now_ms()
        return code


class Taker(threading.Thread):
    """A second account that sends marketable Ioc orders at our own resting prices every 1–4 s (seeded):
    mostly one level, sometimes through two, either leg, either side."""

    def __init__(self, venue: Venue, key: str, user: str, seed: int) -> None:
        super().__init__(daemon=True, name="chaos-taker")
        from eth_account import Account
        from hyperliquid.exchange import Exchange

        self.ex = Exchange(Account.from_key(key), base_url=venue.url)
        self.ex.session.mount("http://", _SourceAddress(TAKER_IP))
        self.venue, self.user, self.rng = venue, user, random.Random(seed)
        self.stop_flag = threading.Event()
        self.sent = self.errors = 0

    def run(self) -> None:
        while not self.stop_flag.wait(self.rng.uniform(1.0, 4.0)):
            try:
                self._sweep()
            except Exception:  # noqa: BLE001 - a refused or failed sweep is part of the weather
                self.errors += 1

    def _sweep(self) -> None:
        ours = [o for o in self.venue.info({"type": "openOrders", "user": self.user}, ip=TAKER_IP) if o.get("cloid")]
        if not ours:
            return
        target = self.rng.choice(ours)
        same = sorted((o for o in ours if o["coin"] == target["coin"] and o["side"] == target["side"]),
                      key=lambda o: float(o["limitPx"]), reverse=target["side"] == "B")
        through = same[:2] if self.rng.random() < 0.25 else same[:1]
        px = float(through[-1]["limitPx"])
        sz = sum(float(o["sz"]) for o in through) * self.rng.uniform(0.5, 1.5)
        coin = target["coin"]
        sz = round(sz, 2)
        if sz <= 0:
            return
        self.ex.order(coin, target["side"] == "A", sz, px, {"limit": {"tif": "Ioc"}})
        self.sent += 1


class Watcher(threading.Thread):
    """Reads our resting orders every WATCH_EVERY_S: the moment the account goes flat after a SIGKILL."""

    def __init__(self, venue: Venue, user: str) -> None:
        super().__init__(daemon=True, name="chaos-watcher")
        self.venue, self.user = venue, user
        self.stop_flag = threading.Event()
        self.flat_since: int | None = None
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop_flag.wait(WATCH_EVERY_S):
            try:
                n = len(self.venue.info({"type": "openOrders", "user": self.user}, attempts=3))
            except OrchestrationError:
                continue
            with self.lock:
                if n == 0 and self.flat_since is None:
                    self.flat_since = now_ms()
                elif n:
                    self.flat_since = None

    def flat_after(self, t_ms: int) -> int | None:
        """When the account became (and stayed) flat, counted from `t_ms` at the earliest; None if not flat."""
        with self.lock:
            return None if self.flat_since is None else max(self.flat_since, t_ms)


def _source_adapter():
    from requests.adapters import HTTPAdapter

    class SourceAddress(HTTPAdapter):
        """The SDK's requests session, sending from a given local address."""

        def __init__(self, ip: str) -> None:
            self.ip = ip
            super().__init__()

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["source_address"] = (self.ip, 0)
            super().init_poolmanager(*args, **kwargs)
    return SourceAddress


def _SourceAddress(ip: str) -> Any:  # noqa: N802 - reads as the adapter class it builds
    return _source_adapter()(ip)


def engine_env(key_env: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HLMM_")}
    env.update({key_env: key, "PYTHONUNBUFFERED": "1"})
    return env
