"""Adversarial review: pool mode, the pause and the roles.

A vault market (every trade is against the vault) attacked through the vault's
relaxed check (when the trader reduces, the vault needs only a value of zero, not
the initial margin; since finding A the vault is margined on the traders' gross
book instead), through the vault's liquidation and `unwind_insurance`, and
through the pause table (paused, and while there is bad debt). Then what the owner
and the operator can do to an account's money with the new functions. Every call is
made on the contract and on the reference (fundingkit.market), which must stay in
step; the books (tokens held, conservation with bad debt, zero-sum positions) are
checked at the end of each scenario.

The two findings of this review (A: a coalition drained the vault; B: a trader was
trapped once a flat vault took its liquidity out) are fixed; their tests assert the
safe behaviour, and SECURITY.md §6 names them.
"""

import boa
import pytest
from conftest import deploy, rolled_back
from test_market_unit import INDEX, MARK, USD, WAD, call, fund_and_deposit, reject
from test_solvency import books, in_step, liquidatable, move, withdraw_most

from fundingkit.market import Rejected

REDUCE_ONLY = "market: only trades that reduce (paused or bad debt)"
DEPOSITS_CLOSED = "market: deposits closed while bad debt is shared"
BELOW_INITIAL = "market: withdrawal leaves margin below initial"
BUYER_UNDER_WATER = "market: buyer below initial margin or under water"
SELLER_UNDER_WATER = "market: seller below initial margin or under water"
CALLER_UNDER_WATER = "market: caller below initial margin or under water"
NOT_OPERATOR = "market: caller is not the operator"
POOL_ONLY = "market: in pool mode every trade is against the vault"
ABOVE_MAINTENANCE = "market: account is above maintenance margin"
NO_INSURANCE_POSITION = "market: the insurance account has no position"

VAULT = boa.env.generate_address("pool pause vault")
ALICE = boa.env.generate_address("pool pause alice")
BOB = boa.env.generate_address("pool pause bob")
CAROL = boa.env.generate_address("pool pause carol")
DAVE = boa.env.generate_address("pool pause dave")
KEEPER = boa.env.generate_address("pool pause keeper")
BYSTANDER = boa.env.generate_address("pool pause bystander")  # deposits, never trades
EVERYONE = (VAULT, ALICE, BOB, CAROL, DAVE, KEEPER, BYSTANDER)

VAULT_USD = 100_000
BYSTANDER_USD = 10_000
# Default risk parameters: 10 % initial, 5 % maintenance, 1 % band, 0.5 % fee.
DEFAULT_FEE = 5 * 10**15


@pytest.fixture(scope="module")
def _pool():
    with boa.env.anchor():
        d = deploy(vault=VAULT)
        fund_and_deposit(d, VAULT, VAULT_USD)
        fund_and_deposit(d, BYSTANDER, BYSTANDER_USD)
        yield d


@pytest.fixture
def pool(_pool):
    """A pool of 100,000 (IM for 20 base at 50,000) and a bystander's 10,000."""
    with rolled_back(_pool.model):
        yield _pool


def refused(d, caller, name, *args) -> bool:
    """Makes the call on both; True (and nothing changed on either) when the
    contract refuses it. The reference must agree on whether it is refused."""
    try:
        getattr(d.market, name)(*args, sender=caller)
    except boa.BoaError:
        with pytest.raises(Rejected):
            getattr(d.model, name)(*(args if name in ("accrue", "settle") else (caller, *args)))
        return True
    getattr(d.model, name)(*(args if name in ("accrue", "settle") else (caller, *args)))
    return False


def close_all(d):
    """Every account leaves as far as it can: positions the insurance holds are
    unwound by the trader on the other side, then everyone withdraws all it may.
    Returns each account's wallet."""
    insurance = d.market.address
    for account in (ALICE, BOB, CAROL, DAVE):
        held = d.market.accounts(insurance)[1]
        mine = d.market.accounts(account)[1]
        if held and mine and (held > 0) != (mine > 0):
            refused(d, account, "unwind_insurance", min(abs(held), abs(mine)))
    for account in EVERYONE:
        withdraw_most(d, account)
    return {a: d.token.balanceOf(a) for a in EVERYONE}


# ---------------------------------------------------------------- finding A: vault drain


ROUND = 19 * WAD  # the vault (100,000) holds the initial margin for 19 base at 50,000


