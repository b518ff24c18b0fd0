"""Accounts on one shared ledger (issue 16): params, controls and alerts belong to an account or to every
account ('*'); each engine, flow and CLI reads only its own and the all-accounts rows. Every test runs on SQLite
and on PostgreSQL (the `ledger_url` / `ledger_engine` fixtures)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import column, table
from typer.testing import CliRunner

from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope, upgrade
from engine.ledger.repo_ops import claim_alert
from engine.ledger.types import UTCDateTime
from engine.ledger_writer import LedgerWriter
from flows.store import Store

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
T0 = dt.datetime(2027, 1, 10, 12, tzinfo=dt.timezone.utc)


def _url(ledger_engine) -> str:
    return ledger_engine.url.render_as_string(hide_password=False)


def test_a_kill_switch_and_param_stay_with_their_account(ledger_engine):
    with session_scope(ledger_engine) as s:
        repo.set_control(s, "kill_switch", True, who="drawdown", why="A lost 5%", time=T0, account=A)
        repo.set_control(s, "pause", True, who="vol_regime", why="A's HYPE wild", time=T0, scope="HYPE",
                         account=A.upper().replace("0X", "0x"))   # addresses are compared lowercased
        assert repo.set_param(s, "regime.HYPE", {"multiplier": 2}, written_by="vol", time=T0, account=A) == 1
        assert repo.set_param(s, "regime.HYPE", {"multiplier": 3}, written_by="vol", time=T0, account=A) == 2
        assert repo.set_param(s, "regime.HYPE", {"multiplier": 1}, written_by="vol", time=T0, account=B) == 1
    # the engine's own reader (LedgerWriter) for each account, on the one ledger
    wa, wb = (LedgerWriter(_url(ledger_engine), who, threaded=False) for who in (A, B))
    try:
        ca, cb = wa.read_controls(), wb.read_controls()
        assert ca.kill == ("drawdown", "A lost 5%") and ca.paused == frozenset({"HYPE"})
        assert cb.kill is None and cb.paused == frozenset()
        assert wa.read_params(["HYPE"]) == {"HYPE": {"multiplier": 3}}
        assert wb.read_params(["HYPE"]) == {"HYPE": {"multiplier": 1}}
        # an all-accounts control reaches both; clearing A's own leaves it standing
        with session_scope(ledger_engine) as s:
            repo.set_control(s, "kill_switch", True, who="hlmm kill", why="venue incident", time=T0)
            assert repo.clear_control(s, "kill_switch", who="ops", why="A ok", time=T0, account=A) == 1
        assert wa.read_controls().kill == ("hlmm kill", "venue incident")
        assert wb.read_controls().kill == ("hlmm kill", "venue incident")
        # an all-accounts param is the default; an account's own version of the key beats it
        with session_scope(ledger_engine) as s:
            repo.set_param(s, "regime.BTC", {"multiplier": 5}, written_by="ops", time=T0)
            repo.set_param(s, "regime.BTC", {"multiplier": 7}, written_by="ops", time=T0 - dt.timedelta(hours=1),
                           account=B)
        assert wa.read_params(["BTC"]) == {"BTC": {"multiplier": 5}}
        assert wb.read_params(["BTC"]) == {"BTC": {"multiplier": 7}}
    finally:
        wa.close()
        wb.close()


def test_the_engine_writes_controls_for_its_own_account(ledger_engine):
    from engine.ledger.kinds import ControlKind

    wa, wb = (LedgerWriter(_url(ledger_engine), who, threaded=False) for who in (A, B))
    try:
        wa.control(ControlKind.KILL_SWITCH, True, "engine", "daily drawdown")
        wa.flush()
        assert wa.read_controls().kill == ("engine", "daily drawdown")
        assert wb.read_controls().kill is None
        with session_scope(ledger_engine) as s:
            [row] = repo.active_controls(s)
            assert row.account == A
    finally:
        wa.close()
        wb.close()


def test_flow_stores_are_bound_to_their_account(ledger_engine):
    sa, sb, audit = Store(ledger_engine, A), Store(ledger_engine, B), Store(ledger_engine)
    sa.set_control("kill_switch", True, reason="A drawdown", source="drawdown_audit")
    sa.set_param("daily_report.snapshot", {"day": 1}, reason="baseline", source="daily_report")
    assert sa.control("kill_switch")["account"] == A and sb.control("kill_switch") is None
    assert sb.latest_param("daily_report.snapshot") is None and sa.latest_param("daily_report.snapshot") == {"day": 1}
    assert audit.control("kill_switch")["account"] == A         # unbound: every account's rows
    assert sb.clear_control("kill_switch", reason="not mine", source="x") == 0
    with pytest.raises(ValueError, match="account: 'nobody'"):
        Store(ledger_engine, "nobody")


def test_alert_dedup_and_throttle_count_per_account(ledger_engine):
    w = dt.timedelta(minutes=15)
    kw = dict(severity="warning", title="t", body="b", dedup_key="hype-stale", window=w, throttle=1, targets=1)
    assert claim_alert(ledger_engine, time=T0, account=A, **kw).send
    assert claim_alert(ledger_engine, time=T0, account=A, **kw).suppressed       # A's repeat: deduplicated
    assert claim_alert(ledger_engine, time=T0, account=B, **kw).send            # B's first: not A's business
    assert claim_alert(ledger_engine, time=T0, account=A, **{**kw, "dedup_key": "other"}).throttled
    with session_scope(ledger_engine) as s:
        assert {a.account for a in repo.undelivered_alerts(s, T0, account=B)} == {B}


def test_cli_kill_and_resume_per_account(ledger_engine, tmp_path, monkeypatch):
    from engine.cli import app

    for key in [k for k in __import__("os").environ if k.upper().startswith("HLMM_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)

    def hlmm(account: str, *args: str):
        cfg = tmp_path / f"{account}.toml"
        cfg.write_text(f'[venue]\naccount_address = "{account}"\n[ledger]\nurl = "{_url(ledger_engine)}"\n')
        result = CliRunner().invoke(app, [*args, "--config", str(cfg), "--why", "test"])
        assert result.exit_code == 0, result.output
        return result.output

    def killed(account: str) -> bool:
        with session_scope(ledger_engine) as s:
            return any(c.data for c in repo.active_controls(s, "kill_switch", account=account))

    assert "ENGAGED for account " + A in hlmm(A, "kill")
    assert killed(A) and not killed(B)
    assert "ENGAGED for every account" in hlmm(B, "kill", "--all-accounts")
    assert killed(A) and killed(B)
    out = hlmm(A, "resume")
    assert "cleared for account" in out and "still engaged for every account" in out and killed(A)
    assert "cleared for every account" in hlmm(B, "resume", "--all-accounts")
    assert not killed(A) and not killed(B)


def test_rows_from_before_accounts_apply_to_every_account(ledger_url):
    """A single-account ledger at 0002 upgrades with its rows meaning 'every account': nothing changes for it."""
    upgrade(ledger_url, "0002")
    engine = make_engine(ledger_url)
    try:
        # the tables as 0002 left them (no account column), with the ledger's own time type
        params = table("params", *(column(c) for c in ("key", "value", "version", "written_by")),
                       column("time", UTCDateTime()))
        controls = table("controls", *(column(c) for c in ("kind", "scope", "value", "who", "why", "active")),
                         column("time", UTCDateTime()))
        with engine.begin() as conn:
            conn.execute(params.insert().values(key="regime.HYPE", value='{"multiplier": 2}', version=1,
                                                written_by="vol", time=T0))
            conn.execute(controls.insert().values(kind="kill_switch", scope="*", value="true", who="hlmm kill",
                                                  why="old", time=T0, active=True))
        upgrade(ledger_url)
        with session_scope(engine) as s:
            assert [c.account for c in repo.active_controls(s)] == ["*"]
            assert repo.active_controls(s, account=A)[0].why == "old"
            assert repo.latest_param(s, "regime.HYPE", account=B).data == {"multiplier": 2}
            # versions continue per (account, key): the old row is version 1 of '*'
            assert repo.set_param(s, "regime.HYPE", 3, written_by="vol", time=T0) == 2
            assert repo.set_param(s, "regime.HYPE", 4, written_by="vol", time=T0, account=A) == 1
    finally:
        engine.dispose()
