"""Solvency (issue 11): the books balance AND every depositor can take out what the
written loss waterfall leaves it, whatever the order of withdrawals.

One pinned test per finding of the adversarial review, each asserting the fixed
behaviour: gains stay in while the loser's shortfall is open (1), no trade leaves
an account under water (2), the insurance account is never charged by a loss
index and its own deficit goes down the waterfall (3), pool-mode traders can
close after the vault's liquidation (4), a pause never traps a trader (5),
deposits credit what arrives (6), an undecodable feed is a feed failure (7).
Then the mechanisms of the fix: the capped liquidation fee, `unwind_insurance`,
bad debt shared by a frozen haircut, deposits refused while there is bad debt,
`fund_insurance` paying it down; and, as a property, the hedged gap attack of
finding 1 never pays more than the insurance fund lost. Every call is made on
the contract and the reference (fundingkit.market), which must stay in step.
"""

from dataclasses import dataclass

import boa
import pytest
from conftest import deploy, examples, reference_allows, rolled_back
from deployers import FEE_TOKEN, ORACLE, WIDE_ROUND_ORACLE
from hypothesis import given
from hypothesis import strategies as st
from test_market_unit import (
    INDEX,
    MARK,
    SCALE,
    USD,
    WAD,
    assert_in_step,
    call,
    deploy_market,
    events,
    fund_and_deposit,
    record,
    reject,
)

from fundingkit.feeds import FeedStatus, MockFeed, Reading, Round, read_round
from fundingkit.market import margin_required
from fundingkit.vyper_math import mul_div_ceil, wad_mul_down

BELOW_INITIAL = "market: withdrawal leaves margin below initial"
BUYER_UNDER_WATER = "market: buyer below initial margin or under water"
SELLER_UNDER_WATER = "market: seller below initial margin or under water"
CALLER_UNDER_WATER = "market: caller below initial margin or under water"
REDUCE_ONLY = "market: only trades that reduce (paused or bad debt)"
DEPOSITS_CLOSED = "market: deposits closed while bad debt is shared"
NO_DEFICIT = "market: the insurance account has no deficit nor bad debt to pay"
NO_INSURANCE_POSITION = "market: the insurance account has no position"
SIZE_ABOVE_INSURANCE = "market: size above the insurance account's position"
EXCEEDS_MARGIN = "market: amount exceeds margin"
NOTHING_ARRIVED = "market: no collateral arrived"
NOT_HELD = "ledger: market holds less collateral until payers settle"

ONE_PERCENT = 10**16  # the smallest initial margin ratio: 100x
HALF_PERCENT = 5 * 10**15  # the smallest maintenance ratio; the default liquidation fee
BAND = 10**16  # the default price band
FEED_CALL_FAILED = FeedStatus.CALL_FAILED
ROUND_BITS = 80  # AggregatorV3's roundId and answeredInRound are uint80

KEEPER = boa.env.generate_address("solvency keeper")  # a liquidator with no stake
ATTACKER_LONG = boa.env.generate_address("attacker long")
ATTACKER_SHORT = boa.env.generate_address("attacker short")
ATTACKER_KEEPER = boa.env.generate_address("attacker keeper")  # liquidates its own loser
BYSTANDERS = [boa.env.generate_address(f"bystander{i}") for i in range(3)]
TAKER = boa.env.generate_address("taker")  # a bystander that takes the other side of a close
FUNDER = boa.env.generate_address("insurance funder")


def named(*names):
    return [boa.env.generate_address(name) for name in names]


def move(d, usd: int):
    """Both feeds answer `usd` in the same block (a gap); the mark equals the index,
    so a trade at the index price is inside the band."""
    d.submit(usd * 10**8, usd * 10**8)


def set_risk(d, initial, maintenance, fee, horizon=0):
    call(d, d.owner, "set_risk_parameters", initial, maintenance, BAND, fee, horizon)


def value(d, account, usd_price: int) -> int:
    """margin + position * price on the chain (WAD), as the contract values it."""
    margin, position, _ = d.market.accounts(account)
    return margin + position * usd_price


def in_step(d, *accounts):
    """Contract and reference agree on everything, the insurance account and the
    solvency state (bad debt, haircut, every principal) included."""
    assert_in_step(d, *accounts)
    m, model = d.market, d.model
    insurance = model.account(m.address)
    expected = (insurance.margin, insurance.position, insurance.index_snapshot)
    assert tuple(m.accounts(m.address)) == expected
    assert (m.bad_debt(), m.haircut()) == (model.bad_debt, model.haircut())
    for a in (*accounts, m.address):
        assert m.principal(a) == model.principal.get(a, 0)


