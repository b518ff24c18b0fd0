"""Every flow against the real `hlmm sim` (session subprocess), a SQLite ledger and the session Prefect server.

Trades are placed with the official SDK as an independent client; the flows read and act through their own
venue client. The sim's market runs at real speed, so assertions read the venue's records rather than assume
prices.
"""
from __future__ import annotations

import datetime as dt
import pathlib
import time
from decimal import Decimal

import pytest
from eth_account import Account

HOUR_MS = 3_600_000


def _sdk(env, key=None):
    from hyperliquid.exchange import Exchange
    from hyperliquid.info import Info

    ex = Exchange(Account.from_key(key or env.key), env.sim.url, account_address=env.address)
    return ex, Info(env.sim.url, skip_ws=True)


def _ok(reply) -> list:
    assert reply["status"] == "ok", reply
    return reply["response"]["data"]["statuses"]


def _filled(reply) -> Decimal:
    (st,) = _ok(reply)
    assert "filled" in st, st
    return Decimal(st["filled"]["totalSz"])


def _sim_now(env) -> int:
    return int(env.sim.admin("clock")["now"])


def _spot(inf, address) -> dict[str, Decimal]:
    return {b["coin"]: Decimal(b["total"]) for b in inf.spot_user_state(address)["balances"]}


def _perp(inf, address) -> tuple[Decimal, Decimal]:
    st = inf.user_state(address)
    szi = sum((Decimal(p["position"]["szi"]) for p in st["assetPositions"] if p["position"]["coin"] == "HYPE"),
              Decimal(0))
    return Decimal(st["marginSummary"]["accountValue"]), szi


def _latest_artifact(key: str) -> str:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def read():
        async with get_client() as c:
            arts = await c.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                          sort=ArtifactSort.CREATED_DESC, limit=1)
            return arts[0].data

    return asyncio.run(read())


# --- funding accounting ------------------------------------------------------------------------------------

def test_funding_accounting_equals_the_venue_records(flow_env):
    from flows.funding_accounting import funding_accounting

    ex, inf = _sdk(flow_env)
    assert _filled(ex.market_open("HYPE", False, 20.0)) == Decimal("20")   # a short: receives positive funding
    flow_env.sim.admin("clock", {"advance_ms": 3 * HOUR_MS})
    venue = inf.user_funding_history(flow_env.address, 0)
    assert len(venue) >= 1, "the sim paid no funding after 3 hours"

    res = funding_accounting(lookback_hours=24, config_path=flow_env.config_path)

    venue_sum = sum((Decimal(r["delta"]["usdc"]) for r in venue), Decimal(0))
    assert Decimal(res["realized"]["HYPE"]) == venue_sum
    ledger = flow_env.store().funding(flow_env.address, 0, _sim_now(flow_env) + 1)
    assert sorted((r["delta"]["coin"], int(r["time"]), Decimal(r["delta"]["usdc"])) for r in ledger) == \
        sorted((r["delta"]["coin"], int(r["time"]), Decimal(r["delta"]["usdc"])) for r in venue)
    assert not [f for f in res["flags"] if f[2] in ("rate_mismatch", "missing_payment", "unexpected_payment")]
    # idempotent: a second run writes nothing new
    again = funding_accounting(lookback_hours=24, config_path=flow_env.config_path)
    assert again["written"] == 0 and again["realized"] == res["realized"]


# --- drawdown audit ----------------------------------------------------------------------------------------

def test_forced_drawdown_sets_the_kill_switch_and_pages(flow_env):
    from flows.drawdown_audit import drawdown_audit

    store = flow_env.store()
    calm = drawdown_audit(config_path=flow_env.config_path)
    assert not calm["breached"]
    assert store.control("kill_switch") is None

    # force it: an equity peak 10 % above today's equity ten minutes ago (limit: risk.max_drawdown_usd = 500)
    now = dt.datetime.fromtimestamp(_sim_now(flow_env) / 1000, tz=dt.timezone.utc)
    store.record_equity_mark(flow_env.address, now - dt.timedelta(minutes=10),
                             Decimal(calm["equity"]) * Decimal("1.1"), source="test")
    res = drawdown_audit(config_path=flow_env.config_path)
    assert res["breached"] and res["drawdown_pct"] > 0.08
    ks = store.control("kill_switch")
    assert ks["value"] is True and ks["source"] == "drawdown_audit"
    critical = [a for a in flow_env.alerts() if "CRITICAL" in a["title"]]
    assert critical and "kill switch" in critical[-1]["title"]


# --- ledger audit ------------------------------------------------------------------------------------------

