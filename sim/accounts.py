"""Accounts: perp cross-margin USDC + positions, spot balances with holds, fee/liquidator accounts.

Money is exact `Decimal`. A position keeps its signed cost basis (`cost` = sum of signed size x
fill price still open) instead of an averaged entry price, so realised PnL plus the remaining
cost always add up exactly and USDC is conserved across both sides of every fill:
sum(perp usdc) + sum(spot usdc) + fees - sum(cost) is invariant (positions net to zero per coin).
"""
from __future__ import annotations

from collections import OrderedDict
from itertools import islice
from decimal import Decimal

from .markets import Market

ZERO = Decimal(0)
COST_QUANTUM = Decimal("1e-12")  # removed cost on partial closes is rounded here (the only rounding)

FEE_ACCOUNT = "0x" + "fe" * 20  # collects every trading fee (perp and spot, in USDC)
LIQUIDATOR = "0x" + "1d" * 20  # backstop: takes liquidated positions at mark, absorbs bad debt

PERP_TAKER, PERP_MAKER = Decimal("0.00045"), Decimal("0.00015")
SPOT_TAKER, SPOT_MAKER = Decimal("0.0007"), Decimal("0.0004")
DEFAULT_LEVERAGE = 20
ORDER_RECORDS_KEPT = 2000  # orderStatus retention for finished orders, like the live venue
FILLS_KEPT = 10_000  # userFills/userFillsByTime serve at most the newest 10000 (live: same guarantee)


class Position:
    __slots__ = ("szi", "cost", "fund_all", "fund_open", "fund_change", "iso")

    def __init__(self) -> None:
        # isolated margin: the USDC set aside for this position alone (None: a cross position). The position's own
        # equity is iso + unrealized PnL; the venue shows iso - cost as leverage.rawUsd
        self.iso: Decimal | None = None
        self.szi = ZERO
        self.cost = ZERO  # signed: positive for longs
        self.fund_all = ZERO  # funding paid (positive = paid by this user), lifetime
        self.fund_open = ZERO  # since the position was opened
        self.fund_change = ZERO  # since the last size change

    def entry_px(self) -> Decimal | None:
        return (self.cost / self.szi) if self.szi else None


