"""The results object of a replay (`hlmm backtest --json`): counts, P&L and its attribution, risk figures,
end inventory and the account's balances."""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.backtest.metrics import max_drawdown, sharpe

if TYPE_CHECKING:
    from engine.backtest.replay import Replay


def core_result(events: int, wall_s: float, first_t: int | None, last_t: int | None, fills: int, maker: int,
                volume: float, attr, curve) -> dict:
    """The fields every replay mode reports: counts, throughput, P&L and its attribution, risk figures."""
    eq = curve.equity
    return {
        "events": events,
        "events_per_s": events / wall_s if wall_s > 0 else 0.0,
        "wall_s": wall_s,
        "start_ms": first_t, "end_ms": last_t,
        "fills": fills,
        "maker_fills": maker,
        "maker_ratio": maker / fills if fills else 0.0,
        "volume_usd": volume,
        "pnl_total_usd": attr.total,
        "pnl_attribution": attr.as_dict(),
        "max_drawdown_usd": max_drawdown(eq),
        "sharpe": sharpe(curve.t, eq),
    }


def replay_result(r: "Replay", wall_s: float, first_t: int | None, last_t: int | None) -> dict:
    return {
        **core_result(r.events, wall_s, first_t, last_t, r.n_fills, r.n_maker, r.volume, r.attr, r.curve),
        "alo_rejects": r.n_rejects,
        "risk_rejects": r.risk_rejects,
        "risk_paused_decisions": r.paused_decisions,
        "orders_sent": r.orders_sent,
        "cancels_sent": r.cancels_sent,
        "equity_change_usd": r.equity(),
        "final_inventory": {**{name: l.position for name, l in r.legs.items()}, "net": r.net_delta},
        "carry_qty": r.carry_qty,
        "balances": replay_balances(r),
    }


def replay_balances(r: "Replay") -> dict:
    """End balances and the venue's balance / margin refusals (see balances.py)."""
    perp, spot, bal = r.legs["perp"], r.legs.get("spot"), r.bal
    return {"spot_usdc": bal.spot_usdc, "spot_base": spot.position if spot else None,
            "perp_usdc": bal.perp_usdc, "perp_account_value": bal.perp_usdc + perp.position * perp.mid,
            "min_spot_usdc": bal.min_spot_usdc, "balance_rejects": bal.rejects, "taker_clipped": bal.clipped}
