"""A private `hlmm sim` for benchmarks that need a venue over real sockets (order round trip, paper run)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from engine.orchestrate import free_port

REPO = Path(__file__).resolve().parents[2]


def start_local_sim(*args: str, timeout_s: float = 30.0) -> tuple[subprocess.Popen, str]:
    """Start `hlmm sim` on a free loopback port with extra `args` (seed, funding, limits); return
    (process, base URL) once POST /info answers. The caller stops the process."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "engine.cli", "sim", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hlmm sim exited with {proc.returncode} before answering")
        try:
            if httpx.post(f"{url}/info", json={"type": "meta", "dex": ""}, timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"hlmm sim did not answer within {timeout_s:.0f} s")
