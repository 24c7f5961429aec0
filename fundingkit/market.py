"""A replayable model of ``FundingMarket.vy``: the exact state the contract must hold.

Each public method is one external call of the contract. It either changes the
model's state exactly as the contract changes its storage, or raises
``Rejected`` with the contract's revert reason and changes nothing. The model
also keeps the collateral token's balances and allowances, so it can say when a
deposit must fail in the token.

Time is the caller's: set ``now`` (the block timestamp of the next call) before
calling. Feeds are ``MockFeed`` objects (or anything with ``read(now, max_age)``)
that the caller keeps in step with the chain's oracles.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

from fundingkit.feeds import FeedStatus, MockFeed, Reading
from fundingkit.rates import (
    DEFAULT_PARAMETERS,
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
MIN_PRICE_BAND = 10**15
MAX_PRICE_BAND = 10**17

WAD = 10**18
ZERO_ADDRESS = "0x" + "00" * 20


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
    index_snapshot: int = 0  # funding index at the last settlement


def owed(position: int, snapshot: int, index: int) -> int:
    """Funding an account owes between two index values, rounded up (market's favour)."""
    return mul_div_ceil(position, index - snapshot, WAD)


def margin_required(position: int, price: int, ratio: int) -> int:
    """|position| * price * ratio, each product rounded up."""
    return wad_mul_up(wad_mul_up(abs(position), price), ratio)


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
        initial_margin_ratio: int = 10**17,
        price_band: int = 10**16,
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
        _check_risk(initial_margin_ratio, price_band)

        self.owner = owner
        self.pending_owner = None
        self.operator = operator
        self.paused = False
        self.index_feed = index_feed
        self.mark_feed = mark_feed
        self.max_age = max_age
        self.initial_margin_ratio = initial_margin_ratio
        self.price_band = price_band

        self.params = params
        self.interval_state = IntervalState(now, 0, 0)
        self.sampled_premium = premium(mark.price, index.price)
        self.sampled_price = index.price
        self.funding_index = 0
        self.last_accrual = now

        self.accounts: dict = {}
        self.total_collateral = 0
        self.surplus = 0
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
        rate_time, self.interval_state = project(
            self.params, self.interval_state, self.sampled_premium, since, self.now
        )
        self.funding_index += funding_delta(self.sampled_price, rate_time, self.params.interval)
        self.last_accrual = self.now
        index = self.index_feed.read(self.now, self.max_age)
        if index.ok:
            self.sampled_price = index.price
            mark = self.mark_feed.read(self.now, self.max_age)
            if mark.ok:
                self.sampled_premium = premium(mark.price, index.price)
        return True

    def settle(self, account) -> int:
        """Accrues, then charges ``account`` its funding. Returns what it paid."""
        self.accrue()
        return self._settle(account)

    def _settle(self, address) -> int:
        account = self.accounts.setdefault(address, Account())
        if account.index_snapshot == self.funding_index:
            return 0
        amount = 0
        if account.position != 0:
            amount = owed(account.position, account.index_snapshot, self.funding_index)
            account.margin -= amount
            self.surplus += amount
        account.index_snapshot = self.funding_index
        return amount

    # ---- collateral --------------------------------------------------------

    def deposit(self, caller, amount: int) -> None:
        with self._transaction():
            _require(not self.paused, "pausable: contract is paused")
            _require(amount > 0, "market: amount is zero")
            self.accrue()
            self._settle(caller)
            self.accounts[caller].margin += amount * self.collateral_scale
            self.total_collateral += amount * self.collateral_scale
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
            amount_wad = amount * self.collateral_scale
            if account.position == 0:
                _require(account.margin >= amount_wad, "market: amount exceeds margin")
            _require(
                amount_wad <= self.total_collateral,
                "ledger: market holds less collateral until payers settle",
            )
            account.margin -= amount_wad
            self.total_collateral -= amount_wad
            if account.position != 0:
                index = self._read_usable(self.index_feed, "index")
                required = margin_required(account.position, index.price, self.initial_margin_ratio)
                _require(
                    self._value(account, index.price) >= required,
                    "market: withdrawal leaves margin below initial",
                )
            self.wallet[caller] = self.wallet.get(caller, 0) + amount

    # ---- trading -----------------------------------------------------------

    def trade(self, caller, buyer, seller, size: int, price: int) -> None:
        with self._transaction():
            _require(caller == self.operator, "market: caller is not the operator")
            _require(not self.paused, "pausable: contract is paused")
            _require(
                buyer != ZERO_ADDRESS and seller != ZERO_ADDRESS,
                "market: account is the zero address",
            )
            _require(buyer != seller, "market: buyer and seller are the same account")
            _require(size > 0, "market: size is zero")
            self.accrue()
            index = self._read_usable(self.index_feed, "index")
            mark = self._read_usable(self.mark_feed, "mark")
            _require(
                abs(price - mark.price) <= wad_mul_down(mark.price, self.price_band),
                "market: price outside the band around the mark",
            )
            self._settle(buyer)
            self._settle(seller)
            long, short = self.accounts[buyer], self.accounts[seller]
            long_before, short_before = long.position, short.position
            paid, received = wad_mul_up(size, price), wad_mul_down(size, price)
            long.position += size
            long.margin -= paid
            short.position -= size
            short.margin += received
            self.surplus += paid - received
            ratio = self.initial_margin_ratio
            if adds_exposure(long_before, long.position):
                _require(
                    self._meets_margin(long, index.price, ratio),
                    "market: buyer below initial margin",
                )
            if adds_exposure(short_before, short.position):
                _require(
                    self._meets_margin(short, index.price, ratio),
                    "market: seller below initial margin",
                )

    # ---- administration ----------------------------------------------------

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

    def set_risk_parameters(self, caller, initial_margin_ratio: int, price_band: int) -> None:
        self._only_owner(caller)
        _check_risk(initial_margin_ratio, price_band)
        self.initial_margin_ratio = initial_margin_ratio
        self.price_band = price_band

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

    def current_rate(self) -> int:
        return self.params.rate(self._current()[1].last_premium_average)

    def next_rate(self) -> int:
        return next_rate(self.params, self._current()[1], self.sampled_premium, self.now)

    def premium_average(self) -> int:
        state = self._current()[1]
        elapsed = self.now - state.interval_start
        if elapsed == 0:
            return self.sampled_premium
        return div_trunc(state.premium_sum, elapsed)

    def pending_funding(self, address) -> int:
        account = self.account(address)
        return owed(account.position, account.index_snapshot, self._current()[0])

    def total_margin(self) -> int:
        return self.total_collateral - self.surplus

    # ---- helpers -----------------------------------------------------------

    def _read_usable(self, feed, name: str) -> Reading:
        reading = feed.read(self.now, self.max_age)
        _raise_unless_usable(reading, name)
        return reading

    def _value(self, account: Account, price: int) -> int:
        return account.margin + mul_div_floor(account.position, price, WAD)

    def _meets_margin(self, account: Account, price: int, ratio: int) -> bool:
        return self._value(account, price) >= margin_required(account.position, price, ratio)

    def _only_owner(self, caller) -> None:
        _require(caller == self.owner, "ownable: caller is not the owner")

    @contextmanager
    def _transaction(self):
        """A rejected call leaves the model exactly as it found it."""
        saved = dict(self.__dict__)
        saved_accounts = {k: replace(v) for k, v in self.accounts.items()}
        saved_wallet, saved_allowance = dict(self.wallet), dict(self.allowance)
        try:
            yield
        except Rejected:
            self.__dict__.update(saved)
            self.accounts, self.wallet, self.allowance = (
                saved_accounts,
                saved_wallet,
                saved_allowance,
            )
            raise


def _raise_unless_usable(reading: Reading, name: str) -> None:
    reason = reading.rejection(name)
    if reason:
        raise Rejected(reason)


def _check_max_age(max_age: int) -> None:
    _require(MIN_MAX_AGE <= max_age <= MAX_MAX_AGE, "market: max age outside 60 s..3 days")


def _check_risk(initial_margin_ratio: int, price_band: int) -> None:
    _require(
        MIN_INITIAL_MARGIN_RATIO <= initial_margin_ratio <= MAX_INITIAL_MARGIN_RATIO,
        "market: initial margin ratio outside 1 %..100 %",
    )
    _require(
        MIN_PRICE_BAND <= price_band <= MAX_PRICE_BAND, "market: price band outside 0.1 %..10 %"
    )


__all__ = ["Account", "FeedStatus", "MarketModel", "Rejected", "owed", "margin_required"]
