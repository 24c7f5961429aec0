# pragma version ~=0.4.3
# pragma experimental-codegen
# pragma optimize codesize
# The Venom pipeline, optimised for size: the market with liquidation, insurance,
# the loss waterfall and a cap source is 30.6 KB of runtime code under the default
# pipeline, over EIP-170's 24,576 bytes; Venom makes it 22.3 KB and cheaper in gas.
# Every test runs against this bytecode (titanoboa and Ape read the pragmas). See
# SECURITY.md §7.
"""
@title FundingMarket
@custom:contract-name FundingMarket
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A perpetual market's funding core: a cumulative funding index accrued
        in O(1) from two Chainlink-shaped feeds (index = spot, mark = perp) under
        the premium-clamp rate model, or under a rate model contract chosen at
        deployment (`RATE_MODEL`: velocity, skew-proportional, external rate),
        and a ledger that settles every account's funding against its ERC20
        margin. The premium formula's cap is fixed, or set at each accrual by a
        cap source such as VolatilityCap (`set_cap_source`).
        Every state-changing call first accrues (brings the index to now), then
        settles each account it touches, before it changes anything. Anyone may
        accrue or settle any account. An operator submits matched trades within
        a band around the mark price. A bankrupt account's loss goes down a
        written waterfall (insurance, the winning side, then bad debt shared pro
        rata), profit stays in while a position is open, and no trade leaves an
        account worth less than zero (docs/MATH.md §16). The owner (two-step
        transfer) sets bounded parameters and can pause. No owner function moves an account's margin
        or position; only the operator's trades do, and the owner appoints the
        operator: trusting the operator means trusting the owner.
        Units: prices, sizes, margins, rates and the index are WAD (18 decimals);
        token amounts in calls and events are in the token's own decimals.
        The formulas are in docs/MATH.md.
@custom:kill Call `pause()`: trades that add exposure stop, while deposits,
        reducing trades, accrual, settlement, liquidation and withdrawal keep
        working: a trader can always add margin or reduce while it can be
        liquidated, a flat account can always take its margin out, and an
        account with a position its free margin while the index feed is
        usable (docs/SECURITY.md, the pause table).
"""


from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

from .interfaces import IRateModel

from snekmate.auth import ownable
initializes: ownable

from snekmate.auth import ownable_2step
initializes: ownable_2step[ownable := ownable]

from snekmate.utils import pausable
initializes: pausable

from .modules import fixed_point
from .modules import packed_word
from .modules import price_feed

from .modules import premium_rate
initializes: premium_rate

from .modules import funding_accrual
initializes: funding_accrual[premium_rate := premium_rate]

from .modules import ledger
initializes: ledger[funding_accrual := funding_accrual]


exports: (
    ownable.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    pausable.paused,
    premium_rate.formula,
    premium_rate.interval,
    premium_rate.interest,
    premium_rate.dampener,
    premium_rate.cap,
    premium_rate.interval_start,
    premium_rate.premium_sum,
    premium_rate.last_premium_average,
    premium_rate.sampled_premium,
    funding_accrual.funding_index,
    funding_accrual.last_accrual,
    funding_accrual.sampled_price,
    ledger.accounts,
    ledger.principal,
    ledger.bad_debt,
    ledger.total_collateral,
    ledger.surplus,
    ledger.open_interest,
)


# @dev Hard bounds of the market's own parameters.
MIN_MAX_AGE: constant(uint256) = 60  # seconds
MAX_MAX_AGE: constant(uint256) = 3 * 86_400  # 3 days: a 24 h heartbeat plus slack
MIN_INITIAL_MARGIN_RATIO: constant(uint256) = 10**16  # 1 %: 100x leverage
MAX_INITIAL_MARGIN_RATIO: constant(uint256) = 10**18  # 100 %: no leverage
MIN_MAINTENANCE_MARGIN_RATIO: constant(uint256) = 5 * 10**15  # 0.5 %, and at most the initial ratio
MIN_PRICE_BAND: constant(uint256) = 10**15  # 0.1 % around the mark
MAX_PRICE_BAND: constant(uint256) = 10**17  # 10 % around the mark
MAX_LIQUIDATION_FEE: constant(uint256) = 10**16  # 1 % of the notional, and at most the maintenance ratio
MAX_FUNDING_HORIZON: constant(uint256) = 7 * 86_400  # 7 days
# The numeric envelope (docs/SECURITY.md): within it no product or margin can
# overflow, whatever funding a century at the largest rate and price brings.
MAX_POSITION: constant(uint256) = 10**30  # 1e12 base (WAD), per account
# @dev The gas a cap source may use per call (VolatilityCap needs about 12,000),
# and the gas a call that asks it must have left: the source gets all of
# CAP_SOURCE_GAS only if 64/63 of it remain after the call's own cost (up to
# 2,600 for a cold address, EIP-150 and EIP-2929). So no caller can make a
# working source fail by sending too little gas, and a source that burns its
# gas costs an accrual at most CAP_SOURCE_GAS.
CAP_SOURCE_GAS: constant(uint256) = 100_000
CAP_SOURCE_GAS_NEEDED: constant(uint256) = 110_000
# @dev The caps a source may give: premium_rate's bounds.
MIN_SOURCE_CAP: constant(uint256) = 10**14  # 0.01 % per interval
MAX_SOURCE_CAP: constant(uint256) = 4 * 10**16  # 4 % per interval


