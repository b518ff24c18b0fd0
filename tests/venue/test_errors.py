"""Every reject string from the protocol notes (and the hlmm sim's own texts) → its outcome."""
from __future__ import annotations

import logging

import pytest

from engine.venue.errors import Disposition, Outcome, classify, classify_http, classify_status

ADDR = "0x6b2fd4fdfa71b9fb2b0b1cd1fc5f2a8e7f3b29d0"

PER_ORDER = [
    ("Price must be divisible by tick size.", Outcome.INVALID_TICK),
    ("Order has invalid price.", Outcome.INVALID_TICK),
    ("Order has invalid size.", Outcome.INVALID_SIZE),
    ("Order must have minimum value of $10.", Outcome.MIN_NOTIONAL),
    ("Order must have minimum value of 10 USDC.", Outcome.MIN_NOTIONAL),
    ("Insufficient margin to place order.", Outcome.INSUFFICIENT_MARGIN),
    ("Reduce only order would increase position.", Outcome.REDUCE_ONLY),
    ("Post only order would have immediately matched, bbo was 1890.5@1890.6.", Outcome.ALO_REJECT),
    ("Order could not immediately match against any resting orders.", Outcome.IOC_NO_MATCH),
    ("Invalid TP/SL price.", Outcome.BAD_TRIGGER),
    ("No liquidity available for market order.", Outcome.NO_LIQUIDITY),
    ("Order would increase open interest while open interest is capped", Outcome.OI_CAP),
    ("Order rejected due to price more aggressive than oracle while at open interest cap", Outcome.OI_CAP),
    ("Order would increase open interest too quickly", Outcome.OI_CAP),
    ("Order has insufficient spot balance to trade", Outcome.INSUFFICIENT_SPOT),
    ("Order price too far from oracle", Outcome.ORACLE_BAND),
    ("Order would cause position to exceed margin tier limit at current leverage", Outcome.MAX_POSITION),
    ("Order was never placed, already canceled, or filled.", Outcome.UNKNOWN_ORDER),
    ("Cannot modify canceled or filled order", Outcome.UNKNOWN_ORDER),
    ("Too many open orders (max 1000).", Outcome.OPEN_ORDER_CAP),
]

TOP_LEVEL = [
    (f"L1 error: User or API Wallet {ADDR} does not exist.", Outcome.AUTH, Disposition.HALT),
    (f"Must deposit before performing actions. User: {ADDR}", Outcome.AUTH, Disposition.HALT),
    ("Invalid nonce: duplicate nonce 1795502234999", Outcome.NONCE, Disposition.RETRY),
    ("Action expired: expiresAfter 1795502234999 is before the current time 1795502235999", Outcome.EXPIRED,
     Disposition.RETRY),
    ("expiresAfter is not supported for user-signed actions", Outcome.BAD_REQUEST, Disposition.HALT),
    ("Too many cumulative requests sent (97460 > 97456) for cumulative volume traded $87457.46. "
     "Place taker orders to free up 1 request per USDC traded.", Outcome.ADDRESS_BUDGET, Disposition.RETRY),
    ("Scheduled cancel time too early, must be at least 5 seconds from now.", Outcome.SCHEDULE_TOO_EARLY,
     Disposition.REJECTED),
    ("Cannot set scheduled cancel time until enough volume traded", Outcome.VOLUME_GATE, Disposition.REJECTED),
    ("Cannot switch leverage type with open position.", Outcome.LEVERAGE_SWITCH, Disposition.REJECTED),
    ("Signed action over weight limit of 200.", Outcome.BATCH_TOO_LARGE, Disposition.REJECTED),
    ("Too many scheduled cancel triggers today (max 10).", Outcome.SCHEDULE_LIMIT, Disposition.REJECTED),
    ("Injected fault: action refused by hlmm sim (reject_p)", Outcome.RETRY_LATER, Disposition.CONFIRM),
]


@pytest.mark.parametrize("text,outcome", PER_ORDER)
def test_per_order_strings_with_and_without_asset_suffix(text, outcome):
    bare = classify(text)
    assert bare.outcome is outcome and bare.asset is None
    for asset in (0, 4, 10107, 110003):
        c = classify(f"{text} asset={asset}")
        assert c.outcome is outcome
        assert c.asset == asset
        assert c.message == f"{text} asset={asset}"


@pytest.mark.parametrize("text,outcome,disp", TOP_LEVEL)
def test_top_level_errs(text, outcome, disp):
    c = classify(text)
    assert c.outcome is outcome
    assert c.disposition() is disp


def test_http_statuses():
    assert classify_http(429, "null").outcome is Outcome.RATE_LIMITED_IP
    assert classify_http(429, "null").disposition() is Disposition.RETRY
    c = classify_http(422, "Failed to deserialize the JSON body into the target type")
    assert c.outcome is Outcome.BAD_REQUEST and c.disposition() is Disposition.HALT and c.outcome.suspect_bug
    for st in (500, 502, 503, 504):
        c = classify_http(st, "null")
        assert c.outcome is Outcome.RETRY_LATER
        assert c.disposition(for_action=False) is Disposition.RETRY    # info: retried
        assert c.disposition(for_action=True) is Disposition.CONFIRM   # action: resolved by cloid, never resent
    assert classify_http(404, "nope").outcome is Outcome.FATAL
    assert classify_http(200).outcome is Outcome.OK


def test_unknown_string_is_logged_and_halts(caplog):
    with caplog.at_level(logging.ERROR, logger="engine.venue.errors"):
        c = classify("Something brand new happened. asset=3")
    assert c.outcome is Outcome.UNKNOWN and c.asset == 3
    assert c.disposition() is Disposition.HALT
    assert "Something brand new" in caplog.text
    assert classify(None).outcome is Outcome.UNKNOWN  # type: ignore[arg-type]


def test_suspect_bug_flags_only_our_own_mistakes():
    assert Outcome.INVALID_TICK.suspect_bug and Outcome.INVALID_SIZE.suspect_bug
    assert not Outcome.ALO_REJECT.suspect_bug and not Outcome.INSUFFICIENT_MARGIN.suspect_bug


def test_order_statuses():
    assert classify_status("badAloPxRejected") is Outcome.ALO_REJECT
    assert classify_status("tickRejected") is Outcome.INVALID_TICK
    assert classify_status("perpMaxPositionRejected") is Outcome.MAX_POSITION
    assert classify_status("someNewRejected") is Outcome.UNKNOWN
    for ok in ("open", "filled", "canceled", "scheduledCancel", "selfTradeCanceled"):
        assert classify_status(ok) is Outcome.OK


def test_sim_reject_texts_all_classified():
    """The hlmm sim's reject constants (when present) must all be in the table: a sim text we cannot
    classify would halt the engine in paper trading."""
    rules = pytest.importorskip("sim.rules")
    texts = [v for k, v in vars(rules).items() if k.isupper() and isinstance(v, str)]
    assert texts
    for t in texts:
        sample = t.format(quote="USDC", bid="1", ask="2", cap=1000, used=2, vlm="1.0")
        assert classify(sample + " asset=1").outcome is not Outcome.UNKNOWN, t
