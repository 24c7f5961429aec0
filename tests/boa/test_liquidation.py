"""Insolvency and liquidation: funding beyond margin, liquidate(), the insurance
account, O(1) loss socialisation, and the funding forecast in the margin checks.
Every call is made on the contract and the reference, which must stay in step."""

import boa
import pytest
from test_market_unit import (
    INDEX,
    SCALE,
    THIRD,
    USD,
    WAD,
    assert_in_step,
    call,
    events,
    fund_and_deposit,
    open_position,
    reject,
)

from fundingkit.market import margin_required
from fundingkit.vyper_math import mul_div_ceil, wad_mul_down

NOT_LIQUIDATABLE = "market: account is above maintenance margin"
CRASH = 20_000 * 10**8  # an index answer at which a 1/3 long bought at 50,050 on 10,000 is under


KEEPER = boa.env.generate_address("keeper")  # liquidates; its fees are margin


def liquidator():
    return KEEPER


def books(d, *accounts):
    """Conservation, exactly: the market's tokens == total_collateral, and with the
    bad debt it equals the margins of every account that ever held any (insurance
    included) + surplus."""
    m = d.market
    margins = sum(m.accounts(a)[0] for a in {*accounts, KEEPER, m.address})
    assert d.token.balanceOf(m) * SCALE == m.total_collateral()
    assert m.total_collateral() + m.bad_debt() == margins + m.surplus()
    assert sum(m.accounts(a)[1] for a in {*accounts, m.address}) == 0


def in_step(d, *accounts):
    """The contract and the reference agree on everything, the insurance account included."""
    assert_in_step(d, *accounts)
    insurance = d.model.account(d.market.address)
    expected = (insurance.margin, insurance.position, insurance.index_snapshot)
    assert tuple(d.market.accounts(d.market.address)) == expected


def crash(d, answer=CRASH):
    d.submit(index_answer=answer, mark_answer=answer)


@pytest.fixture
def long_short(deployment, trader, counterparty):
    """trader long 1/3 base at 50,050 on 10,000 USD; counterparty short on 10,000."""
    open_position(deployment, trader, counterparty)
    return trader, counterparty


# ---------------------------------------------------------------- insolvency


def test_funding_beyond_margin_never_blocks_settlement(deployment, trader, counterparty):
    """At the cap for 30 days a thin long owes more than its margin: settlement
    still succeeds, the margin goes negative, and the account is liquidatable."""
    d = deployment
    open_position(d, trader, counterparty, buyer_usd=2_000)
    d.submit(index_answer=50_000 * 10**8, mark_answer=60_000 * 10**8)  # +20 %: rate at the cap
    for _ in range(30):
        d.advance(86_400)
        d.submit(index_answer=50_000 * 10**8, mark_answer=60_000 * 10**8)
        call(d, trader, "settle", trader)
    assert d.market.accounts(trader)[0] < 0
    assert d.model.account(trader).margin == d.market.accounts(trader)[0]
    call(d, liquidator(), "liquidate", trader)
    assert d.market.accounts(trader)[1] == 0
    in_step(d, trader, counterparty)
    books(d, trader, counterparty)


# ---------------------------------------------------------------- liquidate