# @dev The collateral token, and 10**(18 - its decimals) to scale it to WAD.
COLLATERAL: public(immutable(IERC20))
COLLATERAL_SCALE: public(immutable(uint256))
# @dev Pool mode: the liquidity vault, an ordinary account that is the
# counterparty of every trade (the zero address: any two accounts trade).
VAULT: public(immutable(address))
# @dev A rate model contract that sets the rate in place of the premium formula
# (velocity, skew-proportional, external), or the zero address. Fixed at
# deployment; the model serves this market only and is accrued by every accrual.
RATE_MODEL: public(immutable(IRateModel))


# @dev The index (spot) and mark (perp) feeds, AggregatorV3-shaped.
index_oracle: public(address)
mark_oracle: public(address)
# @dev The oldest feed answer a reading accepts, in seconds (bits 0..95), and
# where the rate cap comes from (bits 96..255): a cap source, asked at every
# accrual that samples a usable index, or the zero address, a fixed cap set with
# `set_rate_parameters` (docs/MATH.md §14.9). One word: every accrual reads both.
# Getters `max_age()` and `cap_source()`.
packed_settings: uint256
# @dev Margin an account must keep after it withdraws or adds exposure, as a
# fraction of its notional at the index price (WAD).
initial_margin_ratio: public(uint256)
# @dev Below this margin, as a fraction of its notional at the index price
# (WAD), an account can be liquidated.
maintenance_margin_ratio: public(uint256)
# @dev How far a trade price may sit from the mark, as a fraction of it (WAD).
price_band: public(uint256)
# @dev The liquidator's reward, a fraction of the liquidated notional (WAD).
liquidation_fee: public(uint256)
# @dev The margin checks also require the funding a position would pay over
# this many seconds at the worse of the rate in force and the next rate (0 = off).
funding_horizon: public(uint256)
# @dev The role that submits matched trades.
operator: public(address)


# @dev Readings of both feeds, taken together.
struct Feeds:
    index: price_feed.Reading
    mark: price_feed.Reading


# @dev The market's starting state: everything the audit needs to replay it.
event MarketInitialised:
    insurance: address  # the insurance account: the market itself
    vault: address  # pool mode's counterparty of every trade, or the zero address
    collateral: address
    collateral_scale: uint256
    index_oracle: address
    mark_oracle: address
    formula: uint8
    interval: uint256
    interest: int256
    dampener: int256
    cap: int256
    max_age: uint256
    index_price: uint256
    mark_price: uint256
    timestamp: uint256


# @dev The index was brought to `timestamp`; the feeds were then read for the
# next stretch. A reading with a non-zero status was not sampled (see price_feed).
event Accrued:
    timestamp: uint256
    funding_index: int256
    index_price: uint256
    mark_price: uint256
    index_round: uint80
    mark_round: uint80
    index_status: uint8
    mark_status: uint8
    cap: int256  # the rate cap in force from now on (per interval, WAD)


# @dev Collateral moved in or out; `amount` is in token units.
event Deposited:
    account: indexed(address)
    amount: uint256
    margin: int256


event Withdrawn:
    account: indexed(address)
    amount: uint256
    margin: int256


# @dev `size` base moved from seller to buyer at `price` (both WAD).
event Traded:
    buyer: indexed(address)
    seller: indexed(address)
    size: uint256
    price: uint256
    index_price: uint256
    mark_price: uint256


event RateParametersChanged:
    interval: uint256
    interest: int256
    dampener: int256
    cap: int256


# @dev New feeds were set, and sampled at once.
event OraclesChanged:
    index_oracle: address
    mark_oracle: address
    index_price: uint256
    mark_price: uint256


event MaxAgeChanged:
    max_age: uint256


event RiskParametersChanged:
    initial_margin_ratio: uint256
    maintenance_margin_ratio: uint256
    price_band: uint256
    liquidation_fee: uint256
    funding_horizon: uint256


# @dev `account`'s whole position moved to the insurance account at the index
# price `price`; `fee` (quote, WAD) moved from its margin to the liquidator's.
# Logged after the ShortfallCovered that a negative margin left causes.
event Liquidated:
    account: indexed(address)
    liquidator: indexed(address)
    position: int256
    price: uint256
    fee: uint256


# @dev `account` took `size` of the insurance account's position at the index
# price `price` (positive: it bought from a long insurance account).
event InsuranceUnwound:
    account: indexed(address)
    size: int256
    price: uint256


# @dev Collateral added to the insurance account's margin (token units), after
# paying bad debt down.
event InsuranceFunded:
    funder: indexed(address)
    amount: uint256
    margin: int256


event OperatorChanged:
    operator: indexed(address)


# @dev A new cap source (the zero address: a fixed cap), and the cap in force from now.
event CapSourceChanged:
    source: address
    cap: int256


