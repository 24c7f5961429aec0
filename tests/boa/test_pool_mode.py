"""Pool mode: a liquidity vault is the counterparty of every trade. The vault is an
ordinary account of the ledger, so margins, settlement, liquidation, conservation and
zero-sum positions hold exactly as in order-book mode; the skew is the traders' net
position, -(the vault's). Contract and reference in step throughout."""

import boa
import pytest
from conftest import deploy, rolled_back
from test_market_unit import MARK, SCALE, THIRD, USD, WAD, assert_in_step, call, reject

POOL_ONLY = "market: in pool mode every trade is against the vault"
VAULT = boa.env.generate_address("vault")
ALICE = boa.env.generate_address("alice")
BOB = boa.env.generate_address("bob")


@pytest.fixture(scope="module")
def _pool():
    with boa.env.anchor():
        d = deploy(vault=VAULT)
        for account, usd in ((VAULT, 1_000_000), (ALICE, 20_000), (BOB, 20_000)):
            d.fund(account, usd * USD)
            call(d, account, "deposit", usd * USD)
        yield d


@pytest.fixture
def pool(_pool):
    with rolled_back(_pool.model):
        yield _pool


def books(d):
    m = d.market
    accounts = (VAULT, ALICE, BOB, m.address)
    assert d.token.balanceOf(m) * SCALE == m.total_collateral()
    assert m.total_collateral() == sum(m.accounts(a)[0] for a in accounts) + m.surplus()
    assert sum(m.accounts(a)[1] for a in accounts) == 0


def test_the_vault_is_recorded_and_the_skew_starts_at_zero(pool):
    assert pool.market.VAULT() == VAULT
    assert pool.market.skew() == pool.model.skew() == 0


def test_traders_trade_against_the_vault_and_the_skew_is_their_net_position(pool):
    d = pool
    call(d, d.operator, "trade", ALICE, VAULT, THIRD, MARK)  # Alice buys from the pool
    call(d, d.operator, "trade", VAULT, BOB, THIRD // 2, MARK)  # Bob sells to it
    net = d.market.accounts(ALICE)[1] + d.market.accounts(BOB)[1]
    assert d.market.skew() == net == THIRD - THIRD // 2 == -d.market.accounts(VAULT)[1]
    assert d.model.skew() == net
    assert_in_step(d, VAULT, ALICE, BOB)
    books(d)


def test_a_trade_between_two_traders_is_refused_and_nothing_moves(pool):
    d = pool
    reject(
        d,
        d.operator,
        "trade",
        ALICE,
        BOB,
        THIRD,
        MARK,
        reason=POOL_ONLY,
        accounts=(ALICE, BOB, VAULT),
    )


def test_the_vault_receives_the_funding_its_short_earns(pool):
    """The traders lean long, the perp trades at a premium: longs pay, and the vault,
    short the skew, receives it (less the market's rounding), like any short."""
    d = pool
    call(d, d.operator, "trade", ALICE, VAULT, WAD, MARK)
    d.advance(8 * 3_600)
    d.submit(50_000 * 10**8, 50_100 * 10**8)
    d.advance(8 * 3_600)
    paid, _ = call(d, ALICE, "settle", ALICE)
    received, _ = call(d, ALICE, "settle", VAULT)
    assert paid > 0 and -received <= paid and paid + received <= 1
    assert_in_step(d, VAULT, ALICE)
    books(d)


def test_a_trader_under_water_is_liquidated_in_pool_mode_too(pool):
    d = pool
    call(d, d.operator, "trade", ALICE, VAULT, 3 * WAD, MARK)  # 150k notional on 20k
    d.submit(index_answer=44_000 * 10**8, mark_answer=44_000 * 10**8)
    call(d, BOB, "liquidate", ALICE)
    assert d.market.accounts(ALICE)[1] == 0
    assert d.market.accounts(d.market.address)[1] == 3 * WAD  # the insurance holds it now
    assert d.market.skew() == 3 * WAD  # everyone but the vault
    assert_in_step(d, VAULT, ALICE, BOB)
    books(d)


def test_order_book_mode_has_no_vault(deployment):
    assert deployment.market.VAULT() == "0x" + "00" * 20
    assert deployment.market.skew() == 0
