"""WebSocket frame → small typed message (protocol §6). Pure: no I/O, no clock.

Books are tuples of (px, sz, n) with float px/sz. Measured on real 20-level BTC frames (docs/benchmarks.md):
orjson.loads alone ≈ 6 µs, keeping the strings ≈ 9 µs, float tuples ≈ 13 µs, scaled ints ≈ 19 µs. The
strategy needs numbers, so converting once here beats converting at every read; scaled ints would also need
each coin's decimals in the decoder. Account data (fills, order updates, funding) reuses the Decimal
types of types.py, because it ends up in the ledger.

`decode` raises `DecodeError` for anything malformed; the feed counts and logs it and carries on.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from engine.venue.account import Fill, OpenOrder, parse_fill, parse_order
from engine.venue.types import L2Book, parse_candle

CONNECTED_TEXT = "Websocket connection established."


class DecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Bbo:
    coin: str
    time: int
    bid: tuple[float, float, int] | None
    ask: tuple[float, float, int] | None


@dataclass(frozen=True, slots=True)
class Trade:
    coin: str
    side: str
    px: float
    sz: float
    time: int
    tid: int
    hash: str


@dataclass(frozen=True, slots=True)
class Trades:
    coin: str
    trades: tuple[Trade, ...]


@dataclass(frozen=True, slots=True)
class AllMids:
    mids: dict


class OrderUpdate(NamedTuple):  # named tuples here: one per order event, built several times faster
    order: OpenOrder
    status: str
    status_timestamp: int


class OrderUpdates(NamedTuple):
    updates: tuple[OrderUpdate, ...]


@dataclass(frozen=True, slots=True)
class UserFills:
    user: str
    is_snapshot: bool
    fills: tuple[Fill, ...]


@dataclass(frozen=True, slots=True)
class FundingRow:
    time: int
    coin: str
    usdc: Decimal
    szi: Decimal
    funding_rate: Decimal


@dataclass(frozen=True, slots=True)
class UserFundings:
    user: str
    is_snapshot: bool
    fundings: tuple[FundingRow, ...]


@dataclass(frozen=True, slots=True)
class UserEvent:
    """channel "user" (userEvents): exactly one of fills / funding / liquidation / non_user_cancel is set."""
    fills: tuple[Fill, ...] = ()
    funding: FundingRow | None = None
    liquidation: dict | None = None
    non_user_cancel: tuple[dict, ...] = ()


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class SubscriptionAck:
    method: str
    subscription: dict


@dataclass(frozen=True, slots=True)
class ServerError:
    text: str


@dataclass(frozen=True, slots=True)
class PostReply:
    id: int
    kind: str          # "info" | "action" | "error"
    payload: Any


@dataclass(frozen=True, slots=True)
class Other:
    """A channel we do not type (activeAssetCtx, webData2, notification, …): raw data passed through."""
    channel: str
    data: Any


def _level(l: dict) -> tuple[float, float, int]:
    return (float(l["px"]), float(l["sz"]), l["n"])


def decode_book(d: dict) -> L2Book:
    levels = d["levels"]
    return L2Book(d["coin"], d["time"], tuple([(float(l["px"]), float(l["sz"]), l["n"]) for l in levels[0]]),
                  tuple([(float(l["px"]), float(l["sz"]), l["n"]) for l in levels[1]]))


def _funding_row(r: dict) -> FundingRow:
    return FundingRow(r["time"], r["coin"], Decimal(str(r["usdc"])), Decimal(str(r["szi"])),
                      Decimal(str(r["fundingRate"])))


def _decode_data(channel: str, d: Any) -> Any:
    if channel == "l2Book":
        return decode_book(d)
    if channel == "orderUpdates":  # the busiest after the book: one per order placed, modified or cancelled
        return OrderUpdates(tuple([OrderUpdate(parse_order(u["order"], "orderUpdates.order"), u["status"],
                                               u["statusTimestamp"]) for u in d]))
    if channel == "bbo":
        b, a = d["bbo"]
        return Bbo(d["coin"], d["time"], _level(b) if b else None, _level(a) if a else None)
    if channel == "trades":
        ts = tuple(Trade(t["coin"], t["side"], float(t["px"]), float(t["sz"]), t["time"], t["tid"], t.get("hash", ""))
                   for t in d)
        return Trades(ts[0].coin if ts else "", ts)
    if channel == "candle":  # one object (what the venue sends); docs show a list, accept both
        return tuple(parse_candle(c) for c in d) if isinstance(d, list) else parse_candle(d)
    if channel == "allMids":
        return AllMids({k: float(v) for k, v in d["mids"].items()})
    if channel == "userFills":
        return UserFills(d["user"], bool(d.get("isSnapshot", False)),
                         tuple(parse_fill(f, "userFills.fills") for f in d["fills"]))
    if channel == "userFundings":
        return UserFundings(d["user"], bool(d.get("isSnapshot", False)),
                            tuple(_funding_row(r) for r in d["fundings"]))
    if channel == "user":
        if "fills" in d:
            return UserEvent(fills=tuple(parse_fill(f, "user.fills") for f in d["fills"]))
        if "funding" in d:
            return UserEvent(funding=_funding_row(d["funding"]))
        if "liquidation" in d:
            return UserEvent(liquidation=d["liquidation"])
        if "nonUserCancel" in d:
            return UserEvent(non_user_cancel=tuple(d["nonUserCancel"]))
        raise DecodeError(f"user event of unknown kind: {sorted(d)}")
    if channel == "pong":
        return Pong()
    if channel == "subscriptionResponse":
        return SubscriptionAck(d["method"], d["subscription"])
    if channel == "error":
        return ServerError(str(d))
    if channel == "post":
        r = d["response"]
        return PostReply(d["id"], r["type"], r.get("payload"))
    return Other(channel, d)


def decode_message(channel: str, data: Any) -> Any:
    """One already-parsed WS message (`{"channel", "data"}`) → typed message: what `decode` does after JSON
    parsing (the in-process backtest feed hands the venue's messages over without serialising them)."""
    try:
        return _decode_data(channel, data)
    except DecodeError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise DecodeError(f"{channel}: malformed data ({type(exc).__name__}: {exc})") from None


def decode(frame: bytes | str) -> Any:
    """One WS text frame → typed message, or None for the server's connect banner."""
    if frame == CONNECTED_TEXT or frame == CONNECTED_TEXT.encode():
        return None
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("channel"), str):
        raise DecodeError("frame without a channel")
    return decode_message(msg["channel"], msg.get("data"))
