"""A replayable model of ``FundingMarket.vy``: the exact state the contract must hold.

Each public method is one external call of the contract. It either changes the
model's state exactly as the contract changes its storage, or raises
``Rejected`` with the contract's revert reason and changes nothing. The model
also keeps the collateral token's balances and allowances, so it can say when a
deposit must fail in the token.

Time is the caller's: set ``now`` (the block timestamp of the next call) before
calling. Feeds are ``MockFeed`` objects (or anything with ``read(now, max_age)``)
that the caller keeps in step with the chain's oracles. A cap source (see
``CapSource``; ``fundingkit.volatility.VolatilityCapSource`` mirrors
``VolatilityCap.vy``) is an immutable value the model replaces at each answer, so a
rejected call rolls it back with everything else.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from fundingkit.feeds import FeedStatus, MockFeed, Reading
from fundingkit.rates import (
    DEFAULT_PARAMETERS,
    MAX_CAP,
    MIN_CAP,
    IntervalState,
    RateParameters,
    funding_delta,
    next_rate,
    premium,
    project,
)
from fundingkit.vyper_math import (
    UINT256_MAX,
    div_trunc,
    mul_div_ceil,
    mul_div_floor,
    wad_mul_down,
    wad_mul_up,
)

# Hard bounds of the market's own parameters, as in FundingMarket.vy.
MIN_MAX_AGE = 60
MAX_MAX_AGE = 3 * 86_400
MIN_INITIAL_MARGIN_RATIO = 10**16
MAX_INITIAL_MARGIN_RATIO = 10**18
MIN_MAINTENANCE_MARGIN_RATIO = 5 * 10**15
MIN_PRICE_BAND = 10**15
MAX_PRICE_BAND = 10**17
MAX_LIQUIDATION_FEE = 10**16
MAX_FUNDING_HORIZON = 7 * 86_400
MAX_LOSS_INDEX = 2**127 - 1  # a side's loss index is packed in 128 bits
# The numeric envelope (docs/SECURITY.md), enforced.
MAX_COLLATERAL = 10**57  # WAD quote the market may hold: 1e39 quote
MAX_POSITION = 10**30  # WAD base per account: 1e12 base

WAD = 10**18
ZERO_ADDRESS = "0x" + "00" * 20
NO_CAP_SOURCE = "market: cap source gave no cap in 0.01 %..4 %"


class CapSource(Protocol):
    """What the market calls at each accrual that samples a usable index (and once in
    ``set_cap_source``): ``update(price, interval)`` from the market's address."""

    address: str

    def update(self, caller, price: int, now: int, interval: int) -> tuple[CapSource, bytes | None]:
        """The source after the call, and the bytes it returned; None when the call
        reverts (or runs out of its gas), and then the source is unchanged."""
        ...


def cap_answer(returned: bytes | None) -> int | None:
    """The cap the market adopts from a source's return data, or None: a revert, fewer
    than 32 bytes (the market reads at most 32, so a longer answer is cut to its first
    word) or a word outside 0.01 %..4 % keep the cap in force."""
    if returned is None or len(returned) < 32:
        return None
    cap = int.from_bytes(returned[:32], "big")
    return cap if MIN_CAP <= cap <= MAX_CAP else None


