"""Two separate processes write to one ledger at the same time: no lock errors, every row exactly once."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from sqlalchemy import func, select

from engine.ledger import repo
from engine.ledger.db import head_revision
from engine.ledger.models import Fill, FundingPayment
from tests.ledger import writer_proc

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_two_writer_processes_share_one_ledger(ledger_engine, ledger_session):
    url = ledger_engine.url.render_as_string(hide_password=False)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.ledger.writer_proc", url, str(w)], cwd=REPO, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in (0, 1)]
    try:
        for p in procs:                      # both connected before either starts writing
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    total_fills = ledger_session.execute(select(func.count()).select_from(Fill)).scalar_one()
    expected = 2 * writer_proc.OWN_FILLS + writer_proc.SHARED_FILLS
    assert total_fills == expected
    # every row was inserted by exactly one of the two writers (ON CONFLICT DO NOTHING under contention)
    assert sum(s["inserted"] for s in summaries) == expected
    funding_rows = ledger_session.execute(select(func.count()).select_from(FundingPayment)).scalar_one()
    assert funding_rows == summaries[0]["batches"] == summaries[1]["batches"]
    assert sum(s["funding"] for s in summaries) == funding_rows
    # param versions handed out under contention are unique and gap-free
    versions = sorted(v for s in summaries for v in s["versions"])
    assert versions == list(range(1, 2 * writer_proc.PARAM_WRITES + 1))
    history = repo.param_history(ledger_session, "concurrency.k")
    assert [p.version for p in history] == versions
    assert {p.written_by for p in history} == {"writer-0", "writer-1"}


def test_simultaneous_upgrades_of_a_fresh_database_all_succeed(ledger_url):
    """Engine, flows and `hlmm kill` each upgrade at start-up; on a fresh database they must not trip over each
    other ("table orders already exists")."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.ledger.upgrade_proc", ledger_url], cwd=REPO, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert out.strip() == head_revision()
