"""Every venue reject → one internal `Outcome`; the error contract of the venue client.

The contract (what the engine does with each outcome):

* **Retried** (only where re-sending cannot double anything):
  - info requests on RETRY_LATER (HTTP 5xx, transport errors/timeouts) and RATE_LIMITED_IP (HTTP 429 `null`):
    jittered exponential backoff, a bounded number of times (rest.py);
  - an exchange action refused *as a whole before execution* (HTTP 429, 422-free top-level `err` such as
    ADDRESS_BUDGET, NONCE, EXPIRED, or the sim's injected refusal) was not executed, so the *caller* may re-plan it on
    its next cycle with a fresh nonce and signature — the client itself never re-sends.
* **Confirmed first** — the action may or may not have executed:
  - an exchange request that timed out, lost its connection or got HTTP 5xx (RETRY_LATER for actions):
    rest.py resolves it by querying `orderStatus` by cloid (and `openOrders`) and reports
    RESOLVED_PLACED / RESOLVED_NOT_PLACED / UNKNOWN; UNKNOWN means "re-read open orders and fills before the
    next action on that coin";
  - UNKNOWN_ORDER on a cancel/modify (the order is gone: filled, cancelled, or never placed) → re-read fills
    and open orders; the cancel itself is treated as done.
* **Rejected, definitive** (the order was not placed; the strategy re-quotes next cycle): ALO_REJECT,
  IOC_NO_MATCH, INSUFFICIENT_MARGIN, INSUFFICIENT_SPOT, MIN_NOTIONAL, REDUCE_ONLY, ORACLE_BAND, OI_CAP,
  MAX_POSITION, BAD_TRIGGER, NO_LIQUIDITY, OPEN_ORDER_CAP, SCHEDULE_TOO_EARLY, LEVERAGE_SWITCH, VOLUME_GATE
  (dead man's switch unavailable: alert, keep the engine's own cancel-on-disconnect).
  INVALID_TICK / INVALID_SIZE / BATCH_TOO_LARGE are definitive too but mean our rounding/chunking disagrees
  with the venue: `Outcome.suspect_bug` is set so the caller alerts and pauses that coin.
* **Halt** (stop sending actions, alert, wait for an operator): AUTH (unknown signer / bad key / must deposit),
  BAD_REQUEST (HTTP 422: we sent a body the venue cannot parse), FATAL (other 4xx) and UNKNOWN (a string not in
  the table — logged with its text so the table can be extended).

One table (`_TABLE`) in one place; per-order strings carry a live-only " asset=<id>" suffix that is parsed
into `Classified.asset`.
"""
from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Disposition(enum.Enum):
    RETRY = "retry"            # safe to send again (info) / re-plan later (action refused before execution)
    CONFIRM = "confirm"        # fate unknown or order gone: re-read venue state first
    REJECTED = "rejected"      # definitive, nothing happened
    HALT = "halt"              # stop trading, alert


class Outcome(enum.Enum):
    OK = "ok"
    RETRY_LATER = "retry_later"
    RATE_LIMITED_IP = "rate_limited_ip"
    ADDRESS_BUDGET = "address_budget"
    NONCE = "nonce"
    EXPIRED = "expired"
    ALO_REJECT = "alo_reject"
    IOC_NO_MATCH = "ioc_no_match"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    INSUFFICIENT_SPOT = "insufficient_spot"
    INVALID_TICK = "invalid_tick"
    INVALID_SIZE = "invalid_size"
    MIN_NOTIONAL = "min_notional"
    REDUCE_ONLY = "reduce_only"
    ORACLE_BAND = "oracle_band"
    OI_CAP = "oi_cap"
    MAX_POSITION = "max_position"
    BAD_TRIGGER = "bad_trigger"
    NO_LIQUIDITY = "no_liquidity"
    OPEN_ORDER_CAP = "open_order_cap"
    UNKNOWN_ORDER = "unknown_order"
    SCHEDULE_TOO_EARLY = "schedule_too_early"
    SCHEDULE_LIMIT = "schedule_limit"
    VOLUME_GATE = "volume_gate"
    LEVERAGE_SWITCH = "leverage_switch"
    BATCH_TOO_LARGE = "batch_too_large"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    FATAL = "fatal"
    UNKNOWN = "unknown"

    @property
    def suspect_bug(self) -> bool:
        """A reject that our own pre-checks should have prevented (rounding, chunking, payload)."""
        return self in _SUSPECT_BUG

    def disposition(self, for_action: bool = True) -> Disposition:
        if self is Outcome.RETRY_LATER:
            return Disposition.CONFIRM if for_action else Disposition.RETRY
        return _DISPOSITION[self]


