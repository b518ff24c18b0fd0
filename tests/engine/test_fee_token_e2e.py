"""End to end against the session `hlmm sim`: the engine quotes and hedges HYPE spot + perp, an independent SDK
account trades against its spot quotes both ways, and everything the engine and the ledger believe agrees with the
venue's balances to the last unit — with spot buys paying their fee in HYPE (the token received) and spot sells in
USDC, as Hyperliquid books them.

Checked exactly (Decimal equality, no tolerance):
- the ledger's fills are the venue's userFills, feeToken included;
- the ledger's fills replayed through `Inventory.on_fill` from the starting balances give the venue's ending spot
  HYPE, spot USDC and perp position, and the engine's own net delta equals the venue's;
- `attribute_pnl` over the ledger's fills and funding explains the equity change with nothing left over.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from decimal import Decimal

from engine.attribution import AccountSnapshot, attribute_pnl
from engine.execution.inventory import Inventory
from engine.ledger import repo
from engine.ledger.db import make_engine, session_scope

from tests.engine.conftest import running_engine
from tests.engine.helpers import open_orders, ours, size_through, until, venue, write_config

TIGHT = """
[strategy]
base_spread = 0.0001
atr_multiplier = 0
levels = 1
min_requote_interval_ms = 100
"""
D = Decimal


def _config(tmp_path, url, address):
    path = write_config(tmp_path, url, address)
    # quotes inside the synthetic market's ~1 bp half-spread: ours are the touch, so the taker reaches them
    path.write_text(path.read_text().replace("[strategy]\nmin_requote_interval_ms = 100\n", TIGHT)
                    + "\n[carry]\nperp_leverage = 3\n")
    return path


def _state(url: str, user: str) -> dict:
    """The venue's word on the account, read back to back: spot balances, perp position and cash, marks."""
    ch = venue(url, {"type": "clearinghouseState", "user": user})
    sp = venue(url, {"type": "spotClearinghouseState", "user": user})
    mids = venue(url, {"type": "allMids"})
    bal = {b["coin"]: D(b["total"]) for b in sp["balances"]}
    pos = {p["position"]["coin"]: p["position"] for p in ch["assetPositions"]}
    szi = D(pos["HYPE"]["szi"]) if "HYPE" in pos else D(0)
    mark = D(pos["HYPE"]["positionValue"]) / abs(szi) if szi else D(mids["HYPE"])
    value = D(ch["marginSummary"]["accountValue"])
    return {"usdc": bal.get("USDC", D(0)), "hype": bal.get("HYPE", D(0)), "szi": szi, "perp_value": value,
            "perp_cash": value - szi * mark, "perp_mark": mark, "spot_mid": D(mids["@1"])}


def _snapshot(s: dict) -> AccountSnapshot:
    equity = s["usdc"] + s["hype"] * s["spot_mid"] + s["perp_value"]
    return AccountSnapshot(dt.datetime.now(dt.timezone.utc), equity, {"@1": s["hype"], "HYPE": s["szi"]},
                           {"@1": s["spot_mid"], "HYPE": s["perp_mark"]})


def _ledger(url: str, user: str) -> tuple[list[dict], list[dict]]:
    eng = make_engine(url)
    lo, hi = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    try:
        with session_scope(eng) as s:
            fills = [f.to_venue() for f in repo.fills_between(s, user, lo, hi)]
            funding = [f.to_venue() for f in repo.funding_between(s, user, lo, hi)]
    finally:
        eng.dispose()
    return fills, funding


def _canon(f: dict) -> tuple:
    return (f["tid"], f["coin"], f["side"], D(f["px"]), D(f["sz"]), D(f["fee"]), f["feeToken"],
            D(f["startPosition"]), f["oid"], f["crossed"])


def _our_spot_fills(url: str, user: str, side: str) -> list[dict]:
    return [f for f in venue(url, {"type": "userFills", "user": user})
            if f["coin"] == "@1" and f["side"] == side and not f["crossed"]]


