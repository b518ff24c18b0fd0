"""Loopback "hosts" for tests: network namespaces joined to the root namespace by veth pairs.

Each host is a namespace `hlmm<pid>h<n>` whose only ways out are its veth link to the root namespace
(198.18.<x>.2 ↔ 198.18.<x>.1; 198.18.0.0/15 is the range set aside for network tests, RFC 2544) and the
services the root side relays onto that link. The root namespace's services (PostgreSQL, the Prefect server,
the sim) listen on 127.0.0.1, which another namespace cannot reach, so `relay()` runs a socat per service on
the host's link address: a process on the host sees the service at `host.gateway:port`, as it would another
machine's. Everything is removed on exit, also after a failure; `hosts()` skips the test with the reason when
namespaces cannot be made here (not root, no iproute2/socat, no CAP_NET_ADMIN).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest


@dataclasses.dataclass
class Host:
    name: str       # the namespace
    hostname: str   # its UTS name (what socket.gethostname() says in processes started with `command`)
    address: str    # its own address on the veth link
    gateway: str    # the root namespace's side of the link: where relayed services are reached
    procs: list[subprocess.Popen] = dataclasses.field(default_factory=list)

    def command(self, argv: list[str]) -> list[str]:
        """argv run inside this host: its network namespace and a UTS namespace with its own hostname."""
        return ["ip", "netns", "exec", self.name, "unshare", "--uts", "--", "sh", "-c",
                f'hostname {self.hostname} && exec "$@"', "sh", *argv]

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(self.command(argv), **kwargs)
        self.procs.append(proc)
        return proc


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add); run as root or in CI"
    for tool in ("ip", "unshare", "socat"):
        if not shutil.which(tool):
            return f"{tool} is not installed (iproute2, util-linux, socat)"
    probe = f"hlmm{os.getpid()}probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        return f"cannot create a network namespace here: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=20)
    return None


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _teardown(host: Host, veth_root: str) -> None:
    for proc in reversed(host.procs):
        stop(proc)
    # anything a process of ours left in the namespace (a worker's flow-run child): only our processes live there
    r = subprocess.run(["ip", "netns", "pids", host.name], capture_output=True, text=True, timeout=20)
    for pid in r.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", host.name], capture_output=True, timeout=20)
    subprocess.run(["ip", "link", "del", veth_root], capture_output=True, timeout=20)  # gone with the ns, normally


@contextlib.contextmanager
def hosts(n: int) -> Iterator[list[Host]]:
    """n hosts, each on its own veth link to the root namespace; removed on exit."""
    why = unavailable()
    if why:
        pytest.skip(why)
    # distinct links for concurrent sessions (by pid) and for the workers of one session (by xdist worker slot:
    # two workers' pids could agree modulo the range)
    slot = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = (slot % 4) * 62 + (os.getpid() % 28) * 2
    made: list[tuple[Host, str]] = []
    try:
        for i in range(1, n + 1):
            ns, veth_root, veth_host = f"hlmm{os.getpid()}h{i}", f"hv{os.getpid()}r{i}", f"hv{os.getpid()}h{i}"
            sub = f"198.18.{base + i}"
            host = Host(ns, f"host{i}", f"{sub}.2", f"{sub}.1")
            _ip("netns", "add", ns)
            made.append((host, veth_root))
            _ip("link", "add", veth_root, "type", "veth", "peer", "name", veth_host)
            _ip("link", "set", veth_host, "netns", ns)
            _ip("addr", "add", f"{host.gateway}/30", "dev", veth_root)
            _ip("link", "set", veth_root, "up")
            _ip("-n", ns, "addr", "add", f"{host.address}/30", "dev", veth_host)
            _ip("-n", ns, "link", "set", veth_host, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield [h for h, _ in made]
    finally:
        for host, veth_root in made:
            _teardown(host, veth_root)


def relay(host: Host, port: int, target_port: int, log) -> subprocess.Popen:
    """socat in the root namespace: host.gateway:port (the host's side of its link) → 127.0.0.1:target_port."""
    proc = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind={host.gateway},fork,reuseaddr",
                             f"TCP:127.0.0.1:{target_port}"], stdout=log, stderr=subprocess.STDOUT)
    host.procs.insert(0, proc)  # stopped last: the host's processes may still be talking through it
    return proc