_SUSPECT_BUG = frozenset({Outcome.INVALID_TICK, Outcome.INVALID_SIZE, Outcome.BATCH_TOO_LARGE,
                          Outcome.BAD_REQUEST})
_DISPOSITION = {o: Disposition.REJECTED for o in Outcome}
_DISPOSITION.update({
    Outcome.OK: Disposition.REJECTED,  # unused: nothing to do
    Outcome.RATE_LIMITED_IP: Disposition.RETRY, Outcome.ADDRESS_BUDGET: Disposition.RETRY,
    Outcome.NONCE: Disposition.RETRY, Outcome.EXPIRED: Disposition.RETRY,
    Outcome.UNKNOWN_ORDER: Disposition.CONFIRM,
    Outcome.AUTH: Disposition.HALT, Outcome.BAD_REQUEST: Disposition.HALT, Outcome.FATAL: Disposition.HALT,
    Outcome.UNKNOWN: Disposition.HALT,
})

# (regex anchored at the start of the message with the asset suffix removed, outcome). First match wins.
_TABLE: tuple[tuple[str, Outcome], ...] = (
    # per-order (protocol §4.4; live adds " asset=N")
    (r"Price must be divisible by tick size", Outcome.INVALID_TICK),
    (r"Order has invalid price", Outcome.INVALID_TICK),
    (r"Order has invalid size", Outcome.INVALID_SIZE),
    (r"Order must have minimum value of ", Outcome.MIN_NOTIONAL),  # "$10." and "10 {quote}." (spot)
    (r"Insufficient margin to place order", Outcome.INSUFFICIENT_MARGIN),
    (r"Reduce only order would increase position", Outcome.REDUCE_ONLY),
    (r"Post only order would have immediately matched", Outcome.ALO_REJECT),
    (r"Order could not immediately match against any resting orders", Outcome.IOC_NO_MATCH),
    (r"Invalid TP/SL price", Outcome.BAD_TRIGGER),
    (r"No liquidity available for market order", Outcome.NO_LIQUIDITY),
    (r"Order would increase open interest while open interest is capped", Outcome.OI_CAP),
    (r"Order rejected due to price more aggressive than oracle while at open interest cap", Outcome.OI_CAP),
    (r"Order would increase open interest too quickly", Outcome.OI_CAP),
    (r"Order has insufficient spot balance to trade", Outcome.INSUFFICIENT_SPOT),
    (r"Order price too far from oracle", Outcome.ORACLE_BAND),
    (r"Order would cause position to exceed margin tier limit", Outcome.MAX_POSITION),
    (r"Order was never placed, already canceled, or filled", Outcome.UNKNOWN_ORDER),
    (r"Cannot modify canceled or filled order", Outcome.UNKNOWN_ORDER),  # hlmm sim's modify-miss text
    (r"Too many open orders", Outcome.OPEN_ORDER_CAP),
    # top-level "err"
    (r"L1 error: User or API Wallet .* does not exist", Outcome.AUTH),
    (r"Must deposit before performing actions", Outcome.AUTH),
    (r"Invalid nonce", Outcome.NONCE),
    (r"Action expired", Outcome.EXPIRED),  # stale expiresAfter (hlmm sim text; costs 5x address budget live)
    (r"expiresAfter is not supported for user-signed actions", Outcome.BAD_REQUEST),
    (r"Too many cumulative requests sent", Outcome.ADDRESS_BUDGET),
    (r"Scheduled cancel time too early", Outcome.SCHEDULE_TOO_EARLY),
    (r"Too many scheduled cancel triggers", Outcome.SCHEDULE_LIMIT),
    (r"Cannot set scheduled cancel time until enough volume traded", Outcome.VOLUME_GATE),
    (r"Cannot switch leverage type with open position", Outcome.LEVERAGE_SWITCH),
    (r"Invalid leverage value", Outcome.BAD_REQUEST),
    (r"Signed action over weight limit of 200", Outcome.BATCH_TOO_LARGE),
    (r"Failed to deserialize the JSON body", Outcome.BAD_REQUEST),  # 422 plain text
    (r"Order has invalid tif", Outcome.BAD_REQUEST),
    (r"Unknown asset", Outcome.BAD_REQUEST),
    (r"Order price cannot be more than 80% away from the reference price", Outcome.ORACLE_BAND),
    (r"Builder fee is above the maximum for this market", Outcome.BAD_REQUEST),
    (r"Builder fee has not been approved", Outcome.BAD_REQUEST),
    (r"Builder has insufficient balance to be approved", Outcome.BAD_REQUEST),
    (r"is not supported by this venue", Outcome.BAD_REQUEST),
    (r"TP/SL grouping needs", Outcome.BAD_REQUEST),
    (r"No open isolated position on this asset", Outcome.BAD_REQUEST),
    (r"Insufficient margin to add to the isolated position", Outcome.INSUFFICIENT_MARGIN),
    (r"Cannot remove that much isolated margin", Outcome.INSUFFICIENT_MARGIN),
    (r"Insufficient margin to change leverage", Outcome.INSUFFICIENT_MARGIN),
    (r"Injected fault: ", Outcome.RETRY_LATER),  # hlmm sim fault injection: refused before execution
)
_COMPILED = tuple((re.compile(p), o) for p, o in _TABLE)
_ASSET_SUFFIX = re.compile(r"\s*asset=(\d+)\s*$")

