"""`hlmm up` end to end, as a user runs it: the local venue, the paper engine, a Prefect server and the
served flows as real processes on free ports. The engine quotes on the venue; a daily report triggered
by hand (as from the UI) completes; headless Debian Chromium opens the Prefect UI and finds the report
artifact (screenshot saved in the test's temp dir); Ctrl-C stops every child cleanly."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.orchestrate import free_port

CHROMIUM = "/usr/bin/chromium"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    # flags keep Chromium off the network (this machine has none) and out of first-run work
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--window-size=1400,900"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


def _wait_for(predicate, timeout_s: float, what: str, proc: subprocess.Popen, out_path: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"hlmm up exited ({proc.returncode}) while waiting for {what}:\n{out_path.read_text()}")
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{out_path.read_text()}")


def test_hlmm_up_serves_engine_flows_and_ui(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("Debian chromium is missing: `make test` installs it (.ci/ensure-browser)")
    sim_port, prefect_port = free_port(), free_port()
    out_path = tmp_path / "up.out"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [str(BIN / "hlmm"), "up", "--workdir", str(tmp_path / "up"), "--sim-port", str(sim_port),
             "--prefect-port", str(prefect_port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        _wait_for(lambda: "Ctrl-C stops everything" in out_path.read_text(), 180, "hlmm up to be ready",
                  proc, out_path)
        text = out_path.read_text()
        address = re.search(r"paper account (0x[0-9a-fA-F]{40})", text).group(1).lower()
        venue = f"http://127.0.0.1:{sim_port}"
        api = f"http://127.0.0.1:{prefect_port}/api"

        # the engine quotes on the venue: open orders of the paper account appear
        def open_orders():
            r = httpx.post(f"{venue}/info", json={"type": "openOrders", "user": address}, timeout=5)
            return r.json() if r.status_code == 200 else None
        orders = _wait_for(open_orders, 90, "the engine's quotes on the venue", proc, out_path)
        assert {o["coin"] for o in orders} & {"HYPE", "@1", "BTC"}, orders

        # trigger the daily report as a user would from the UI (a manual deployment run) and wait for it
        run = subprocess.run([str(BIN / "prefect"), "deployment", "run", "daily_report/daily", "--watch"],
                             capture_output=True, text=True, timeout=180,
                             env={**env, "PREFECT_API_URL": api})
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Completed" in run.stdout

        arts = httpx.post(f"{api}/artifacts/filter",
                          json={"artifacts": {"key": {"any_": ["daily-report"]}}}, timeout=10).json()
        assert arts, "the daily report flow created no 'daily-report' artifact"
        artifact_id = arts[0]["id"]

        # the browser: the artifact page renders the report's markdown
        page = f"http://127.0.0.1:{prefect_port}/artifacts/artifact/{artifact_id}"
        dom = _chromium(["--dump-dom", page], tmp_path / "profile-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert "Daily report" in dom.stdout, dom.stdout[-3000:]
        shot = tmp_path / "daily-report.png"
        snap = _chromium([f"--screenshot={shot}", page], tmp_path / "profile-shot")
        assert snap.returncode == 0 and shot.stat().st_size > 10_000, snap.stderr[-2000:]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    text = out_path.read_text()
    assert proc.returncode == 0, text
    assert re.search(r"stopped: flows \(0\), prefect-server \(0\), engine \(0\), sim \(0\)", text), text
    # the engine's clean exit pulled its quotes: nothing of ours rests on the (stopped) venue's saved state
    engine_log = (tmp_path / "up" / "logs" / "engine.log").read_text()
    assert "clean exit" in engine_log, engine_log[-2000:]