class Rejected(Exception):
    """The contract reverts this call with ``reason``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Rejected(reason)


@dataclass
class Account:
    margin: int = 0  # quote, WAD
    position: int = 0  # base, WAD; positive = long
    index_snapshot: int = 0  # its side's index at the last settlement (see MarketModel._side_index)


def owed(position: int, snapshot: int, index: int) -> int:
    """Funding an account owes between two index values, rounded up (market's favour)."""
    return mul_div_ceil(position, index - snapshot, WAD)


def margin_required(position: int, price: int, ratio: int) -> int:
    """|position| * price * ratio, each product rounded up."""
    return wad_mul_up(wad_mul_up(abs(position), price), ratio)


def funding_forecast(
    position: int, price: int, rates: tuple[int, ...], horizon: int, interval: int
) -> int:
    """What ``position`` would pay over ``horizon`` seconds at ``price``, at the
    worse for it of ``rates`` (per interval); 0 when it would receive."""
    if horizon == 0 or position == 0:
        return 0
    worst = 0
    for rate in rates:
        per_unit = div_trunc(price * rate * horizon, interval * WAD)
        worst = max(worst, owed(position, 0, per_unit))
    return worst


@dataclass(frozen=True)
class RiskParameters:
    """Margin, band, liquidation and forecast parameters (WAD, horizon in seconds)."""

    initial_margin_ratio: int = 10**17
    maintenance_margin_ratio: int = 5 * 10**16
    price_band: int = 10**16
    liquidation_fee: int = 5 * 10**15
    funding_horizon: int = 0

    def rejection(self) -> str | None:
        """The contract's revert reason for these parameters, or None."""
        if not MIN_INITIAL_MARGIN_RATIO <= self.initial_margin_ratio <= MAX_INITIAL_MARGIN_RATIO:
            return "market: initial margin ratio outside 1 %..100 %"
        if (
            not MIN_MAINTENANCE_MARGIN_RATIO
            <= self.maintenance_margin_ratio
            <= self.initial_margin_ratio
        ):
            return "market: maintenance margin ratio outside 0.5 %..initial"
        if not MIN_PRICE_BAND <= self.price_band <= MAX_PRICE_BAND:
            return "market: price band outside 0.1 %..10 %"
        if self.liquidation_fee > min(MAX_LIQUIDATION_FEE, self.maintenance_margin_ratio):
            return "market: liquidation fee above 1 % or the maintenance ratio"
        if self.funding_horizon > MAX_FUNDING_HORIZON:
            return "market: funding horizon above 7 days"
        return None


def adds_exposure(before: int, after: int) -> bool:
    """True when a position grew in size or changed side."""
    if after == 0:
        return False
    if before == 0 or (before > 0) != (after > 0):
        return True
    return abs(after) > abs(before)


class MarketModel:
    """The reference market. Addresses are any hashable (the tests use strings)."""

    def __init__(
        self,
        *,
        now: int,
        owner,
        operator,
        index_feed: MockFeed,
        mark_feed: MockFeed,
        params: RateParameters = DEFAULT_PARAMETERS,
        collateral_decimals: int = 18,
        max_age: int = 3_600,
        risk: RiskParameters = RiskParameters(),
        insurance="insurance",
        vault=ZERO_ADDRESS,
        rate_model=None,
    ):
        self.now = now
        _require(collateral_decimals <= 18, "market: collateral has more than 18 decimals")
        self.collateral_scale = 10 ** (18 - collateral_decimals)
        _check_max_age(max_age)
        index = index_feed.read(now, max_age)
        _raise_unless_usable(index, "index")
        mark = mark_feed.read(now, max_age)
        _raise_unless_usable(mark, "mark")
        reason = params.rejection()
        if reason:
            raise Rejected(reason)
        _check_risk(risk)

        self.owner = owner
        self.pending_owner = None
        self.operator = operator
        self.paused = False
        self.index_feed = index_feed
        self.mark_feed = mark_feed
        self.max_age = max_age
        self.risk = risk
        # The insurance account: the market's own address in the contract.
        self.insurance = insurance
        # Pool mode's liquidity vault, the counterparty of every trade (ZERO_ADDRESS: off).
        self.vault = vault

        self.params = params
        self.cap_source: CapSource | None = None  # None: the fixed cap of `params`
        self.interval_state = IntervalState(now, 0, 0)
        self.sampled_premium = premium(mark.price, index.price)
        self.sampled_price = index.price
        self.funding_index = 0
        self.last_accrual = now
        # A rate model (fundingkit.models.deployed) setting the rate instead of
        # `params.formula`, or None. The contract brings it to now at deployment.
        self.rate_model = rate_model
        if rate_model is not None:
            _require(
                str(rate_model.market).lower() == str(insurance).lower(),
                "market: the rate model serves another market",
            )
            _, self.rate_model = rate_model.accrue(insurance, index.price, 0, 0, 0, now)

        self.accounts: dict = {}
        self.total_collateral = 0
        self.surplus = 0
        self.open_interest = 0
        self.long_loss = 0  # socialised loss per unit of base, charged to longs
        self.short_loss = 0  # ... and to shorts
        # Per account: margin when its position opened from flat, plus deposits less
        # withdrawals since; profit above it stays in while a position is open.
        self.principal: dict = {}
        self.bad_debt = 0  # losses no one could take, shared through the haircut
        self.frozen_haircut = 0  # the haircut frozen when the bad debt last changed
        # The collateral token, mirrored: balances and allowances to the market.
        self.wallet: dict = {}
        self.allowance: dict = {}

    # ---- the token ---------------------------------------------------------

    def mint(self, account, amount: int) -> None:
        self.wallet[account] = self.wallet.get(account, 0) + amount

    def approve(self, account, amount: int) -> None:
        self.allowance[account] = amount

    # ---- accrual -----------------------------------------------------------

    def accrue(self) -> bool:
        """Brings the index to now, then samples the feeds. Never rejects."""
        since = self.last_accrual
        if since == self.now:
            return False
        if self.rate_model is None:
            rate_time, self.interval_state = project(
                self.params, self.interval_state, self.sampled_premium, since, self.now
            )
            self.funding_index += funding_delta(self.sampled_price, rate_time, self.params.interval)
        else:
            step, self.rate_model = self.rate_model.accrue(
                self.insurance, self.sampled_price, *self.trader_interest(), self.now
            )
            self.funding_index += step
        self.last_accrual = self.now
        index = self.index_feed.read(self.now, self.max_age)
        if index.ok:
            self.sampled_price = index.price
            mark = self.mark_feed.read(self.now, self.max_age)
            if mark.ok:
                self.sampled_premium = premium(mark.price, index.price)
            if self.cap_source is not None:
                self.cap_source, _ = self._ask_cap(self.cap_source, index.price)
        return True

    def _ask_cap(self, source: CapSource, price: int) -> tuple[CapSource, bool]:
        """The market's ``_ask_cap``: the source's ``update(price, T)``; an answer in
        0.01 %..4 % becomes the cap, raised to |I| if below. Returns the source after
        the call and whether its answer was adopted. (The contract also requires
        enough gas left to give the source all of its stipend; the model has no gas.)"""
        source, returned = source.update(self.insurance, price, self.now, self.params.interval)
        cap = cap_answer(returned)
        if cap is None:
            return source, False
        self.params = replace(self.params, cap=max(cap, abs(self.params.interest)))
        return source, True

    def settle(self, account) -> int:
        """Accrues, then charges ``account`` its funding. Returns what it paid."""
        self.accrue()
        return self._settle(account)

    def _side_index(self, address, position: int, index: int) -> int:
        """The index ``address``'s position settles against: F for a flat account
        and the insurance account, plus the longs' socialised loss for a long,
        less the shorts' for a short."""
        if address == self.insurance:
            return index
        if position > 0:
            return index + self.long_loss
        if position < 0:
            return index - self.short_loss
        return index

    def _settle(self, address) -> int:
        account = self.accounts.setdefault(address, Account())
        index = self._side_index(address, account.position, self.funding_index)
        if account.index_snapshot == index:
            return 0
        amount = 0
        if account.position != 0:
            amount = owed(account.position, account.index_snapshot, index)
            account.margin -= amount
            self.surplus += amount
        account.index_snapshot = index
        return amount

    # ---- collateral --------------------------------------------------------

    def deposit(self, caller, amount: int) -> None:
        with self._transaction():
            _require(amount > 0, "market: amount is zero")
            _require(self.bad_debt == 0, "market: deposits closed while bad debt is shared")
            self.accrue()
            self._settle(caller)
            self._pay_in(caller, amount)
            wad = self._to_wad(amount)
            self._credit(caller, wad)
            if self.accounts[caller].position != 0:
                self.principal[caller] = self.principal.get(caller, 0) + wad

    def _to_wad(self, amount: int) -> int:
        _require(
            amount <= MAX_COLLATERAL // self.collateral_scale,
            "market: amount above the collateral limit of 1e39",
        )
        return amount * self.collateral_scale

    def _credit(self, address, amount_wad: int) -> None:
        _require(
            amount_wad <= MAX_COLLATERAL - self.total_collateral,
            "ledger: collateral above the market's limit of 1e39",
        )
        self.accounts[address].margin += amount_wad
        self.total_collateral += amount_wad

    def _pay_in(self, caller, amount: int) -> None:
        """The token's transferFrom(caller, market, amount)."""
        allowance = self.allowance.get(caller, 0)
        if allowance != UINT256_MAX:  # snekmate's erc20 never spends an infinite allowance
            _require(allowance >= amount, "erc20: insufficient allowance")
            self.allowance[caller] = allowance - amount
        _require(self.wallet.get(caller, 0) >= amount, "erc20: transfer amount exceeds balance")
        self.wallet[caller] -= amount

    def withdraw(self, caller, amount: int) -> None:
        with self._transaction():
            _require(amount > 0, "market: amount is zero")
            self.accrue()
            self._settle(caller)
            account = self.accounts[caller]
            debit = self._debit(account, self._to_wad(amount))
            if account.position == 0 and (caller != self.vault or self._gross() == 0):
                _require(account.margin >= 0, "market: amount exceeds margin")
            else:
                # With a position, profit stays in: count at most the principal. A flat
                # vault under the traders' open book keeps their initial margin.
                index = self._read_usable(self.index_feed, "index")
                worth = self._value(account, index.price)
                if account.position != 0:
                    principal = self.principal.get(caller, 0) - debit
                    worth = min(worth, principal)
                    self.principal[caller] = max(principal, 0)
                _require(
                    self._meets_margin(
                        account,
                        index.price,
                        self.risk.initial_margin_ratio,
                        worth,
                        self._exposure(caller),
                    ),
                    "market: withdrawal leaves margin below initial",
                )
            self.wallet[caller] = self.wallet.get(caller, 0) + amount

    def _debit(self, account: Account, amount_wad: int) -> int:
        """Pays ``amount_wad`` out of ``account``'s margin; with bad debt the margin
        gives amount / haircut (rounded up), whose excess pays the bad debt down."""
        _require(
            amount_wad <= self.total_collateral,
            "ledger: market holds less collateral until payers settle",
        )
        debit = amount_wad
        if self.bad_debt:
            debit = mul_div_ceil(amount_wad, WAD, self.frozen_haircut)
            repaid = min(debit - amount_wad, self.bad_debt)
            self.bad_debt -= repaid
            self.surplus += debit - amount_wad - repaid
        account.margin -= debit
        self.total_collateral -= amount_wad
        return debit

    def _freeze_haircut(self) -> None:
        total = self.total_collateral
        self.frozen_haircut = total * WAD // (total + self.bad_debt)

    def haircut(self) -> int:
        """The share of margin a withdrawal pays out (WAD)."""
        return WAD if self.bad_debt == 0 else self.frozen_haircut

    # ---- trading -----------------------------------------------------------

    def trade(self, caller, buyer, seller, size: int, price: int) -> None:
        with self._transaction():
            _require(caller == self.operator, "market: caller is not the operator")
            _require(
                buyer != ZERO_ADDRESS and seller != ZERO_ADDRESS,
                "market: account is the zero address",
            )
            _require(buyer != seller, "market: buyer and seller are the same account")
            _require(
                self.vault == ZERO_ADDRESS or self.vault in (buyer, seller),
                "market: in pool mode every trade is against the vault",
            )
            _require(size > 0, "market: size is zero")
            _require(size <= MAX_POSITION, "market: position above 1e12 base")
            self.accrue()
            index = self._read_usable(self.index_feed, "index")
            mark = self._read_usable(self.mark_feed, "mark")
            _require(
                abs(price - mark.price) <= wad_mul_down(mark.price, self.risk.price_band),
                "market: price outside the band around the mark",
            )
            self._settle(buyer)
            self._settle(seller)
            long, short = self.accounts[buyer], self.accounts[seller]
            long_before, short_before = long.position, short.position
            self._move(buyer, seller, size, price)
            _require(
                max(abs(long.position), abs(short.position)) <= MAX_POSITION,
                "market: position above 1e12 base",
            )
            buyer_adds = adds_exposure(long_before, long.position)
            seller_adds = adds_exposure(short_before, short.position)
            self._check_reduce_only(
                (buyer_adds and buyer != self.vault) or (seller_adds and seller != self.vault)
            )
            # The vault keeps the initial margin on the traders' gross book whenever a
            # trader grows its exposure; when the trader reduces, it needs only value >= 0.
            if buyer == self.vault:
                buyer_adds = seller_adds
            if seller == self.vault:
                seller_adds = buyer_adds
            _require(
                self._holds(buyer, index.price, buyer_adds),
                "market: buyer below initial margin or under water",
            )
            _require(
                self._holds(seller, index.price, seller_adds),
                "market: seller below initial margin or under water",
            )

    def _check_reduce_only(self, adds: bool) -> None:
        """While paused or with bad debt, no trader may grow its exposure."""
        if adds:
            _require(
                not self.paused and self.bad_debt == 0,
                "market: only trades that reduce (paused or bad debt)",
            )

    def _holds(self, address, price: int, adds: bool) -> bool:
        """After a trade: the initial margin when ``adds``, else a value of at least zero."""
        account = self.accounts[address]
        worth = self._value(account, price)
        if adds:
            return self._meets_margin(
                account, price, self.risk.initial_margin_ratio, worth, self._exposure(address)
            )
        return worth >= 0

    def _exposure(self, address) -> int:
        """What the margin is required on: the position, and for the vault the
        traders' gross book (whatever traders close, the vault then holds at most it)."""
        if address == self.vault:
            return self._gross()
        return self.account(address).position

    def _gross(self) -> int:
        """Pool mode: the larger of the traders' long and short open interest."""
        _, longs, shorts = self.trader_interest()
        return max(longs, shorts)

    def _move(self, buyer, seller, size: int, price: int) -> None:
        """``size`` base from seller to buyer at ``price`` (both settled):
        notional rounded against each, open interest and side snapshots kept."""
        long, short = self.accounts[buyer], self.accounts[seller]
        long_before, short_before = long.position, short.position
        # A position opened from flat: the margin it opens with is its principal.
        for address, account in ((buyer, long), (seller, short)):
            if account.position == 0:
                self.principal[address] = max(account.margin, 0)
        paid, received = wad_mul_up(size, price), wad_mul_down(size, price)
        long.position += size
        long.margin -= paid
        short.position -= size
        short.margin += received
        self.surplus += paid - received
        self.open_interest += (
            max(long.position, 0)
            - max(long_before, 0)
            + max(short.position, 0)
            - max(short_before, 0)
        )
        for address, account, before in ((buyer, long, long_before), (seller, short, short_before)):
            if account.position != 0 and (before == 0 or (before > 0) != (account.position > 0)):
                account.index_snapshot = self._side_index(
                    address, account.position, self.funding_index
                )

    def liquidate(self, caller, address) -> tuple[int, tuple | None]:
        """Returns the fee paid to ``caller`` and the loss that went down the
        waterfall (or None). Liquidating the insurance account resolves its deficit."""
        with self._transaction():
            self.accrue()
            index = self._read_usable(self.index_feed, "index")
            self._settle(self.insurance)
            resolved = self._resolve_insurance(index.price)
            if address == self.insurance:
                _require(
                    resolved is not None,
                    "market: the insurance account has no deficit nor bad debt to pay",
                )
                return 0, resolved
            self._settle(address)
            account = self.accounts[address]
            position = account.position
            _require(position != 0, "market: account has no position")
            required = margin_required(position, index.price, self.risk.maintenance_margin_ratio)
            _require(
                self._value(account, index.price) < required,
                "market: account is above maintenance margin",
            )
            size = abs(position)
            if position > 0:
                self._move(self.insurance, address, size, index.price)
            else:
                self._move(address, self.insurance, size, index.price)
            # The liquidator is paid from what is left, never from the waterfall.
            fee = wad_mul_down(wad_mul_down(size, index.price), self.risk.liquidation_fee)
            fee = min(fee, max(account.margin, 0))
            account.margin -= fee
            self.accounts.setdefault(caller, Account()).margin += fee
            # The side opposite the liquidated position gained what it lost.
            return fee, self._cover_shortfall(address, index.price, longs_pay=position < 0)

    def _cover_shortfall(self, address, price: int, longs_pay: bool):
        """Insurance equity first, then the winning side and bad debt.
        Returns (shortfall, by_insurance, socialised, unbacked, per_unit) or None."""
        account = self.accounts[address]
        if account.margin >= 0:
            return None
        shortfall = -account.margin
        account.margin = 0
        insurance = self.accounts[self.insurance]
        by_insurance = min(shortfall, max(self._value(insurance, price), 0))
        insurance.margin -= by_insurance
        return self._socialise(address, shortfall, by_insurance, longs_pay, has_side=True)

    def _resolve_insurance(self, price: int):
        """The insurance account's deficit (its value below zero) to the side opposite
        its position (bad debt when flat); its margin rises by it. With a positive
        value, its equity pays bad debt down. None when neither happened."""
        insurance = self.accounts.setdefault(self.insurance, Account())
        value = self._value(insurance, price)
        if value >= 0:
            return self._repay(value)
        insurance.margin -= value
        position = insurance.position
        return self._socialise(
            self.insurance, -value, 0, longs_pay=position < 0, has_side=position != 0
        )

    def _socialise(
        self, address, shortfall: int, by_insurance: int, longs_pay: bool, has_side: bool
    ):
        """The rest of ``address``'s loss after the insurance to the winning side's loss
        index (over its open interest without the insurance account's), else bad debt.
        Returns ShortfallCovered's amounts."""
        rest = shortfall - by_insurance
        held = self.account(self.insurance).position
        side_interest = self.open_interest - max(held if longs_pay else -held, 0)
        socialised = per_unit = 0
        if rest > 0 and side_interest > 0 and has_side:
            per_unit = mul_div_ceil(rest, WAD, side_interest)
            side_loss = self.long_loss if longs_pay else self.short_loss
            if per_unit <= MAX_LOSS_INDEX - side_loss:
                socialised = rest
                if longs_pay:
                    self.long_loss += per_unit
                else:
                    self.short_loss += per_unit
                self.surplus -= rest
            else:
                per_unit = 0
        unbacked = rest - socialised
        if unbacked:
            self.bad_debt += unbacked
            self._freeze_haircut()
        return (shortfall, by_insurance, socialised, unbacked, per_unit)

    def fund_insurance(self, caller, amount: int) -> None:
        with self._transaction():
            _require(amount > 0, "market: amount is zero")
            self.accrue()
            self._settle(self.insurance)
            self._pay_in(caller, amount)
            wad = self._to_wad(amount)
            self._credit(self.insurance, wad)
            self._repay(wad)

    def _repay(self, amount: int):
        """Up to ``amount`` of the insurance account's margin pays bad debt down;
        returns (repaid, bad debt left), or None when nothing was repaid."""
        repaid = min(amount, self.bad_debt)
        if repaid == 0:
            return None
        self.bad_debt -= repaid
        self.accounts[self.insurance].margin -= repaid
        self._freeze_haircut()
        return (repaid, self.bad_debt)

    def unwind_insurance(self, caller, size: int) -> None:
        """``caller`` takes ``size`` of the insurance account's position at the index price."""
        with self._transaction():
            _require(size > 0, "market: size is zero")
            self.accrue()
            index = self._read_usable(self.index_feed, "index")
            self._settle(self.insurance)
            self._settle(caller)
            self._resolve_insurance(index.price)
            held = self.accounts[self.insurance].position
            _require(held != 0, "market: the insurance account has no position")
            _require(size <= abs(held), "market: size above the insurance account's position")
            account = self.accounts[caller]
            before = account.position
            if held > 0:
                self._move(caller, self.insurance, size, index.price)
            else:
                self._move(self.insurance, caller, size, index.price)
            _require(abs(account.position) <= MAX_POSITION, "market: position above 1e12 base")
            adds = adds_exposure(before, account.position)
            self._check_reduce_only(adds)
            _require(
                self._holds(caller, index.price, adds),
                "market: caller below initial margin or under water",
            )

    # ---- administration ----------------------------------------------------

    def change_rate_model(self, change) -> None:
        """A setter of the rate model contract, which accrues the market first (and
        with it the model): ``change(model)`` returns the model after the change or
        raises ``Rejected``; nothing changes then."""
        with self._transaction():
            self.accrue()
            self.rate_model = change(self.rate_model)

    def set_operator(self, caller, operator) -> None:
        self._only_owner(caller)
        self.operator = operator

    def set_rate_parameters(self, caller, params: RateParameters) -> None:
        with self._transaction():
            self._only_owner(caller)
            self.accrue()
            reason = params.rejection()
            if reason:
                raise Rejected(reason)
            params = replace(params, formula=self.params.formula)  # fixed at deployment
            state = self.interval_state
            if params.interval != self.params.interval:
                elapsed = self.now - state.interval_start
                average = state.last_premium_average
                if elapsed > 0:
                    average = div_trunc(state.premium_sum, elapsed)
                self.interval_state = IntervalState(self.now, 0, average)
            self.params = params

    def set_cap_source(self, caller, source: CapSource | None) -> CapSource | None:
        """``source`` (None: the zero address, back to a fixed cap) answers at once, at
        the index price the market holds; its cap is in force from now. Returns the
        source it replaces, as the accrual first left it."""
        with self._transaction():
            self._only_owner(caller)
            self.accrue()
            replaced = self.cap_source
            if source is not None:
                source, adopted = self._ask_cap(source, self.sampled_price)
                _require(adopted, NO_CAP_SOURCE)
            self.cap_source = source
            return replaced

    def set_oracles(self, caller, index_feed: MockFeed, mark_feed: MockFeed) -> None:
        with self._transaction():
            self._only_owner(caller)
            self.accrue()
            index = self._read_usable(index_feed, "index")
            mark = self._read_usable(mark_feed, "mark")
            self.index_feed, self.mark_feed = index_feed, mark_feed
            self.sampled_price = index.price
            self.sampled_premium = premium(mark.price, index.price)

    def set_max_age(self, caller, max_age: int) -> None:
        self._only_owner(caller)
        _check_max_age(max_age)
        self.accrue()
        self.max_age = max_age

    def set_risk_parameters(
        self,
        caller,
        initial_margin_ratio: int,
        maintenance_margin_ratio: int,
        price_band: int,
        liquidation_fee: int,
        funding_horizon: int,
    ) -> None:
        self._only_owner(caller)
        risk = RiskParameters(
            initial_margin_ratio,
            maintenance_margin_ratio,
            price_band,
            liquidation_fee,
            funding_horizon,
        )
        _check_risk(risk)
        self.risk = risk

    def pause(self, caller) -> None:
        with self._transaction():
            self._only_owner(caller)
            self.accrue()
            _require(not self.paused, "pausable: contract is paused")
            self.paused = True

    def unpause(self, caller) -> None:
        with self._transaction():
            self._only_owner(caller)
            self.accrue()
            _require(self.paused, "pausable: contract is not paused")
            self.paused = False

    def transfer_ownership(self, caller, new_owner) -> None:
        self._only_owner(caller)
        self.pending_owner = new_owner

    def accept_ownership(self, caller) -> None:
        _require(caller == self.pending_owner, "ownable_2step: caller is not the new owner")
        self.owner, self.pending_owner = caller, None

    # ---- views -------------------------------------------------------------

    def account(self, address) -> Account:
        return self.accounts.get(address, Account())

    def _current(self) -> tuple[int, IntervalState]:
        if self.rate_model is not None:
            step = self.rate_model.pending(self.sampled_price, *self.trader_interest(), self.now)
            return self.funding_index + step, self.interval_state
        if self.last_accrual == self.now:
            return self.funding_index, self.interval_state
        rate_time, state = project(
            self.params, self.interval_state, self.sampled_premium, self.last_accrual, self.now
        )
        return self.funding_index + funding_delta(
            self.sampled_price, rate_time, self.params.interval
        ), state

    def current_funding_index(self) -> int:
        return self._current()[0]

    def _rates(self, state: IntervalState) -> tuple[int, int]:
        """The rate in force and the next rate, per interval; a rate model's rate now is both."""
        if self.rate_model is not None:
            rate = self.rate_model.rate_per_period(
                self.params.interval, *self.trader_interest(), self.now
            )
            return rate, rate
        return (
            self.params.rate(state.last_premium_average),
            next_rate(self.params, state, self.sampled_premium, self.now),
        )

    def current_rate(self) -> int:
        return self._rates(self._current()[1])[0]

    def next_rate(self) -> int:
        return self._rates(self._current()[1])[1]

    def premium_average(self) -> int:
        state = self._current()[1]
        elapsed = self.now - state.interval_start
        if elapsed == 0:
            return self.sampled_premium
        return div_trunc(state.premium_sum, elapsed)

    def pending_funding(self, address) -> int:
        account = self.account(address)
        index = self._side_index(address, account.position, self._current()[0])
        return owed(account.position, account.index_snapshot, index)

    def skew(self) -> int:
        """Pool mode: the traders' net position, -(the vault's position)."""
        return -self.account(self.vault).position

    def trader_interest(self) -> tuple[int, int, int]:
        """A rate model's inputs: the traders' skew and their long and short open
        interest (every account but the vault)."""
        vault = self.account(self.vault).position
        return -vault, self.open_interest - max(vault, 0), self.open_interest - max(-vault, 0)

    def projected_margin(self, address) -> int:
        """Margin after pending funding and the forecast over the horizon."""
        account = self.account(address)
        forecast = self._forecast(account.position, self.sampled_price, self._current()[1])
        return account.margin - self.pending_funding(address) - forecast

    def _forecast(self, position: int, price: int, state: IntervalState) -> int:
        rates = self._rates(state)
        return funding_forecast(
            position, price, rates, self.risk.funding_horizon, self.params.interval
        )

    def total_margin(self) -> int:
        return self.total_collateral + self.bad_debt - self.surplus

    # ---- helpers -----------------------------------------------------------

    def _read_usable(self, feed, name: str) -> Reading:
        reading = feed.read(self.now, self.max_age)
        _raise_unless_usable(reading, name)
        return reading

    def _value(self, account: Account, price: int) -> int:
        return account.margin + mul_div_floor(account.position, price, WAD)

    def _meets_margin(
        self, account: Account, price: int, ratio: int, worth: int, exposure: int | None = None
    ) -> bool:
        """``worth`` (the value at ``price``, or less) less the forecast covers the ratio
        on ``exposure`` (the position unless given)."""
        forecast = self._forecast(account.position, price, self.interval_state)
        exposure = account.position if exposure is None else exposure
        return worth - forecast >= margin_required(exposure, price, ratio)

    def _only_owner(self, caller) -> None:
        _require(caller == self.owner, "ownable: caller is not the owner")

    @contextmanager
    def _transaction(self):
        """A rejected call leaves the model exactly as it found it."""
        saved = dict(self.__dict__)
        saved_accounts = {k: replace(v) for k, v in self.accounts.items()}
        saved_wallet, saved_allowance = dict(self.wallet), dict(self.allowance)
        saved_principal = dict(self.principal)
        try:
            yield
        except Rejected:
            self.__dict__.update(saved)
            self.accounts, self.wallet, self.allowance, self.principal = (
                saved_accounts,
                saved_wallet,
                saved_allowance,
                saved_principal,
            )
            raise


def _raise_unless_usable(reading: Reading, name: str) -> None:
    reason = reading.rejection(name)
    if reason:
        raise Rejected(reason)


def _check_max_age(max_age: int) -> None:
    _require(MIN_MAX_AGE <= max_age <= MAX_MAX_AGE, "market: max age outside 60 s..3 days")


def _check_risk(risk: RiskParameters) -> None:
    reason = risk.rejection()
    if reason:
        raise Rejected(reason)


__all__ = [
    "Account",
    "CapSource",
    "cap_answer",
    "FeedStatus",
    "MarketModel",
    "Rejected",
    "RiskParameters",
    "owed",
    "margin_required",
]
