"""Flow-test helpers: a per-test hlmm config pointing at the session's `hlmm sim`, a fresh SQLite ledger and
a real local alert receiver. Flows run in this process against the session Prefect server."""
from __future__ import annotations

import dataclasses
import pathlib
import secrets

import pytest

from tests.alerts.receiver import Receiver


@pytest.fixture(scope="session")
def flows_sim(tmp_path_factory):
    """The flow tests' own `hlmm sim` (a real subprocess, started with the sim room's `start_sim`): the flows
    advance the venue clock by hours for funding, which must not move time under other rooms' tests on the
    shared `sim_server`, and a flow run spends more IP weight than the shared venue's budget leaves room for."""
    from tests.fixtures.sim import start_sim

    sim = start_sim("--ip-weight-per-min", "1000000", seed=11, log_dir=tmp_path_factory.mktemp("flows-sim"))
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture()
def flows_account(flows_sim) -> tuple[str, str]:
    """A new random account on the flows' venue, funded like the sim room's accounts."""
    from eth_account import Account

    key = "0x" + secrets.token_hex(32)
    address = Account.from_key(key).address
    flows_sim.fund(address)
    return address, key


@pytest.fixture(scope="session")
def alert_receiver():
    r = Receiver().start()
    yield r
    r.stop()


@dataclasses.dataclass
class FlowEnv:
    config_path: str
    ledger_url: str
    address: str
    key: str
    key_env: str
    alert_path: str
    receiver: Receiver
    sim: object

    def alerts(self) -> list[dict]:
        import json

        return [json.loads(p.body) for p in self.receiver.on(self.alert_path)]

    def store(self):
        from flows.store import Store

        return Store.from_url(self.ledger_url)


def write_config(tmp_path: pathlib.Path, sim_url: str, address: str, key_env: str, ledger_url: str,
                 alert_url: str, extra: str = "") -> str:
    path = tmp_path / "hlmm.toml"
    path.write_text(f"""
[venue]
network = "local"
base_url = "{sim_url}"
account_address = "{address}"
secret_env = "{key_env}"

[ledger]
url = "{ledger_url}"

[alerts]
dedup_window_s = 0
targets = [{{url = "{alert_url}", severities = ["info", "warning", "critical"]}}]
{extra}
""")
    return str(path)


@pytest.fixture()
def venue_env(tmp_path, flows_sim, flows_account, alert_receiver, prefect_server, monkeypatch) -> FlowEnv:
    """A config for a fresh sim account (key in an env var); the ledger file is not created."""
    address, key = flows_account
    key_env = f"HLMM_TEST_KEY_{secrets.token_hex(4).upper()}"
    monkeypatch.setenv(key_env, key)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    alert_path = f"/alerts/{secrets.token_hex(4)}"
    cfg = write_config(tmp_path, flows_sim.url, address, key_env, ledger_url,
                       f"json://127.0.0.1:{alert_receiver.port}{alert_path}")
    return FlowEnv(cfg, ledger_url, address, key, key_env, alert_path, alert_receiver, flows_sim)


@pytest.fixture()
def flow_env(venue_env, ledger_url, tmp_path) -> FlowEnv:
    """venue_env plus a migrated ledger; runs once on SQLite and once on PostgreSQL (the db room's
    `ledger_url` fixture)."""
    from flows.store import Store

    Store.init(ledger_url)
    venue_env.ledger_url = ledger_url
    venue_env.config_path = write_config(
        tmp_path, venue_env.sim.url, venue_env.address, venue_env.key_env, ledger_url,
        f"json://127.0.0.1:{venue_env.receiver.port}{venue_env.alert_path}")
    return venue_env
