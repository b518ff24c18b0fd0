"""`hlmm up` dying does not leave its children behind. The SIGKILL case (no clean-up code runs at all; the
guards stop the children) runs with the full stack in test_up.py, before the new user's path starts `hlmm up`
again on the same ports. Here: a SIGHUP (the terminal closed) is a clean stop like Ctrl-C, and a child that dies
takes the rest down with a non-zero status. Helpers shared with test_up.py."""
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


def start_up(workdir: Path, sim_port: int, prefect_port: int, out_path: Path,
             extra: list[str] | tuple[str, ...] = ()) -> subprocess.Popen:
    """`hlmm up` on these ports, returned once it prints that it is ready."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    out = open(out_path, "w")
    proc = subprocess.Popen([str(BIN / "hlmm"), "up", "--workdir", str(workdir), "--sim-port", str(sim_port),
                             "--prefect-port", str(prefect_port), *extra], stdout=out, stderr=subprocess.STDOUT,
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


def test_sighup_stops_everything_cleanly(tmp_path):
    ports = (free_port(), free_port())
    metrics = free_port()
    up = start_up(tmp_path / "up", *ports, tmp_path / "up.out", ["--no-prefect", "--metrics-port", str(metrics)])
    family = descendants(up.pid)
    assert len(family) >= 4, family  # a guard and a program for the venue and the engine
    up.send_signal(signal.SIGHUP)
    assert up.wait(timeout=60) == 0, (tmp_path / "up.out").read_text()
    wait_gone(family, (*ports, metrics), 10)
    assert "stopped: engine (0), sim (0)" in (tmp_path / "up.out").read_text()
    assert "clean exit" in (tmp_path / "up" / "logs" / "engine.log").read_text()[-5000:]


def test_a_child_that_dies_takes_the_rest_down(tmp_path):
    ports = (free_port(), free_port())
    metrics = free_port()
    up = start_up(tmp_path / "up", *ports, tmp_path / "up.out", ["--no-prefect", "--metrics-port", str(metrics)])
    family = descendants(up.pid)
    # the venue's guard is killed: its program is left without the process that would stop it
    guard = next(p for p in family if b"guard" in Path(f"/proc/{p}/cmdline").read_bytes()
                 and b"engine.cli\0sim" in Path(f"/proc/{p}/cmdline").read_bytes())
    os.kill(guard, signal.SIGKILL)
    assert up.wait(timeout=60) == 1, (tmp_path / "up.out").read_text()
    wait_gone(family, (*ports, metrics), 10)
    assert "sim exited with status" in (tmp_path / "up.out").read_text()
