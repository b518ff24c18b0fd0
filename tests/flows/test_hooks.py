"""Every flow alerts when a run fails: a real flow run (session Prefect server) with a bad parameter fails, and
its on_failure hook pages through the real HTTP receiver, naming the flow, the error, the account and what to do;
the alert is a row in the ledger's alerts table (shared dedup state)."""
from __future__ import annotations

import pytest
from sqlalchemy import select


def test_a_failing_flow_run_alerts(venue_env):
    from engine.ledger.db import session_scope
    from engine.ledger.models import Alert
    from flows.ledger_audit import ledger_audit
    from flows.store import Store

    flow_env = venue_env
    Store.init(flow_env.ledger_url)  # SQLite: the shared alert state on both databases is tests/alerts' job

    with pytest.raises(ValueError, match="lookback_hours"):
        ledger_audit(lookback_hours=0, config_path=flow_env.config_path)
    (alert,) = [a for a in flow_env.alerts() if "flow ledger_audit failed" in a["title"]]
    assert "CRITICAL" in alert["title"]
    body = alert["message"]
    assert "lookback_hours" in body and flow_env.address.lower() in body and "What to do:" in body
    with session_scope(flow_env.store().engine) as s:
        rows = s.execute(select(Alert).where(Alert.dedup_key == "flow-failed:ledger_audit")).scalars().all()
    assert len(rows) == 1 and rows[0].delivered