# terminal order statuses (orderStatus / orderUpdates) that are rejects, with the same outcomes
STATUS_OUTCOME: dict[str, Outcome] = {
    "tickRejected": Outcome.INVALID_TICK, "minTradeNtlRejected": Outcome.MIN_NOTIONAL,
    "perpMarginRejected": Outcome.INSUFFICIENT_MARGIN, "reduceOnlyRejected": Outcome.REDUCE_ONLY,
    "badAloPxRejected": Outcome.ALO_REJECT, "iocCancelRejected": Outcome.IOC_NO_MATCH,
    "badTriggerPxRejected": Outcome.BAD_TRIGGER, "marketOrderNoLiquidityRejected": Outcome.NO_LIQUIDITY,
    "positionIncreaseAtOpenInterestCapRejected": Outcome.OI_CAP,
    "positionFlipAtOpenInterestCapRejected": Outcome.OI_CAP,
    "tooAggressiveAtOpenInterestCapRejected": Outcome.OI_CAP, "openInterestIncreaseRejected": Outcome.OI_CAP,
    "insufficientSpotBalanceRejected": Outcome.INSUFFICIENT_SPOT, "oracleRejected": Outcome.ORACLE_BAND,
    "perpMaxPositionRejected": Outcome.MAX_POSITION, "rejected": Outcome.UNKNOWN,
}
# the venue's status word for a per-order reject, where its outcome has exactly one (OI_CAP has four)
REJECT_STATUS: dict[Outcome, str] = {
    o: w for w, o in STATUS_OUTCOME.items() if list(STATUS_OUTCOME.values()).count(o) == 1}


@dataclass(frozen=True, slots=True)
class Classified:
    outcome: Outcome
    asset: int | None
    message: str

    def disposition(self, for_action: bool = True) -> Disposition:
        return self.outcome.disposition(for_action)


def classify(message: str) -> Classified:
    """A reject string (per-order `error` or top-level `err` response) → outcome + parsed asset id."""
    if not isinstance(message, str):
        log.warning("venue reject is not a string: %r", message)
        return Classified(Outcome.UNKNOWN, None, repr(message))
    text = message.strip()
    asset = None
    m = _ASSET_SUFFIX.search(text)
    if m:
        asset = int(m.group(1))
        text = text[:m.start()]
    for rx, outcome in _COMPILED:
        if rx.match(text):
            return Classified(outcome, asset, message)
    log.error("unclassified venue reject (add it to engine/venue/errors.py): %r", message)
    return Classified(Outcome.UNKNOWN, asset, message)


def classify_http(status: int, body: str | None = None) -> Classified:
    """Non-200 HTTP replies: 429 `null` → IP limit; 422 text → bad request; 5xx → transient; other 4xx fatal."""
    text = (body or "").strip()
    if status == 429:
        return Classified(Outcome.RATE_LIMITED_IP, None, text or "null")
    if status == 422:
        return Classified(Outcome.BAD_REQUEST, None, text)
    if status >= 500:
        return Classified(Outcome.RETRY_LATER, None, f"HTTP {status}: {text[:200]}")
    if 400 <= status < 500:
        return Classified(Outcome.FATAL, None, f"HTTP {status}: {text[:200]}")
    return Classified(Outcome.OK, None, "")


def classify_status(status: str) -> Outcome:
    """Order-record status → outcome (OK for non-reject statuses like open/filled/canceled)."""
    if status.endswith("Rejected") or status == "rejected":
        return STATUS_OUTCOME.get(status, Outcome.UNKNOWN)
    return Outcome.OK
