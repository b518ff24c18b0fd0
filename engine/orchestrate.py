"""Process supervision for `hlmm up` and `hlmm paper`: start the local venue, the engine, the Prefect
server and the served flows as child processes, wait until each is ready, and stop them all cleanly.

Why child processes and not one asyncio program: the engine must never import Prefect (DESIGN.md), the
venue must never import the engine, and each part is the same program a user runs on its own
(`hlmm sim`, `hlmm run`, `prefect server start`, `python -m deployments.serve`), so the demo exercises
exactly what production runs. Children are started with `subprocess.Popen` (a shell `&` would leave a
Prefect worker that ignores SIGTERM) in their own process group so Ctrl-C reaches only us.

Stopping: SIGINT first (the engine cancels its quotes on SIGINT), then SIGTERM, then SIGKILL, to each child's
whole process group. Children stop in two waves, each in parallel (a sequential stop waited for each child in
turn): first the engine and the served flows, then the venue and the Prefect server they still talk to while
stopping (the engine cancels its quotes through the venue; the flows pause their deployments on the server).

Dying: each child runs under a guard (`python -m engine.orchestrate guard -- ARGV`, see `guard`) that asks the
kernel for a signal when the supervisor dies (prctl PR_SET_PDEATHSIG; a getppid() poll where that is not
available) and then stops its child's process group the same way. So a SIGKILL of `hlmm up` leaves no engine
trading unsupervised and no port taken. SIGHUP and SIGTERM are handled like Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

QUIET_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class OrchestrationError(RuntimeError):
    """A child failed to start or become ready; the message names it and where its log is."""


@dataclasses.dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen  # the guard (`guard`), whose process group holds the child and its children
    log_file: object
    last: bool = False          # stopped in the second wave (a service the others need while stopping)

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
    import httpx  # here, not at the top: the guard imports this module and must start fast

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
    """Starts children in order, watches them, and stops all of them (the `last` ones after the rest)."""

    def __init__(self, log_dir: Path, echo: Callable[[str], None] = print) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.echo = echo

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
              ready: Callable[[], bool] | None = None, ready_timeout_s: float = 60.0, last: bool = False,
              linger_s: float = 0.0) -> Child:
        """Start `argv` under a guard; `linger_s`: how long the guard waits, once the supervisor is gone,
        before stopping this child (the venue lingers so the engine can still cancel through it)."""
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        full_env = {**os.environ, **QUIET_ENV, **(env or {})}
        guarded = [sys.executable, "-m", "engine.orchestrate", "guard", "--linger", str(linger_s), "--", *argv]
        # own session and process group: a terminal Ctrl-C or hangup goes to us only, and we decide the order
        process = subprocess.Popen(guarded, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=full_env, start_new_session=True)
        child = Child(name=name, argv=list(argv), log_path=log_path, process=process, log_file=log_file, last=last)
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
        """Block until a child exits (returned) or `duration_s` passes (None). A stop signal arrives as
        KeyboardInterrupt (see `run_supervised`)."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while True:
            exited = self.first_exited()
            if exited is not None:
                return exited
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.2)

    def stop_all(self, grace_s: float = 15.0) -> dict[str, int | None]:
        """Stop every child: all but the `last` ones at once, then those; returns {name: exit status} in
        reverse start order."""
        stop_group([c.process for c in self.children if not c.last], grace_s)
        stop_group([c.process for c in self.children if c.last], grace_s)
        statuses: dict[str, int | None] = {}
        for child in reversed(self.children):
            statuses[child.name] = child.process.poll()
            child.log_file.close()
        return statuses


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(processes: Sequence[subprocess.Popen], grace_s: float, own_group: bool = False) -> None:
    """SIGINT, then SIGTERM after `grace_s`, to each process (a guard forwards it to its program alone, which
    stops its own children: the served flows cancel their runs rather than have them crash on a stray SIGINT),
    then SIGKILL to each whole process group after 5 s more; all in parallel. A guard that is already gone (killed
    itself) may have left its program running in its group: the group gets every signal directly.
    `own_group`: the processes share the caller's group (the guard stopping its child)."""
    def alive(p: subprocess.Popen) -> bool:
        return p.poll() is None or (not own_group and _group_alive(p.pid))

    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        live = [p for p in processes if alive(p)]
        if not live:
            return
        for p in live:
            try:
                if own_group:
                    os.kill(p.pid, sig) if sig != signal.SIGKILL else os.killpg(os.getpgrp(), sig)
                elif sig != signal.SIGKILL and p.poll() is None:
                    os.kill(p.pid, sig)
                else:
                    os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while any(alive(p) for p in live) and time.monotonic() < deadline:
            time.sleep(0.05)


