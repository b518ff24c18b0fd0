"""Fixtures for engine end-to-end tests: an in-process engine against the session `hlmm sim`."""
from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.engine.helpers import KEY_ENV, write_config


@pytest.fixture
def engine_config(tmp_path, sim_server, fresh_account, monkeypatch):
    """(config, address, key) for a fresh funded account; the key only in the environment."""
    address, key = fresh_account
    monkeypatch.setenv(KEY_ENV, key)
    for name in list(__import__("os").environ):
        if name.startswith("HLMM_") and name != KEY_ENV:
            monkeypatch.delenv(name)
    return write_config(tmp_path, sim_server.url, address), address, key


@contextlib.asynccontextmanager
async def running_engine(config_path, key, **kwargs):
    """Start an Engine in this event loop; stop it cleanly (cancel-all) on exit."""
    from engine.config import load_config
    from engine.loop import Engine

    cfg = load_config(config_path)
    engine = Engine(cfg, key, **kwargs)
    task = asyncio.create_task(engine.run())
    started = asyncio.create_task(engine.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the startup error
    if started not in done:
        task.cancel()
        raise AssertionError("engine did not start within 30 s")
    try:
        yield engine
    finally:
        engine.stop()
        await asyncio.wait_for(task, 30)


@pytest.fixture(scope="session")
def engine_sim(tmp_path_factory):
    """A private `hlmm sim` for tests that move the venue clock (funding hour, dead man's switch expiry):
    advancing the shared session venue would put its clock ahead of the wall-time nonces other rooms'
    tests rely on."""
    from tests.fixtures.sim import start_sim

    sim = start_sim(seed=11, log_dir=tmp_path_factory.mktemp("engine-sim"))
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def engine_account(engine_sim) -> tuple[str, str]:
    """A new account on `engine_sim`, funded like `fresh_account`."""
    import secrets

    from eth_account import Account

    key = "0x" + secrets.token_hex(32)
    address = Account.from_key(key).address
    engine_sim.fund(address)
    return address, key