def test_ledger_audit_repairs_a_deleted_fill(flow_env):
    from flows.ledger_audit import ledger_audit

    ex, inf = _sdk(flow_env)
    _filled(ex.market_open("HYPE", True, 3.0))
    _filled(ex.market_open("HYPE", False, 1.0))
    _filled(ex.market_open("ETH", True, 0.01))
    venue = inf.user_fills(flow_env.address)
    assert len(venue) >= 3

    first = ledger_audit(config_path=flow_env.config_path)       # empty ledger: everything is repaired
    assert first["repaired_fills"] == len(venue)
    store = flow_env.store()
    victim = venue[1]
    from sqlalchemy import delete

    from engine.ledger.db import session_scope
    from engine.ledger.models import Fill

    with session_scope(store.engine) as s:  # lose one fill, as a crash between fill and write would
        gone = s.execute(delete(Fill).where(Fill.user == flow_env.address.lower(), Fill.coin == victim["coin"],
                                            Fill.tid == int(victim["tid"]))).rowcount
    assert gone == 1

    second = ledger_audit(config_path=flow_env.config_path)
    assert second["missing_fills"] == [[victim["coin"], int(victim["tid"])]]
    assert second["repaired_fills"] == 1
    assert any("ledger differs" in a["title"] for a in flow_env.alerts())
    third = ledger_audit(config_path=flow_env.config_path)
    assert third["missing_fills"] == [] and third["repaired_fills"] == 0
    got = {(f["coin"], int(f["tid"])) for f in store.fills(flow_env.address, 0, _sim_now(flow_env) + 1)}
    assert got == {(f["coin"], int(f["tid"])) for f in venue}


# --- rebalance ---------------------------------------------------------------------------------------------

def test_rebalance_moves_usdc_and_resizes_legs(flow_env):
    from flows.rebalance import rebalance

    _, inf = _sdk(flow_env)
    spot0, (av0, szi0) = _spot(inf, flow_env.address), _perp(inf, flow_env.address)
    assert szi0 == 0

    dry = rebalance(target_carry_notional=3000.0, spot_usdc_fraction=0.3, dry_run=True,
                    config_path=flow_env.config_path)
    assert dry["status"] == "dry_run" and dry["executed"] == []
    assert _spot(inf, flow_env.address) == spot0               # a dry run sends nothing

    res = rebalance(target_carry_notional=3000.0, spot_usdc_fraction=0.3, dry_run=False,
                    config_path=flow_env.config_path)
    assert res["status"] == "done", res
    assert any(s.startswith("transfer") for s in res["executed"])
    spot1, (av1, szi1) = _spot(inf, flow_env.address), _perp(inf, flow_env.address)
    mids = inf.all_mids()
    hype_px = Decimal(mids["HYPE"])
    # legs resized: ~3000 USD long spot HYPE, the same size short perp
    assert abs(spot1["HYPE"] * hype_px - 3000) < 150
    assert szi1 < 0 and abs(abs(szi1) - spot1["HYPE"]) <= Decimal("0.05") * spot1["HYPE"]
    # USDC really moved: 30 % of all USDC on spot now (it was ~9 % before)
    total = spot1["USDC"] + av1
    assert abs(spot1["USDC"] / total - Decimal("0.3")) < Decimal("0.01")
    assert av1 < av0 - 100_000
    ctl = flow_env.store().control("carry_target", scope="HYPE")
    assert ctl["value"]["notional_usd"] == "3000.0" and ctl["source"] == "rebalance"
    md = _latest_artifact("rebalance")        # the markdown artifact says what was done
    assert "## Executed" in md and "transfer" in md and "**After**" in md


def test_rebalance_with_agent_key_holds_and_alerts(flow_env, tmp_path, monkeypatch):
    from flows.rebalance import rebalance
    from tests.flows.conftest import write_config

    ex, inf = _sdk(flow_env)
    reply, agent_key = ex.approve_agent("flows")
    assert reply["status"] == "ok", reply
    monkeypatch.setenv(flow_env.key_env + "_AGENT", agent_key)
    (tmp_path / "agent").mkdir()
    cfg = write_config(tmp_path / "agent", flow_env.sim.url, flow_env.address, flow_env.key_env + "_AGENT",
                       flow_env.ledger_url, f"json://127.0.0.1:{flow_env.receiver.port}{flow_env.alert_path}")
    before = (_spot(inf, flow_env.address), _perp(inf, flow_env.address))
    res = rebalance(target_carry_notional=3000.0, spot_usdc_fraction=0.3, dry_run=False, config_path=cfg)
    assert res["status"] == "held" and "main wallet" in res["reason"] and res["executed"] == []
    assert (_spot(inf, flow_env.address), _perp(inf, flow_env.address)) == before   # nothing half-done
    assert any("held" in a["title"] and "WARNING" in a["title"] for a in flow_env.alerts())


def test_rebalance_bad_parameter_names_it(flow_env):
    from flows.rebalance import rebalance

    with pytest.raises(ValueError, match="spot_usdc_fraction"):
        rebalance(target_carry_notional=1000.0, spot_usdc_fraction=1.7, dry_run=True,
                  config_path=flow_env.config_path)


# --- vol regime --------------------------------------------------------------------------------------------

