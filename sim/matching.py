"""Placing one order: validity, reduce-only, post-only, margin / spot balance, matching, resting.

`place` returns the per-order status exactly as the venue answers it in `statuses`.
Fills settle both sides at the maker's price; the taker pays the taker fee, the maker the maker
fee, both to the fee account. Perp fees are USDC; a spot buy pays its fee in the token it receives
and a spot sell in the quote token (both cut to the token's wei). A builder code adds its fee on the
fills that pay in USDC (perps, spot sells), credited to the builder's rewards. The resting order of the same user is cancelled instead of
trading against it (self-trade prevention: `selfTradeCanceled`, no fill, no fee).
"""
from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from . import isolated, rules
from .accounts import FILLS_KEPT, ZERO, User, apply_perp_fill, fill_dir
from .book import Order
from .core import Core
from .markets import Market
from .numbers import dec_str, scaled_str

IOC_TIFS = ("Ioc", "FrontendMarket", "LiquidationMarket")


def _reject(core: Core, u: User, m: Market, is_buy, px, sz, tif, ro, cloid, now, text: str, **fmt) -> dict:
    status = rules.REJECT_STATUS.get(text)
    if status:  # keep a record so orderStatus(cloid) can explain what happened to the order
        fired = core.firing  # a fired trigger order keeps its oid
        o = Order(core.new_oid() if fired is None else fired.oid, u.address, m, is_buy, px, 0, sz, now, cloid, ro,
                  tif, 0)
        if fired is not None:
            o.trig, o.ts = fired.trig, fired.ts
        u.record(o, status, now)
        core.log_status(o, status, now)
    return rules.err(text.format(**fmt) if fmt else text, m.asset)


def place(core: Core, u: User, m: Market, is_buy: bool, px: int, sz: int, tif: str, ro: bool,
          cloid: str | None, now: int, builder: tuple | None = None, fired=None) -> dict:
    """`builder`: (address, rate) of the action's builder code; `fired`: the trigger order that fired and now
    trades under its own oid."""
    coin = m.coin
    book = core.books[coin]
    orig = sz
    full_close = False
    if m.is_spot:
        if ro:
            return _reject(core, u, m, is_buy, px, sz, tif, ro, cloid, now, rules.REDUCE_ONLY)
        held, opposite, szi = 0, False, ZERO
    else:
        pos = u.positions.get(coin)
        szi = pos.szi if pos is not None else ZERO
        held = int(abs(szi).scaleb(m.sz_decimals)) if szi else 0
        opposite = bool(szi) and (szi > 0) != is_buy
    if ro:
        if not opposite:
            return _reject(core, u, m, is_buy, px, sz, tif, ro, cloid, now, rules.REDUCE_ONLY)
        if sz >= held:
            sz, full_close = held, True
    elif opposite and sz == held:
        full_close = True
    if not full_close and rules.below_min_notional(m, px, orig):
        text = rules.min_notional_text(m, core.u.tokens[m.quote_token].name)
        return _reject(core, u, m, is_buy, px, orig, tif, ro, cloid, now, text)
    if not u.system:  # after the size and notional checks (the live order of the checks is not documented)
        band = core.bands.get(coin) or core.band(m)
        if px < band[0] or px > band[1]:
            return rules.err(rules.PRICE_BAND, m.asset)
    best = book.best_ask() if is_buy else book.best_bid()
    crosses = best is not None and (px >= best if is_buy else px <= best)
    if tif == "Alo" and crosses:
        bid, ask = book.best_bid(), book.best_ask()
        return _reject(core, u, m, is_buy, px, orig, tif, ro, cloid, now, rules.BAD_ALO,
                       bid=scaled_str(bid, m.px_decimals) if bid is not None else "None",
                       ask=scaled_str(ask, m.px_decimals) if ask is not None else "None")
    if tif not in IOC_TIFS and len(u.orders) >= rules.MAX_OPEN_ORDERS:
        return rules.err(rules.TOO_MANY_OPEN.format(cap=rules.MAX_OPEN_ORDERS), m.asset)
    if not u.system:
        if m.is_spot:
            if is_buy:
                need, token = m.ntl_dec(px * sz), m.quote_token
            else:
                need, token = m.sz_dec(sz), m.base_token
            if u.spot_free(token) < need:
                return _reject(core, u, m, is_buy, px, orig, tif, ro, cloid, now, rules.SPOT_BALANCE)
        elif not ro:
            grow = sz if not opposite else max(0, sz - held)
            if grow:
                need = m.ntl_dec(px * grow) / u.lev(m)
                if need > u.free_margin(core.u.by_coin, core.u.by_asset, core.marks()):
                    return _reject(core, u, m, is_buy, px, orig, tif, ro, cloid, now, rules.MARGIN)
    core.seq += 1
    o = Order(core.new_oid() if fired is None else fired.oid, u.address, m, is_buy, px, sz, orig, now, cloid, ro,
              tif, core.seq)
    if builder is not None:
        o.builder = builder
    if fired is not None:
        o.trig, o.builder, o.ts, o.orig_sz = fired.trig, fired.builder, fired.ts, fired.orig_sz
    filled = ntl = 0
    if crosses:
        filled, ntl = match(core, u, o, now)
    if tif in IOC_TIFS or o.sz == 0:
        if filled == 0:
            u.record(o, "iocCancelRejected", now)
            core.log_status(o, "iocCancelRejected", now)
            return rules.err(rules.IOC_CANCEL, m.asset)
        core.set_status(o, "filled" if o.sz == 0 else "canceled", now, u)
        avg = (m.ntl_dec(ntl) / m.sz_dec(filled)).quantize(Decimal(1).scaleb(-m.px_decimals - 2))
        out = {"totalSz": scaled_str(filled, m.sz_decimals), "avgPx": dec_str(avg), "oid": o.oid}
        if cloid:
            out["cloid"] = cloid
        return {"filled": out}
    book.add(o)
    u.orders[o.oid] = o
    core.reserve(u, o)
    core.set_status(o, "open", now, u)
    core.events.notice("book", coin)
    out = {"oid": o.oid}
    if cloid:
        out["cloid"] = cloid
    return {"resting": out}


