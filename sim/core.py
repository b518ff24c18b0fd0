"""Venue state shared by the matching, exchange, info, funding and persistence modules.

`Core` owns the books, users, oracle prices, id counters and the event buffer; the modules
around it are functions over one `Core`, so there is exactly one copy of every fact.
"""
from __future__ import annotations

import hashlib
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .accounts import FEE_ACCOUNT, LIQUIDATOR, PERP_MAKER, PERP_TAKER, SPOT_MAKER, SPOT_TAKER, User, ZERO
from .book import Book, Order
from .candles import CandleStore
from .clock import SimClock
from .events import EventBuffer
from .markets import Market, Universe
from .numbers import scaled_str

TID_MASK = (1 << 50) - 1
TID_MULT = 0x2545F4914F6CD  # odd: i -> (i * MULT + offset) mod 2**50 is a bijection, so tids never repeat
HOUR_MS = 3_600_000
BAND_LO, BAND_HI = Decimal("0.2"), Decimal("1.8")  # orders more than 80 % away from the reference are refused


class Core:
    def __init__(self, clock: SimClock, seed: int = 0, universe: Universe | None = None,
                 max_order_events: int = 1_000_000) -> None:
        self.clock = clock
        self.seed = seed
        self.u = universe or Universe()
        self.books: dict[str, Book] = {m.coin: Book() for m in self.u.markets}
        self.users: dict[str, User] = {}
        self.oracle: dict[str, Decimal] = {m.coin: m.default_px for m in self.u.markets}
        self.funding_override: dict[str, Decimal] = {}
        self.fee_override: dict[bool, tuple[Decimal, Decimal]] = {}  # is_spot -> (taker, maker) (set_fee_rates)
        self.last_px: dict[str, Decimal] = {}
        self.next_oid = 1_000_000 + (seed % 1000) * 1_000_000
        self.seq = 0
        self.tid_count = 0
        self.tx_count = 0
        self._tx_hash: str | None = "0x" + "00" * 32
        self.events = EventBuffer()
        # one flat tuple of plain values per status change (see log_status); no object references,
        # so the garbage collector can untrack the entries of this long list
        self.order_log: list[tuple] = []
        self.max_order_events = max_order_events
        self.candles = CandleStore()
        self.funding_history: dict[str, list[dict]] = {m.coin: [] for m in self.u.perps}
        self.premium_samples: dict[str, list[Decimal]] = {m.coin: [] for m in self.u.perps}
        self.last_sample_ms = 0
        self.next_funding_ms = (clock.now_ms() // HOUR_MS + 1) * HOUR_MS
        self.agents: dict[str, list] = {}  # agent address -> [user, name, validUntil]
        self.nonces: dict[str, list[int]] = {}  # signer -> sorted highest nonces
        self.scheduled: set[str] = set()  # users with an armed scheduleCancel
        self.triggers: dict[str, dict[int, Order]] = {}  # coin -> oid -> untriggered trigger order (sim/triggers.py)
        self.firing: Order | None = None  # the trigger order trading right now (a refusal keeps its oid)
        self.fee = self.user(FEE_ACCOUNT)
        self.fee.system = True
        self.liquidator = self.user(LIQUIDATOR)
        self.liquidator.system = True
        self.marks_cache: dict[str, Decimal] | None = None
        # a spot balance is a whole number of the token's wei: fees are cut to this quantum (token index -> 1e-wei)
        self.bands: dict[str, tuple[int, int]] = {}  # coin -> scaled (lo, hi) of the 80 % price band
        self.wei: dict[int, Decimal] = {t.index: Decimal(1).scaleb(-t.wei_decimals) for t in self.u.tokens}

    # ------------------------------------------------------------------ ids
    def new_oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def new_tid(self) -> int:
        self.tid_count += 1
        return (self.tid_count * TID_MULT + self.seed * 7919 + 0x1F2E3D4C5B6A) & TID_MASK

    def new_tx(self) -> None:
        """Start a new transaction: every fill/funding row of one action shares its hash."""
        self.tx_count += 1
        self._tx_hash = None  # computed on first use: most actions never produce a fill

    @property
    def tx_hash(self) -> str:
        if self._tx_hash is None:
            digest = hashlib.blake2b(f"{self.seed}:{self.tx_count}".encode(), digest_size=32).hexdigest()
            self._tx_hash = "0x" + digest
        return self._tx_hash

    @tx_hash.setter
    def tx_hash(self, value: str) -> None:
        self._tx_hash = value

    # ------------------------------------------------------------------ lookups
    def user(self, address: str, create: bool = True) -> User | None:
        key = address.lower()
        u = self.users.get(key)
        if u is None and create:
            u = self.users[key] = User(key)
        return u

    def marks(self) -> dict[str, Decimal]:
        """Mark price per coin. Modelled as the oracle price the drivers set (documented in docs/venue.md)."""
        return self.oracle

    def mid(self, coin: str) -> Decimal | None:
        book = self.books[coin]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return None
        m = self.u.by_coin[coin]
        return m.px_dec(bid + ask) / 2

    def band(self, m: Market) -> tuple[int, int]:
        """Scaled (lowest, highest) price an order may have: within 80 % of the reference price — the mark for a
        perp, the last trade (else the oracle) for a spot pair. Kept until the reference changes (set_oracle and
        spot trades drop it), so an order pays one dict lookup for it."""
        ref = self.oracle[m.coin] if not m.is_spot else self.last_px.get(m.coin, self.oracle[m.coin])
        band = (int((ref * BAND_LO).scaleb(m.px_decimals).to_integral_value(ROUND_CEILING)),
                int((ref * BAND_HI).scaleb(m.px_decimals).to_integral_value(ROUND_FLOOR)))
        self.bands[m.coin] = band
        return band

    def token_px(self, token: int) -> Decimal:
        """USDC price of a spot token: its pair's last trade, else the pair's oracle (USDC itself: 1)."""
        for m in self.u.spots:
            if m.base_token == token:
                return self.last_px.get(m.coin, self.oracle[m.coin])
        return Decimal(1)

    def credit_spot(self, u: User, token: int, amount: Decimal) -> None:
        """Tokens arriving from outside a trade (deposit, transfer): the entry notional grows by their value
        at the current price, so a transferred balance shows no made-up profit."""
        u.add_spot(token, amount)
        if token != 0:
            u.spot_entry[token] = u.spot_entry.get(token, ZERO) + amount * self.token_px(token)

    def debit_spot(self, u: User, token: int, amount: Decimal) -> None:
        """Tokens leaving outside a trade take their share of the entry notional with them."""
        before = u.spot.get(token, ZERO)
        u.add_spot(token, -amount)
        if token != 0 and before > 0 and token in u.spot_entry:
            u.spot_entry[token] -= (u.spot_entry[token] * (amount / before)).quantize(self.wei[0])

    def fee_rates(self, m: Market) -> tuple[Decimal, Decimal]:
        """(taker, maker) rate: the base tier unless a backtest set another tier (Venue.set_fee_rates)."""
        if self.fee_override:
            rates = self.fee_override.get(m.is_spot)
            if rates is not None:
                return rates
        return (SPOT_TAKER, SPOT_MAKER) if m.is_spot else (PERP_TAKER, PERP_MAKER)

    # ------------------------------------------------------------------ order status
    def order_wire(self, o: Order, sz: int | None = None) -> dict:
        m = o.market
        if sz is None:
            sz = o.sz
        sz_s = scaled_str(sz, m.sz_decimals)
        d = {"coin": m.coin, "side": "B" if o.is_buy else "A", "limitPx": scaled_str(o.px, m.px_decimals),
             "sz": sz_s, "oid": o.oid, "timestamp": o.ts,
             # an order not filled yet (most updates) prints its size once
             "origSz": sz_s if o.orig_sz == sz else scaled_str(o.orig_sz, m.sz_decimals)}
        if o.cloid:
            d["cloid"] = o.cloid
        if o.reduce_only:
            d["reduceOnly"] = True
        return d

    def notify(self, user: str, text: str) -> None:
        """A line for the user's WS `notification` channel (the venue's own wording)."""
        if self.events.subscribers:
            self.events.add("notification", user, text)

    def log_status(self, o: Order, status: str, ts: int) -> None:
        log = self.order_log
        log.append((o.user, o.market.asset, o.oid, o.is_buy, o.px, o.sz, o.orig_sz, o.ts, o.cloid, o.reduce_only,
                    status, ts))
        if len(log) > self.max_order_events:
            del log[: len(log) // 10]

    def order_event(self, row: tuple) -> dict:
        """order_log row -> {"user", "order" (WS orderUpdates shape), "status", "statusTimestamp"}."""
        user, asset, oid, is_buy, px, sz, orig, ts, cloid, ro, status, status_ts = row
        m = self.u.by_asset[asset]
        d = {"coin": m.coin, "side": "B" if is_buy else "A", "limitPx": scaled_str(px, m.px_decimals),
             "sz": scaled_str(sz, m.sz_decimals), "oid": oid, "timestamp": ts,
             "origSz": scaled_str(orig, m.sz_decimals)}
        if cloid:
            d["cloid"] = cloid
        if ro:
            d["reduceOnly"] = True
        return {"user": user, "order": d, "status": status, "statusTimestamp": status_ts}

    def set_status(self, o: Order, status: str, ts: int, user: User | None = None) -> None:
        (user or self.users[o.user]).record(o, status, ts)
        self.log_status(o, status, ts)
        if self.events.subscribers:
            self.events.add("orderUpdates", o.user, {"order": self.order_wire(o), "status": status,
                                                     "statusTimestamp": ts})

    def reserve(self, u: User, o: Order) -> None:
        """Account for a newly resting order: spot hold or perp order margin."""
        m = o.market
        if m.is_spot:
            if o.is_buy:  # a buy pays its fee in the token it receives, so price x size is all it can spend
                o.hold = m.ntl_dec(o.sz * o.px)
                u.add_hold(m.quote_token, o.hold)
            else:
                o.hold = m.sz_dec(o.sz)
                u.add_hold(m.base_token, o.hold)
        elif not o.reduce_only:
            u.order_ntl[m.asset] = u.order_ntl.get(m.asset, 0) + o.sz * o.px
        if o.reduce_only:
            u.n_reduce_only += 1

    def release(self, u: User, o: Order, sz: int) -> None:
        """Free the reservation of `sz` units of a resting order (filled or cancelled)."""
        m = o.market
        if m.is_spot:
            part = o.hold if sz == o.sz else (m.ntl_dec(sz * o.px) if o.is_buy else m.sz_dec(sz))
            o.hold -= part
            u.add_hold(m.quote_token if o.is_buy else m.base_token, -part)
        elif not o.reduce_only:
            u.order_ntl[m.asset] -= sz * o.px

    def retire(self, o: Order, status: str, ts: int) -> None:
        """Finish an order already out of the book: free its reservation, record the status."""
        u = self.users[o.user]
        if o.sz and (o.trig is None or o.trig.fired):  # an untriggered trigger order reserved nothing
            self.release(u, o, o.sz)
        if u.orders.pop(o.oid, None) is not None and o.reduce_only:
            u.n_reduce_only -= 1
        self.set_status(o, status, ts, u)
        if u.waiting:
            kids = u.waiting.pop(o.oid, None)
            if kids:  # a normalTpsl parent ended: its TP/SL children open if it filled, else never
                from .trigger_orders import activate_children, drop_children
                (activate_children if status == "filled" else drop_children)(self, u, kids, ts)
        if status in ("liquidatedCanceled", "reduceOnlyCanceled", "marginCanceled") and self.events.subscribers:
            self.events.add("nonUserCancel", o.user, {"coin": o.market.coin, "oid": o.oid})

    def cancel(self, o: Order, status: str, ts: int) -> None:
        t = o.trig
        if t is not None and not t.fired:  # not in the book: only in the pending-trigger index
            self.triggers[o.market.coin].pop(o.oid, None)
        else:
            self.books[o.market.coin].remove(o)
            self.events.notice("book", o.market.coin)
        self.retire(o, status, ts)

    def shrink_reduce_only(self, u: User, coin: str, ts: int) -> None:
        """Resting reduce-only orders shrink with the position and are cancelled when it closes."""
        if not u.n_reduce_only:
            return
        pos = u.positions.get(coin)
        szi = pos.szi if pos else ZERO
        m = self.u.by_coin[coin]
        held = int(abs(szi).scaleb(m.sz_decimals))
        for o in [o for o in u.orders.values() if o.reduce_only and o.market is m]:
            if held == 0 or (szi > 0) == o.is_buy:
                self.cancel(o, "reduceOnlyCanceled", ts)
            elif o.sz > held:
                if o.trig is not None and not o.trig.fired:
                    o.sz = held
                else:
                    self.books[coin].shrink(o, held)
                    self.events.notice("book", coin)
