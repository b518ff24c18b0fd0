"""A headless Debian Chromium driven over the Chrome DevTools Protocol (websockets; no browser download): open a
page, wait for something in it, click a button by its text, read values, take a screenshot. Enough to use the
Prefect UI the way a person does, with no extra test dependency."""
from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from engine.orchestrate import free_port

CHROMIUM = "/usr/bin/chromium"
# keep Chromium off the network (this machine has none) and out of first-run work
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000"]


class Browser:
    def __init__(self, profile: Path) -> None:
        if not os.access(CHROMIUM, os.X_OK):
            raise RuntimeError("Debian chromium is missing: `make test` installs it (.ci/ensure-browser)")
        port = free_port()
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                                      f"--remote-debugging-port={port}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration, ValueError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("chromium's DevTools endpoint did not come up")
                time.sleep(0.2)
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params: Any) -> dict:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"js failed: {r['exceptionDetails'].get('text')} in {expression[:120]}")
        return r["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout_s: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                value = self.js(expression)
            except RuntimeError:  # the page is between documents (navigation): not there yet
                value = None
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what or expression[:100]}; page text: "
                             + str(self.js("document.body ? document.body.innerText.slice(0, 1500) : ''")))

    def click_text(self, text: str, selector: str = "button, [role=menuitem], a", timeout_s: float = 20) -> None:
        """Click the first visible element matching `selector` whose text is exactly `text`."""
        found = self.wait_for(f"""(() => {{
            const el = [...document.querySelectorAll({json.dumps(selector)})].find(
                e => e.innerText && e.innerText.trim() === {json.dumps(text)} && e.offsetParent !== null);
            if (!el) return false;
            el.scrollIntoView(); el.click(); return true; }})()""", timeout_s, f"a {text!r} to click")
        assert found

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
