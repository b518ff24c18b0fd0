"""rebalance (daily, and by hand from the UI): size the carry to ``target_carry_notional`` and put
``spot_usdc_fraction`` of the USDC on spot — a usdClassTransfer plus bounded-slippage Ioc trades on both legs.

Safety:
- the plan is checked for fundability before anything is sent (``flows.logic.rebalance``);
- usdClassTransfer needs the MAIN wallet's key. With an agent key the flow holds *before* any action when the
  plan needs a transfer (so nothing is left half-done), explains why in the artifact and alerts;
- signed actions are never retried: after each one the flow re-reads balances;
- ``dry_run`` plans and reports without sending anything;
- an engaged kill switch holds the rebalance (it trades) until the operator resumes.
It records the target as a ``carry_target`` control row (what the engine's carry manager steers to).
"""
from __future__ import annotations

from decimal import Decimal

from prefect import flow, get_run_logger

from flows.hooks import HOOKS
from prefect.artifacts import create_markdown_artifact

from engine.strategy.rounding import to_wire
from flows.logic.rebalance import CarryState, plan_rebalance
from flows.runtime import build_runtime, carry_coin
from flows.tasks import read_carry_state
from flows.venue import VenueActionError

CARRY_TARGET = "carry_target"
KILL_SWITCH = "kill_switch"


