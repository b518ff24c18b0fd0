"""`hlmm deployments render`: the single-account render is the committed prefect.yaml; one config per account
gives every flow once per account (label in the name, the account's pool and config); bad fleets are refused
naming the file and the key. The multi-host run of what it renders is tests/flows/test_hosts.py."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import yaml

from deployments.catalog import DEPLOYMENTS
from deployments.render import render

REPO = pathlib.Path(__file__).resolve().parents[2]
HLMM = pathlib.Path(sys.executable).with_name("hlmm")
ADDR_A = "0x" + "a1" * 20
ADDR_B = "0x" + "b2" * 20


def _cfg(tmp_path, name: str, address: str | None, deployment: str = "", extra: str = "") -> pathlib.Path:
    p = tmp_path / f"{name}.toml"
    venue = f'[venue]\naccount_address = "{address}"\n' if address else ""
    p.write_text(f"{venue}[deployment]\n{deployment}\n{extra}")
    return p


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HLMM_")}
    return subprocess.run([str(HLMM), "deployments", "render", *args], capture_output=True, text=True, env=env,
                          cwd=str(REPO), timeout=60)


def test_single_account_render_is_the_committed_prefect_yaml():
    committed = yaml.safe_load((REPO / "prefect.yaml").read_text())
    committed.pop("definitions")  # YAML anchors only
    assert render() == committed
    r = _cli()
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout) == committed


def test_one_config_per_account_names_pools_and_configs(tmp_path):
    a = _cfg(tmp_path, "a", ADDR_A, 'label = "desk-a"\nwork_pool = "hlmm-host1"', "[flows]\ndrawdown_audit = 60\n")
    b = _cfg(tmp_path, "b", ADDR_B, 'label = "desk-b"\nwork_pool = "hlmm-host2"\n'
             'worker_config_path = "/etc/hlmm/desk-b.toml"')
    out = tmp_path / "fleet.yaml"
    r = _cli("--config", str(a), "--config", str(b), "--code", "package", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"{2 * len(DEPLOYMENTS)} deployments on work pool(s) hlmm-host1, hlmm-host2" in r.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["pull"] == []  # package: no pull step, the worker imports the installed package
    by = {(d["entrypoint"], d["name"]): d for d in doc["deployments"]}
    assert len(by) == 2 * len(DEPLOYMENTS)
    for d in DEPLOYMENTS:
        for label, pool, path in (("desk-a", "hlmm-host1", str(a.resolve())),
                                  ("desk-b", "hlmm-host2", "/etc/hlmm/desk-b.toml")):
            e = by[(f"flows.{d.flow}.{d.flow}", f"{label}-{d.name}")]
            assert e["work_pool"]["name"] == pool
            assert e["parameters"] == {**d.parameters, "config_path": path}
            assert f"account:{label}" in e["tags"]
    # each account's [flows] schedules are its own
    assert by[("flows.drawdown_audit.drawdown_audit", "desk-a-every-5m")]["schedules"] == [{"interval": 60}]
    assert by[("flows.drawdown_audit.drawdown_audit", "desk-b-every-5m")]["schedules"] == [{"interval": 300}]


def test_module_entrypoints_import_the_flows():
    """What a worker without a checkout does with a `package` entrypoint: import it from the installed package."""
    from prefect.flows import Flow, load_flow_from_entrypoint

    for d in DEPLOYMENTS:
        flow = load_flow_from_entrypoint(d.module_entrypoint, use_placeholder_flow=False)
        assert isinstance(flow, Flow) and flow.name == d.flow


def test_bad_fleets_are_refused_naming_what_is_wrong(tmp_path):
    a = _cfg(tmp_path, "a", ADDR_A, 'label = "desk-a"')
    nolabel = _cfg(tmp_path, "nolabel", ADDR_B)
    r = _cli("--config", str(a), "--config", str(nolabel))
    assert r.returncode == 2 and "nolabel.toml: deployment.label is not set" in r.stderr
    dup = _cfg(tmp_path, "dup", ADDR_B, 'label = "desk-a"')
    r = _cli("--config", str(a), "--config", str(dup))
    assert r.returncode == 2 and "dup.toml: deployment.label = 'desk-a' is already the label of" in r.stderr
    same = _cfg(tmp_path, "same", ADDR_A, 'label = "desk-c"')
    r = _cli("--config", str(a), "--config", str(same))
    assert r.returncode == 2 and f"same.toml: it trades {ADDR_A}" in r.stderr
    bad = _cfg(tmp_path, "bad", ADDR_B, 'label = "Desk B!"')
    r = _cli("--config", str(bad))
    assert r.returncode == 2 and "deployment.label" in r.stderr
    rel = _cfg(tmp_path, "rel", ADDR_B, 'worker_config_path = "etc/b.toml"')
    r = _cli("--config", str(rel))
    assert r.returncode == 2 and "deployment.worker_config_path" in r.stderr
    sq = _cfg(tmp_path, "sq", ADDR_B, 'label = "desk-b"')  # the default ledger: SQLite
    r = _cli("--config", str(a), "--config", str(sq), "--code", "package")
    assert r.returncode == 0 and "warning: " in r.stderr and "sq.toml: ledger.url is SQLite" in r.stderr
    r = _cli("--code", "docker")
    assert r.returncode == 2 and "--code: 'docker' is not one of checkout, package" in r.stderr
    r = _cli("--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "missing.toml: no such file" in r.stderr


def test_one_unlabelled_config_keeps_the_single_account_names(tmp_path):
    """A single account's own config: today's names and pool, its config passed to every flow."""
    a = _cfg(tmp_path, "a", ADDR_A)
    r = _cli("--config", str(a))
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert {(d["entrypoint"], d["name"]) for d in doc["deployments"]} == \
        {(d.entrypoint, d.name) for d in DEPLOYMENTS}
    assert {d["parameters"]["config_path"] for d in doc["deployments"]} == {str(a.resolve())}
