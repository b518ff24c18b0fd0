"""Thin Prefect tasks shared by the flows: venue reads with retries and timeouts, nothing else.

Reads retry (they are idempotent); signed actions are never retried by Prefect (a retry after a timeout
could trade twice) — the flows call them directly and re-read state instead.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from engine.attribution import AccountSnapshot
from engine.numbers import dec
from flows.venue import VenueError, VenueReader

READ = dict(retries=3, retry_delay_seconds=[1, 3, 10], timeout_seconds=60, cache_policy=NO_CACHE)


def account_snapshot(reader: VenueReader, user: str, now: dt.datetime) -> tuple[AccountSnapshot, dict[str, Any]]:
    """Equity, holdings and marks, all valued consistently, stamped with the venue's time of the perp read.

    The perp mark of each position is taken from the *same* clearinghouseState reply as accountValue
    (positionValue / |szi|), so equity and position values agree exactly even while the market moves between
    calls; spot tokens are valued at the spot mid. The pair names are read first so the perp and spot states
    are read back to back: the snapshot's time (clearinghouseState.time, else `now`) is then a window end that
    the fills agree with, even for an engine that trades every second. Returns the snapshot and the raw
    balances for reports."""
    pairs = reader.usdc_pairs()
    ch = reader.clearinghouse_state(user)
    sp = reader.spot_clearinghouse_state(user)
    mids = reader.all_mids()
    if ch.get("time"):
        now = dt.datetime.fromtimestamp(int(ch["time"]) / 1000, tz=dt.timezone.utc)
    positions: dict[str, Decimal] = {}
    marks: dict[str, Decimal] = {}
    account_value = dec(ch["marginSummary"]["accountValue"], "marginSummary.accountValue")
    for ap in ch.get("assetPositions", []):
        p = ap["position"]
        szi = dec(p["szi"], f"position.{p['coin']}.szi")
        if szi == 0:
            continue
        positions[p["coin"]] = szi
        marks[p["coin"]] = dec(p["positionValue"], f"position.{p['coin']}.positionValue") / abs(szi)
    spot_usdc = Decimal(0)
    spot_tokens: dict[str, Decimal] = {}
    spot_value = Decimal(0)
    unvalued: list[str] = []
    for b in sp.get("balances", []):
        total = dec(b["total"], f"balances.{b['coin']}.total")
        if b["coin"] == "USDC":
            spot_usdc += total
            continue
        spot_tokens[b["coin"]] = total
        if total == 0:
            continue
        pair = pairs.get(b["coin"])  # the token's USDC pair ("@1"): its mid values the balance
        if pair is None:  # no USDC market: cannot be valued; left out of equity and reported
            unvalued.append(b["coin"])
            continue
        if pair.coin not in mids:
            raise ValueError(f"allMids: no mid for spot pair {pair.coin} ({b['coin']}/USDC)")
        positions[pair.coin] = total
        marks[pair.coin] = mids[pair.coin]
        spot_value += total * mids[pair.coin]
    equity = spot_usdc + spot_value + account_value
    raw = {"spot_usdc": spot_usdc, "spot_tokens": spot_tokens, "perp_account_value": account_value,
           "withdrawable": dec(ch.get("withdrawable", "0"), "withdrawable"), "unvalued_tokens": unvalued}
    return AccountSnapshot(now, equity, positions, marks), raw


@task(name="read-account", **READ)
def read_account(reader: VenueReader, user: str, now: dt.datetime):
    return account_snapshot(reader, user, now)


@task(name="read-fills", **READ)
def read_fills(reader: VenueReader, user: str, start_ms: int, end_ms: int) -> list[dict]:
    return reader.user_fills_by_time(user, start_ms, end_ms)


@task(name="read-user-funding", **READ)
def read_user_funding(reader: VenueReader, user: str, start_ms: int, end_ms: int) -> list[dict]:
    return reader.user_funding(user, start_ms, end_ms)


@task(name="read-funding-history", **READ)
def read_funding_history(reader: VenueReader, coin: str, start_ms: int, end_ms: int) -> list[dict]:
    return reader.funding_history(coin, start_ms, end_ms)


@task(name="read-candles", **READ)
def read_candles(reader: VenueReader, coin: str, interval: str, start_ms: int, end_ms: int) -> list[dict]:
    return reader.candles(coin, interval, start_ms, end_ms)


@task(name="read-carry-state", **READ)
def read_carry_state(reader: VenueReader, user: str, coin: str) -> dict[str, Any]:
    """Balances, position and reference prices of one coin's carry (spot pair + perp)."""
    pair = reader.spot_pair(coin)
    ch = reader.clearinghouse_state(user)
    sp = reader.spot_clearinghouse_state(user)
    mids = reader.all_mids()
    szi = Decimal(0)
    for ap in ch.get("assetPositions", []):
        if ap["position"]["coin"] == coin:
            szi = dec(ap["position"]["szi"], f"position.{coin}.szi")
    bal = {b["coin"]: dec(b["total"], f"balances.{b['coin']}.total") for b in sp.get("balances", [])}
    for name in (pair.coin, coin):
        if name not in mids:
            raise ValueError(f"allMids: no mid for {name}")
    return {
        "pair": pair,
        "perp_sz_decimals": reader.perp_sz_decimals(coin),
        "spot_usdc": bal.get("USDC", Decimal(0)),
        "spot_base": bal.get(coin, Decimal(0)),
        "perp_account_value": dec(ch["marginSummary"]["accountValue"], "marginSummary.accountValue"),
        "perp_szi": szi,
        "spot_px": mids[pair.coin],
        "perp_px": mids[coin],
    }


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)
