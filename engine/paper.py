"""The paper-trading setup shared by `hlmm up` and `hlmm paper`: a local paper account (key in a 0600
file, never printed), the local venue funded for it, and a config file pointing the engine and the
flows at both.

The account and the venue state live in a work directory (default `var/up` or `var/paper`) so a
restart continues the same paper account: the venue saves its state on exit (`--state`), and it is
funded only when no saved state exists yet.
"""
from __future__ import annotations

import dataclasses
import os
from decimal import Decimal
from pathlib import Path

from engine.orchestrate import Supervisor, hlmm_argv, http_ok

PAPER_USDC_PERP = Decimal("100000")
PAPER_USDC_SPOT = Decimal("50000")
# about the default carry size (carry.target_notional_usd 1000 at ~30 USDC): the engine hedges it with a
# perp short instead of dumping a large spot balance on its first tick
PAPER_HYPE_SPOT = Decimal("35")
# `hlmm up`'s synthetic market: system takers trade once per market per second on average (the sim's default is
# 0.25), and its other makers rest 1 bp either side of mid. The demo quotes inside that, one level a side, so
# the takers reach it and the paper account fills on both legs within a minute. A synthetic market, not a forecast.
DEMO_TAKER_INTENSITY = 1.0
# The engine and every flow share the venue's per-IP request weight (1200/min on Hyperliquid), and the demo's
# engine trades far more often than a real book would let it: at 1200 the flows' reads pushed the engine's own
# scheduleCancel into 429s. The demo venue allows 20,000/min and each process budgets 5,000 (local only).
DEMO_VENUE_WEIGHT_PER_MIN = 20_000
# the demo's quoting alone (the scale-out bench sets its own [limits])
DEMO_QUOTING = ("[strategy]\n"
                "# demo only: quote inside the synthetic market's 1 bp spread, where its takers trade\n"
                "base_spread = 0.00008\natr_multiplier = 0.0\nlevels = 1\n"
                "\n[carry]\n# demo only: hedge a few fills at once rather than after every one\nhedge_band_usd = 250.0\n")
DEMO_STRATEGY = (DEMO_QUOTING + "\n[limits]\n# demo only: the local venue allows 20,000/min in `hlmm up` (see engine/paper.py)\n"
                 "ip_weight_per_min = 5000\n")


@dataclasses.dataclass(frozen=True)
class PaperSetup:
    workdir: Path
    address: str
    key_file: Path
    config_path: Path
    ledger_url: str
    sim_url: str
    state_file: Path
    metrics_port: int | None = None


def paper_account(workdir: Path) -> tuple[str, Path]:
    """The work directory's paper key (created once, mode 0600) and its address."""
    from eth_account import Account

    key_file = workdir / "paper.key"
    if not key_file.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        account = Account.create()
        # create with 0600 from the start: the key is never world-readable, not even for an instant
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(account.key.hex() if account.key.hex().startswith("0x") else "0x" + account.key.hex())
    os.chmod(key_file, 0o600)
    key = key_file.read_text().strip()
    return Account.from_key(key).address, key_file


def write_config(workdir: Path, address: str, key_file: Path, sim_url: str, demo: bool = False,
                 metrics_port: int | None = None) -> tuple[Path, str]:
    """A config for the engine and the flows: local venue, the paper account, a SQLite ledger in workdir;
    `demo`: the strategy of `hlmm up`'s synthetic demo (DEMO_STRATEGY); `metrics_port`: the engine's
    Prometheus port on 127.0.0.1 (None: the config default)."""
    ledger_url = f"sqlite:///{(workdir / 'hlmm.db').resolve()}"
    config_path = workdir / "hlmm.toml"
    config_path.write_text(
        "# Written by hlmm up / hlmm paper for the local paper account. Edit a copy, not this file.\n"
        "[venue]\n"
        'network = "local"\n'
        f'base_url = "{sim_url}"\n'
        f'account_address = "{address.lower()}"\n'
        f'secret_file = "{key_file.resolve()}"\n'
        "\n[ledger]\n"
        f'url = "{ledger_url}"\n'
        + ("\n" + DEMO_STRATEGY if demo else "")
        + (f'\n[monitoring]\nmetrics_bind = "127.0.0.1:{metrics_port}"\n' if metrics_port is not None else "")
    )
    return config_path, ledger_url


def prepare(workdir: Path, sim_port: int, demo: bool = False, metrics_port: int | None = None) -> PaperSetup:
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    address, key_file = paper_account(workdir)
    sim_url = f"http://127.0.0.1:{sim_port}"
    config_path, ledger_url = write_config(workdir, address, key_file, sim_url, demo, metrics_port)
    return PaperSetup(workdir=workdir, address=address, key_file=key_file, config_path=config_path,
                      ledger_url=ledger_url, sim_url=sim_url, state_file=workdir / "sim-state.json",
                      metrics_port=metrics_port)


def start_venue_and_engine(sup: Supervisor, setup: PaperSetup, sim_port: int, market: str, seed: int,
                           engine_args: list[str] | None = None, taker_intensity: float | None = None) -> None:
    """Local venue (funded on first start), ledger migrations, then the engine in paper mode."""
    argv = hlmm_argv("sim", "--port", str(sim_port), "--seed", str(seed), "--market", market,
                     "--state", str(setup.state_file))
    if taker_intensity is not None:  # the demo
        argv += ["--taker-intensity", str(taker_intensity), "--ip-weight-per-min", str(DEMO_VENUE_WEIGHT_PER_MIN)]
    if not setup.state_file.exists():
        a = setup.address.lower()
        argv += ["--fund", f"{a}={PAPER_USDC_PERP}",
                 "--fund-spot", f"{a}=USDC:{PAPER_USDC_SPOT}", "--fund-spot", f"{a}=HYPE:{PAPER_HYPE_SPOT}"]
    sup.start("sim", argv, ready=http_ok(f"{setup.sim_url}/info", method="POST", json={"type": "meta"}),
              last=True, linger_s=5.0)
    migrate = sup.start("db-upgrade", hlmm_argv("db", "upgrade", "--url", setup.ledger_url))
    if migrate.process.wait(timeout=120) != 0:
        from engine.orchestrate import OrchestrationError, tail

        raise OrchestrationError(f"ledger migration failed; log {migrate.log_path}:\n{tail(migrate.log_path)}")
    sup.children.remove(migrate)
    migrate.log_file.close()
    # ready once its metrics answer: the config is loaded and the engine built, so a stop from here on is the
    # clean one (quotes cancelled); the engine then reads the venue and starts quoting by itself
    ready = http_ok(f"http://127.0.0.1:{setup.metrics_port}/metrics") if setup.metrics_port else None
    sup.start("engine", hlmm_argv("run", "--config", str(setup.config_path), *(engine_args or [])), ready=ready)