def hlmm_argv(*args: str) -> list[str]:
    """Run a sibling `hlmm` command with the same interpreter (works inside and outside the venv)."""
    return [sys.executable, "-m", "engine.cli", *args]


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def run_supervised(name: str, log_dir: Path, start: Callable[[Supervisor], list[str]],
                   duration_s: float | None, echo: Callable[..., None]) -> int:
    """Start children with `start(sup)` (it returns the lines to print once everything is ready), wait until
    Ctrl-C / SIGTERM / SIGHUP / `duration_s` / a child exits, then stop all children.
    Returns the exit status: 0 on a requested stop, 1 when a child failed to start or died."""
    sup = Supervisor(log_dir, echo=echo)
    status = 0
    previous = {s: signal.signal(s, _interrupt) for s in _STOP_SIGNALS}
    try:
        for line in start(sup):
            echo(line)
        echo("Ctrl-C stops everything.")
        exited = sup.wait(duration_s)
        if exited is not None:
            echo(f"{name}: {exited.name} exited with status {exited.process.returncode}; stopping the rest. "
                 f"Last lines of {exited.log_path}:\n{tail(exited.log_path)}", err=True)
            status = 1
    except KeyboardInterrupt:
        pass  # a requested stop, during start-up or while running
    except OrchestrationError as exc:
        echo(f"{name}: {exc}", err=True)
        status = 1
    finally:
        for s in _STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        t0 = time.monotonic()
        statuses = sup.stop_all()
        echo("stopped: " + ", ".join(f"{n} ({s})" for n, s in statuses.items())
             + f" in {time.monotonic() - t0:.1f} s")
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status


# ------------------------------------------------------------------ the guard around each child
PARENT_DEATH_SIGNAL = signal.SIGUSR1
_PR_SET_PDEATHSIG = 1


def _ask_for_parent_death_signal(sig: int) -> bool:
    """prctl(PR_SET_PDEATHSIG): the kernel sends `sig` when our parent dies, however it dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def guard(argv: Sequence[str], linger_s: float = 0.0, grace_s: float = 10.0, poll_s: float = 0.5) -> int:
    """Run `argv` in this process group; return its exit status. If the supervisor that started us dies first,
    stop the whole group (SIGINT, SIGTERM, SIGKILL) after `linger_s`.

    The supervisor's stop signals (SIGINT, SIGTERM) are forwarded to the child; the guard itself outlives its
    child, which keeps the supervisor's wait() meaningful. SIGKILL goes to the whole group."""
    parent = os.getppid()
    orphaned = threading.Event()
    signal.signal(PARENT_DEATH_SIGNAL, lambda *_: orphaned.set())
    _ask_for_parent_death_signal(PARENT_DEATH_SIGNAL)
    if os.getppid() != parent or parent == 1:  # the supervisor died before the signal was armed
        return 1
    child = subprocess.Popen(list(argv))

    def forward(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
        try:
            os.kill(child.pid, signum)
        except ProcessLookupError:
            pass

    for s in _STOP_SIGNALS:  # after the spawn: the child starts with the default handlers
        signal.signal(s, forward)
    while True:
        try:
            code = child.wait(timeout=poll_s)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            pass
        if orphaned.is_set() or os.getppid() != parent:  # the poll: where prctl is not available
            break
    deadline = time.monotonic() + linger_s
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_group([child], grace_s, own_group=True)
    return 1


def _main(args: list[str]) -> int:
    if len(args) >= 4 and args[0] == "guard" and args[1] == "--linger" and "--" in args:
        rest = args[args.index("--") + 1:]
        if rest:
            return guard(rest, linger_s=float(args[2]))
    print("usage: python -m engine.orchestrate guard --linger SECONDS -- ARGV...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
