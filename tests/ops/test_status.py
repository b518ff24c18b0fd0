"""`hlmm status` as a person and a script use it: against the session's real `hlmm sim` and a real ledger, as a
subprocess. Money rounded, spot pairs by name, engine liveness from the engine's heartbeat (its equity marks),
who set the kill switch and why, `--json`; and one clear line, no traceback, when the venue is down."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope, upgrade
from engine.orchestrate import free_port

HLMM = Path(sys.executable).with_name("hlmm")


def _config(tmp_path: Path, url: str, address: str, ledger: str) -> Path:
    path = tmp_path / "hlmm.toml"
    path.write_text(f'[venue]\nnetwork = "local"\nbase_url = "{url}"\naccount_address = "{address}"\n'
                    f'[ledger]\nurl = "{ledger}"\n')
    return path


def _status(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HLMM), "status", "--config", str(config), *args], capture_output=True, text=True,
                          timeout=60)


def test_status_shows_liveness_kill_switch_and_names(tmp_path, sim_server, fresh_account):
    address, _ = fresh_account
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(ledger)
    config = _config(tmp_path, sim_server.url, address, ledger)
    r = _status(config, "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["engine"] == {"last_heartbeat": None, "age_s": None, "alive": False}
    hype = next(row for row in st["spot"] if row["token"] == "HYPE")
    assert hype["pair"] == "HYPE/USDC" and Decimal(hype["value_usd"]) > 0  # valued at its own spot pair's mid
    assert Decimal(st["equity_usd"]) > 1_000_000

    engine = make_engine(ledger)
    now = dt.datetime.now(dt.timezone.utc)
    with session_scope(engine) as s:
        repo.record_equity_mark(s, time=now - dt.timedelta(seconds=5), spot_value=1, perp_account_value=2,
                                user=address, source="engine")
        repo.set_control(s, "kill_switch", True, who="drawdown_audit", why="drawdown 6% > 5%", time=now)
    engine.dispose()
    st = json.loads(_status(config, "--json").stdout)
    assert st["engine"]["alive"] and 4 <= st["engine"]["age_s"] < 60
    assert st["kill_switch"]["who"] == "drawdown_audit" and st["kill_switch"]["why"] == "drawdown 6% > 5%"

    human = _status(config)
    assert human.returncode == 0, human.stderr
    out = human.stdout
    assert "engine: running" in out and "ENGAGED by drawdown_audit" in out and "drawdown 6% > 5%" in out
    assert "HYPE/USDC" in out
    # money with cents and thousands separators, not 1100123.4567891
    assert re.search(r"equity \d{1,3}(,\d{3})+\.\d\d USD", out) and "100,000.00" in out, out


def test_status_with_the_venue_down_says_so_in_one_line(tmp_path):
    config = _config(tmp_path, f"http://127.0.0.1:{free_port()}", "0x" + "ab" * 20,
                     f"sqlite:///{tmp_path / 'ledger.db'}")
    r = _status(config)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "unreachable" in r.stderr and "127.0.0.1" in r.stderr