@pytest.mark.parametrize("paused", [False, True], ids=["open", "paused"])
def test_a_coalition_cannot_build_a_gross_book_the_vault_has_not_margined(pool, paused):
    """Finding A (fixed). The attack was: Alice buys 19 from the vault and Bob sells
    it 19, 22 times, the vault never holding more than 19 base; then Bob closes his
    418, the vault (which needed only a value of zero as Bob reduced) goes short
    418 on 100,000 of margin, and the coalition's keeper liquidates it for its
    whole margin as the fee: coalition +100,000, the vault's provider -100,000.
    Now the vault is margined on the traders' gross book whenever a trader grows:
    the first round (gross 19) passes, the second (gross 38, 190,000 of initial
    margin) is refused; Bob's close (paused or not) leaves the vault short 19, for
    which it is margined; nothing is liquidatable, the keeper earns nothing and the
    coalition gets back what it put in."""
    d = pool
    fund_and_deposit(d, ALICE, 2_200_000)
    fund_and_deposit(d, BOB, 2_200_000)
    call(d, d.operator, "trade", ALICE, VAULT, ROUND, INDEX)
    call(d, d.operator, "trade", VAULT, BOB, ROUND, INDEX)
    reject(
        d,
        d.operator,
        "trade",
        ALICE,
        VAULT,
        ROUND,
        INDEX,
        reason=SELLER_UNDER_WATER,
        accounts=EVERYONE,
    )
    if paused:
        call(d, d.owner, "pause")
    call(d, d.operator, "trade", BOB, VAULT, ROUND, INDEX)  # Bob closes
    assert d.market.accounts(VAULT)[1] == -ROUND
    assert not liquidatable(d.model, VAULT, INDEX)
    refused(d, KEEPER, "liquidate", VAULT)
    call(d, d.operator, "trade", VAULT, ALICE, ROUND, INDEX)  # and Alice
    wallets = close_all(d)
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)
    assert wallets[BYSTANDER] == BYSTANDER_USD * USD
    coalition = sum(wallets[a] for a in (ALICE, BOB, KEEPER)) - 2 * 2_200_000 * USD
    assert (wallets[KEEPER], coalition) == (0, 0)


def test_the_vault_needs_the_initial_margin_when_a_trader_grows_its_exposure(pool):
    """The defence the drain goes around: a single trader cannot give the vault
    more than it margins. Alice asking for 21 base (the vault would need 105,000)
    is refused; 19 is accepted; the bystander is untouched."""
    d = pool
    fund_and_deposit(d, ALICE, 200_000)
    reject(
        d,
        d.operator,
        "trade",
        ALICE,
        VAULT,
        21 * WAD,
        INDEX,
        reason=SELLER_UNDER_WATER,
        accounts=(ALICE, VAULT),
    )
    call(d, d.operator, "trade", ALICE, VAULT, ROUND, INDEX)
    assert not liquidatable(d.model, VAULT, INDEX)
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


# ---------------------------------------------------------------- finding B: a trader trapped

NARROW_BAND = 10**15  # 0.1 %, the smallest band
PREMIUM_MARK = 50_100  # a 0.2 % premium: the index lies outside the narrow band


def balanced_book_then_lp_leaves(d):
    """Alice long 1, Bob short 1, both against the vault, which is flat; its
    liquidity provider takes out all it may. Then the band is narrowed to 0.1 % and
    the perp trades at a 0.2 % premium."""
    fund_and_deposit(d, ALICE, 20_000)
    fund_and_deposit(d, BOB, 20_000)
    call(d, d.operator, "trade", ALICE, VAULT, WAD, INDEX)
    call(d, d.operator, "trade", VAULT, BOB, WAD, INDEX)
    withdraw_most(d, VAULT)
    call(d, d.owner, "set_risk_parameters", 10**17, 5 * 10**16, NARROW_BAND, DEFAULT_FEE, 0)
    d.submit(50_000 * 10**8, PREMIUM_MARK * 10**8)


def test_a_flat_vault_keeps_the_initial_margin_of_its_traders_gross_book(pool):
    """Finding B (fixed). A flat vault used to withdraw everything while its traders
    held a gross book. Now its withdrawal keeps the initial margin on that book:
    with Alice long 1 and Bob short 1 it keeps exactly 5,000 (10 % of 50,000), and
    one token more is refused."""
    d = pool
    balanced_book_then_lp_leaves(d)
    assert d.market.accounts(VAULT)[:2] == (5_000 * WAD, 0)
    reject(
        d,
        VAULT,
        "withdraw",
        1,
        reason="market: withdrawal leaves margin below initial",
        accounts=EVERYONE,
    )
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


