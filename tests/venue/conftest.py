"""Shared helpers for venue-client tests against the real `hlmm sim` subprocess (sim_server fixture)."""
from __future__ import annotations

import asyncio

import pytest

from engine.venue.limits import IpWeightBucket, NonceManager
from engine.venue.rest import VenueRest


@pytest.fixture
def sim(sim_server):
    """The session sim with a generous IP budget (many tests share 127.0.0.1) and no faults; both restored."""
    sim_server.admin("faults", {})
    sim_server.admin("limits", {"ip_weight_per_min": 10_000_000})
    try:
        yield sim_server
    finally:
        sim_server.admin("faults", {})
        sim_server.admin("limits", {})


async def _no_sleep(_s: float) -> None:
    await asyncio.sleep(0)


def make_rest(sim, key: str | None = None, tmp_path=None, **kw) -> VenueRest:
    """A VenueRest on the sim; backoff sleeps are real but tiny so fault tests stay fast."""
    kw.setdefault("bucket", IpWeightBucket(capacity=1_000_000))
    kw.setdefault("backoff_base_s", 0.005)
    kw.setdefault("backoff_max_s", 0.05)
    if tmp_path is not None:
        kw.setdefault("nonces", NonceManager(tmp_path / "nonce"))
    return VenueRest(sim.url, private_key=key, **kw)