def test_vol_regime_writes_versioned_params(flow_env):
    from flows.logic.regime import REGIMES
    from flows.vol_regime import vol_regime

    # enough 1m bars: run the venue clock at 600x for a moment (a jump would skip the bars)
    _, inf = _sdk(flow_env)
    flow_env.sim.admin("clock", {"speed": 600})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _sim_now(flow_env)
            if len(inf.candles_snapshot("HYPE", "1m", now - 30 * 60_000, now)) >= 25:
                break
            time.sleep(0.2)
    finally:
        flow_env.sim.admin("clock", {"speed": 1})
    # 52 days of 15m bars: more than any session's venue has lived (96 bars — one day — is within reach of a
    # slow session: its clock runs at 600x for as long as the bars above take to appear)
    young = vol_regime(interval="15m", bars=5000, config_path=flow_env.config_path)
    assert young["status"] == "insufficient_data" and "15m candles" in young["reason"]
    first = vol_regime(interval="1m", bars=30, config_path=flow_env.config_path)
    second = vol_regime(interval="1m", bars=30, config_path=flow_env.config_path)
    assert first["regime"] in REGIMES and first["spread_multiplier"] > 0
    assert second["version"] > first["version"]
    assert flow_env.store().latest_param("regime.HYPE")["regime"] == second["regime"]


# --- daily report ------------------------------------------------------------------------------------------

def test_daily_report_parts_sum_to_equity_change(flow_env, tmp_path):
    from flows.daily_report import daily_report

    reports = tmp_path / "reports"
    base = daily_report(report_dir=str(reports), config_path=flow_env.config_path)
    assert base["status"] == "baseline"

    ex, inf = _sdk(flow_env)
    _filled(ex.market_open("HYPE", False, 30.0))                   # taker perp short
    _filled(ex.market_open("HYPE/USDC", False, 10.0))              # taker spot sale
    # a maker fill: with the venue clock frozen (the book stands still), rest a bid one tick inside the
    # spread, then a second account sells into it
    flow_env.sim.admin("clock", {"speed": 0})
    try:
        book = inf.l2_snapshot("HYPE")["levels"]
        best_bid, best_ask = Decimal(book[0][0]["px"]), Decimal(book[1][0]["px"])
        px = best_bid + Decimal("0.001")
        assert px < best_ask, (best_bid, best_ask)
        (rest,) = _ok(ex.order("HYPE", True, 5.0, float(px), {"limit": {"tif": "Alo"}}))
        assert "resting" in rest, rest
        other = Account.create()
        flow_env.sim.fund(other.address)
        from hyperliquid.exchange import Exchange

        taker = Exchange(other, flow_env.sim.url)
        assert _filled(taker.order("HYPE", False, 5.0, float(px), {"limit": {"tif": "Ioc"}})) == Decimal("5")
    finally:
        flow_env.sim.admin("clock", {"speed": 1})
    flow_env.sim.admin("clock", {"advance_ms": 2 * HOUR_MS})        # funding on the short

    res = daily_report(report_dir=str(reports), config_path=flow_env.config_path)
    assert res["status"] == "ok", res.get("problem")
    parts = {k: Decimal(v) for k, v in res["attribution"].items()}
    total = sum(parts[k] for k in ("spread_capture", "hedge_slippage", "fees", "funding", "inventory_mtm"))
    observed = Decimal(res["equity_end"]) - Decimal(res["equity_start"])
    assert parts["equity_change"] == observed
    assert abs(total - observed) <= Decimal("0.01")
    assert parts["funding"] != 0 and parts["fees"] != 0
    assert res["fills"] >= 3 and 0 < res["maker_ratio"] < 1
    # by day and coin: every part of every (day, coin) cell adds up exactly to the account's part
    cells = res["by_day_and_coin"]
    assert {c["coin"] for c in cells} >= {"HYPE", "@1"}
    for part in ("spread_capture", "hedge_slippage", "fees", "funding", "inventory_mtm"):
        assert sum(Decimal(c[part]) for c in cells) == parts[part], part
    page = _latest_artifact("daily-report")
    assert page.count("](data:image/png;base64,") == 5  # the UI shows the charts: they travel inside the page
    assert "HYPE/USDC" in page and "## Funding: collected vs expected" in page and "## Venue vs ledger" in page
    assert "synthetic" in page  # a local venue's report says what its market is
    for chart in res["charts"]:
        assert pathlib.Path(chart).read_bytes().startswith(b"\x89PNG")
    import json

    table = json.loads(_latest_artifact("daily-pnl"))  # table artifacts are stored as JSON text
    assert {row["part"] for row in table} >= {"spread_capture", "fees", "funding", "inventory_mtm", "unexplained"}
    summary = [a for a in flow_env.alerts() if "daily report" in a["title"]][-1]
    assert summary["attachments"][0]["filename"] == "equity.png"


def test_rebalance_holds_while_the_kill_switch_is_engaged(flow_env):
    from flows.rebalance import rebalance

    _, inf = _sdk(flow_env)
    flow_env.store().set_control("kill_switch", True, reason="operator test", source="hlmm kill")
    before = (_spot(inf, flow_env.address), _perp(inf, flow_env.address))
    res = rebalance(target_carry_notional=3000.0, spot_usdc_fraction=0.3, dry_run=False,
                    config_path=flow_env.config_path)
    assert res["status"] == "held" and "kill switch" in res["reason"] and res["executed"] == []
    assert (_spot(inf, flow_env.address), _perp(inf, flow_env.address)) == before
