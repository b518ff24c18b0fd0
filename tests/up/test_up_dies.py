"""`hlmm up` dying does not leave its children behind: after a SIGKILL (no clean-up code runs at all) every
process it started ends, both ports are free and `hlmm up` starts again on the same work directory; a SIGHUP
(terminal closed) stops everything cleanly. Real processes throughout: venue, engine, Prefect server, flows."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.orchestrate import free_port, port_is_free

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_up(workdir: Path, sim_port: int, prefect_port: int, out_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    out = open(out_path, "w")
    proc = subprocess.Popen([str(BIN / "hlmm"), "up", "--workdir", str(workdir), "--sim-port", str(sim_port),
                             "--prefect-port", str(prefect_port)], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while "Ctrl-C stops everything" not in out_path.read_text():
        assert proc.poll() is None, out_path.read_text()
        assert time.monotonic() < deadline, "hlmm up not ready:\n" + out_path.read_text()
        time.sleep(0.2)
    return proc


def wait_gone(pids: set[int], ports: tuple[int, ...], timeout_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if not any(alive(p) for p in pids) and all(port_is_free(p) for p in ports):
            return time.monotonic() - t0
        time.sleep(0.2)
    left = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:200] for p in pids if alive(p)}
    pytest.fail(f"after {timeout_s} s still alive: {left}; ports taken: {[p for p in ports if not port_is_free(p)]}")


def test_sigkill_and_sighup_of_hlmm_up_leave_nothing_behind(tmp_path):
    workdir = tmp_path / "up"
    ports = (free_port(), free_port())
    first = start_up(workdir, *ports, tmp_path / "first.out")
    family = descendants(first.pid)
    assert len(family) >= 8, family  # a guard and a program for each of the four children, at least
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # the venue lingers 5 s so the engine can still cancel its quotes through it
    took = wait_gone(family, ports, 30)
    assert took < 20, took
    assert "clean exit" in (workdir / "logs" / "engine.log").read_text()[-5000:], "the orphaned engine did not cancel"

    second = start_up(workdir, *ports, tmp_path / "second.out")  # same work directory, same ports
    family = descendants(second.pid)
    second.send_signal(signal.SIGHUP)
    assert second.wait(timeout=60) == 0, (tmp_path / "second.out").read_text()
    wait_gone(family, ports, 10)
    assert "stopped: flows (0), prefect-server (0), engine (0), sim (0)" in (tmp_path / "second.out").read_text()
