"""`hlmm paper --market mirror:URL` end to end: the local venue copies another venue's public book (here a
second `hlmm sim`, standing in for live Hyperliquid), the engine quotes against the copy, and the command
stops both cleanly when its duration ends."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.orchestrate import free_port
from tests.fixtures.sim import start_sim

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _book_prices(url: str, coin: str) -> tuple[list[str], list[str]] | None:
    r = httpx.post(f"{url}/info", json={"type": "l2Book", "coin": coin}, timeout=5)
    if r.status_code != 200:
        return None
    bids, asks = r.json()["levels"]
    return [lv["px"] for lv in bids[:5]], [lv["px"] for lv in asks[:5]]


def test_paper_mirrors_a_remote_venue_and_quotes_on_it(tmp_path):
    source = start_sim(seed=11, log_dir=tmp_path)  # the "real" venue being mirrored
    out_path = tmp_path / "paper.out"
    port = free_port()
    try:
        with open(out_path, "w") as out:
            proc = subprocess.Popen(
                [str(BIN / "hlmm"), "paper", "--market", f"mirror:{source.url}", "--sim-port", str(port),
                 "--workdir", str(tmp_path / "paper"), "--duration", "40"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        paper = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        mirrored = quoted = False
        address = None
        while time.monotonic() < deadline and not (mirrored and quoted):
            assert proc.poll() is None, out_path.read_text()
            text = out_path.read_text()
            m = re.search(r"paper account (0x[0-9a-fA-F]{40})", text)
            if m:
                address = m.group(1).lower()
                # the copy's top levels are the source's (both read at nearly the same instant)
                mirrored = mirrored or _book_prices(paper, "BTC") == _book_prices(source.url, "BTC") is not None
                orders = httpx.post(f"{paper}/info", json={"type": "openOrders", "user": address}, timeout=5).json()
                quoted = quoted or bool(orders)
            time.sleep(0.5)
        assert mirrored, "the paper venue's BTC book never matched the mirrored venue's"
        assert quoted, "the engine placed no quotes on the paper venue"
        # our quotes live only on the local copy: the mirrored venue never sees the paper account
        assert httpx.post(f"{source.url}/info", json={"type": "openOrders", "user": address},
                          timeout=5).json() == []
        assert proc.wait(timeout=90) == 0, out_path.read_text()
        assert "stopped: engine (0), sim (0)" in out_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        source.stop()