def books(d, *accounts):
    """Conservation with bad debt, to the wei: tokens held == total_collateral, and
    total_collateral + bad_debt == every margin (insurance and keepers included) +
    surplus. Positions sum to zero."""
    m = d.market
    everyone = {*accounts, KEEPER, ATTACKER_KEEPER, m.address}
    margins = sum(m.accounts(a)[0] for a in everyone)
    assert d.token.balanceOf(m) * SCALE == m.total_collateral()
    assert m.total_collateral() + m.bad_debt() == margins + m.surplus()
    assert sum(m.accounts(a)[1] for a in everyone) == 0


def most_withdrawable(model, account) -> int:
    """The largest withdrawal (token units) the reference allows `account` now:
    a withdrawal is allowed up to some amount and refused above it."""
    low, high = 0, model.total_collateral // model.collateral_scale + 1
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if reference_allows(model, "withdraw", account, mid) else (low, mid)
    return low


def withdraw_most(d, account) -> int:
    """`account` withdraws all it can, on both; returns the token amount."""
    amount = most_withdrawable(d.model, account)
    if amount:
        call(d, account, "withdraw", amount)
    return amount


def liquidatable(model, account, price) -> bool:
    state = model.account(account)
    if state.position == 0:
        return False
    required = margin_required(state.position, price, model.risk.maintenance_margin_ratio)
    return model._value(state, price) < required


# ---------------------------------------------------------------- finding 1


def test_gains_stay_in_until_the_losers_shortfall_is_covered(deployment):
    """The hedged attacker of finding 1 at 1 % initial margin: its short wins 5,050
    in a -10 % gap, its long is 4,050 under water. The short may withdraw only down
    to the initial margin counted on its principal (its 1,000 deposit), not on its
    value: 550, not the 5,600 that was allowed before. Its long's shortfall is then
    charged to it when the long is liquidated, it closes against a taker and leaves:
    the attacker gets back exactly its 2,000, and a bystander its whole deposit."""
    d = deployment
    set_risk(d, ONE_PERCENT, HALF_PERCENT, HALF_PERCENT)
    bystander = BYSTANDERS[0]
    fund_and_deposit(d, ATTACKER_LONG, 1_000)
    fund_and_deposit(d, ATTACKER_SHORT, 1_000)
    fund_and_deposit(d, bystander, 10_000)
    fund_and_deposit(d, TAKER, 10_000)
    call(d, d.operator, "trade", ATTACKER_LONG, ATTACKER_SHORT, WAD, MARK)
    move(d, 45_000)  # -10 %: the short is worth 6,050, its initial margin 450
    accounts = (ATTACKER_LONG, ATTACKER_SHORT, bystander, TAKER)
    assert value(d, ATTACKER_SHORT, 45_000) == 6_050 * WAD

    reject(d, ATTACKER_SHORT, "withdraw", 5_600 * USD, reason=BELOW_INITIAL, accounts=accounts)
    reject(d, ATTACKER_SHORT, "withdraw", 551 * USD, reason=BELOW_INITIAL, accounts=accounts)
    assert d.market.principal(ATTACKER_SHORT) == 1_000 * WAD
    call(d, ATTACKER_SHORT, "withdraw", 550 * USD)
    assert d.market.principal(ATTACKER_SHORT) == 450 * WAD

    (_, (fee, cover)) = call(d, ATTACKER_KEEPER, "liquidate", ATTACKER_LONG)
    assert fee == 0  # nothing was left after the close
    assert cover == (4_050 * WAD, 0, 4_050 * WAD, 0, 4_050 * WAD)
    call(d, d.operator, "trade", ATTACKER_SHORT, TAKER, WAD, 45_000 * WAD)  # it closes
    assert d.market.accounts(ATTACKER_SHORT)[:2] == (1_450 * WAD, 0)
    call(d, ATTACKER_SHORT, "withdraw", 1_450 * USD)
    call(d, bystander, "withdraw", 10_000 * USD)

    withdrawn = 550 + 1_450
    assert withdrawn - 2 * 1_000 == 0  # the attack broke even: the loss is its own
    assert d.market.bad_debt() == 0
    in_step(d, *accounts)
    books(d, *accounts)


# ---------------------------------------------------------------- finding 2