async def _hit(url: str, user: str, taker, our_side: str) -> list[dict]:
    """The SDK taker trades through our best @1 quote on one side (Ioc through the whole level) until one of our
    quotes there has filled; a requote can move it between our read and the taker's order, so try a few times."""
    is_bid = our_side == "B"
    for _ in range(5):
        mine = [o for o in ours(open_orders(url, user)) if o["coin"] == "@1" and o["side"] == our_side]
        if mine:
            px = float(mine[0]["limitPx"])
            sweep = round(size_through(url, "@1", px, is_bid), 2)
            if sweep <= 0:  # our quote left that price between the two reads (a requote): read again
                await asyncio.sleep(0.1)
                continue
            res = await asyncio.to_thread(taker.order, "@1", not is_bid, sweep, px, {"limit": {"tif": "Ioc"}})
            assert res["status"] == "ok" and "error" not in res["response"]["data"]["statuses"][0], res
            try:
                return await until(lambda: _our_spot_fills(url, user, our_side), 2, what="our maker fill on @1")
            except AssertionError:
                pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"the taker could not reach our @1 {our_side} quote; ours: {ours(open_orders(url, user))}")


async def test_spot_fees_in_the_received_token_agree_with_the_venue(tmp_path, sim_server, engine_config):
    from eth_account import Account
    from hyperliquid.exchange import Exchange

    _, address, key = engine_config
    url, user = sim_server.url, address.lower()
    config = _config(tmp_path, url, address)
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    taker_key = "0x" + secrets.token_hex(32)
    taker_addr = Account.from_key(taker_key).address
    sim_server.fund(taker_addr)
    for token in ("HYPE", "USDC"):  # enough to sweep a few levels of the synthetic book either way
        sim_server.admin("fund", {"user": taker_addr, "token": token, "amount": 1_000_000, "spot": True})
    taker = Exchange(Account.from_key(taker_key), base_url=url)

    start = _state(url, user)
    async with running_engine(config, key, metrics_port=0) as engine:
        await until(lambda: {o["coin"] for o in ours(open_orders(url, user))} == {"HYPE", "@1"}, 15,
                    what="quotes on both legs")
        bought = await _hit(url, user, taker, "B")  # the taker sells into our bid: we buy HYPE, fee in HYPE
        assert {f["feeToken"] for f in bought} == {"HYPE"}
        sold = await _hit(url, user, taker, "A")  # the taker buys our ask: we sell HYPE, fee in USDC
        assert {f["feeToken"] for f in sold} == {"USDC"}
        band = D(str(engine.cfg.carry.hedge_band_usd))

        def hedged():
            s = _state(url, user)
            return abs(s["hype"] + s["szi"]) * s["spot_mid"] <= band
        await until(hedged, 20, what="net delta back inside the hedge band")
    end = _state(url, user)  # the engine has stopped and cancelled everything: nothing moves the account now

    # the engine's own net delta is the venue's
    inv = engine.inventory
    assert inv.qty("@1") + inv.qty("HYPE") == end["hype"] + end["szi"]

    # the ledger holds the venue's fills exactly, fee tokens included
    engine.ledger.flush()
    fills, funding = _ledger(ledger_url, user)
    v_fills = venue(url, {"type": "userFills", "user": user})
    assert sorted(map(_canon, fills)) == sorted(map(_canon, v_fills))
    assert {f["feeToken"] for f in fills if f["coin"] == "@1" and f["side"] == "B"} == {"HYPE"}

    # replaying those fills through Inventory.on_fill from the starting balances lands on the venue's balances
    replay = Inventory(spot={"USDC": start["usdc"], "HYPE": start["hype"]}, perp={"HYPE": start["szi"]},
                       perp_raw_usd=start["perp_cash"], spot_base={"@1": "HYPE"}, spot_quote={"@1": "USDC"})
    for f in sorted(fills, key=lambda f: (f["time"], f["tid"])):
        assert replay.on_fill(f["coin"], f["side"], D(f["sz"]), D(f["px"]), D(f["fee"]), f["feeToken"],
                              D(f["startPosition"]), f["tid"])
    for r in funding:
        replay.on_funding(D(r["delta"]["usdc"]))
    assert (replay.spot["HYPE"], replay.spot["USDC"], replay.perp["HYPE"]) == (end["hype"], end["usdc"], end["szi"])
    assert replay.perp_raw_usd == end["perp_cash"]

    # the attribution explains the equity change to the last unit (positions must reconcile exactly too)
    attr = attribute_pnl(_snapshot(start), _snapshot(end), fills, funding, position_tolerance=D(0))
    assert attr.unexplained == 0, attr
    assert attr.fees < 0 and attr.n_fills == len(fills)
