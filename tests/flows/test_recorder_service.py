"""The recorder service (`hlmm record --config`, deployments/systemd/hlmm-recorder.service) on the local venue:
real `hlmm record` processes on a private `hlmm sim`, a 1 s rotation and a 6 s retention.

Recorder A runs until the retention has deleted files it wrote, then is SIGKILLed (a crash: its open `.part`
files stay behind). Recorder B starts on the same directory with the retention off (`--retention-hours 0`): it
salvages A's parts, marks its start, and stops cleanly on SIGINT. The directory then holds finished files only,
of every configured leg (BTC perp, HYPE perp and the HYPE/USDC spot pair), the crash reads back as one feed gap,
and the calibrate flow's `data_dir` mode runs its sweep on the directory.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from tests.sim.helpers import wait_for

HLMM = pathlib.Path(sys.executable).with_name("hlmm")
ROTATE_S, RETENTION_S = 1.0, 6.0


def _config(tmp: pathlib.Path, sim_url: str, out: pathlib.Path) -> pathlib.Path:
    path = tmp / "hlmm.toml"
    path.write_text(f'''
[venue]
network = "local"
base_url = "{sim_url}"

[[markets]]
coin = "HYPE"
spot_pair = "HYPE/USDC"

[[markets]]
coin = "BTC"
spot = false

[ledger]
url = "sqlite:///{tmp / 'ledger' / 'hlmm.db'}"

[calibration]
local_workers = 1

[recorder]
out_dir = "{out}"
rotate_minutes = {ROTATE_S / 60}
retention_hours = {RETENTION_S / 3600}
''')
    return path


def _finished(out: pathlib.Path, prefix: str = "") -> set[str]:
    return {p.name for p in out.glob(f"{prefix}*.jsonl.gz")}


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    """A private venue: no other test's fault injection or clock move reaches what is recorded."""
    from tests.fixtures.sim import start_sim

    sim = start_sim(seed=17, log_dir=tmp_path_factory.mktemp("recorder-sim"))
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def recorded(venue, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recorder")
    out = tmp / "recordings"
    cfg = _config(tmp, venue.url, out)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(tmp / "recorder.log", "wb")
    a = subprocess.Popen([str(HLMM), "record", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        first = wait_for(lambda: out.is_dir() and _finished(out, "BTC_"), timeout=30, what="recorder A's first file")
        first_btc = min(first)
        # the retention at work: A's first BTC file is deleted while A keeps writing newer ones
        wait_for(lambda: first_btc not in _finished(out), timeout=40, interval=0.2, what="the retention to delete")
        seen_by_a = _finished(out)
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
    parts = sorted(p.name for p in out.glob("*.part"))
    b = subprocess.Popen([str(HLMM), "record", "--config", str(cfg), "--retention-hours", "0", "--json"],
                         stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        # B has salvaged A's parts (they are finished files now) and finished one file of its own
        wait_for(lambda: not list(out.glob("*.part.salvage")) and len(_finished(out, "BTC_")) >= 2
                 and _finished(out, "BTC_") - seen_by_a - {p[:-len(".part")] for p in parts},
                 timeout=30, interval=0.2, what="recorder B's first rotation")
    finally:
        b.send_signal(signal.SIGINT)
        stdout, _ = b.communicate(timeout=30)
        log.close()
    import json

    return {"out": out, "cfg": cfg, "tmp": tmp, "first_btc": first_btc, "parts": parts, "b_rc": b.returncode,
            "b": json.loads(stdout.decode().strip().splitlines()[-1]), "seen_by_a": seen_by_a}


def test_files_rotate_and_the_retention_deletes_the_oldest(recorded):
    out = recorded["out"]
    assert recorded["first_btc"] not in _finished(out)
    # every configured leg is recorded: the perps by name, the spot pair by its venue name (@1 on the sim)
    for prefix in ("BTC_", "HYPE_", "at1_"):
        assert len(_finished(out, prefix)) >= 2, prefix
    # a kill leaves the open files as .part; the next start salvages them into finished files
    # (a kill between finishing a rotation's files and opening the next ones leaves fewer: hence <=)
    assert recorded["parts"] and {p.split("_")[0] for p in recorded["parts"]} <= {"BTC", "HYPE", "at1"}
    # (a part killed before its first flush holds no complete line: it is removed instead)
    salvaged = {pathlib.Path(p).name for p in recorded["b"]["salvaged"]}
    assert salvaged <= {p[:-len(".part")] for p in recorded["parts"]} and salvaged <= _finished(out)
    # a clean stop (SIGINT, as systemd sends it) finishes the files and exits 0: no .part left behind
    assert recorded["b_rc"] == 0 and not list(out.glob("*.part*"))
    assert recorded["b"]["rotations"] >= 1 and recorded["b"]["deleted"] == []


def test_the_directory_reads_as_one_recording_with_the_crash_as_a_gap(recorded):
    from engine.backtest.data import iter_books, iter_trades
    from engine.backtest.gaps import iter_gaps

    out = recorded["out"]
    books = list(iter_books(out, "BTC"))
    assert len(books) >= 5 and all(b.coin == "BTC" for b in books)
    assert [b.t_ms for b in books] == sorted(b.t_ms for b in books)
    assert list(iter_trades(out, "BTC"))
    gaps = list(iter_gaps(out, "BTC"))
    assert [g.reason for g in gaps] == ["recorder restarted"]
    assert gaps[0].until_ms is not None and gaps[0].t_ms < gaps[0].until_ms
    spot = list(iter_books(out, "@1"))
    assert spot and all(b.coin == "@1" for b in spot)


def test_the_calibrate_flow_reads_the_directory(recorded, prefect_server):
    from engine.backtest.data import iter_books
    from flows.calibrate import calibrate
    from flows.store import Store

    tmp = recorded["tmp"]
    Store.init(f"sqlite:///{tmp / 'ledger' / 'hlmm.db'}")
    res = calibrate(data_dir=str(recorded["out"]), coin="BTC", in_sample_minutes=3 / 60, out_of_sample_minutes=2 / 60,
                    n_trials=2, batch_size=2, seed=3, report_dir=str(tmp / "reports"),
                    config_path=str(recorded["cfg"]))
    last = max(b.t_ms for b in iter_books(recorded["out"], "BTC"))
    assert res["coin"] == "BTC" and res["windows"]["out_of_sample"][1] == last + 1  # the newest data decides
    assert len(res["trials"]) == 2 and not any(t["error"] for t in res["trials"])
    assert res["current"]["out_of_sample"]["window"] == res["windows"]["out_of_sample"]
