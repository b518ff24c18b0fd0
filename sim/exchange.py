"""POST /exchange: envelope checks, signer resolution, address budget, action handlers.

`handle(core, body)` is the signed path; `act(core, user, action)` is the same processing for an
already-authenticated user (used by the signed path, by tests and by the in-process benchmark).
Whole-action refusals are HTTP 200 {"status":"err"}; per-order problems are entries of
`statuses`; a body that does not deserialize is a 422 with the venue's plain-text message.
"""
from __future__ import annotations

from decimal import Decimal

from . import auth, isolated, rules
from .accounts import User
from .core import Core
from .matching import place
from .orders import SHAPES, cancel_action, cancel_by_cloid_action, modify_action
from .replies import DESERIALIZE, BadRequest, ok, refuse
from .replies import is_int as _is_int
from .subaccounts import SUB_ACCOUNT_HANDLERS
from .transfers import TRANSFER_HANDLERS
from . import trigger_orders as triggers_exchange

BATCHED = {"order": "orders", "cancel": "cancels", "cancelByCloid": "cancels", "batchModify": "modifies"}
CANCEL_TYPES = ("cancel", "cancelByCloid")
SCHEDULE_MIN_LEAD_MS = 5_000
SCHEDULE_MAX_PER_DAY = 10
DAY_MS = 86_400_000


def envelope_ok(body) -> bool:
    if not isinstance(body, dict):
        return False
    action, sig = body.get("action"), body.get("signature")
    return (isinstance(action, dict) and isinstance(action.get("type"), str) and _is_int(body.get("nonce"))
            and isinstance(sig, dict) and isinstance(sig.get("r"), str) and isinstance(sig.get("s"), str)
            and _is_int(sig.get("v")) and (body.get("vaultAddress") is None or isinstance(body["vaultAddress"], str))
            and (body.get("expiresAfter") is None or _is_int(body["expiresAfter"])))


def handle(core: Core, body, opts) -> tuple[int, object]:
    if not envelope_ok(body):
        return 422, DESERIALIZE
    now = core.clock.now_ms()
    kind = body["action"]["type"]
    if kind not in auth.USER_SIGNED and (kind in USER_SIGNED_UNSUPPORTED or "signatureChainId" in body["action"]):
        # a user-signed action this venue does not model: its EIP-712 types are not known here, so recovering a
        # signer would yield a random address and a misleading "does not exist"; say what is really wrong
        return 200, refuse(f"Action type {kind} is not supported by this venue.")
    try:
        signer = auth.signer_of(core, body, opts.accept_mainnet)
        u = auth.resolve(core, body, signer, now)
        auth.check_nonce(core, signer, body["nonce"], now, opts.nonce_window)
        exp = body.get("expiresAfter")
        if exp is not None and now > exp:
            raise auth.AuthError(f"Action expired: expiresAfter {exp} is before the current time {now}")
    except auth.AuthError as exc:
        return 200, refuse(str(exc))
    try:
        out = act(core, u, body["action"], now, opts, nonce=body["nonce"])
    except BadRequest:
        return 422, DESERIALIZE
    auth.use_nonce(core, signer, body["nonce"])
    return 200, out


def act(core: Core, u: User, action: dict, now: int, opts, nonce: int | None = None) -> dict:
    """Run one authenticated action for `u`; raises BadRequest (nothing done) on malformed input."""
    kind = action.get("type")
    batch_key = BATCHED.get(kind)
    cost = 1
    if batch_key is not None:
        batch = action.get(batch_key)
        if not isinstance(batch, list):
            raise BadRequest(batch_key)
        if len(batch) > rules.MAX_BATCH:
            return refuse(rules.BATCH_TOO_BIG)
        shape = SHAPES[kind]
        for item in batch:  # a malformed element refuses the whole body before anything happens
            if not shape(item):
                raise BadRequest(batch_key)
        cost = max(1, len(batch))
    elif kind == "modify" and not SHAPES["batchModify"](action):
        raise BadRequest("modify")
    handler = HANDLERS.get(kind)
    if handler is None:
        if kind not in KNOWN_UNSUPPORTED:
            raise BadRequest(kind)  # the live venue cannot deserialize an unknown action type
        handler = _unsupported(f"Action type {kind} is not supported by this venue.")
    charged = 0
    if not u.system:
        refusal = charge_budget(u, cost, kind in CANCEL_TYPES, now)
        if refusal:
            return refuse(refusal)
        charged = cost
    core.new_tx()
    try:
        return handler(core, u, action, now, opts)
    except BadRequest:
        u.n_requests -= charged  # a body that does not deserialize costs nothing
        raise


