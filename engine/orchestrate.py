"""Process supervision for `hlmm up` and `hlmm paper`: start the local venue, the engine, the Prefect
server and the served flows as child processes, wait until each is ready, and stop them all cleanly.

Why child processes and not one asyncio program: the engine must never import Prefect (DESIGN.md), the
venue must never import the engine, and each part is the same program a user runs on its own
(`hlmm sim`, `hlmm run`, `prefect server start`, `python -m deployments.serve`), so the demo exercises
exactly what production runs. Children are started with `subprocess.Popen` (a shell `&` would leave a
Prefect worker that ignores SIGTERM) in their own process group so Ctrl-C reaches only us, and we
stop them in reverse start order: SIGINT first (the engine cancels its quotes on SIGINT), then
SIGTERM, then SIGKILL.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import httpx

QUIET_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class OrchestrationError(RuntimeError):
    """A child failed to start or become ready; the message names it and where its log is."""


@dataclasses.dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen
    log_file: object

    def alive(self) -> bool:
        return self.process.poll() is None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_ok(url: str, *, method: str = "GET", json: object | None = None) -> Callable[[], bool]:
    """A readiness probe: True once `url` answers 200."""
    def probe() -> bool:
        try:
            r = httpx.request(method, url, json=json, timeout=2.0)
        except httpx.HTTPError:
            return False
        return r.status_code == 200
    return probe


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


class Supervisor:
    """Starts children in order, watches them, and stops all of them in reverse order."""

    def __init__(self, log_dir: Path, echo: Callable[[str], None] = print) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.echo = echo

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
              ready: Callable[[], bool] | None = None, ready_timeout_s: float = 60.0) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        full_env = {**os.environ, **QUIET_ENV, **(env or {})}
        # own process group: a terminal Ctrl-C goes to us only, and we decide the stop order
        process = subprocess.Popen(list(argv), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=full_env, start_new_session=True)
        child = Child(name=name, argv=list(argv), log_path=log_path, process=process, log_file=log_file)
        self.children.append(child)
        if ready is not None:
            deadline = time.monotonic() + ready_timeout_s
            while not ready():
                if not child.alive():
                    raise OrchestrationError(
                        f"{name} exited with status {process.returncode} before it was ready; "
                        f"log {log_path}:\n{tail(log_path)}")
                if time.monotonic() > deadline:
                    raise OrchestrationError(
                        f"{name} was not ready within {ready_timeout_s:.0f} s; log {log_path}:\n{tail(log_path)}")
                time.sleep(0.2)
        return child

    def first_exited(self) -> Child | None:
        for child in self.children:
            if not child.alive():
                return child
        return None

    def wait(self, duration_s: float | None = None) -> Child | None:
        """Block until a child exits (returned), `duration_s` passes, or SIGINT/SIGTERM arrives (None)."""
        stop = {"flag": False}

        def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
            stop["flag"] = True

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            deadline = None if duration_s is None else time.monotonic() + duration_s
            while not stop["flag"]:
                exited = self.first_exited()
                if exited is not None:
                    return exited
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                time.sleep(0.2)
            return None
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def stop_all(self, grace_s: float = 15.0) -> dict[str, int | None]:
        """Stop children in reverse start order; returns {name: exit status}."""
        statuses: dict[str, int | None] = {}
        for child in reversed(self.children):
            statuses[child.name] = self._stop(child, grace_s)
            child.log_file.close()
        return statuses

    @staticmethod
    def _stop(child: Child, grace_s: float) -> int | None:
        p = child.process
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if p.poll() is not None:
                break
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        return p.poll()


def hlmm_argv(*args: str) -> list[str]:
    """Run a sibling `hlmm` command with the same interpreter (works inside and outside the venv)."""
    return [sys.executable, "-m", "engine.cli", *args]


def run_supervised(name: str, log_dir: Path, start: Callable[[Supervisor], list[str]],
                   duration_s: float | None, echo: Callable[..., None]) -> int:
    """Start children with `start(sup)` (it returns the lines to print once everything is ready), wait until
    Ctrl-C / SIGTERM / `duration_s` / a child exits, then stop all children in reverse order.
    Returns the exit status: 0 on a requested stop, 1 when a child failed to start or died."""
    sup = Supervisor(log_dir, echo=echo)
    status = 0
    try:
        for line in start(sup):
            echo(line)
        echo("Ctrl-C stops everything.")
        exited = sup.wait(duration_s)
        if exited is not None:
            echo(f"{name}: {exited.name} exited with status {exited.process.returncode}; stopping the rest. "
                 f"Last lines of {exited.log_path}:\n{tail(exited.log_path)}", err=True)
            status = 1
    except OrchestrationError as exc:
        echo(f"{name}: {exc}", err=True)
        status = 1
    finally:
        statuses = sup.stop_all()
        echo("stopped: " + ", ".join(f"{n} ({s})" for n, s in statuses.items()))
    return status