def match(core: Core, u: User, o: Order, now: int) -> tuple[int, int]:
    """Cross `o` against the opposite side while prices overlap; returns (filled size, notional)."""
    m = o.market
    coin = m.coin
    book = core.books[coin]
    is_buy, px = o.is_buy, o.px
    if is_buy:
        side, keys, sign = book.asks, book.ask_keys, -1
    else:
        side, keys, sign = book.bids, book.bid_keys, 1
    users = core.users
    filled = ntl = 0
    touched: set[str] = set()
    while o.sz and keys:
        lp = keys[-1] * sign
        if (lp > px) if is_buy else (lp < px):
            break
        level = side[lp]
        q = level.orders
        while o.sz and q:
            mk = q[0]
            if not mk.live:
                q.popleft()
                continue
            f = o.sz if o.sz < mk.sz else mk.sz
            mu = users[mk.user]
            if mk.user == o.user:
                status = "selfTradeCanceled"
                f = 0
            elif mk.reduce_only:
                p = mu.positions.get(coin)
                cap = int(abs(p.szi).scaleb(m.sz_decimals)) if p is not None and p.szi and \
                    (p.szi > 0) != mk.is_buy else 0
                status = "reduceOnlyCanceled"
                if f > cap:
                    f = cap
            if f == 0:
                q.popleft()
                mk.live = False
                level.n -= 1
                level.total -= mk.sz
                core.retire(mk, status, now)
                continue
            settle(core, m, u, o, mu, mk, f, lp, now)
            o.sz -= f
            filled += f
            ntl += f * lp
            core.release(mu, mk, f)
            mk.sz -= f
            level.total -= f
            touched.add(mk.user)
            if mk.sz == 0:
                q.popleft()
                mk.live = False
                level.n -= 1
                core.retire(mk, "filled", now)
        if level.n == 0:
            book._drop_level(not is_buy, lp)
    if filled:
        core.events.notice("book", coin)
        core.events.notice("ctx", coin)
        if not m.is_spot:
            touched.add(o.user)
            for addr in touched:
                core.shrink_reduce_only(users[addr], coin, now)
    return filled, ntl