def charge_budget(u: User, cost: int, is_cancel: bool, now: int) -> str | None:
    """Address budget: 10000 + 1 per USDC traded; each order/cancel of a batch counts."""
    cap = 10_000 + int(u.cum_vlm)
    if is_cancel:
        cap = min(cap + 100_000, 2 * cap)
    if u.n_requests + cost > cap:
        if now - u.budget_last_pass < 10_000:  # exhausted: one request per 10 s still passes
            return rules.BUDGET.format(used=u.n_requests + cost, cap=cap, vlm=f"{u.cum_vlm:.2f}")
        u.budget_last_pass = now
    u.n_requests += cost
    return None


# ---------------------------------------------------------------------- handlers
BUILDER_NOT_APPROVED = "Builder fee has not been approved."
BUILDER_CAPS = {False: 100, True: 1000}  # tenths of a basis point: 0.1 % perps, 1 % spot


def _builder(u: User, b) -> tuple[str, Decimal, int] | str:
    """(address, fee rate, tenths of a bp) of an order action's builder code, or the refusal text."""
    if not isinstance(b, dict) or not isinstance(b.get("b"), str) or not _is_int(b.get("f")) or b["f"] < 0:
        raise BadRequest("builder")
    addr = b["b"].lower()
    tenths = b["f"]
    if tenths > u.builder_max.get(addr, 0) or (tenths == 0 and addr not in u.builder_max):
        return BUILDER_NOT_APPROVED
    return addr, Decimal(tenths).scaleb(-5), tenths


def _order(core, u, action, now, opts):
    builder = action.get("builder")
    if builder is not None:
        builder = _builder(u, builder)
        if isinstance(builder, str):
            return refuse(builder)
    grouping = action.get("grouping", "na")
    if grouping != "na":
        return triggers_exchange.place_group(core, u, action["orders"], grouping, builder, now, place_wire)
    statuses = [place_wire(core, u, w, now, builder=builder) for w in action["orders"]]
    if core.triggers:  # a trigger placed (or left) whose condition the mark already meets fires now
        triggers_exchange.check(core, now)
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def place_wire(core: Core, u: User, w: dict, now: int, parsed: tuple | None = None, builder=None) -> dict:
    """One order in wire form. `parsed`: (market, scaled price, scaled size) a caller has already validated (a
    modify checks the new price and size before it cancels the original). `builder`: the action's builder code."""
    a = w["a"]
    if parsed is None:
        m = core.u.by_asset.get(a)
        if m is None:
            return rules.err(rules.UNKNOWN_ASSET, a)
    else:
        m = parsed[0]
    t = w["t"]
    if builder is not None and builder[2] > BUILDER_CAPS[m.is_spot]:
        return rules.err(rules.BUILDER_TOO_HIGH, a)
    if "trigger" in t:
        return triggers_exchange.place_trigger(core, u, m, w, now, parsed, builder)
    tif = t["limit"].get("tif")
    if tif not in ("Gtc", "Alo", "Ioc", "FrontendMarket"):
        return rules.err(rules.BAD_TIF, a)
    if parsed is None:
        px, e = rules.parse_price(m, w["p"])
        if e:
            return rules.err(e, a)
        sz, e = rules.parse_size(m, w["s"])
        if e:
            return rules.err(e, a)
    else:
        px, sz = parsed[1], parsed[2]
    return place(core, u, m, w["b"], px, sz, tif, w["r"], w.get("c"), now,
                 builder=None if builder is None else builder[:2])


def _cancel(core, u, action, now, opts):
    return cancel_action(core, u, action, now)


def _cancel_by_cloid(core, u, action, now, opts):
    return cancel_by_cloid_action(core, u, action, now)


def _batch_modify(core, u, action, now, opts):
    return modify_action(core, u, action["modifies"], now, place_wire)


def _modify(core, u, action, now, opts):
    return modify_action(core, u, [{"oid": action["oid"], "order": action["order"]}], now, place_wire)