@pytest.mark.parametrize("side", ["long under water sells", "short under water buys"])
def test_no_trade_leaves_an_account_under_water(deployment, side):
    """An account worth less than zero cannot trade its way out (flat, with a
    negative margin no one sees): the trade is refused, even a partial one, and
    the account goes through liquidation, where its shortfall is reported."""
    d = deployment
    loser, winner = named("loser", "winner")
    if side == "long under water sells":
        fund_and_deposit(d, loser, 6_000)
        fund_and_deposit(d, winner, 20_000)
        call(d, d.operator, "trade", loser, winner, WAD, MARK)
        price, shortfall = 40_000, 4_050 * WAD
        buyer, seller, reason = winner, loser, SELLER_UNDER_WATER
    else:
        fund_and_deposit(d, winner, 20_000)
        fund_and_deposit(d, loser, 6_000)
        call(d, d.operator, "trade", winner, loser, WAD, MARK)
        price, shortfall = 60_000, 3_950 * WAD
        buyer, seller, reason = loser, winner, BUYER_UNDER_WATER
    move(d, price)
    assert value(d, loser, price) == -shortfall
    for size in (WAD, WAD // 2):
        reject(
            d,
            d.operator,
            "trade",
            buyer,
            seller,
            size,
            price * WAD,
            reason=reason,
            accounts=(loser, winner),
        )
    (_, (fee, cover)) = call(d, KEEPER, "liquidate", loser)
    assert fee == 0 and cover[0] == shortfall
    (event,) = events("ShortfallCovered")
    assert (event.account, event.shortfall) == (loser, shortfall)
    in_step(d, loser, winner)
    books(d, loser, winner)


# ---------------------------------------------------------------- finding 3


def test_the_insurance_account_is_never_charged_a_socialised_loss(deployment):
    """The insurance account holds a short of 2 (a liquidated short's), worth 0,
    when a long of 1 goes 1,050 under water. The insurance takes the long (net
    short 1) and has no equity to give; the 1,050 is charged to the other short
    alone, over the shorts' open interest without the insurance's: 1,050 per base,
    not 525 with half of it on the insurance account, which would then be worth
    -525 with nothing reported."""
    d = deployment
    long, short, thin_short, other_long = named("long", "short", "thin short", "other long")
    fund_and_deposit(d, long, 6_000)
    fund_and_deposit(d, short, 30_000)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    move(d, 40_000)  # the long is under water; nobody liquidates it yet
    fund_and_deposit(d, thin_short, 9_000)
    fund_and_deposit(d, other_long, 10_000)
    call(d, d.operator, "trade", other_long, thin_short, 2 * WAD, 40_000 * WAD)
    move(d, 43_000)
    call(d, KEEPER, "liquidate", thin_short)  # the insurance account is short 2, worth 0
    insurance = d.market.address
    assert d.market.accounts(insurance)[1] == -2 * WAD
    assert value(d, insurance, 43_000) == 0

    (_, (fee, cover)) = call(d, KEEPER, "liquidate", long)
    assert d.market.accounts(insurance)[1] == -WAD  # still on the side that pays
    assert d.market.pending_funding(insurance) == 0
    shortfall = 1_050 * WAD
    assert fee == 0
    assert cover == (shortfall, 0, shortfall, 0, mul_div_ceil(shortfall, WAD, WAD))
    assert d.market.socialised_losses() == (0, shortfall)
    assert d.market.pending_funding(short) == shortfall
    call(d, KEEPER, "settle", insurance)
    call(d, KEEPER, "settle", short)
    assert value(d, insurance, 43_000) == 0
    accounts = (long, short, thin_short, other_long)
    in_step(d, *accounts)
    books(d, *accounts)
    assert d.market.surplus() >= 0 and d.market.bad_debt() == 0


@pytest.fixture
def insurance_in_deficit(deployment):
    """The insurance account holds a liquidated short of 2 taken at 54,000, and the
    index is at 56,000: it is worth -4,000. `long` holds the other side."""
    d = deployment
    thin_short, long = named("thin short", "long")
    fund_and_deposit(d, thin_short, 11_000)
    fund_and_deposit(d, long, 30_000)
    call(d, d.operator, "trade", long, thin_short, 2 * WAD, MARK)
    move(d, 54_000)
    call(d, KEEPER, "liquidate", thin_short)
    reject(d, KEEPER, "liquidate", d.market.address, reason=NO_DEFICIT, accounts=(long, thin_short))
    move(d, 56_000)
    assert value(d, d.market.address, 56_000) == -4_000 * WAD
    return d, long, thin_short


def test_an_insurance_deficit_goes_down_the_waterfall(insurance_in_deficit):
    """Liquidating the market's own address sends the insurance account's deficit
    to the side opposite its position (the longs, 2 base: 2,000 per base); its
    margin rises to make it worth zero, its position stays, nothing is unbacked."""
    d, long, thin_short = insurance_in_deficit
    insurance = d.market.address
    (_, (fee, cover)) = call(d, KEEPER, "liquidate", insurance)
    assert fee == 0
    assert cover == (4_000 * WAD, 0, 4_000 * WAD, 0, 2_000 * WAD)
    (shortfall,) = events("ShortfallCovered")
    assert (shortfall.account, shortfall.longs_pay, shortfall.unbacked) == (insurance, True, 0)
    (liquidated,) = events("Liquidated")
    assert (liquidated.account, liquidated.fee) == (insurance, 0)
    assert d.market.socialised_losses() == (2_000 * WAD, 0)
    assert d.market.accounts(insurance)[1] == -2 * WAD
    assert value(d, insurance, 56_000) == 0
    assert d.market.pending_funding(long) == 4_000 * WAD
    in_step(d, long, thin_short)
    books(d, long, thin_short)


def test_unwinding_the_insurance_resolves_its_deficit_first(insurance_in_deficit):
    """`unwind_insurance` sends a deficit down the waterfall before it moves any of
    the insurance account's position: the long that takes half of it at the index
    price has already been charged the deficit through its loss index."""
    d, long, thin_short = insurance_in_deficit
    insurance = d.market.address
    call(d, long, "unwind_insurance", WAD)  # the long sells to the short insurance: it reduces
    assert d.market.socialised_losses() == (2_000 * WAD, 0)
    assert (d.market.accounts(insurance)[1], d.market.accounts(long)[1]) == (-WAD, WAD)
    assert value(d, insurance, 56_000) == 0
    (unwound,) = events("InsuranceUnwound")
    assert (unwound.account, unwound.size, unwound.price) == (long, -WAD, 56_000 * WAD)
    in_step(d, long, thin_short)
    books(d, long, thin_short)


# ---------------------------------------------------------------- finding 4


VAULT = boa.env.generate_address("thin vault")
ALICE = boa.env.generate_address("alice")
BOB = boa.env.generate_address("bob")


@pytest.fixture(scope="module")
def _thin_pool():
    with boa.env.anchor():
        d = deploy(vault=VAULT)
        for account, usd in ((VAULT, 6_000), (ALICE, 20_000), (BOB, 20_000)):
            fund_and_deposit(d, account, usd)
        yield d


@pytest.fixture
def thin_pool(_thin_pool):
    """Pool mode with a vault of 6,000: just enough for one base at the initial margin."""
    with rolled_back(_thin_pool.model):
        yield _thin_pool


def test_pool_traders_close_after_the_vault_is_liquidated(thin_pool):
    """Alice is long 1 from the vault; at 56,000 the vault is liquidated (its fee
    capped at the 50 it had left) and is flat with nothing. Alice still closes
    against it at the index price: the vault, growing its exposure only because
    she reduces, needs a value of zero, not the initial margin. The vault then
    unwinds the insurance account's short, and Alice takes out her gain."""
    d = thin_pool
    call(d, d.operator, "trade", ALICE, VAULT, WAD, MARK)
    move(d, 56_000)
    (_, (fee, cover)) = call(d, KEEPER, "liquidate", VAULT)
    call(d, d.operator, "trade", VAULT, ALICE, WAD, 56_000 * WAD)
    assert (fee, cover) == (50 * WAD, None)
    assert d.market.accounts(ALICE)[1] == 0 and d.market.accounts(VAULT)[:2] == (-56_000 * WAD, WAD)
    call(d, VAULT, "unwind_insurance", WAD)
    assert d.market.accounts(VAULT)[1] == d.market.accounts(d.market.address)[1] == 0
    call(d, ALICE, "withdraw", 25_950 * USD)  # 20,000 + 56,000 - 50,050
    in_step(d, VAULT, ALICE, BOB)
    books(d, VAULT, ALICE, BOB)


def test_a_paused_pool_lets_the_vault_take_what_a_trader_reduces(thin_pool):
    """Paused: Alice reduces her long and the vault, flat, goes long to take it;
    Bob opening a position is refused, whichever side he takes."""
    d = thin_pool
    call(d, d.operator, "trade", ALICE, VAULT, WAD, MARK)
    call(d, d.operator, "trade", VAULT, BOB, WAD, MARK)  # the vault is flat again
    call(d, d.owner, "pause")
    call(d, d.operator, "trade", VAULT, ALICE, WAD, MARK)
    assert d.market.accounts(VAULT)[1] == WAD and d.market.accounts(ALICE)[1] == 0
    for buyer, seller in ((ALICE, VAULT), (VAULT, ALICE)):
        reject(
            d,
            d.operator,
            "trade",
            buyer,
            seller,
            WAD // 10,
            MARK,
            reason=REDUCE_ONLY,
            accounts=(VAULT, ALICE, BOB),
        )
    in_step(d, VAULT, ALICE, BOB)


# ---------------------------------------------------------------- finding 5


def test_a_pause_never_traps_a_trader(deployment):
    """While paused a leveraged trader can add margin (its principal grows with it)
    and reduce, against a counterparty that reduces too; a trade in which any
    account grows its exposure is refused until the market is unpaused."""
    d = deployment
    long, short, newcomer = named("long", "short", "newcomer")
    fund_and_deposit(d, long, 6_000)
    fund_and_deposit(d, short, 20_000)
    fund_and_deposit(d, newcomer, 20_000)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    call(d, d.owner, "pause")
    d.fund(long, 1_000 * USD)
    call(d, long, "deposit", 1_000 * USD)
    assert d.market.principal(long) == 7_000 * WAD
    call(d, d.operator, "trade", short, long, WAD // 2, MARK)  # both reduce
    accounts = (long, short, newcomer)
    for buyer, seller in ((newcomer, short), (long, newcomer)):
        reject(
            d,
            d.operator,
            "trade",
            buyer,
            seller,
            WAD // 4,
            MARK,
            reason=REDUCE_ONLY,
            accounts=accounts,
        )
    call(d, d.owner, "unpause")
    call(d, d.operator, "trade", newcomer, short, WAD // 4, MARK)
    in_step(d, *accounts)
    books(d, *accounts)


# ---------------------------------------------------------------- finding 6


FEE_BPS = 100  # the fee token burns 1 % of every transfer


def test_deposits_credit_what_arrives(deployment):
    """On a token that takes 1 % per transfer, a deposit of 10,000 credits the 9,900
    that arrive (and logs them), so does insurance funding; the market then holds
    exactly what its books say. A token that delivers nothing is refused."""
    d = deployment
    trader = named("fee payer")[0]
    with boa.env.prank(d.owner):
        token = FEE_TOKEN.deploy(6, FEE_BPS)
    market = deploy_market(d, token=token)
    for account in (trader, FUNDER):
        token.mint(account, 20_000 * USD, sender=d.owner)
        token.approve(market, 2**256 - 1, sender=account)

    market.deposit(10_000 * USD, sender=trader)
    record(market)
    (deposited,) = events("Deposited")
    assert (deposited.amount, deposited.margin) == (9_900 * USD, 9_900 * USD * SCALE)
    market.fund_insurance(1_000 * USD, sender=FUNDER)
    record(market)
    (funded,) = events("InsuranceFunded")
    assert (funded.amount, funded.margin) == (990 * USD, 990 * USD * SCALE)
    assert market.accounts(trader)[0] == 9_900 * USD * SCALE
    assert token.balanceOf(market) * SCALE == market.total_collateral() == 10_890 * USD * SCALE

    market.withdraw(9_900 * USD, sender=trader)  # the token's fee is the recipient's
    assert token.balanceOf(market) * SCALE == market.total_collateral() == 990 * USD * SCALE
    assert market.accounts(trader)[0] == 0

    token.set_fee(10_000, sender=d.owner)
    with boa.reverts(NOTHING_ARRIVED):
        market.deposit(1_000 * USD, sender=trader)


# ---------------------------------------------------------------- finding 7


@dataclass
class WideRoundFeed:
    """The reference's copy of a WideRoundOracle (tests/contracts): five raw words;
    a round id or answeredInRound wider than 80 bits is an unreadable feed."""

    round_id: int = 0
    answer: int = 0
    updated_at: int = 0
    answered_in_round: int = 0

    def read(self, now: int, max_age: int) -> Reading:
        if max(self.round_id, self.answered_in_round) >= 2**ROUND_BITS:
            return Reading(0, 0, FEED_CALL_FAILED)
        if self.answer > 0 and self.answered_in_round < self.round_id:
            return Reading(0, self.round_id, FeedStatus.INCOMPLETE)
        rnd = Round(self.answer, self.updated_at, self.updated_at)
        return read_round(self.round_id, rnd, 8, now, max_age)


def set_round(oracle, feed, round_id, answer, now, answered_in_round):
    oracle.set_round(round_id, answer, now, now, answered_in_round)
    feed.round_id, feed.answer, feed.updated_at = round_id, answer, now
    feed.answered_in_round = answered_in_round


def set_oracles(d, index, mark):
    """The owner points the market at (oracle, reference feed) pairs."""
    d.market.set_oracles(index[0], mark[0], sender=d.owner)
    record(d.market)
    d.model.set_oracles(d.owner, index[1], mark[1])


@pytest.mark.parametrize("field", ["round id", "answeredInRound"])
@pytest.mark.parametrize("which", ["index", "mark"])
def test_a_feed_answering_a_round_wider_than_80_bits_is_only_unreadable(deployment, which, field):
    """A feed whose round id (or answeredInRound) does not fit AggregatorV3's uint80
    is a failed reading, never a revert: accrual logs it and keeps its samples, a
    flat account withdraws, a trade names the feed, and the owner pauses, changes
    the max age and replaces the oracles while it answers so."""
    d = deployment
    long, short, flat = named("long", "short", "flat")
    for account in (long, short, flat):
        fund_and_deposit(d, account, 10_000)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    answers = {"index": INDEX // 10**10, "mark": MARK // 10**10}
    with boa.env.prank(d.owner):
        wide = (WIDE_ROUND_ORACLE.deploy(), WideRoundFeed())
    now = d.model.now
    set_round(*wide, 1, answers[which], now, 1)
    feeds = {
        "index": (d.index_oracle, d.model.index_feed),
        "mark": (d.mark_oracle, d.model.mark_feed),
    }
    feeds[which] = wide
    set_oracles(d, feeds["index"], feeds["mark"])
    in_step(d, long, short, flat)

    d.advance(60)
    wide_round = 2**ROUND_BITS
    if field == "round id":
        set_round(*wide, wide_round, answers[which], d.model.now, wide_round)
    else:
        set_round(*wide, 2, answers[which], d.model.now, wide_round)
    d.submit(**{f"{other}_answer": answers[other] for other in answers if other != which})
    call(d, KEEPER, "accrue")
    (accrued,) = events("Accrued")
    assert getattr(accrued, f"{which}_status") == FEED_CALL_FAILED
    assert getattr(accrued, f"{which}_round") == 0
    call(d, flat, "withdraw", 10_000 * USD)
    reject(
        d,
        d.operator,
        "trade",
        long,
        short,
        WAD,
        MARK,
        reason=f"price_feed: {which} feed unreadable",
        accounts=(long, short, flat),
    )
    for function, *args in (("pause",), ("set_max_age", 600), ("unpause",)):
        d.advance(60)  # each accrues, reading the wide feed
        call(d, d.owner, function, *args)
    fresh = {}
    for name, answer in answers.items():
        with boa.env.prank(d.owner):
            oracle = ORACLE.deploy(8, name, d.feeder)
        oracle.submit(answer, sender=d.feeder)
        fresh[name] = (oracle, MockFeed(8))
        fresh[name][1].submit(answer, d.model.now)
    set_oracles(d, fresh["index"], fresh["mark"])
    in_step(d, long, short, flat)
    books(d, long, short, flat)


# ---------------------------------------------------------------- the liquidation fee


@pytest.mark.parametrize(
    "price, left, fee, shortfall",
    [
        (46_000, 1_950 * WAD, 230 * WAD, None),  # the whole fee: 0.5 % of 46,000
        (44_150, 100 * WAD, 100 * WAD, None),  # capped at the 100 left
        (44_000, -50 * WAD, 0, 50 * WAD),  # nothing left: no fee, the shortfall alone
    ],
)
def test_the_liquidation_fee_is_at_most_the_margin_left(deployment, price, left, fee, shortfall):
    """The liquidator is paid out of what the liquidated account has left after the
    close, never out of the waterfall: a fee never creates or deepens a shortfall."""
    d = deployment
    long, short = named("long", "short")
    fund_and_deposit(d, long, 6_000)
    fund_and_deposit(d, short, 20_000)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    move(d, price)
    assert value(d, long, price) == left
    (_, (paid, cover)) = call(d, KEEPER, "liquidate", long)
    (liquidated,) = events("Liquidated")
    assert paid == liquidated.fee == fee == d.market.accounts(KEEPER)[0]
    assert wad_mul_down(price * WAD, d.model.risk.liquidation_fee) >= fee
    assert (cover and cover[0]) == shortfall
    assert d.market.accounts(long)[:2] == (max(left - fee, 0), 0)
    in_step(d, long, short)
    books(d, long, short)


# ---------------------------------------------------------------- unwind_insurance


def test_unwind_insurance_moves_the_insurance_position_at_the_index(deployment):
    """Anyone takes part of the insurance account's position at the index price,
    with the initial margin if its exposure grows, and only up to that position;
    a short reduces by taking the rest while the market is paused."""
    d = deployment
    long, short, taker, poor = named("long", "short", "taker", "poor")
    fund_and_deposit(d, long, 6_000)
    fund_and_deposit(d, short, 20_000)
    fund_and_deposit(d, taker, 20_000)
    fund_and_deposit(d, poor, 100)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    accounts = (long, short, taker, poor)
    reject(d, taker, "unwind_insurance", WAD, reason=NO_INSURANCE_POSITION, accounts=accounts)
    move(d, 46_000)
    call(d, KEEPER, "liquidate", long)  # the insurance account is long 1, worth 0
    insurance = d.market.address
    reject(d, taker, "unwind_insurance", WAD + 1, reason=SIZE_ABOVE_INSURANCE, accounts=accounts)
    reject(d, poor, "unwind_insurance", WAD // 2, reason=CALLER_UNDER_WATER, accounts=accounts)

    call(d, taker, "unwind_insurance", WAD // 2)
    (unwound,) = events("InsuranceUnwound")
    assert (unwound.account, unwound.size, unwound.price) == (taker, WAD // 2, 46_000 * WAD)
    assert d.market.accounts(taker)[:2] == (-3_000 * WAD, WAD // 2)  # 20,000 - 23,000
    assert d.market.accounts(insurance)[1] == WAD // 2
    call(d, d.owner, "pause")
    call(d, short, "unwind_insurance", WAD // 2)  # the short buys: it reduces
    assert d.market.accounts(insurance)[1] == 0
    assert d.market.accounts(short)[1] == -WAD // 2
    reject(d, taker, "unwind_insurance", 1, reason=NO_INSURANCE_POSITION, accounts=accounts)
    in_step(d, *accounts)
    books(d, *accounts)


# ---------------------------------------------------------------- bad debt


@dataclass
class BadDebt:
    """After the stage: 450 of bad debt, three flat bystanders (10,000, 20,000 and
    30,000 of margin), 59,550 held: the haircut is 0.9925."""

    d: object
    accounts: tuple

    HELD = 59_550 * WAD
    BAD_DEBT = 450 * WAD
    HAIRCUT = 59_550 * WAD * WAD // (60_000 * WAD)
    MARGINS = (10_000, 20_000, 30_000)


@pytest.fixture
def bad_debt(deployment):
    """A long (5,100) buys 1 from a short (5,100) at 50,050; the price gaps to
    40,000. Before the long is liquidated the short closes against a newcomer
    (4,500 of margin) and takes its 15,150 out. The long's 4,950 shortfall then
    goes to the newcomer, the only short left, which is 450 under water; its own
    liquidation leaves the insurance account flat and no long to charge: 450 of
    bad debt."""
    d = deployment
    long, short, newcomer = named("long", "short", "newcomer")
    fund_and_deposit(d, long, 5_100)
    fund_and_deposit(d, short, 5_100)
    for bystander, usd in zip(BYSTANDERS, BadDebt.MARGINS, strict=True):
        fund_and_deposit(d, bystander, usd)
    fund_and_deposit(d, newcomer, 4_500)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    move(d, 40_000)
    call(d, d.operator, "trade", short, newcomer, WAD, 40_000 * WAD)
    call(d, short, "withdraw", 15_150 * USD)
    (_, (_, cover)) = call(d, KEEPER, "liquidate", long)
    assert cover == (4_950 * WAD, 0, 4_950 * WAD, 0, 4_950 * WAD)
    (_, (_, cover)) = call(d, KEEPER, "liquidate", newcomer)
    assert cover == (450 * WAD, 0, 0, 450 * WAD, 0)
    (event,) = events("ShortfallCovered")
    assert event.unbacked == BadDebt.BAD_DEBT
    stage = BadDebt(d, (long, short, newcomer, *BYSTANDERS))
    assert d.market.bad_debt() == BadDebt.BAD_DEBT
    assert d.market.total_collateral() == BadDebt.HELD
    assert d.market.haircut() == BadDebt.HAIRCUT == 992_500_000_000_000_000
    in_step(d, *stage.accounts)
    books(d, *stage.accounts)
    return stage


def test_bad_debt_is_shared_by_a_frozen_haircut_whatever_the_order(bad_debt):
    """Each bystander takes out floor(margin * haircut) and not one unit more, in
    either order; each withdrawal pays its share of the bad debt down, so the last
    one leaves the market with no collateral, no bad debt and no margin."""
    d, s = bad_debt.d, bad_debt
    got = []
    for order in (BYSTANDERS, BYSTANDERS[::-1]):
        with rolled_back(d.model):
            amounts = {}
            for account in order:
                margin = d.market.accounts(account)[0]
                amount = margin * s.HAIRCUT // WAD // SCALE
                call(d, account, "withdraw", amount)
                # Not one unit more: its margin is spent (the last one finds the market empty).
                reason = EXCEEDS_MARGIN if d.market.total_collateral() else NOT_HELD
                reject(d, account, "withdraw", 1, reason=reason, accounts=s.accounts)
                amounts[account] = amount
                assert d.market.haircut() in (s.HAIRCUT, WAD)  # frozen until repaid
            assert d.market.total_collateral() == d.market.bad_debt() == 0
            assert all(d.market.accounts(a)[0] == 0 for a in BYSTANDERS)
            in_step(d, *s.accounts)
            books(d, *s.accounts)
            got.append(amounts)
    assert (
        got[0]
        == got[1]
        == {a: usd * 9_925 // 10_000 * USD for a, usd in zip(BYSTANDERS, s.MARGINS, strict=True)}
    )


def test_deposits_and_growing_trades_wait_while_there_is_bad_debt(bad_debt):
    """No one may deposit into a market with bad debt (its deposit would pay for
    a loss it had no part in), nor grow its exposure."""
    d, s = bad_debt.d, bad_debt
    first, second = BYSTANDERS[:2]
    d.fund(first, 1_000 * USD)
    reject(d, first, "deposit", 1_000 * USD, reason=DEPOSITS_CLOSED, accounts=s.accounts)
    reject(
        d,
        d.operator,
        "trade",
        first,
        second,
        WAD // 10,
        40_000 * WAD,
        reason=REDUCE_ONLY,
        accounts=s.accounts,
    )


def test_funding_the_insurance_pays_bad_debt_down_first(bad_debt):
    """Insurance funding repays bad debt before it adds to the insurance margin and
    freezes the haircut anew; once it is repaid, deposits reopen and every bystander
    takes out its whole margin."""
    d, s = bad_debt.d, bad_debt
    d.fund(FUNDER, 500 * USD)
    call(d, FUNDER, "fund_insurance", 200 * USD)
    assert d.market.bad_debt() == 250 * WAD
    assert d.market.accounts(d.market.address)[0] == 0
    assert d.market.haircut() == 59_750 * WAD * WAD // (60_000 * WAD)
    call(d, FUNDER, "fund_insurance", 300 * USD)
    assert d.market.bad_debt() == 0 and d.market.haircut() == WAD
    assert d.market.accounts(d.market.address)[0] == 50 * WAD
    d.fund(BYSTANDERS[0], 1_000 * USD)
    call(d, BYSTANDERS[0], "deposit", 1_000 * USD)
    for account, usd in zip(BYSTANDERS, (11_000, 20_000, 30_000), strict=True):
        call(d, account, "withdraw", usd * USD)
    in_step(d, *s.accounts, FUNDER)
    books(d, *s.accounts, FUNDER)


# ---------------------------------------------------------------- the hedged gap attack


START_PRICE = 50_000  # the fixture's index: the attacker trades with itself there
INSURANCE_FUND = 100_000  # USD, when the insurance is funded
TAKER_MARGIN = 1_000_000  # enough for 10 base at 75,000 and 100 % initial margin
BYSTANDER_DEPOSIT = 10_000


@examples("stateful")
@given(
    initial_bps=st.integers(100, 10_000),
    gap_bps=st.integers(-5_000, 5_000).filter(bool),
    extra_bps=st.integers(0, 10_000),
    size=st.integers(WAD // 100, 10 * WAD),
    insured=st.booleans(),
)
def test_the_hedged_gap_attack_never_pays(
    _deployment_module, initial_bps, gap_bps, extra_bps, size, insured
):
    """An attacker owns a long and a short that trade with each other at the index
    with the initial margin (plus `extra`), at 1 %..100 % of it. Both feeds gap by
    -50 %..+50 % in one block; its winner withdraws all it can, its third account
    liquidates the loser if it can, the winner closes against a taker at the new
    price, and all three take out all they can. The attack never makes more than
    the insurance fund lost (nothing when it is empty), there is never bad debt,
    and a bystander always gets its whole deposit back."""
    d = _deployment_module
    with rolled_back(d.model):
        initial = initial_bps * 10**14
        maintenance = max(initial // 2, HALF_PERCENT)
        set_risk(d, initial, maintenance, min(HALF_PERCENT, maintenance))
        required = margin_required(size, INDEX, initial)
        deposit = (required + required * extra_bps // 10_000) // SCALE + 1
        for account in (ATTACKER_LONG, ATTACKER_SHORT):
            d.fund(account, deposit)
            call(d, account, "deposit", deposit)
        bystander = BYSTANDERS[0]
        fund_and_deposit(d, bystander, BYSTANDER_DEPOSIT)
        fund_and_deposit(d, TAKER, TAKER_MARGIN)
        fund = INSURANCE_FUND * USD if insured else 0
        if fund:
            d.fund(FUNDER, fund)
            call(d, FUNDER, "fund_insurance", fund)
        call(d, d.operator, "trade", ATTACKER_LONG, ATTACKER_SHORT, size, INDEX)

        new = START_PRICE * (10_000 + gap_bps) // 10_000
        move(d, new)
        price = new * WAD
        winner, loser = (
            (ATTACKER_SHORT, ATTACKER_LONG) if gap_bps < 0 else (ATTACKER_LONG, ATTACKER_SHORT)
        )
        withdrawn = withdraw_most(d, winner)
        if liquidatable(d.model, loser, price):
            call(d, ATTACKER_KEEPER, "liquidate", loser)
        if gap_bps < 0:
            call(d, d.operator, "trade", winner, TAKER, size, price)
        else:
            call(d, d.operator, "trade", TAKER, winner, size, price)
        for account in (winner, loser, ATTACKER_KEEPER):
            withdrawn += withdraw_most(d, account)

        profit = (withdrawn - 2 * deposit) * SCALE
        insurance_paid = fund * SCALE - value(d, d.market.address, new)
        assert profit <= max(insurance_paid, 0)
        assert d.market.bad_debt() == 0
        call(d, bystander, "withdraw", BYSTANDER_DEPOSIT * USD)
        accounts = (ATTACKER_LONG, ATTACKER_SHORT, bystander, TAKER, FUNDER)
        in_step(d, *accounts)
        books(d, *accounts)