def settle(core: Core, m: Market, tu: User, to: Order, mu: User, mk: Order, f: int, lp: int, now: int) -> None:
    sz, px, ntl = m.sz_dec(f), m.px_dec(lp), m.ntl_dec(f * lp)
    taker_rate, maker_rate = core.fee_rates(m)
    tid = core.new_tid()
    h = core.tx_hash
    px_s, sz_s = scaled_str(lp, m.px_decimals), scaled_str(f, m.sz_decimals)
    _side(core, m, tu, to, True, sz, px, ntl, taker_rate, tid, h, px_s, sz_s, now)
    _side(core, m, mu, mk, False, sz, px, ntl, maker_rate, tid, h, px_s, sz_s, now)
    core.last_px[m.coin] = px
    if m.is_spot:  # a spot pair's price band follows its last trade: 20 %..180 % of it, in whole ticks
        core.bands[m.coin] = (-(-lp // 5), lp * 9 // 5)
    core.candles.add(m.coin, now, px, sz, ntl)
    if core.events.subscribers:
        buyer, seller = (tu, mu) if to.is_buy else (mu, tu)
        core.events.add("trades", m.coin, {"coin": m.coin, "side": "B" if to.is_buy else "A", "px": px_s,
                                           "sz": sz_s, "hash": h, "time": now, "tid": tid,
                                           "users": [buyer.address, seller.address]})


def _builder_fee(core: Core, o: Order, ntl: Decimal, quantum: Decimal | None) -> Decimal:
    """The builder code's cut of one fill, credited to the builder's rewards (claimed off-book on the venue)."""
    addr, rate = o.builder
    fee = ntl * rate
    if quantum is not None:
        fee = fee.quantize(quantum, ROUND_DOWN)
    core.user(addr).builder_rewards += fee
    return fee


def _side(core: Core, m: Market, u: User, o: Order, crossed: bool, sz: Decimal, px: Decimal, ntl: Decimal,
          rate: Decimal, tid: int, h: str, px_s: str, sz_s: str, now: int) -> dict:
    is_buy = o.is_buy
    builder = ZERO
    if m.is_spot:
        base, quote = m.base_token, m.quote_token
        start = u.spot.get(base, ZERO)
        wei = core.wei
        # the fee is reckoned in the quote token and cut to its wei; a buy pays it converted into the base token
        qfee = (ntl * rate).quantize(wei[quote], ROUND_DOWN)
        entry = u.spot_entry
        if is_buy:
            fee_token = base
            fee = (qfee / px).quantize(wei[base], ROUND_DOWN)
            u.add_spot(quote, -ntl)
            u.add_spot(base, sz - fee)
            entry[base] = entry.get(base, ZERO) + ntl
        else:
            fee_token = quote
            fee = qfee
            if o.builder is not None:  # on top of the venue's fee, to the builder
                builder = _builder_fee(core, o, ntl, wei[quote])
                fee = qfee + builder
            u.add_spot(base, -sz)
            u.add_spot(quote, ntl - fee)
            if start > 0 and base in entry:  # the sold part leaves at its average cost
                entry[base] -= (entry[base] * (sz / start)).quantize(wei[quote])
        core.fee.add_spot(fee_token, fee - builder if builder else fee)
        pnl = ZERO
        direction = "Buy" if is_buy else "Sell"
        token_name = core.u.tokens[fee_token].name
    else:
        start, pnl = apply_perp_fill(u, m.coin, is_buy, sz, px)
        lev = u.leverage.get(m.asset)
        if lev is not None and not lev[0]:  # an isolated asset: its margin moves with the position
            isolated.on_fill(u, u.positions[m.coin], lev[1], start, sz, px, is_buy)
        fee = ntl * rate
        u.perp_usdc -= fee
        core.fee.perp_usdc += fee
        if o.builder is not None:  # the builder's cut comes on top of the venue's fee, to the builder
            builder = _builder_fee(core, o, ntl, None)
            u.perp_usdc -= builder
            fee += builder
        direction = fill_dir(False, is_buy, start, u.positions[m.coin].szi)
        token_name = "USDC"
    u.cum_vlm += ntl
    fill = {"coin": m.coin, "px": px_s, "sz": sz_s, "side": "B" if is_buy else "A", "time": now,
            "startPosition": dec_str(start), "dir": direction, "closedPnl": dec_str(pnl), "hash": h,
            "oid": o.oid, "crossed": crossed, "fee": dec_str(fee), "tid": tid, "feeToken": token_name}
    if builder:
        fill["builderFee"] = dec_str(builder)
    if o.cloid:
        fill["cloid"] = o.cloid
    fills = u.fills
    fills.append(fill)
    if len(fills) > FILLS_KEPT + 2000:
        del fills[:-FILLS_KEPT]
    if core.events.subscribers:
        core.events.add("userFills", u.address, fill)
    return fill