def _schedule_cancel(core, u, action, now, opts):
    t = action.get("time")
    if t is None:
        u.sched_cancel = None
        core.scheduled.discard(u.address)
        return ok("default")
    if not _is_int(t):
        raise BadRequest("time")
    if t < now + SCHEDULE_MIN_LEAD_MS:
        return refuse(rules.SCHEDULE_TOO_EARLY)
    if opts.schedule_cancel_min_volume and u.cum_vlm < opts.schedule_cancel_min_volume:
        return refuse("Cannot set scheduled cancel time until enough volume traded")
    if u.sched_day == now // DAY_MS and u.sched_count >= SCHEDULE_MAX_PER_DAY:
        return refuse(rules.SCHEDULE_TOO_MANY)
    u.sched_cancel = t
    core.scheduled.add(u.address)
    return ok("default")


def fire_scheduled(core: Core, now: int) -> None:
    for addr in sorted(core.scheduled):
        u = core.users[addr]
        if u.sched_cancel is None or u.sched_cancel > now:
            continue
        at = u.sched_cancel  # the cancel happens at its time, whenever this pass runs after it
        day = at // DAY_MS
        if u.sched_day != day:
            u.sched_day, u.sched_count = day, 0
        u.sched_count += 1
        u.sched_cancel = None
        core.scheduled.discard(addr)
        for o in sorted(u.orders.values(), key=lambda o: o.oid):
            core.cancel(o, "scheduledCancel", at)


def _update_leverage(core, u, action, now, opts):
    asset, is_cross, lev = action.get("asset"), action.get("isCross"), action.get("leverage")
    if not _is_int(asset) or not isinstance(is_cross, bool) or not _is_int(lev):
        raise BadRequest("updateLeverage")
    m = core.u.by_asset.get(asset)
    if m is None or m.is_spot:
        return refuse(f"{rules.UNKNOWN_ASSET} asset={asset}")
    if not 1 <= lev <= m.max_leverage:
        return refuse(rules.LEVERAGE_INVALID)
    pos = u.positions.get(m.coin)
    if pos is not None and pos.szi and u.is_cross(m) != is_cross:
        return refuse(rules.LEVERAGE_SWITCH)
    before = u.leverage.get(m.asset)
    u.leverage[m.asset] = [is_cross, lev]
    marks = core.marks()
    if pos is not None and pos.szi and (u.free_margin(core.u.by_coin, core.u.by_asset, marks) < 0
                                        or not isolated.leverage_fits(u, m, lev, marks)):
        if before is None:
            del u.leverage[m.asset]
        else:
            u.leverage[m.asset] = before
        return refuse("Insufficient margin to change leverage.")
    return ok("default")


def _approve_agent(core, u, action, now, opts):
    try:
        auth.approve_agent(core, u, action)
    except auth.AuthError as exc:
        return refuse(str(exc))
    return ok("default")


def _accept(core, u, action, now, opts):
    return ok("default")


def _unsupported(text):
    return lambda core, u, action, now, opts: refuse(text)


# user-signed (EIP-712) actions of Hyperliquid this venue does not model: refused before any signature check
USER_SIGNED_UNSUPPORTED = {"tokenDelegate", "convertToMultiSigUser", "userDexAbstraction", "userSetAbstraction",
                           "multiSig", "cDeposit", "cWithdraw", "userPortfolioMargin"}
# real Hyperliquid actions this venue does not model: refused with a clear text (not a 422)
KNOWN_UNSUPPORTED = {
    "setReferrer", "subAccountSpotTransfer", "vaultTransfer",
    "evmUserModify", "agentEnableDexAbstraction", "agentSetAbstraction", "spotDeploy", "perpDeploy",
    "CSignerAction", "CValidatorAction", "gossipPriorityBid", "multiSig", "twapOrder", "twapCancel",
    "reserveRequestWeight", "tokenDelegate", "convertToMultiSigUser", "userDexAbstraction",
    "userSetAbstraction", "claimRewards", "setDisplayName",
}

HANDLERS = {
    "order": _order, "cancel": _cancel, "cancelByCloid": _cancel_by_cloid, "batchModify": _batch_modify,
    "modify": _modify, "scheduleCancel": _schedule_cancel, "updateLeverage": _update_leverage,
    "approveAgent": _approve_agent, "noop": _accept, **TRANSFER_HANDLERS, **SUB_ACCOUNT_HANDLERS,
    "updateIsolatedMargin": isolated.update_isolated_margin,
    "withdraw3": _unsupported("Withdrawals are not supported by this venue."),
}