def test_liquidation_moves_the_position_to_insurance_at_the_index_price(deployment, long_short):
    d, (trader, counterparty) = deployment, long_short
    keeper = boa.env.generate_address("another keeper")
    d.advance(600)
    crash(d, 21_000 * 10**8)
    price = 21_000 * WAD
    margin_before = d.model.account(trader).margin
    (_, (fee, cover)) = call(d, keeper, "liquidate", trader)
    (settled,) = [e for e in events("FundingSettled") if e.account == trader]

    notional = wad_mul_down(THIRD, price)
    assert fee == wad_mul_down(notional, d.model.risk.liquidation_fee) > 0
    assert d.market.accounts(d.market.address)[1] == THIRD  # insurance holds the long
    assert d.market.accounts(trader)[1] == 0
    assert d.market.accounts(keeper)[0] == fee  # the fee is margin the keeper can withdraw
    (liquidated,) = events("Liquidated")
    assert (liquidated.account, liquidated.liquidator) == (trader, keeper)
    assert (liquidated.position, liquidated.price, liquidated.fee) == (THIRD, price, fee)
    # funding up to now, then the sale at the index price (rounded down), then the fee
    assert d.market.accounts(trader)[0] == margin_before - settled.owed + notional - fee
    assert cover is None and d.market.accounts(trader)[0] >= 0
    in_step(d, trader, counterparty, keeper)
    books(d, trader, counterparty, keeper)

    call(d, d.owner, "pause")
    d.fund(keeper, 0)
    call(d, keeper, "withdraw", fee // SCALE)  # a flat account leaves even while paused
    books(d, trader, counterparty, keeper)


def test_liquidation_threshold_is_exactly_maintenance(deployment, long_short):
    """One answer above the threshold is rejected, the threshold itself accepted."""
    d, (trader, _) = deployment, long_short
    maintenance = d.model.risk.maintenance_margin_ratio
    account = d.model.account(trader)

    def under(answer):
        price = answer * 10**10
        value = d.model._value(account, price)
        return value < margin_required(account.position, price, maintenance)

    low, high = 1, 50_000 * 10**8  # bisection on feed answers: under at low, not at high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if under(mid) else (low, mid)
    crash(d, high)
    reject(d, liquidator(), "liquidate", trader, reason=NOT_LIQUIDATABLE, accounts=(trader,))
    crash(d, low)
    call(d, liquidator(), "liquidate", trader)
    in_step(d, trader)


@pytest.mark.parametrize(
    "target, reason",
    [
        ("trader", NOT_LIQUIDATABLE),
        ("flat", "market: account has no position"),
        ("insurance", "market: the insurance account has no deficit nor bad debt to pay"),
    ],
)
def test_liquidate_rejects(deployment, long_short, target, reason):
    d, (trader, _) = deployment, long_short
    account = {"trader": trader, "flat": liquidator(), "insurance": d.market.address}[target]
    reject(d, liquidator(), "liquidate", account, reason=reason, accounts=(trader,))


def test_liquidate_needs_a_usable_index(deployment, long_short):
    d, (trader, _) = deployment, long_short
    crash(d)
    d.advance(d.model.max_age + 1)
    reject(
        d,
        liquidator(),
        "liquidate",
        trader,
        reason="price_feed: index answer stale",
        accounts=(trader,),
    )


def test_liquidation_works_while_paused(deployment, long_short):
    d, (trader, counterparty) = deployment, long_short
    call(d, d.owner, "pause")
    crash(d)
    call(d, liquidator(), "liquidate", trader)
    assert d.market.paused() and d.market.accounts(trader)[1] == 0
    in_step(d, trader, counterparty)


def test_short_is_liquidated_into_a_short_insurance_position(deployment, trader, counterparty):
    d = deployment
    open_position(d, counterparty, trader)  # trader short this time
    crash(d, 80_000 * 10**8)
    call(d, liquidator(), "liquidate", trader)
    assert d.market.accounts(d.market.address)[1] == -THIRD
    assert d.market.open_interest() == THIRD
    in_step(d, trader, counterparty)
    books(d, trader, counterparty)


# ---------------------------------------------------------------- shortfall


def test_insurance_absorbs_a_shortfall_it_can_cover(deployment, long_short):
    d, (trader, counterparty) = deployment, long_short
    funder = boa.env.generate_address("funder")
    d.fund(funder, 50_000 * USD)
    call(d, funder, "fund_insurance", 50_000 * USD)
    (funded,) = events("InsuranceFunded")
    assert (funded.funder, funded.amount, funded.margin) == (
        funder,
        50_000 * USD,
        50_000 * USD * SCALE,
    )
    crash(d, 10_000 * 10**8)  # the long is 3,350 under water
    (_, (fee, cover)) = call(d, liquidator(), "liquidate", trader)
    shortfall, by_insurance, socialised, unbacked, per_unit = cover
    assert shortfall > 3_000 * WAD and by_insurance == shortfall
    assert socialised == unbacked == per_unit == 0
    (event,) = events("ShortfallCovered")
    assert (event.shortfall, event.by_insurance, event.socialised) == (shortfall, shortfall, 0)
    assert d.market.accounts(trader)[0] == 0
    assert d.market.socialised_losses() == (0, 0)
    in_step(d, trader, counterparty)
    books(d, trader, counterparty, funder)


def test_a_shortfall_beyond_insurance_is_socialised_across_the_winning_side(deployment):
    """Two shorts won what a bankrupt long lost; the insurance cannot pay it, so
    the shorts' loss index rises by ceil(loss / open interest) in one step and
    each short pays its share at its next settlement. Conservation holds at every
    step, and once all have settled the market holds at least what it owes."""
    d = deployment
    long, short_a, short_b = (boa.env.generate_address(n) for n in ("long", "short_a", "short_b"))
    open_position(d, long, short_a, size=THIRD, buyer_usd=6_000)
    open_position(d, long, short_b, size=2 * THIRD, buyer_usd=0)
    crash(d, 40_000 * 10**8)  # the long lost 10,050 per base on 1 base, on 6,000 of margin
    (_, (fee, cover)) = call(d, liquidator(), "liquidate", long)
    shortfall, by_insurance, socialised, unbacked, per_unit = cover
    assert by_insurance == 0 and unbacked == 0 and socialised == shortfall > 4_000 * WAD
    open_interest = d.market.open_interest()
    assert open_interest == 3 * THIRD  # the insurance now holds the long
    assert per_unit == mul_div_ceil(shortfall, WAD, open_interest)
    assert d.market.socialised_losses() == (0, per_unit)
    (event,) = events("ShortfallCovered")
    assert event.longs_pay is False and event.loss_per_unit == per_unit
    accounts = (long, short_a, short_b)
    books(d, *accounts)
    assert d.market.surplus() < 0  # owed to the market by the shorts until they settle

    paid = [call(d, s, "settle", s)[0] for s in (short_a, short_b)]
    assert sum(paid) >= shortfall and sum(paid) - shortfall <= 3  # each share rounded up
    assert paid[1] > paid[0] > 0
    books(d, *accounts)
    assert 0 <= d.market.surplus()
    assert d.market.pending_funding(short_a) == 0
    in_step(d, *accounts)


def test_a_side_change_does_not_inherit_the_old_sides_losses(deployment):
    """A short that turns long after a socialisation settles against the longs'
    index from then on: it pays its share once, never again."""
    d = deployment
    long, short, buyer = (boa.env.generate_address(n) for n in ("long", "short", "buyer"))
    open_position(d, long, short, size=THIRD, buyer_usd=2_000)
    crash(d, 40_000 * 10**8)
    call(d, liquidator(), "liquidate", long)
    share = d.market.pending_funding(short)
    assert share > 0
    fund_and_deposit(d, buyer, 50_000)
    d.submit(index_answer=40_000 * 10**8, mark_answer=40_000 * 10**8)
    call(d, d.operator, "trade", short, buyer, 2 * THIRD, 40_000 * WAD)  # short -> long 1/3
    assert d.market.accounts(short)[1] == THIRD
    assert d.market.pending_funding(short) == 0
    d.advance(3_600)
    d.submit(index_answer=40_000 * 10**8, mark_answer=40_000 * 10**8)
    call(d, short, "settle", short)
    in_step(d, long, short, buyer)
    books(d, long, short, buyer)


def test_a_shortfall_against_the_insurance_alone_is_covered_by_its_gain(deployment, long_short):
    """When the insurance account is the only counterparty, it gained what the
    bankrupt account lost: its equity covers the whole shortfall, nothing is
    socialised, no bad debt arises, and the liquidator's fee (nothing is left
    to pay it from) is zero."""
    d, (trader, counterparty) = deployment, long_short
    crash(d)
    call(d, liquidator(), "liquidate", trader)  # the insurance now holds the long at 20,000
    assert d.market.open_interest() == THIRD
    crash(d, 20_000_000 * 10**8)  # the short is far under water
    (_, (fee, cover)) = call(d, liquidator(), "liquidate", counterparty)
    shortfall, by_insurance, socialised, unbacked, per_unit = cover
    assert d.market.open_interest() == 0
    assert fee == 0 and 0 < by_insurance == shortfall
    assert socialised == per_unit == unbacked == 0
    (event,) = events("ShortfallCovered")
    assert (event.unbacked, event.longs_pay) == (0, True)
    in_step(d, trader, counterparty)
    books(d, trader, counterparty)
    assert d.market.bad_debt() == 0 and d.market.surplus() >= 0


# ---------------------------------------------------------------- the funding forecast


def test_the_forecast_prices_the_next_intervals_funding_into_withdrawals(deployment, long_short):
    """With a horizon, a long in a positive-rate market must keep margin for the
    funding it would pay over it; without, the same withdrawal passes."""
    d, (trader, counterparty) = deployment, long_short
    d.submit(index_answer=50_000 * 10**8, mark_answer=51_000 * 10**8)  # +2 %: rate at the cap
    d.advance(8 * 3_600)
    d.submit(index_answer=50_000 * 10**8, mark_answer=51_000 * 10**8)
    call(d, trader, "settle", trader)
    risk = d.model.risk
    horizon = 7 * 86_400
    # the largest withdrawal that keeps the initial margin without a forecast
    account = d.model.account(trader)
    spare = d.model._value(account, INDEX) - margin_required(
        THIRD, INDEX, risk.initial_margin_ratio
    )
    amount = spare // SCALE
    call(
        d,
        d.owner,
        "set_risk_parameters",
        risk.initial_margin_ratio,
        risk.maintenance_margin_ratio,
        risk.price_band,
        risk.liquidation_fee,
        horizon,
    )
    forecast = (
        d.model.account(trader).margin
        - d.market.pending_funding(trader)
        - d.market.projected_margin(trader)
    )
    cap_cost = THIRD * 50_000 * d.model.params.cap * horizon // (d.model.params.interval * WAD)
    assert abs(forecast - cap_cost) <= 2  # the rate in force is the cap: 21 intervals of it
    assert d.market.projected_margin(trader) == d.model.projected_margin(trader)
    reject(
        d,
        trader,
        "withdraw",
        amount,
        reason="market: withdrawal leaves margin below initial",
        accounts=(counterparty,),
    )
    # the short would receive: nothing is forecast for it
    assert d.market.projected_margin(counterparty) == d.model.account(
        counterparty
    ).margin - d.market.pending_funding(counterparty)
    call(
        d,
        d.owner,
        "set_risk_parameters",
        risk.initial_margin_ratio,
        risk.maintenance_margin_ratio,
        risk.price_band,
        risk.liquidation_fee,
        0,
    )
    call(d, trader, "withdraw", amount)
    in_step(d, trader, counterparty)