class User:
    def __init__(self, address: str) -> None:
        self.address = address
        self.perp_usdc = ZERO
        self.positions: dict[str, Position] = {}
        self.leverage: dict[int, list] = {}  # asset -> [is_cross, value]
        self.spot: dict[int, Decimal] = {}  # token index -> total
        self.hold: dict[int, Decimal] = {}  # token index -> reserved by resting orders
        self.spot_entry: dict[int, Decimal] = {}  # token index -> entry notional (USDC cost basis of the balance)
        self.builder_max: dict[str, int] = {}  # builder address -> approved max fee, tenths of a basis point
        self.builder_rewards = ZERO  # builder fees earned on other users' fills (referral state builderRewards)
        self.inflow = ZERO  # USDC value deposited or received from other users, net of what was sent (not trading)
        self.orders: dict[int, object] = {}  # oid -> resting Order (and untriggered trigger orders)
        self.waiting: dict[int, list] = {}  # parent oid -> its normalTpsl children, until the parent has filled
        self.n_reduce_only = 0  # resting reduce-only orders (skip the shrink pass when 0)
        self.order_ntl: dict[int, int] = {}  # perp asset -> sum px_int*sz_int of resting non-reduce-only orders
        self.cum_vlm = ZERO
        self.n_requests = 0
        self.budget_last_pass = -10**18  # when exhausted, one request per 10 s passes
        self.deposited = False
        self.system = False  # internal market-flow account (no margin/balance checks)
        self.master: str | None = None  # a sub-account: the master whose key (or agent) signs for it
        self.sched_cancel: int | None = None
        self.sched_day = -1
        self.sched_count = 0
        self.fills: list[dict] = []
        self.fundings: list[dict] = []
        self.ledger: list[dict] = []
        # oid -> Order (its .status/.status_ts are the record); no per-record container, so
        # long runs create fewer objects for the garbage collector to walk
        self.records: OrderedDict[int, object] = OrderedDict()
        self.cloids: dict[str, int] = {}


    # ----------------------------------------------------------------- perp margin
    def lev(self, m: Market) -> int:
        entry = self.leverage.get(m.asset)
        return entry[1] if entry else min(DEFAULT_LEVERAGE, m.max_leverage)

    def is_cross(self, m: Market) -> bool:
        entry = self.leverage.get(m.asset)
        return entry[0] if entry else True

    def upnl(self, marks: dict[str, Decimal]) -> Decimal:
        total = ZERO
        for coin, p in self.positions.items():
            if p.szi:
                total += p.szi * marks[coin] - p.cost
        return total

    def account_value(self, marks: dict[str, Decimal]) -> Decimal:
        """Everything: cross USDC, every position's PnL and the isolated margins (marginSummary)."""
        return self.perp_usdc + self.upnl(marks) + sum((p.iso for p in self.positions.values()
                                                        if p.iso is not None), ZERO)

    def cross_value(self, marks: dict[str, Decimal]) -> Decimal:
        """The cross account: USDC outside isolated margins plus the cross positions' PnL (crossMarginSummary)."""
        total = self.perp_usdc
        for coin, p in self.positions.items():
            if p.szi and p.iso is None:
                total += p.szi * marks[coin] - p.cost
        return total

    def position_margin(self, markets: dict[str, Market], marks: dict[str, Decimal]) -> Decimal:
        """Initial margin of the cross positions (isolated ones carry their own)."""
        total = ZERO
        for coin, p in self.positions.items():
            if p.szi and p.iso is None:
                total += abs(p.szi) * marks[coin] / self.lev(markets[coin])
        return total

    def order_margin(self, by_asset: dict[int, Market]) -> Decimal:
        total = ZERO
        for asset, ntl in self.order_ntl.items():
            if ntl:
                m = by_asset[asset]
                total += m.ntl_dec(ntl) / self.lev(m)
        return total

    def maintenance(self, markets: dict[str, Market], marks: dict[str, Decimal]) -> Decimal:
        """Half the initial margin at max leverage (protocol §7), over the cross positions."""
        total = ZERO
        for coin, p in self.positions.items():
            if p.szi and p.iso is None:
                total += abs(p.szi) * marks[coin] / (2 * markets[coin].max_leverage)
        return total

    def free_margin(self, markets, by_asset, marks) -> Decimal:
        """Cross value - cross position margin - order margin, in one pass (runs on every perp order): what a new
        order, or a new isolated position's margin, can draw on."""
        total = self.perp_usdc
        for coin, p in self.positions.items():
            szi = p.szi
            if szi and p.iso is None:
                mark = marks[coin]
                total += szi * mark - p.cost - abs(szi) * mark / self.lev(markets[coin])
        for asset, ntl in self.order_ntl.items():
            if ntl:
                m = by_asset[asset]
                total -= m.ntl_dec(ntl) / self.lev(m)
        return total

    def withdrawable(self, markets, by_asset, marks) -> Decimal:
        """What can leave the perp account: cross value minus max(cross initial margin, 10% of cross notional)."""
        ntl = sum((abs(p.szi) * marks[c] for c, p in self.positions.items() if p.szi and p.iso is None), ZERO)
        need = max(self.position_margin(markets, marks), ntl / 10) + self.order_margin(by_asset)
        return max(ZERO, self.cross_value(marks) - need)

    # ----------------------------------------------------------------- spot
    def spot_free(self, token: int) -> Decimal:
        return self.spot.get(token, ZERO) - self.hold.get(token, ZERO)

    def add_spot(self, token: int, amount: Decimal) -> None:
        self.spot[token] = self.spot.get(token, ZERO) + amount

    def add_hold(self, token: int, amount: Decimal) -> None:
        self.hold[token] = self.hold.get(token, ZERO) + amount

    def has_funds(self) -> bool:
        return bool(self.perp_usdc) or any(self.spot.values()) or any(p.szi for p in self.positions.values())

    # ----------------------------------------------------------------- order records
    def record(self, order, status: str, ts: int) -> None:
        new = not order.status
        order.status, order.status_ts = status, ts
        if new:
            self.records[order.oid] = order
            if order.cloid:
                self.cloids[order.cloid] = order.oid
            if len(self.records) > ORDER_RECORDS_KEPT + len(self.orders) + 256:
                self._trim_records()  # in bulk: trimming one at a time would make every order O(n)

    def _trim_records(self) -> None:
        excess = len(self.records) - ORDER_RECORDS_KEPT - len(self.orders)
        for oid in list(islice(self.records, excess + len(self.orders))):
            if excess <= 0:
                break
            if oid in self.orders:
                continue
            cloid = self.records.pop(oid).cloid
            if cloid and self.cloids.get(cloid) == oid:
                del self.cloids[cloid]
            excess -= 1


def fill_dir(is_spot: bool, is_buy: bool, start: Decimal, end: Decimal) -> str:
    if is_spot:
        return "Buy" if is_buy else "Sell"
    if start == 0 or (start > 0) == is_buy:
        return "Open Long" if is_buy else "Open Short"
    if end == 0 or (end > 0) == (start > 0):
        return "Close Short" if is_buy else "Close Long"
    return "Short > Long" if is_buy else "Long > Short"


def apply_perp_fill(user: User, coin: str, is_buy: bool, sz: Decimal, px: Decimal) -> tuple[Decimal, Decimal]:
    """Move the position by a fill; returns (start position, closed PnL). USDC is credited the PnL."""
    pos = user.positions.get(coin)
    if pos is None:
        pos = user.positions[coin] = Position()
    start = pos.szi
    pnl = ZERO
    if start == 0 or (start > 0) == is_buy:
        pos.cost += sz * px if is_buy else -sz * px
        if start == 0:
            pos.fund_open = ZERO
    else:
        held = abs(start)
        closing = sz if sz < held else held
        removed = pos.cost if closing == held else (pos.cost * closing / held).quantize(COST_QUANTUM)
        pnl = (closing * px if start > 0 else -closing * px) - removed
        pos.cost -= removed
        rest = sz - closing
        if rest:
            pos.cost += rest * px if is_buy else -rest * px
            pos.fund_open = ZERO
    pos.szi = start + sz if is_buy else start - sz
    pos.fund_change = ZERO
    if pos.szi == 0:
        pos.cost = ZERO
    user.perp_usdc += pnl
    return start, pnl
