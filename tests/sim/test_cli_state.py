"""`hlmm sim` as a process: ready banner, SIGTERM shutdown saving --state, restart restoring it."""
from __future__ import annotations

from decimal import Decimal

from tests.fixtures.sim import account_from_label, start_sim
from tests.sim.helpers import exchange, info, mid, round_px, statuses


def test_state_file_survives_restart(tmp_path):
    state = tmp_path / "venue-state.json"
    address, key = account_from_label("state-test")
    # frozen clock: the synthetic ladder is placed once and stays, so the restart can be compared
    sim = start_sim("--state", str(state), "--speed", "0", accounts=[(address, key)], log_dir=tmp_path)
    try:
        m = mid(info(sim), "ETH")
        px = round_px(m * 0.9, "ETH")
        oid = statuses(exchange(sim, key).order("ETH", True, 0.05, px, {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
    finally:
        sim.stop()
    assert sim.proc.returncode == 0, sim.logs()
    banner = sim.logs()
    assert f"hlmm sim ready: {sim.url}" in banner and f"funded account: {address.lower()}" in banner
    assert key[2:] not in banner  # addresses only, never keys
    assert state.exists()

    again = start_sim("--state", str(state), "--speed", "0", accounts=[(address, key)], log_dir=tmp_path)
    try:
        opens = info(again).open_orders(address)
        assert [o["oid"] for o in opens] == [oid] and float(opens[0]["limitPx"]) == px
        value = Decimal(info(again).user_state(address)["marginSummary"]["accountValue"])
        assert value == Decimal(1_000_000)  # --fund again on restart: not credited twice
        # the restarted driver adopts the restored system liquidity instead of stacking a second ladder
        for coin in ("BTC", "HYPE", "@1"):
            bids, asks = again.info({"type": "l2Book", "coin": coin})["levels"]
            assert len(bids) == 20 and len(asks) == 20
            assert all(lv["n"] == _one_system_order(lv) for lv in bids + asks), coin
    finally:
        again.stop()


def _one_system_order(level: dict) -> int:
    """The order count a level made of one market-flow order shows (a stacked second ladder would add to it)."""
    from sim.info import SYSTEM_ORDER_NTL

    return max(1, round(Decimal(level["px"]) * Decimal(level["sz"]) / SYSTEM_ORDER_NTL))


def test_admin_snapshot_restore_and_events(tmp_path):
    address, key = account_from_label("snapshot-test")
    a = start_sim("--speed", "0", accounts=[(address, key)], log_dir=tmp_path)
    b = start_sim("--speed", "0", seed=9, log_dir=tmp_path)
    try:
        m = mid(info(a), "SOL")
        oid = statuses(exchange(a, key).order("SOL", True, 1.0, round_px(m * 0.9, "SOL"), {"limit": {"tif": "Gtc"}}))[0]["resting"]["oid"]
        events = a.admin("events")
        assert any(e["order"]["oid"] == oid and e["status"] == "open" and e["user"] == address.lower() for e in events)
        state = a.admin("snapshot", {})
        assert info(b).open_orders(address) == []
        b.admin("restore", state)
        assert [o["oid"] for o in info(b).open_orders(address)] == [oid]
        for coin in ("BTC", "@1"):  # b's driver adopted a's ladder instead of stacking its own on top
            levels = b.info({"type": "l2Book", "coin": coin})["levels"]
            assert all(lv["n"] == _one_system_order(lv) for lv in levels[0] + levels[1])
            assert levels == a.info({"type": "l2Book", "coin": coin})["levels"]  # frozen clocks: same book
    finally:
        a.stop()
        b.stop()