def test_a_trader_can_close_after_the_flat_vault_took_its_liquidity_out(pool):
    """MATH §17: a trader can always close. Alice, long 1, sells to the vault at the
    lowest in-band price, 50,100 * 0.999 = 50,049.9, 49.9 above the index: the
    vault kept the margin of the gross book, so it stays above zero and the close
    goes through (before the fix it had nothing, went under water, and the trade
    was refused). The bystander keeps its 10,000."""
    d = pool
    balanced_book_then_lp_leaves(d)
    low = PREMIUM_MARK * WAD - PREMIUM_MARK * WAD * NARROW_BAND // WAD
    call(d, d.operator, "trade", VAULT, ALICE, WAD, low)
    assert d.market.accounts(ALICE)[1] == 0
    wallets = close_all(d)
    assert wallets[BYSTANDER] == BYSTANDER_USD * USD
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


# ---------------------------------------------------------------- the vault liquidated


def test_two_sided_traders_both_close_after_the_vault_is_liquidated(pool):
    """Alice buys 20 from the vault, Bob sells it 10: the vault is short 10, with the
    initial margin on the traders' gross book (20). At 60,000 it is worth nothing
    and liquidated (no fee is left to pay, no shortfall). Alice takes the insurance
    account's short 10; her other 10 she sells to the empty vault at the index (the
    vault, growing only as she reduces, stays worth 0); then Bob closes by buying
    those 10 back. Everyone is flat, the bystander keeps its 10,000, no bad debt,
    the books balance."""
    d = pool
    fund_and_deposit(d, ALICE, 500_000)
    fund_and_deposit(d, BOB, 200_000)
    call(d, d.operator, "trade", ALICE, VAULT, 20 * WAD, INDEX)
    call(d, d.operator, "trade", VAULT, BOB, 10 * WAD, INDEX)
    move(d, 60_000)
    call(d, KEEPER, "liquidate", VAULT)
    assert d.market.accounts(VAULT)[:2] == (0, 0)
    assert d.market.accounts(d.market.address)[1] == -10 * WAD
    call(d, ALICE, "unwind_insurance", 10 * WAD)
    call(d, d.operator, "trade", VAULT, ALICE, 10 * WAD, 60_000 * WAD)
    call(d, d.operator, "trade", BOB, VAULT, 10 * WAD, 60_000 * WAD)
    for account in (VAULT, ALICE, BOB, d.market.address):
        assert d.market.accounts(account)[1] == 0
    wallets = close_all(d)
    assert wallets[BYSTANDER] == BYSTANDER_USD * USD
    assert d.market.bad_debt() == 0
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


# ---------------------------------------------------------------- the vault's principal


def test_the_vault_takes_out_its_spread_only_once_flat(pool):
    """Alice buys 10 at the mark (50,050): the vault, short 10, made 500 of
    spread over the index. With the position open it may withdraw down to the
    initial margin counted on its principal (100,000), never its spread:
    50,000 + 1 token is refused, 50,000 goes. Once Alice closes at the index the
    vault is flat and takes out the rest, spread included."""
    d = pool
    fund_and_deposit(d, ALICE, 60_000)
    call(d, d.operator, "trade", ALICE, VAULT, 10 * WAD, MARK)
    assert d.market.principal(VAULT) == VAULT_USD * WAD
    reject(d, VAULT, "withdraw", 50_000 * USD + 1, reason=BELOW_INITIAL, accounts=(VAULT,))
    call(d, VAULT, "withdraw", 50_000 * USD)
    assert d.market.principal(VAULT) == 50_000 * WAD
    call(d, d.operator, "trade", VAULT, ALICE, 10 * WAD, INDEX)
    wallets = close_all(d)
    assert wallets[VAULT] == (VAULT_USD + 500) * USD
    assert wallets[ALICE] == (60_000 - 500) * USD
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


# ---------------------------------------------------------------- the pause table in pool mode


@pytest.fixture
def paused_pool(pool):
    """Alice long 2 and Bob short 1 against the vault (short 1), Carol flat with
    margin; then paused."""
    d = pool
    fund_and_deposit(d, ALICE, 20_000)
    fund_and_deposit(d, BOB, 20_000)
    fund_and_deposit(d, CAROL, 20_000)
    call(d, d.operator, "trade", ALICE, VAULT, 2 * WAD, INDEX)
    call(d, d.operator, "trade", VAULT, BOB, WAD, INDEX)
    call(d, d.owner, "pause")
    return d


