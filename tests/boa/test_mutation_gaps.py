"""Edges that a mutation run found untested: each test here fails on the mutant
named in its docstring (docs/TESTING.md, "Mutation testing"). Every call is made
on the contract and the reference, which must stay in step."""

from dataclasses import replace

import boa
from deployers import NO_RETURN_TOKEN
from test_boundaries import LARGEST_DEPOSIT, POSITION_LIMIT
from test_liquidation import KEEPER, NOT_LIQUIDATABLE, books, in_step
from test_market_unit import (
    MARK,
    SCALE,
    USD,
    WAD,
    assert_in_step,
    build_model,
    call,
    deploy_market,
    fund_and_deposit,
    reject,
)

from fundingkit.market import MAX_POSITION, margin_required

# ---------------------------------------------------------------- liquidation threshold

INDEX_AFTER = 42_000 * 10**8  # the index answer the long is valued at


def long_at_the_requirement(d, buyer, seller, wei_below: int) -> None:
    """`buyer` long 1 base whose value at INDEX_AFTER is its maintenance
    requirement less `wei_below`. With 1 base the notional is the price itself
    and the trade price sets the margin to the wei:
        value = deposit - trade price + index price."""
    price = INDEX_AFTER * 10**10
    required = margin_required(WAD, price, d.model.risk.maintenance_margin_ratio)
    deposit = 10_000 * USD
    trade_price = deposit * SCALE + price - required + wei_below  # within the band of MARK
    fund_and_deposit(d, buyer, 10_000)
    fund_and_deposit(d, seller, 10_000)
    call(d, d.operator, "trade", buyer, seller, WAD, trade_price)
    d.submit(index_answer=INDEX_AFTER, mark_answer=INDEX_AFTER)  # same block: no funding
    value = d.model._value(d.model.account(buyer), price)
    assert value == required - wei_below
    assert d.market.accounts(buyer)[0] == d.model.account(buyer).margin


def test_an_account_exactly_at_maintenance_is_not_liquidatable(deployment, trader, counterparty):
    """Kills `value < required` -> `value <= required` in FundingMarket.liquidate
    and in the reference's liquidate."""
    d = deployment
    long_at_the_requirement(d, trader, counterparty, wei_below=0)
    reject(d, KEEPER, "liquidate", trader, reason=NOT_LIQUIDATABLE, accounts=(trader,))


def test_one_wei_under_maintenance_is_liquidatable(deployment, trader, counterparty):
    d = deployment
    long_at_the_requirement(d, trader, counterparty, wei_below=1)
    call(d, KEEPER, "liquidate", trader)
    assert d.market.accounts(trader)[1] == 0
    in_step(d, trader, counterparty, KEEPER)
    books(d, trader, counterparty)


# ---------------------------------------------------------------- a token that returns nothing


def test_a_token_whose_transfers_return_no_data_is_collateral(deployment, trader):
    """Deposit, insurance funding and withdrawal through a USDT-like token
    (`transfer` and `transferFrom` return no data). Kills
    `default_return_value=True` -> `False` at each of the market's three
    token calls: the market would then revert decoding a missing bool."""
    with boa.env.prank(deployment.owner):
        token = NO_RETURN_TOKEN.deploy(6)
    market = deploy_market(deployment, token=token)
    model = build_model(deployment, collateral_decimals=6, insurance=market.address)
    d = replace(deployment, token=token, market=market, model=model)
    d.fund(trader, 1_000 * USD)
    call(d, trader, "deposit", 600 * USD)
    call(d, trader, "fund_insurance", 100 * USD)
    assert token.balanceOf(d.market) == 700 * USD
    call(d, trader, "withdraw", 250 * USD)
    assert token.balanceOf(trader) == 550 * USD
    assert token.balanceOf(d.market) * SCALE == d.market.total_collateral()
    assert_in_step(d, trader)
    assert d.market.accounts(d.market.address)[0] == d.model.account(d.market.address).margin


# ---------------------------------------------------------------- the position limit


def largest_margins(d, *accounts):
    for account in accounts:
        d.fund(account, LARGEST_DEPOSIT // 2)
        call(d, account, "deposit", LARGEST_DEPOSIT // 2)


def test_one_trade_of_exactly_the_largest_size_is_accepted(deployment, trader, counterparty):
    """Kills `size <= MAX_POSITION` -> `<` (the size check) in the contract and
    the reference."""
    d = deployment
    largest_margins(d, trader, counterparty)
    call(d, d.operator, "trade", trader, counterparty, MAX_POSITION, MARK)
    assert d.market.accounts(trader)[1] == MAX_POSITION
    assert_in_step(d, trader, counterparty)


def test_a_position_grown_to_exactly_the_limit_is_accepted(deployment, trader, counterparty):
    """Two trades below the size limit bring the position to MAX_POSITION: kills
    the position check's `<= limit` -> `< limit` in the contract and the
    reference; one wei more is refused."""
    d = deployment
    largest_margins(d, trader, counterparty)
    first = MAX_POSITION // 3
    call(d, d.operator, "trade", trader, counterparty, first, MARK)
    call(d, d.operator, "trade", trader, counterparty, MAX_POSITION - first, MARK)
    assert d.market.accounts(trader)[1] == MAX_POSITION
    assert d.market.accounts(counterparty)[1] == -MAX_POSITION
    reject(
        d,
        d.operator,
        "trade",
        trader,
        counterparty,
        1,
        MARK,
        reason=POSITION_LIMIT,
        accounts=(trader, counterparty),
    )
    assert_in_step(d, trader, counterparty)