@deploy
def __init__(
    collateral: IERC20,
    index_oracle: address,
    mark_oracle: address,
    interval: uint256,
    interest: int256,
    dampener: int256,
    cap: int256,
    max_age: uint256,
    initial_margin_ratio: uint256,
    maintenance_margin_ratio: uint256,
    price_band: uint256,
    liquidation_fee: uint256,
    funding_horizon: uint256,
    operator: address,
    vault: address,
    formula: uint8,
    rate_model: IRateModel,
):
    """
    @dev Both feeds must give a usable reading now: it is the first sample.
    @param collateral An ERC20 with at most 18 decimals.
    @param index_oracle The spot feed.
    @param mark_oracle The perp's own price feed.
    @param interval The funding interval T, in seconds (1 h..8 h).
    @param interest I per interval (WAD).
    @param dampener d per interval (WAD).
    @param cap The absolute rate cap per interval (WAD).
    @param max_age The oldest feed answer accepted, in seconds.
    @param initial_margin_ratio See `initial_margin_ratio` (WAD).
    @param maintenance_margin_ratio See `maintenance_margin_ratio` (WAD).
    @param price_band See `price_band` (WAD).
    @param liquidation_fee See `liquidation_fee` (WAD).
    @param funding_horizon See `funding_horizon` (seconds).
    @param operator The account that submits trades.
    @param vault Pool mode's liquidity vault, or the zero address.
    @param formula The rate formula: 0 premium-clamp (the default of BitMEX,
           Binance, Hyperliquid), 1 linear (Pavg + I), 2 premium only (Pavg).
    @param rate_model A rate model deployed for this market's address, which
           then sets the rate instead of `formula`, or the zero address.
    """
    ownable.__init__()
    ownable_2step.__init__()
    pausable.__init__()

    decimals: uint8 = staticcall IERC20Detailed(collateral.address).decimals()
    assert decimals <= 18, "market: collateral has more than 18 decimals"
    COLLATERAL = collateral
    COLLATERAL_SCALE = 10 ** convert(18 - decimals, uint256)
    VAULT = vault

    self._check_max_age(max_age)
    self.packed_settings = max_age
    index: price_feed.Reading = price_feed._read(index_oracle, max_age)
    price_feed._require_usable(index, "index")
    mark: price_feed.Reading = price_feed._read(mark_oracle, max_age)
    price_feed._require_usable(mark, "mark")
    self.index_oracle = index_oracle
    self.mark_oracle = mark_oracle

    premium_rate.__init__(
        formula, interval, interest, dampener, cap, premium_rate._premium(mark.price, index.price)
    )
    funding_accrual.__init__(index.price)
    RATE_MODEL = rate_model
    if rate_model.address != empty(address):
        assert staticcall rate_model.market() == self, "market: the rate model serves another market"
        # Brings the model to now: its accruals start with the market's.
        extcall rate_model.accrue(index.price, 0, 0, 0)
    self._set_risk_parameters(
        initial_margin_ratio, maintenance_margin_ratio, price_band, liquidation_fee, funding_horizon
    )
    self.operator = operator
    log OperatorChanged(operator=operator)
    log MarketInitialised(
        insurance=self,
        vault=vault,
        collateral=collateral.address,
        collateral_scale=COLLATERAL_SCALE,
        index_oracle=index_oracle,
        mark_oracle=mark_oracle,
        formula=formula,
        interval=interval,
        interest=interest,
        dampener=dampener,
        cap=cap,
        max_age=max_age,
        index_price=index.price,
        mark_price=mark.price,
        timestamp=block.timestamp,
    )


@external
def accrue():
    """
    @notice Brings the funding index to now and samples the feeds. Anyone may
            call it; a keeper calls it on a cadence so that each sample stands
            only until the next. A second call in the same block does nothing.
    """
    self._accrue()


@external
def settle(account: address) -> int256:
    """
    @notice Accrues, then charges `account` its funding up to now.
    @param account Any account.
    @return int256 The funding it paid, in quote (WAD); negative if received.
    """
    self._accrue()
    return ledger._settle(account)


