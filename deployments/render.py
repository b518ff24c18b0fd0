"""prefect.yaml from the catalogue: once for the single account (the committed prefect.yaml), or once per
account config, every deployment named after its account and sent to that account's work pool.

    hlmm deployments render                                   # the single-account prefect.yaml
    hlmm deployments render --config a.toml --config b.toml --code package --out fleet.yaml

Every flow of an account gets `config_path` = that account's config, so it reads and writes that account's
ledger rows (params, controls, alerts) and trades that account. `--code` says how the code reaches a worker:

- `checkout`: entrypoints are files (`flows/x.py:x`) and the pull step changes into the directory `prefect
  deploy` ran from (`{{ $PWD }}`), so every worker host needs the checkout at that same path (today's layout);
- `package`: entrypoints are module paths (`flows.x.x`) and there is no pull step, so a worker on any host, in
  any directory, runs the flows from the hlmm package installed in its Python environment.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable

from deployments.catalog import DEPLOYMENTS, WORK_POOL

CODE_MODES = ("checkout", "package")
CHECKOUT_PULL = [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}]
PREFECT_VERSION = "3.9.1"  # the version prefect.yaml was written for (pyproject pins the minor)


class RenderError(ValueError):
    """A fleet that cannot be deployed as given; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Account:
    """One account's share of the deployments."""
    label: str | None = None          # None: the single-account names of prefect.yaml
    work_pool: str = WORK_POOL
    config_path: str | None = None    # passed to every flow of the account; None: the flows' own default
    flows_cfg: Any = None             # the account's [flows] schedules; None: the defaults
    address: str | None = None        # the venue account the config trades (for the duplicate check)
    ledger_url: str | None = None


SINGLE = Account()


def account_from_config(path: str | os.PathLike, env: dict[str, str] | None = None) -> Account:
    """The Account one config file describes; raises ConfigError naming the bad key."""
    from engine.config import load_config

    cfg = load_config(path, os.environ if env is None else env)
    d = cfg.deployment
    return Account(label=d.label, work_pool=d.work_pool,
                   config_path=d.worker_config_path or str(Path(path).resolve()),
                   flows_cfg=cfg.flows, address=cfg.venue.trading_account, ledger_url=cfg.ledger.url)


def check_fleet(accounts: list[Account], sources: list[str]) -> None:
    """Refuse a fleet whose deployments would collide or whose accounts would share one ledger account."""
    if len(accounts) > 1:
        for acc, src in zip(accounts, sources):
            if not acc.label:
                raise RenderError(f"{src}: deployment.label is not set; with several accounts each config needs "
                                  "its own label (it goes into the deployment names), e.g. label = \"desk-a\"")
    seen_label: dict[str, str] = {}
    seen_address: dict[str, str] = {}
    for acc, src in zip(accounts, sources):
        if acc.label in seen_label:
            raise RenderError(f"{src}: deployment.label = {acc.label!r} is already the label of "
                              f"{seen_label[acc.label]}; labels must differ")
        seen_label[acc.label] = src
        if len(accounts) > 1 and not acc.address:
            raise RenderError(f"{src}: venue.account_address is not set; with several accounts each config must "
                              "name the account it trades")
        if acc.address and acc.address in seen_address:
            raise RenderError(f"{src}: it trades {acc.address} (venue.vault_address, else venue.account_address) "
                              f"like {seen_address[acc.address]}; one config per account")
        if acc.address:
            seen_address[acc.address] = src


def fleet_warnings(accounts: list[Account], sources: list[str], code: str) -> list[str]:
    """What renders but will not work across hosts: a SQLite ledger lives in one host's file system."""
    if code != "package":
        return []
    return [f"{src}: ledger.url is SQLite; workers and engines on other hosts cannot share it: use PostgreSQL"
            for acc, src in zip(accounts, sources) if acc.ledger_url and acc.ledger_url.startswith("sqlite")]


def deployment_entries(account: Account, code: str = "checkout") -> list[dict[str, Any]]:
    """The prefect.yaml `deployments:` entries of one account, in catalogue order."""
    if code not in CODE_MODES:
        raise RenderError(f"--code: {code!r} is not one of {', '.join(CODE_MODES)}")
    out = []
    for d in DEPLOYMENTS:
        cron, interval_s = d.schedule(account.flows_cfg)
        schedules = [{"cron": cron, "timezone": "UTC"}] if cron else [{"interval": interval_s}] if interval_s else []
        params = dict(d.parameters)
        if account.config_path:
            params["config_path"] = account.config_path
        tags = ["hlmm", "prod"] + ([f"account:{account.label}"] if account.label else [])
        out.append({
            "name": d.name_for(account.label),
            "entrypoint": d.entrypoint if code == "checkout" else d.module_entrypoint,
            "description": d.description + (f" (account {account.label})" if account.label else ""),
            "tags": tags,
            "parameters": params,
            "schedules": schedules,
            "work_pool": {"name": account.work_pool, "work_queue_name": "default", "job_variables": {}},
        })
    return out


def render(accounts: Iterable[Account] = (SINGLE,), code: str = "checkout") -> dict[str, Any]:
    """The whole prefect.yaml document for these accounts."""
    entries = [e for acc in accounts for e in deployment_entries(acc, code)]
    return {"name": "hlmm", "prefect-version": PREFECT_VERSION, "build": None, "push": None,
            # package: an explicit empty list, so `prefect deploy` adds no pull step of its own
            "pull": CHECKOUT_PULL if code == "checkout" else [],
            "deployments": entries}


def render_configs(paths: list[str], code: str = "checkout",
                   env: dict[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """(render(), warnings) for the accounts these config files describe (none: the single-account prefect.yaml)."""
    if not paths:
        return render((SINGLE,), code), []
    accounts = [account_from_config(p, env) for p in paths]
    check_fleet(accounts, [str(p) for p in paths])
    return render(accounts, code), fleet_warnings(accounts, [str(p) for p in paths], code)


def to_yaml(doc: dict[str, Any], command: str) -> str:
    import yaml

    head = ("# Generated by `" + command + "` from deployments/catalog.py and the account configs;\n"
            "# regenerate rather than edit (docs/operations.md). All schedules are UTC.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