@pytest.mark.parametrize(
    "buyer, seller, size",
    [
        (ALICE, VAULT, WAD // 10),  # Alice grows her long
        (VAULT, ALICE, 3 * WAD),  # Alice flips to short 1
        (VAULT, BOB, WAD // 10),  # Bob grows his short
        (BOB, VAULT, 2 * WAD),  # Bob flips to long 1
        (CAROL, VAULT, WAD // 10),  # Carol opens
        (VAULT, CAROL, WAD // 10),
    ],
    ids=["grow long", "flip long", "grow short", "flip short", "open long", "open short"],
)
def test_nothing_that_grows_a_trader_slips_through_a_pause(paused_pool, buyer, seller, size):
    """Paused: growing, flipping and opening are refused whatever the side."""
    d = paused_pool
    reject(
        d,
        d.operator,
        "trade",
        buyer,
        seller,
        size,
        INDEX,
        reason=REDUCE_ONLY,
        accounts=(VAULT, ALICE, BOB, CAROL),
    )


def test_a_paused_pool_lets_traders_add_margin_reduce_and_leave(paused_pool):
    """Paused: Alice adds margin (her principal grows), reduces by 1 (the vault
    reduces), withdraws free margin; the crash to 20,000 makes Alice liquidatable
    and the liquidation goes on; Bob closes (the vault, flat, takes his long-side
    reduction); Carol, flat, leaves with a stale feed. The bystander keeps all."""
    d = paused_pool
    d.fund(ALICE, 5_000 * USD)
    call(d, ALICE, "deposit", 5_000 * USD)
    assert d.market.principal(ALICE) == 25_000 * WAD
    call(d, d.operator, "trade", VAULT, ALICE, WAD, INDEX)
    call(d, ALICE, "withdraw", 1_000 * USD)
    call(d, d.operator, "trade", BOB, VAULT, WAD, INDEX)
    assert d.market.accounts(VAULT)[1] == -WAD and d.market.accounts(BOB)[1] == 0
    move(d, 20_000)
    call(d, KEEPER, "liquidate", ALICE)
    assert d.market.paused() and d.market.accounts(ALICE)[1] == 0
    d.advance(3_601)
    call(d, CAROL, "withdraw", 20_000 * USD)
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


def test_unwinding_while_paused_only_reduces(paused_pool):
    """Paused, the price rises to 160,000: the vault (short 1 on 100,000) is worth
    -10,000 and is liquidated (the insurance account is short 1; Alice, the only
    long, pays the shortfall). Alice reduces to 0.5 against the empty vault.
    Carol (flat) taking the insurance's short, Bob (short) taking it, or Alice
    taking 1 (a flip to short 0.5) is refused; Alice taking 0.5 works."""
    d = paused_pool
    move(d, 160_000)
    call(d, KEEPER, "liquidate", VAULT)
    assert d.market.accounts(d.market.address)[1] == -WAD
    call(d, d.operator, "trade", VAULT, ALICE, 3 * WAD // 2, 160_000 * WAD)
    accounts = (VAULT, ALICE, BOB, CAROL)
    for account, size in ((CAROL, WAD), (BOB, WAD), (ALICE, WAD)):
        reject(d, account, "unwind_insurance", size, reason=REDUCE_ONLY, accounts=accounts)
    call(d, ALICE, "unwind_insurance", WAD // 2)
    assert d.market.accounts(ALICE)[1] == 0
    assert d.market.accounts(d.market.address)[1] == -WAD // 2
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


# ---------------------------------------------------------------- the owner and the operator


def test_the_new_functions_move_only_the_callers_own_money(pool):
    """What the owner and the operator reach through the new functions. Neither can
    trade another's position by `unwind_insurance` (it moves only the caller's own
    account: the operator, with no margin, is refused), liquidate a healthy account,
    or take the insurance fund out (the owner has no margin to withdraw; funding it
    pays the insurance, not the owner). The owner cannot submit trades; the fee of a
    liquidation goes to whoever calls it, from what the liquidated account has left."""
    d = pool
    fund_and_deposit(d, ALICE, 20_000)
    fund_and_deposit(d, BOB, 20_000)
    call(d, d.operator, "trade", ALICE, VAULT, 3 * WAD, INDEX)
    call(d, d.operator, "trade", VAULT, BOB, WAD, INDEX)
    accounts = (VAULT, ALICE, BOB, d.owner, d.operator)
    reject(d, d.owner, "trade", ALICE, VAULT, WAD, INDEX, reason=NOT_OPERATOR, accounts=accounts)
    reject(d, d.operator, "trade", ALICE, BOB, WAD, INDEX, reason=POOL_ONLY, accounts=accounts)
    reject(d, d.operator, "liquidate", ALICE, reason=ABOVE_MAINTENANCE, accounts=accounts)
    d.fund(d.owner, 1_000 * USD)
    call(d, d.owner, "fund_insurance", 1_000 * USD)
    reject(d, d.owner, "withdraw", 1, reason="market: amount exceeds margin", accounts=accounts)
    move(d, 44_000)  # Alice (long 3 on 20,000) is below maintenance
    _, (fee, _) = call(d, d.operator, "liquidate", ALICE)
    assert fee == d.market.accounts(d.operator)[0] == 3 * 44_000 * WAD * DEFAULT_FEE // WAD
    held = d.market.accounts(d.market.address)[1]
    assert held == 3 * WAD
    reject(d, d.operator, "unwind_insurance", WAD, reason=CALLER_UNDER_WATER, accounts=accounts)
    call(d, d.owner, "pause")
    reject(d, d.operator, "unwind_insurance", WAD, reason=REDUCE_ONLY, accounts=accounts)
    call(d, BOB, "unwind_insurance", WAD)  # Bob, short 1, reduces
    assert d.market.accounts(BOB)[1] == 0
    in_step(d, *EVERYONE, d.owner, d.operator)
    books(d, *EVERYONE, d.owner, d.operator)


# ---------------------------------------------------------------- bad debt in pool mode


@pytest.fixture
def pool_bad_debt(pool):
    """Alice buys 20 from the vault at 50,000 (the vault at its initial margin),
    Bob sells it 20 (the vault flat). The price gaps to 35,000; Bob buys 19 back
    from the vault before Alice is liquidated (the vault, growing as he reduces,
    needs only a value of zero). Alice's 198,000 shortfall goes to the shorts
    (the vault 19, Bob 1): the vault is worth -88,100 and its liquidation leaves
    the insurance long 1 with no long to charge: 88,100 of bad debt."""
    d = pool
    fund_and_deposit(d, ALICE, 102_000)
    fund_and_deposit(d, BOB, 110_000)
    fund_and_deposit(d, CAROL, 20_000)
    call(d, d.operator, "trade", ALICE, VAULT, 20 * WAD, INDEX)
    call(d, d.operator, "trade", VAULT, BOB, 20 * WAD, INDEX)
    move(d, 35_000)
    call(d, d.operator, "trade", BOB, VAULT, 19 * WAD, 35_000 * WAD)
    call(d, KEEPER, "liquidate", ALICE)
    call(d, KEEPER, "liquidate", VAULT)
    assert d.market.bad_debt() == 88_100 * WAD
    assert d.market.accounts(d.market.address)[1] == WAD
    assert d.market.accounts(BOB)[1] == -WAD
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)
    return d


def test_with_bad_debt_nothing_grows_a_trader_and_the_short_still_closes(pool_bad_debt):
    """With bad debt: deposits are closed (for a trader too: it can only reduce);
    Carol opening, Bob growing or flipping against the vault, Carol taking the
    insurance's long are refused. Bob closes by taking the insurance's long at the
    index; the bystander then takes out floor(10,000 * haircut), no more."""
    d = pool_bad_debt
    accounts = (VAULT, ALICE, BOB, CAROL)
    d.fund(BOB, 1_000 * USD)
    reject(d, BOB, "deposit", 1_000 * USD, reason=DEPOSITS_CLOSED, accounts=accounts)
    for buyer, seller, size in ((CAROL, VAULT, WAD), (VAULT, BOB, WAD), (BOB, VAULT, 2 * WAD)):
        reject(
            d,
            d.operator,
            "trade",
            buyer,
            seller,
            size,
            35_000 * WAD,
            reason=REDUCE_ONLY,
            accounts=accounts,
        )
    reject(d, CAROL, "unwind_insurance", WAD, reason=REDUCE_ONLY, accounts=accounts)
    call(d, BOB, "unwind_insurance", WAD)
    assert d.market.accounts(BOB)[1] == 0 == d.market.accounts(d.market.address)[1]
    haircut = d.market.haircut()
    assert withdraw_most(d, BYSTANDER) == BYSTANDER_USD * USD * haircut // WAD
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)


def test_with_bad_debt_the_vault_exception_still_grows_the_vault(pool_bad_debt):
    """A reducing trader needs the vault only to stay worth zero, also with bad debt
    and after the vault was liquidated: Bob closes his short against the empty
    vault (worth 0, it goes short 1 at the index), the mirror of the insurance
    account's long. Pinned as designed: a trader can always close; the vault's new
    short is then exposed like any account's and liquidated like one."""
    d = pool_bad_debt
    call(d, d.operator, "trade", BOB, VAULT, WAD, 35_000 * WAD)
    assert d.market.accounts(VAULT)[1] == -WAD
    in_step(d, *EVERYONE)
    books(d, *EVERYONE)