@external
@nonreentrant
def deposit(amount: uint256):
    """
    @notice Moves `amount` collateral tokens from the caller into its margin,
            crediting what arrives (a token that charges a fee on transfer
            credits less). The caller must have approved the market. Works
            while paused and with a stale feed; closed while there is bad debt.
    @param amount In token units.
    """
    assert amount != 0, "market: amount is zero"
    assert ledger.bad_debt == 0, "market: deposits closed while bad debt is shared"
    self._accrue()
    ledger._settle(msg.sender)
    received: uint256 = self._pull(amount)
    wad: uint256 = self._to_wad(received)
    ledger._credit(msg.sender, wad)
    if ledger.accounts[msg.sender].position != 0:
        ledger.principal[msg.sender] += wad
    log Deposited(account=msg.sender, amount=received, margin=ledger.accounts[msg.sender].margin)


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Sends `amount` collateral tokens from the caller's margin to it,
            after settling its funding. An open position must stay above the
            initial margin at a fresh index price, counting at most the
            account's principal: profit stays in until the position is closed.
            A flat account needs no price, so it can withdraw while paused or
            with a stale feed. The market pays out only collateral it holds:
            margin credited from a counterparty's unsettled loss waits until
            that is settled. With bad debt, each token paid out costs
            1 / `haircut()` of margin.
    @param amount In token units.
    """
    assert amount != 0, "market: amount is zero"
    self._accrue()
    ledger._settle(msg.sender)
    position: int256 = ledger.accounts[msg.sender].position
    debit: uint256 = ledger._debit(msg.sender, self._to_wad(amount))
    if position == 0 and (msg.sender != VAULT or self._gross() == 0):
        assert ledger.accounts[msg.sender].margin >= 0, "market: amount exceeds margin"
    else:
        # With a position, profit stays in: count at most the principal. A flat
        # vault under the traders' open book keeps their initial margin.
        index: price_feed.Reading = price_feed._read(self.index_oracle, self._max_age())
        price_feed._require_usable(index, "index")
        worth: int256 = ledger._value(msg.sender, index.price)
        if position != 0:
            principal: int256 = convert(ledger.principal[msg.sender], int256) - convert(debit, int256)
            worth = min(worth, principal)
            ledger.principal[msg.sender] = convert(max(principal, 0), uint256)
        assert self._meets_margin(msg.sender, index.price, self.initial_margin_ratio, worth), "market: withdrawal leaves margin below initial"
    assert extcall COLLATERAL.transfer(msg.sender, amount, default_return_value=True), "market: transfer out failed"
    log Withdrawn(account=msg.sender, amount=amount, margin=ledger.accounts[msg.sender].margin)


@external
def trade(buyer: address, seller: address, size: uint256, price: uint256):
    """
    @notice Records a matched trade: `buyer` gains `size` base and pays
            size * price; `seller` the opposite. Both are settled first. Each
            account whose exposure grows must end above the initial margin, and
            neither may end worth less than zero (an under-water account goes
            through liquidation). While paused or while there is bad debt, only
            trades in which no account but the vault grows its exposure. In
            pool mode the vault keeps the initial margin on the traders' gross
            book (the larger of their long and short open interest) whenever a
            trader grows its exposure, and when the trader reduces it needs
            only to stay worth at least zero: it is already margined for it.
    @param buyer The account going long (or reducing its short).
    @param seller The account going short (or reducing its long).
    @param size In base (WAD), > 0.
    @param price In quote per base (WAD), within `price_band` of the mark.
    """
    assert msg.sender == self.operator, "market: caller is not the operator"
    assert buyer != empty(address) and seller != empty(address), "market: account is the zero address"
    assert buyer != seller, "market: buyer and seller are the same account"
    assert VAULT == empty(address) or buyer == VAULT or seller == VAULT, "market: in pool mode every trade is against the vault"
    assert size != 0, "market: size is zero"
    assert size <= MAX_POSITION, "market: position above 1e12 base"
    feeds: Feeds = self._accrue_and_read()
    index: price_feed.Reading = feeds.index
    price_feed._require_usable(index, "index")
    mark: price_feed.Reading = feeds.mark
    price_feed._require_usable(mark, "mark")
    distance: uint256 = max(price, mark.price) - min(price, mark.price)
    assert distance <= fixed_point._wad_mul_down(mark.price, self.price_band), "market: price outside the band around the mark"

    ledger._settle(buyer)
    ledger._settle(seller)
    buyer_before: int256 = ledger.accounts[buyer].position
    seller_before: int256 = ledger.accounts[seller].position
    ledger._trade(buyer, seller, size, price)
    limit: int256 = convert(MAX_POSITION, int256)
    assert max(abs(ledger.accounts[buyer].position), abs(ledger.accounts[seller].position)) <= limit, "market: position above 1e12 base"
    buyer_adds: bool = self._adds_exposure(buyer_before, ledger.accounts[buyer].position)
    seller_adds: bool = self._adds_exposure(seller_before, ledger.accounts[seller].position)
    self._check_reduce_only((buyer_adds and buyer != VAULT) or (seller_adds and seller != VAULT))
    # The vault keeps the initial margin on the traders' gross book whenever a
    # trader grows its exposure; when the trader reduces, it needs only value >= 0.
    if buyer == VAULT:
        buyer_adds = seller_adds
    if seller == VAULT:
        seller_adds = buyer_adds
    assert self._holds(buyer, index.price, buyer_adds), "market: buyer below initial margin or under water"
    assert self._holds(seller, index.price, seller_adds), "market: seller below initial margin or under water"
    log Traded(buyer=buyer, seller=seller, size=size, price=price, index_price=index.price, mark_price=mark.price)


@external
def liquidate(account: address):
    """
    @notice Anyone may liquidate an account whose value (margin plus position
            at the index price) is below the maintenance margin: after accrual
            and settlement of both, its whole position moves to the insurance
            account (this market's own address) at the index price, and the
            liquidation fee, at most the margin left, moves from its margin to
            the caller's. A negative margin left goes down the loss waterfall:
            the insurance account's equity, the winning side in O(1), bad debt
            (see ledger). Liquidating the insurance account (this market's
            address) sends its own deficit down the waterfall, or lets its
            equity pay bad debt down; any liquidation does that first. Works
            while paused; needs a usable index reading.
    @param account The account to liquidate, or this market for its deficit.
    """
    feeds: Feeds = self._accrue_and_read()
    index: price_feed.Reading = feeds.index
    price_feed._require_usable(index, "index")
    ledger._settle(self)
    resolved: bool = ledger._resolve_insurance(index.price)
    if account == self:
        assert resolved, "market: the insurance account has no deficit nor bad debt to pay"
        log Liquidated(account=self, liquidator=msg.sender, position=ledger.accounts[self].position, price=index.price, fee=0)
        return
    ledger._settle(account)
    position: int256 = ledger.accounts[account].position
    assert position != 0, "market: account has no position"
    required: int256 = ledger._margin_required(position, index.price, self.maintenance_margin_ratio)
    assert ledger._value(account, index.price) < required, "market: account is above maintenance margin"

    size: uint256 = convert(abs(position), uint256)
    if position > 0:
        ledger._trade(self, account, size, index.price)
    else:
        ledger._trade(account, self, size, index.price)
    # The liquidator is paid from what is left, never from the waterfall.
    fee: uint256 = fixed_point._wad_mul_down(fixed_point._wad_mul_down(size, index.price), self.liquidation_fee)
    fee = min(fee, convert(max(ledger.accounts[account].margin, 0), uint256))
    ledger.accounts[account].margin -= convert(fee, int256)
    ledger.accounts[msg.sender].margin += convert(fee, int256)
    # The side opposite the liquidated position gained what it lost.
    ledger._cover_shortfall(account, index.price, position < 0)
    log Liquidated(account=account, liquidator=msg.sender, position=position, price=index.price, fee=fee)


@external
@nonreentrant
def fund_insurance(amount: uint256):
    """
    @notice Moves `amount` collateral tokens from the caller into the insurance
            account's margin, which absorbs liquidation shortfalls; what
            arrives pays bad debt down first. Nobody can withdraw it: it
            leaves only by covering losses.
    @param amount In token units.
    """
    assert amount != 0, "market: amount is zero"
    self._accrue()
    ledger._settle(self)
    received: uint256 = self._pull(amount)
    wad: uint256 = self._to_wad(received)
    ledger._credit(self, wad)
    ledger._repay(wad)
    log InsuranceFunded(funder=msg.sender, amount=received, margin=ledger.accounts[self].margin)


@external
def unwind_insurance(size: uint256):
    """
    @notice The caller takes `size` of the insurance account's position at the
            index price: it buys from a long insurance account, sells to a
            short one. Its own transaction is its consent. Any insurance
            deficit goes down the waterfall first (or its equity pays bad
            debt). The caller must stay worth at least zero and, if its
            exposure grows, above the initial margin (not while paused or with
            bad debt). Allowed in pool mode: a trader can close there after the
            vault was liquidated.
    @param size In base (WAD), at most the insurance account's position.
    """
    assert size != 0, "market: size is zero"
    feeds: Feeds = self._accrue_and_read()
    index: price_feed.Reading = feeds.index
    price_feed._require_usable(index, "index")
    ledger._settle(self)
    ledger._settle(msg.sender)
    ledger._resolve_insurance(index.price)
    held: int256 = ledger.accounts[self].position
    assert held != 0, "market: the insurance account has no position"
    assert size <= convert(abs(held), uint256), "market: size above the insurance account's position"
    before: int256 = ledger.accounts[msg.sender].position
    taken: int256 = convert(size, int256)
    if held > 0:
        ledger._trade(msg.sender, self, size, index.price)
    else:
        ledger._trade(self, msg.sender, size, index.price)
        taken = -taken
    assert abs(before + taken) <= convert(MAX_POSITION, int256), "market: position above 1e12 base"
    adds: bool = self._adds_exposure(before, before + taken)
    self._check_reduce_only(adds)
    assert self._holds(msg.sender, index.price, adds), "market: caller below initial margin or under water"
    log InsuranceUnwound(account=msg.sender, size=taken, price=index.price)


@external
def set_operator(operator: address):
    """
    @notice Owner only: replaces the trade operator.
    """
    ownable._check_owner()
    self.operator = operator
    log OperatorChanged(operator=operator)


@external
def set_rate_parameters(interval: uint256, interest: int256, dampener: int256, cap: int256):
    """
    @notice Owner only: replaces the rate model's parameters together. Accrues
            first, so the old ones are charged up to now and the new ones after.
    @param interval T in seconds, 1 h..8 h. A change closes the interval in
           progress now.
    @param interest I per interval, |I| <= 0.1 % (WAD).
    @param dampener d per interval, 0..1 % (WAD).
    @param cap The absolute cap per interval, 0.01 %..4 % (WAD).
    """
    ownable._check_owner()
    self._accrue()
    premium_rate._set_parameters(interval, interest, dampener, cap)
    log RateParametersChanged(interval=interval, interest=interest, dampener=dampener, cap=cap)


@external
def set_cap_source(source: address):
    """
    @notice Owner only: where the rate cap comes from. Accrues first, so the cap
            in force until now is charged until now. A source must answer its
            `update(p, T)` now (p: the index price the market holds) with a cap
            in 0.01 %..4 %: that cap, raised to |I| if below, is in force from
            now, and every later accrual that samples a usable index asks it
            again; a failing or out-of-range answer then keeps the cap in force.
            The zero address goes back to a fixed cap: the cap in force stays
            until `set_rate_parameters` replaces it. See docs/MATH.md §14.9.
    @param source A cap source (a VolatilityCap bound to this market) or the
           zero address.
    """
    ownable._check_owner()
    self._accrue()
    if source != empty(address):
        assert self._ask_cap(source, funding_accrual.sampled_price), "market: cap source gave no cap in 0.01 %..4 %"
    self.packed_settings = convert(source, uint256) << 96 | self._max_age()
    log CapSourceChanged(source=source, cap=premium_rate._cap())


@external
def set_oracles(index_oracle: address, mark_oracle: address):
    """
    @notice Owner only: points the market at new feeds. Accrues first with the
            old ones, then samples the new ones, which must be usable now.
    """
    ownable._check_owner()
    self._accrue()
    index: price_feed.Reading = price_feed._read(index_oracle, self._max_age())
    price_feed._require_usable(index, "index")
    mark: price_feed.Reading = price_feed._read(mark_oracle, self._max_age())
    price_feed._require_usable(mark, "mark")
    self.index_oracle = index_oracle
    self.mark_oracle = mark_oracle
    funding_accrual.sampled_price = index.price
    premium_rate._sample(premium_rate._premium(mark.price, index.price))
    log OraclesChanged(
        index_oracle=index_oracle, mark_oracle=mark_oracle, index_price=index.price, mark_price=mark.price
    )


@external
def set_max_age(max_age: uint256):
    """
    @notice Owner only: the oldest feed answer accepted, 60 s..3 days. Accrues first.
    """
    ownable._check_owner()
    self._check_max_age(max_age)
    self._accrue()
    self.packed_settings = self.packed_settings >> 96 << 96 | max_age
    log MaxAgeChanged(max_age=max_age)


@external
def set_risk_parameters(
    initial_margin_ratio: uint256,
    maintenance_margin_ratio: uint256,
    price_band: uint256,
    liquidation_fee: uint256,
    funding_horizon: uint256,
):
    """
    @notice Owner only: the initial margin ratio (1 %..100 %), the maintenance
            ratio (0.5 %..initial), the trade price band around the mark
            (0.1 %..10 %), the liquidation fee (0..1 %, at most the
            maintenance ratio), all WAD, and the funding horizon of the margin
            checks (0..7 days, seconds). They do not enter funding, so no
            accrual is needed.
    """
    ownable._check_owner()
    self._set_risk_parameters(
        initial_margin_ratio, maintenance_margin_ratio, price_band, liquidation_fee, funding_horizon
    )


@external
def pause():
    """
    @notice Owner only: stops trades and deposits (see `@custom:kill`).
    """
    ownable._check_owner()
    self._accrue()
    pausable._pause()


@external
def unpause():
    """
    @notice Owner only: lifts the pause.
    """
    ownable._check_owner()
    self._accrue()
    pausable._unpause()


@external
@view
def current_funding_index() -> int256:
    """
    @notice The funding index as an accrual now would leave it (WAD quote per base).
    """
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    return index


@external
@view
def current_rate() -> int256:
    """
    @notice The rate in force now, per interval (WAD): set by the last closed
            interval's average premium.
    """
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    now_rate: int256 = 0
    next_rate: int256 = 0
    now_rate, next_rate = self._rates(state)
    return now_rate


@external
@view
def next_rate() -> int256:
    """
    @notice The rate the interval in progress will set for the next one if the
            held premium stands until it ends (the predicted rate; WAD).
    """
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    now_rate: int256 = 0
    next_rate: int256 = 0
    now_rate, next_rate = self._rates(state)
    return next_rate


@external
@view
def premium_average() -> int256:
    """
    @notice The time-weighted average premium of the interval in progress so
            far (WAD); the held premium at the interval's first second.
    """
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    elapsed: uint256 = block.timestamp - state.interval_start
    if elapsed == 0:
        return premium_rate._held_premium()
    return state.premium_sum // convert(elapsed, int256)


@external
@view
def pending_funding(account: address) -> int256:
    """
    @notice What settling `account` now would charge it (WAD quote; negative
            = it would receive).
    """
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    account_state: ledger.Account = ledger.accounts[account]
    position: int256 = account_state.position
    return ledger._owed(position, account_state.index_snapshot, ledger._side_index(account, position, index))


@external
@view
def projected_margin(account: address) -> int256:
    """
    @notice `account`'s margin after its pending funding and the funding its
            position would pay over `funding_horizon` at the worse of the rate
            in force and the next rate (WAD quote; funding it would receive is
            not counted).
    """
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    account_state: ledger.Account = ledger.accounts[account]
    position: int256 = account_state.position
    pending: int256 = ledger._owed(position, account_state.index_snapshot, ledger._side_index(account, position, index))
    price: uint256 = funding_accrual.sampled_price
    return account_state.margin - pending - self._funding_forecast(position, price)


@external
@view
def skew() -> int256:
    """
    @notice Pool mode: the traders' net position, -(the vault's position), in
            base (WAD); 0 without a vault.
    """
    return -ledger.accounts[VAULT].position


@external
@view
def socialised_losses() -> (int256, int256):
    """
    @notice The losses socialised so far per unit of base: (charged to longs,
            charged to shorts), WAD quote per base.
    """
    losses: uint256 = ledger.packed_losses
    return packed_word._high(losses), packed_word._low(losses)


@external
@view
def total_margin() -> int256:
    """
    @notice The sum of every account's stored margin (WAD quote).
    """
    return convert(ledger.total_collateral + ledger.bad_debt, int256) - ledger.surplus


@external
@view
def haircut() -> uint256:
    """
    @notice The share of margin a withdrawal pays out (WAD): 1e18, or while
            there is bad debt the share frozen when it last changed.
    """
    return ledger._haircut()


@external
@view
def max_age() -> uint256:
    """
    @notice The oldest feed answer a reading accepts, in seconds.
    """
    return self._max_age()


@external
@view
def cap_source() -> address:
    """
    @notice Where the rate cap comes from: a cap source (VolatilityCap), asked at
            every accrual that samples a usable index, or the zero address (a
            fixed cap, set with `set_rate_parameters`).
    """
    return self._cap_source()


@internal
def _accrue():
    """
    @dev Brings the index to now with the held samples, then reads both feeds
         and samples them for the next stretch (see `_sample`).
    """
    if self._advance():
        self._sample(self._read_feeds())


@internal
def _advance() -> bool:
    """
    @dev Brings the index to now with the held samples: under the premium
         formula, or by the rate model's step over the gap.
    @return bool True when time has passed since the last accrual.
    """
    if RATE_MODEL.address == empty(address):
        return funding_accrual._accrue()
    if funding_accrual._last_accrual() == block.timestamp:
        return False
    skew: int256 = 0
    longs: uint256 = 0
    shorts: uint256 = 0
    skew, longs, shorts = self._trader_interest()
    funding_accrual._add(extcall RATE_MODEL.accrue(funding_accrual.sampled_price, skew, longs, shorts))
    return True


@internal
@view
def _current() -> (int256, premium_rate.Projection):
    """
    @dev The index and the interval state as an accrual now would leave them.
         Under a rate model the interval state stays as stored.
    """
    if RATE_MODEL.address == empty(address):
        return funding_accrual._current()
    skew: int256 = 0
    longs: uint256 = 0
    shorts: uint256 = 0
    skew, longs, shorts = self._trader_interest()
    step: int256 = staticcall RATE_MODEL.pending(funding_accrual.sampled_price, skew, longs, shorts)
    return funding_accrual._index() + step, premium_rate._stored_state()


@internal
@view
def _rates(state: premium_rate.Projection) -> (int256, int256):
    """
    @dev The rate in force and the next rate, per interval (WAD). A rate model
         knows only the rate now: it is both.
    """
    if RATE_MODEL.address == empty(address):
        return premium_rate._rate_for(state.last_premium_average), premium_rate._next_rate(state, block.timestamp)
    skew: int256 = 0
    longs: uint256 = 0
    shorts: uint256 = 0
    skew, longs, shorts = self._trader_interest()
    rate: int256 = staticcall RATE_MODEL.rate_per_period(premium_rate._parameters().interval, skew, longs, shorts)
    return rate, rate


@internal
@view
def _trader_interest() -> (int256, uint256, uint256):
    """
    @dev The traders' skew -(vault position) and their long and short open
         interest (base, WAD): every account but the vault is a trader. Without
         a vault the skew is 0 and both sides are the open interest.
    """
    vault: int256 = ledger.accounts[VAULT].position
    longs: uint256 = ledger.open_interest
    return -vault, longs - convert(max(vault, 0), uint256), longs - convert(max(-vault, 0), uint256)


@internal
def _accrue_and_read() -> Feeds:
    """
    @dev `_accrue`, returning fresh readings of both feeds: the ones the
         accrual sampled, or new ones when the market already accrued this block.
    """
    accrued: bool = self._advance()
    feeds: Feeds = self._read_feeds()
    if accrued:
        self._sample(feeds)
    return feeds


@internal
@view
def _max_age() -> uint256:
    return self.packed_settings & (2**96 - 1)


@internal
@view
def _cap_source() -> address:
    return convert(self.packed_settings >> 96, address)


@internal
@view
def _read_feeds() -> Feeds:
    max_age: uint256 = self._max_age()
    return Feeds(
        index=price_feed._read(self.index_oracle, max_age),
        mark=price_feed._read(self.mark_oracle, max_age),
    )


@internal
def _sample(feeds: Feeds):
    """
    @dev Holds the readings from now on: the index price when the index feed is
         usable, the premium when both are. An unusable reading leaves the
         previous sample in force, so accruing or not during a feed outage
         changes nothing and cannot be used to pick a rate.
    """
    if feeds.index.status == price_feed.FEED_OK:
        funding_accrual.sampled_price = feeds.index.price
        if feeds.mark.status == price_feed.FEED_OK:
            premium_rate._sample(premium_rate._premium(feeds.mark.price, feeds.index.price))
        source: address = self._cap_source()
        if source != empty(address):
            self._ask_cap(source, feeds.index.price)
    log Accrued(
        timestamp=block.timestamp,
        funding_index=funding_accrual._index(),
        index_price=feeds.index.price,
        mark_price=feeds.mark.price,
        index_round=feeds.index.round_id,
        mark_round=feeds.mark.round_id,
        index_status=feeds.index.status,
        mark_status=feeds.mark.status,
        cap=premium_rate._cap(),
    )


@internal
def _ask_cap(source: address, price: uint256) -> bool:
    """
    @dev Calls the cap source's `update(price, T)` with at most CAP_SOURCE_GAS
         and adopts its answer when it is one word in 0.01 %..4 % (premium_rate
         raises it to |I| if below). Anything else (a revert, no or a malformed
         answer, a cap out of range) keeps the cap in force and returns False:
         a source can never block an accrual. The source must not call back
         into the market.
    """
    assert msg.gas >= CAP_SOURCE_GAS_NEEDED, "market: too little gas for the cap source"
    ok: bool = False
    answer: Bytes[32] = b""
    ok, answer = raw_call(
        source,
        abi_encode(price, premium_rate._parameters().interval, method_id=method_id("update(uint256,uint256)")),
        max_outsize=32,
        gas=CAP_SOURCE_GAS,
        revert_on_failure=False,
    )
    if not ok or len(answer) != 32:
        return False
    cap: uint256 = convert(answer, uint256)
    # One comparison: below MIN_CAP the difference wraps far above the range.
    if unsafe_sub(cap, MIN_SOURCE_CAP) > MAX_SOURCE_CAP - MIN_SOURCE_CAP:
        return False
    premium_rate._set_cap(convert(cap, int256))
    return True


@internal
@view
def _meets_margin(account: address, price: uint256, ratio: uint256, worth: int256) -> bool:
    """
    @dev For a settled account in a block that accrued: `worth` (its value at
         `price`, or less), less the forecast funding, covers
         |exposure| * price * ratio. The exposure is the position, and for the
         vault the traders' gross book (`_gross`): whatever traders close, the
         vault then holds at most that.
    """
    position: int256 = ledger.accounts[account].position
    forecast: int256 = self._funding_forecast(position, price)
    exposure: int256 = position
    if account == VAULT:
        exposure = self._gross()
    return worth - forecast >= ledger._margin_required(exposure, price, ratio)


@internal
@view
def _gross() -> int256:
    """
    @dev Pool mode: the larger of the traders' long and short open interest
         (base, WAD); the vault's position is never larger.
    """
    skew: int256 = 0
    longs: uint256 = 0
    shorts: uint256 = 0
    skew, longs, shorts = self._trader_interest()
    return convert(max(longs, shorts), int256)


@internal
@view
def _holds(account: address, price: uint256, adds: bool) -> bool:
    """
    @dev After a trade: the initial margin when `adds`, else a value of at least zero.
    """
    worth: int256 = ledger._value(account, price)
    if adds:
        return self._meets_margin(account, price, self.initial_margin_ratio, worth)
    return worth >= 0


@internal
@view
def _check_reduce_only(adds: bool):
    """
    @dev While paused or while there is bad debt, no trader may grow its exposure.
    """
    if adds:
        assert not pausable.paused and ledger.bad_debt == 0, "market: only trades that reduce (paused or bad debt)"


@internal
def _pull(amount: uint256) -> uint256:
    """
    @dev transferFrom the caller; returns what arrived (token units), by the
         market's balance before and after.
    """
    before: uint256 = staticcall COLLATERAL.balanceOf(self)
    assert extcall COLLATERAL.transferFrom(msg.sender, self, amount, default_return_value=True), "market: transfer in failed"
    received: uint256 = staticcall COLLATERAL.balanceOf(self) - before
    assert received != 0, "market: no collateral arrived"
    return received


@internal
@view
def _funding_forecast(position: int256, price: uint256) -> int256:
    """
    @dev The funding `position` would pay over `funding_horizon` seconds at
         `price`, at the worse for it of the rate in force and the next rate
         (as an accrual now would leave them); 0 when it would receive, or with no
         horizon. Per unit of base: price * R * horizon / (T * WAD), toward zero
         as accrual rounds; owed rounded up as settlement does.
    """
    horizon: uint256 = self.funding_horizon
    if horizon == 0 or position == 0:
        return 0
    index: int256 = 0
    state: premium_rate.Projection = empty(premium_rate.Projection)
    index, state = self._current()
    # Per unit of base over the horizon, at a rate R per interval: p * R * h / (T * WAD).
    scale: int256 = convert(price * horizon, int256)
    period: int256 = convert(premium_rate._parameters().interval * fixed_point.WAD, int256)
    now_rate: int256 = 0
    next_rate: int256 = 0
    now_rate, next_rate = self._rates(state)
    # The worse rate for this side: the higher for a long, the lower for a short.
    rate: int256 = max(now_rate, next_rate) if position > 0 else min(now_rate, next_rate)
    return max(ledger._owed(position, 0, scale * rate // period), 0)


@internal
@view
def _to_wad(amount: uint256) -> uint256:
    """
    @dev A token amount in WAD, refused with a reason past the collateral limit.
    """
    assert amount <= ledger.MAX_COLLATERAL // COLLATERAL_SCALE, "market: amount above the collateral limit of 1e39"
    return amount * COLLATERAL_SCALE


@internal
@pure
def _adds_exposure(before: int256, after: int256) -> bool:
    """
    @dev True when the position grew in size or changed side.
    """
    if after == 0:
        return False
    if before == 0 or (before > 0) != (after > 0):
        return True
    return abs(after) > abs(before)


@internal
def _set_risk_parameters(
    initial_margin_ratio: uint256,
    maintenance_margin_ratio: uint256,
    price_band: uint256,
    liquidation_fee: uint256,
    funding_horizon: uint256,
):
    assert initial_margin_ratio >= MIN_INITIAL_MARGIN_RATIO and initial_margin_ratio <= MAX_INITIAL_MARGIN_RATIO, "market: initial margin ratio outside 1 %..100 %"
    assert maintenance_margin_ratio >= MIN_MAINTENANCE_MARGIN_RATIO and maintenance_margin_ratio <= initial_margin_ratio, "market: maintenance margin ratio outside 0.5 %..initial"
    assert price_band >= MIN_PRICE_BAND and price_band <= MAX_PRICE_BAND, "market: price band outside 0.1 %..10 %"
    assert liquidation_fee <= MAX_LIQUIDATION_FEE and liquidation_fee <= maintenance_margin_ratio, "market: liquidation fee above 1 % or the maintenance ratio"
    assert funding_horizon <= MAX_FUNDING_HORIZON, "market: funding horizon above 7 days"
    self.initial_margin_ratio = initial_margin_ratio
    self.maintenance_margin_ratio = maintenance_margin_ratio
    self.price_band = price_band
    self.liquidation_fee = liquidation_fee
    self.funding_horizon = funding_horizon
    log RiskParametersChanged(
        initial_margin_ratio=initial_margin_ratio,
        maintenance_margin_ratio=maintenance_margin_ratio,
        price_band=price_band,
        liquidation_fee=liquidation_fee,
        funding_horizon=funding_horizon,
    )


@internal
@pure
def _check_max_age(max_age: uint256):
    assert max_age >= MIN_MAX_AGE and max_age <= MAX_MAX_AGE, "market: max age outside 60 s..3 days"