def _state_table(title: str, s: dict) -> str:
    """A markdown table of one coin's carry state (the artifact is read in the Prefect UI)."""
    base = s["pair"].base
    rows = [("spot USDC", f"{s['spot_usdc']:,.2f}"), (f"spot {base}", to_wire(s["spot_base"])),
            (f"spot {base} value (USD)", f"{s['spot_base'] * s['spot_px']:,.2f}"),
            ("perp account value (USDC)", f"{s['perp_account_value']:,.2f}"),
            (f"perp {base} size", to_wire(s["perp_szi"])),
            ("perp notional (USD)", f"{s['perp_szi'] * s['perp_px']:,.2f}"),
            ("prices spot / perp", f"{to_wire(s['spot_px'])} / {to_wire(s['perp_px'])}")]
    return "\n".join([f"**{title}**", "", "| | |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows])


@flow(name="rebalance", description="Resize the carry legs and move USDC between spot and perp (usdClassTransfer)",
      **HOOKS)
def rebalance(target_carry_notional: float | None = None, spot_usdc_fraction: float = 0.5, dry_run: bool = False,
              max_slippage_bps: float = 50.0, coin: str | None = None, config_path: str | None = None) -> dict:
    log = get_run_logger()
    with build_runtime(config_path) as rt:
        coin = carry_coin(rt.cfg, coin)
        target = rt.cfg.carry.target_notional_usd if target_carry_notional is None else target_carry_notional
        before = read_carry_state(rt.reader, rt.user, coin)
        plan = plan_rebalance(
            CarryState(before["spot_usdc"], before["spot_base"], before["perp_account_value"], before["perp_szi"],
                       before["spot_px"], before["perp_px"]),
            Decimal(str(target)), Decimal(str(spot_usdc_fraction)), spot_coin=before["pair"].coin, perp_coin=coin,
            spot_sz_decimals=before["pair"].base_sz_decimals, perp_sz_decimals=before["perp_sz_decimals"],
            max_slippage_bps=Decimal(str(max_slippage_bps)))
        md = [f"# Rebalance {coin}{' (dry run)' if dry_run else ''}",
              f"Target carry notional {target:,.2f} USD, spot USDC fraction {spot_usdc_fraction:.2%}, "
              f"slippage bound {max_slippage_bps} bps.", "", _state_table("Before", before), "", "## Plan"]
        md += [f"{i + 1}. {s}" for i, s in enumerate(plan.steps())] or ["nothing to do"]
        md += [f"- skipped: {s}" for s in plan.skipped]
        result: dict = {"coin": coin, "status": "planned", "steps": plan.steps(), "skipped": list(plan.skipped),
                        "executed": []}

        kill = None if dry_run else rt.store.control(KILL_SWITCH)
        if dry_run:
            result["status"] = "dry_run"
        elif kill is not None and kill["value"]:
            why = (f"the kill switch is engaged (by {kill['source']}: {kill['reason']}); a rebalance trades, so it "
                   "waits until `hlmm resume` clears it. Nothing was sent.")
            md += ["", "## HELD", why]
            result.update(status="held", reason=why)
            rt.alert("warning", f"rebalance {coin} held: kill switch", why,
                     "clear the kill switch (`hlmm resume`) once its cause is understood; the next rebalance runs then",
                     coin=coin, dedup_key="rebalance-held-kill")
            log.warning(why)
        elif plan.transfer is not None and not rt.actions.is_main_wallet:
            why = ("the plan needs a usdClassTransfer of "
                   f"{to_wire(plan.transfer.amount)} USDC, which only the main wallet can sign; the configured key "
                   "is an agent (API wallet). Nothing was sent. Run this rebalance with the main wallet's key "
                   "(venue.secret_env / venue.secret_file of the main account) or move the USDC by hand.")
            md += ["", "## HELD", why]
            result.update(status="held", reason=why)
            rt.alert("warning", f"rebalance {coin} held: needs the main wallet", why,
                     "run rebalance/manual with a config holding the main wallet's key, or move the USDC by hand",
                     coin=coin, dedup_key="rebalance-held")
            log.warning(why)
        else:
            result["status"] = "done"
            md += ["", "## Executed"]
            try:
                if plan.transfer is not None and plan.transfer_first:
                    rt.actions.usd_class_transfer(plan.transfer.amount, plan.transfer.to_perp)
                    result["executed"].append(plan.transfer.describe())
                for t in plan.trades:
                    r = rt.actions.ioc(rt.reader.asset_of(t.coin), t.is_buy, t.size, t.limit_px)
                    filled = "unknown (reply lost; see After)" if r["filled"] is None else to_wire(r["filled"])
                    line = (f"{t.describe()} → filled {filled}"
                            + (f" @ {to_wire(r['avg_px'])}" if r["avg_px"] is not None else "")
                            + (f" ({r['error']})" if r["error"] else ""))
                    result["executed"].append(line)
                    if r["filled"] is None or r["filled"] < t.size:
                        result["status"] = "partial"
                        rt.alert("warning", f"rebalance {coin}: {t.leg} leg short", line,
                                 "read the rebalance artifact's After line; run rebalance/manual again or widen "
                                 "max_slippage_bps", coin=coin, dedup_key=f"rebalance-leg:{coin}:{t.leg}")
                if plan.transfer is not None and not plan.transfer_first:
                    rt.actions.usd_class_transfer(plan.transfer.amount, plan.transfer.to_perp)
                    result["executed"].append(plan.transfer.describe())
            except VenueActionError as exc:
                result.update(status="failed", reason=str(exc))
                rt.alert("critical", f"rebalance {coin} failed mid-way", f"{exc}\ndone so far: {result['executed']}",
                         "the legs may be unequal: check `hlmm status`, then run rebalance/manual (dry_run first)",
                         coin=coin, dedup_key=f"rebalance-failed:{coin}")
            md += [f"- {line}" for line in result["executed"]]
            after = read_carry_state(rt.reader, rt.user, coin)
            md += ["", _state_table("After", after)]
            result["after"] = {k: str(after[k]) for k in ("spot_usdc", "spot_base", "perp_account_value", "perp_szi")}
            rt.store.set_control(CARRY_TARGET, {"coin": coin, "notional_usd": str(target),
                                                "spot_usdc_fraction": str(spot_usdc_fraction)},
                                 reason=f"rebalance {result['status']}", source="rebalance", scope=coin)
            if result["status"] == "failed":
                create_markdown_artifact(key="rebalance", markdown="\n".join(md), description=f"rebalance {coin}")
                raise RuntimeError(f"rebalance {coin} failed: {result['reason']}")
        create_markdown_artifact(key="rebalance", markdown="\n".join(md), description=f"rebalance {coin}")
        log.info("rebalance %s: %s %s", coin, result["status"], result["executed"] or result["steps"])
        return result
