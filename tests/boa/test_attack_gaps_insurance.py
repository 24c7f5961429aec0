"""Adversarial review, one attack class: price gaps, the insurance fund and its
deficit, and rounding.

Each test is one attack tried against the solvent ledger (MATH.md §16) and pins its
outcome. Where the market defends, the test asserts the defence: the attacker's P&L
is at most zero (or at most what the insurance fund paid, its documented role), a
bystander that never traded is made whole, the contract and the reference agree to
the wei, and conservation holds. Where an attack works, the test asserts the safe
behaviour (it failed before the fix; SECURITY.md §6 names each finding), or, for
the finding acknowledged with a bound, asserts the bound. Every call is made on the
contract and the reference (fundingkit.market).
"""

import copy

import boa
import pytest
from conftest import reference_allows
from test_market_unit import (
    SCALE,
    USD,
    WAD,
    call,
    events,
    fund_and_deposit,
    reject,
)
from test_solvency import in_step, most_withdrawable, withdraw_most

from fundingkit.market import margin_required
from fundingkit.vyper_math import mul_div_ceil

ONE_PERCENT = 10**16
HALF_PERCENT = 5 * 10**15
BAND = 10**16
REDUCE_ONLY = "market: only trades that reduce (paused or bad debt)"
NOT_LIQUIDATABLE = "market: account is above maintenance margin"
NO_DEFICIT = "market: the insurance account has no deficit nor bad debt to pay"

KEEPER = boa.env.generate_address("gap keeper")  # a liquidator with no stake
ATTACKER_LONG = boa.env.generate_address("gap attacker long")
ATTACKER_SHORT = boa.env.generate_address("gap attacker short")
ATTACKER_KEEPER = boa.env.generate_address("gap attacker keeper")
BYSTANDER = boa.env.generate_address("gap bystander")  # deposits, never trades
TAKER = boa.env.generate_address("gap taker")  # takes the other side of a close
FUNDER = boa.env.generate_address("gap insurance funder")


def named(*names):
    return [boa.env.generate_address(name) for name in names]


def move(d, usd: int):
    """Both feeds answer `usd` in one block (a gap); the mark equals the index."""
    d.submit(usd * 10**8, usd * 10**8)


def set_risk(d, initial, maintenance, fee, horizon=0):
    call(d, d.owner, "set_risk_parameters", initial, maintenance, BAND, fee, horizon)


def value(d, account, usd_price: int) -> int:
    margin, position, _ = d.market.accounts(account)
    return margin + position * usd_price


def books(d, *accounts):
    """Tokens held == total_collateral; total_collateral + bad_debt == margins +
    surplus (every account that ever held margin listed); positions sum to zero."""
    m = d.market
    everyone = {*accounts, KEEPER, ATTACKER_KEEPER, m.address}
    margins = sum(m.accounts(a)[0] for a in everyone)
    assert d.token.balanceOf(m) * SCALE == m.total_collateral()
    assert m.total_collateral() + m.bad_debt() == margins + m.surplus()
    assert sum(m.accounts(a)[1] for a in everyone) == 0


def deposit_tokens(d, account, amount: int):
    d.fund(account, amount)
    call(d, account, "deposit", amount)


# ---------------------------------------------------------------- the hedged gap


@pytest.mark.parametrize("initial", [ONE_PERCENT, 5 * ONE_PERCENT, 10**17, 5 * 10**17])
@pytest.mark.parametrize("gap_bps", [-3_000, -1_000, -500, 500, 1_000, 3_000])
def test_hedged_gap_with_prompt_liquidation_pays_at_most_the_insurance_fund(
    deployment, initial, gap_bps
):
    """An attacker owns a long and a short of 2 base that trade with each other at
    the index with exactly the initial margin (1 %, 5 %, 10 % or 50 %), with a
    funded insurance (50,000). Both feeds gap by -30 %..+30 %. Its winner withdraws
    all it may, its own keeper liquidates its loser at once, the winner closes
    against a taker, and every attacker account leaves. The attack makes exactly
    what the insurance fund paid for the loser's shortfall (its documented role:
    it pays gap losses) and no more; nothing is socialised or left as bad debt; a
    bystander gets its whole deposit back."""
    d = deployment
    maintenance = max(initial // 2, HALF_PERCENT)
    set_risk(d, initial, maintenance, min(HALF_PERCENT, maintenance))
    move(d, 50_000)
    size = 2 * WAD
    deposit = margin_required(size, 50_000 * WAD, initial) // SCALE + 1
    for account in (ATTACKER_LONG, ATTACKER_SHORT):
        deposit_tokens(d, account, deposit)
    fund_and_deposit(d, BYSTANDER, 10_000)
    fund_and_deposit(d, TAKER, 1_000_000)
    d.fund(FUNDER, 50_000 * USD)
    call(d, FUNDER, "fund_insurance", 50_000 * USD)
    call(d, d.operator, "trade", ATTACKER_LONG, ATTACKER_SHORT, size, 50_000 * WAD)

    new = 50_000 * (10_000 + gap_bps) // 10_000
    move(d, new)
    winner, loser = (
        (ATTACKER_SHORT, ATTACKER_LONG) if gap_bps < 0 else (ATTACKER_LONG, ATTACKER_SHORT)
    )
    withdrawn = withdraw_most(d, winner)
    state = d.model.account(loser)
    if d.model._value(state, new * WAD) < margin_required(state.position, new * WAD, maintenance):
        (_, (_, cover)) = call(d, ATTACKER_KEEPER, "liquidate", loser)
        if cover is not None:
            assert cover[2] == cover[3] == 0  # the insurance took it all
    if gap_bps < 0:
        call(d, d.operator, "trade", winner, TAKER, size, new * WAD)
    else:
        call(d, d.operator, "trade", TAKER, winner, size, new * WAD)
    for account in (winner, loser, ATTACKER_KEEPER):
        withdrawn += withdraw_most(d, account)

    profit = (withdrawn - 2 * deposit) * SCALE
    insurance_paid = 50_000 * WAD - value(d, d.market.address, new)
    assert profit <= max(insurance_paid, 0)
    assert d.market.bad_debt() == 0 and d.market.socialised_losses() == (0, 0)
    call(d, BYSTANDER, "withdraw", 10_000 * USD)
    accounts = (ATTACKER_LONG, ATTACKER_SHORT, BYSTANDER, TAKER, FUNDER)
    in_step(d, *accounts)
    books(d, *accounts)


def attempt(d, caller, name, *args) -> bool:
    """Makes the call on both when the reference accepts it; otherwise the contract
    must refuse it too. Returns whether it went through."""
    model_args = args if name in ("accrue", "settle") else (caller, *args)
    if reference_allows(d.model, name, *model_args):
        call(d, caller, name, *args)
        return True
    with boa.reverts():
        getattr(d.market, name)(*args, sender=caller)
    return False


def _close_before_liquidation(d, taker_usd):
    """1 % initial margin. The attacker's long and short trade 1 base with each
    other at 50,000 on 510 each; the bystander holds 100,000 and never trades.
    Both feeds gap -10 % to 45,000: the long is 4,490 under water. Before anyone
    liquidates it, the winning short tries to close against a taker who opens a
    short at 45,000 on `taker_usd` (1 % of the notional is 450) and to leave. Then
    a keeper liquidates whatever is liquidatable, the short closes if it could not,
    and every attacker account withdraws all it can. Returns what the attacker's
    accounts took out (token units)."""
    set_risk(d, ONE_PERCENT, HALF_PERCENT, HALF_PERCENT)
    move(d, 50_000)
    fund_and_deposit(d, ATTACKER_LONG, 510)
    fund_and_deposit(d, ATTACKER_SHORT, 510)
    fund_and_deposit(d, BYSTANDER, 100_000)
    fund_and_deposit(d, TAKER, taker_usd)
    call(d, d.operator, "trade", ATTACKER_LONG, ATTACKER_SHORT, WAD, 50_000 * WAD)
    move(d, 45_000)
    assert value(d, ATTACKER_LONG, 45_000) == -4_490 * WAD
    price = 45_000 * WAD
    closed = attempt(d, d.operator, "trade", ATTACKER_SHORT, TAKER, WAD, price)
    withdrawn = withdraw_most(d, ATTACKER_SHORT)
    for account in (ATTACKER_LONG, TAKER, ATTACKER_SHORT):
        if liquidatable(d.model, account, price):
            call(d, KEEPER, "liquidate", account)
    if not closed:
        attempt(d, d.operator, "trade", ATTACKER_SHORT, TAKER, WAD, price)
    return withdrawn + sum(withdraw_most(d, a) for a in (ATTACKER_SHORT, ATTACKER_LONG))


def liquidatable(model, account, price) -> bool:
    state = model.account(account)
    required = margin_required(state.position, price, model.risk.maintenance_margin_ratio)
    return state.position != 0 and model._value(state, price) < required


# Acknowledged (SECURITY.md §6): a winner that CLOSES before its bankrupt
# counterparty is liquidated realises its gain; the loss index then charges whoever
# holds the winning side at the liquidation. Bound: the attacker gains at most the
# loser's shortfall, borne by the insurance's equity, then the winning side's holders,
# then every account pro rata through a reported haircut. The duty that closes it is
# the operator's: liquidate before matching after the index moved.
SHORTFALL = 4_490  # the long's, at 45,000


def test_acknowledged_closing_before_the_liquidation_charges_the_later_taker(deployment):
    """The winner escapes first and the taker is rich (20,000): the long's 4,490
    shortfall goes to the shorts' loss index, whose only holder is now the taker,
    who entered after the gap. The attacker's two accounts put in 1,020 and take out
    exactly 1,020 + the shortfall; the taker pays exactly the shortfall; the
    bystander is whole; no bad debt."""
    d = deployment
    withdrawn = _close_before_liquidation(d, taker_usd=20_000)
    accounts = (ATTACKER_LONG, ATTACKER_SHORT, BYSTANDER, TAKER)
    in_step(d, *accounts)
    books(d, *accounts)
    assert d.market.bad_debt() == 0
    assert most_withdrawable(d.model, BYSTANDER) == 100_000 * USD
    assert withdrawn == (2 * 510 + SHORTFALL) * USD
    taker = value(d, TAKER, 45_000) - d.market.pending_funding(TAKER)
    assert 20_000 * WAD - taker == SHORTFALL * WAD


def test_acknowledged_a_thin_taker_turns_the_shortfall_into_reported_bad_debt(deployment):
    """Same, with a thin taker (460): it goes 4,030 under water and its liquidation
    finds no long but the insurance account, so 4,030 is bad debt, reported and
    shared by a frozen haircut: the bystander that never traded takes out
    floor(100,000 * haircut), the same whoever withdraws first. The attacker still
    gains the shortfall, and no more."""
    d = deployment
    withdrawn = _close_before_liquidation(d, taker_usd=460)
    call(d, KEEPER, "liquidate", TAKER)  # settled, it is 4,030 under water
    accounts = (ATTACKER_LONG, ATTACKER_SHORT, BYSTANDER, TAKER)
    in_step(d, *accounts)
    books(d, *accounts)
    assert withdrawn == (2 * 510 + SHORTFALL) * USD
    assert d.market.bad_debt() == (SHORTFALL - 460) * WAD
    haircut = d.market.haircut()
    assert haircut < WAD
    assert most_withdrawable(d.model, BYSTANDER) == 100_000 * USD * haircut // WAD


# ---------------------------------------------------------------- self-liquidation


def test_self_liquidation_farms_no_fee_and_costs_the_insurance_nothing(deployment):
    """At the most generous setting (initial = maintenance = fee = 1 %) the attacker
    opens a long and a short against itself at exactly the initial margin; a 10 USD
    fall makes its long liquidatable and its own keeper liquidates it, taking the
    1 % fee out of the long's margin; its short then takes the insurance's inherited
    long back at the index (`unwind_insurance`) and everyone leaves. The fee is a
    transfer between its own accounts, the insurance account bought and sold at the
    index and is worth what it was (0): the coalition gets back at most what it put
    in. Liquidating its own bankrupt account instead pays no fee at all."""
    d = deployment
    set_risk(d, ONE_PERCENT, ONE_PERCENT, ONE_PERCENT)
    move(d, 50_000)
    for account in (ATTACKER_LONG, ATTACKER_SHORT):
        fund_and_deposit(d, account, 500)
    fund_and_deposit(d, BYSTANDER, 10_000)
    call(d, d.operator, "trade", ATTACKER_LONG, ATTACKER_SHORT, WAD, 50_000 * WAD)
    move(d, 49_990)
    (_, (fee, cover)) = call(d, ATTACKER_KEEPER, "liquidate", ATTACKER_LONG)
    assert cover is None and fee == 490 * WAD  # 1 % of 49,990, capped at the 490 left
    assert value(d, d.market.address, 49_990) == 0
    call(d, ATTACKER_SHORT, "unwind_insurance", WAD)
    (unwound,) = events("InsuranceUnwound")
    assert (unwound.size, unwound.price) == (WAD, 49_990 * WAD)
    assert d.market.accounts(d.market.address)[:2] == (0, 0)
    withdrawn = sum(withdraw_most(d, a) for a in (ATTACKER_LONG, ATTACKER_SHORT, ATTACKER_KEEPER))
    assert withdrawn <= 2 * 500 * USD
    call(d, BYSTANDER, "withdraw", 10_000 * USD)
    accounts = (ATTACKER_LONG, ATTACKER_SHORT, BYSTANDER)
    in_step(d, *accounts)
    books(d, *accounts)


def test_self_liquidating_a_bankrupt_account_pays_no_fee(deployment):
    """The attacker's own keeper liquidates its bankrupt long (a -20 % gap at 1 %):
    the fee is capped at the margin left after the close, which is nothing, so the
    keeper earns 0 and the insurance fund pays exactly the shortfall, no fee on top."""
    d = deployment
    set_risk(d, ONE_PERCENT, HALF_PERCENT, HALF_PERCENT)
    move(d, 50_000)
    fund_and_deposit(d, ATTACKER_LONG, 600)
    fund_and_deposit(d, ATTACKER_SHORT, 600)
    d.fund(FUNDER, 50_000 * USD)
    call(d, FUNDER, "fund_insurance", 50_000 * USD)
    call(d, d.operator, "trade", ATTACKER_LONG, ATTACKER_SHORT, WAD, 50_000 * WAD)
    move(d, 40_000)
    (_, (fee, cover)) = call(d, ATTACKER_KEEPER, "liquidate", ATTACKER_LONG)
    assert fee == 0 and d.market.accounts(ATTACKER_KEEPER)[0] == 0
    assert cover == (9_400 * WAD, 9_400 * WAD, 0, 0, 0)
    assert value(d, d.market.address, 40_000) == (50_000 - 9_400) * WAD
    accounts = (ATTACKER_LONG, ATTACKER_SHORT, FUNDER)
    in_step(d, *accounts)
    books(d, *accounts)


# ---------------------------------------------------------------- the insurance's deficit


def test_insurance_deficit_is_charged_only_to_the_side_that_gained(deployment):
    """The insurance inherits a long of 1 at 45,000 (a thin long liquidated with a
    little margin left). The price gaps to 40,000: it is worth -5,000 with nothing
    funded. `liquidate(market)` charges the 5,000 to the shorts (they gained it),
    none to the longs, and never to the insurance itself; a second call is refused;
    the short that pays keeps its gain less its share, and the bystander is whole."""
    d = deployment
    thin_long, short, other_long = named("thin long", "rich short", "other long")
    fund_and_deposit(d, thin_long, 6_000)
    fund_and_deposit(d, other_long, 20_000)
    fund_and_deposit(d, short, 40_000)
    fund_and_deposit(d, BYSTANDER, 10_000)
    move(d, 50_000)
    call(d, d.operator, "trade", thin_long, short, WAD, 50_000 * WAD)
    call(d, d.operator, "trade", other_long, short, WAD, 50_000 * WAD)
    move(d, 47_000)  # the thin long: 3,000 of value, maintenance 2,350 ... not yet
    reject(d, KEEPER, "liquidate", thin_long, reason=NOT_LIQUIDATABLE, accounts=(thin_long,))
    move(d, 45_000)  # 1,000 of value < 2,250 maintenance, still solvent
    (_, (fee, cover)) = call(d, KEEPER, "liquidate", thin_long)
    assert cover is None
    move(d, 40_000)
    assert value(d, d.market.address, 40_000) == -5_000 * WAD
    (_, (_, cover)) = call(d, KEEPER, "liquidate", d.market.address)
    assert cover == (5_000 * WAD, 0, 5_000 * WAD, 0, mul_div_ceil(5_000 * WAD, WAD, 2 * WAD))
    assert d.market.socialised_losses() == (0, 2_500 * WAD)
    assert value(d, d.market.address, 40_000) == 0
    reject(d, KEEPER, "liquidate", d.market.address, reason=NO_DEFICIT, accounts=(short,))
    call(d, KEEPER, "settle", short)
    assert value(d, short, 40_000) == (40_000 + 2 * 10_000 - 5_000) * WAD
    call(d, BYSTANDER, "withdraw", 10_000 * USD)
    accounts = (thin_long, short, other_long, BYSTANDER)
    in_step(d, *accounts)
    books(d, *accounts)


def _bad_debt_with_an_insurance_position(d):
    """1 % initial margin. Two thin longs (600 each) bought 1 base each at 50,000:
    one from the attacker's short (600), one from a rich short (30,000). The price
    gaps to 40,000; the attacker's short closes against a thin taker (450) and
    leaves. Both longs are liquidated (9,400 short each, to the taker and the rich
    short), the taker goes under and is liquidated with no long but the insurance
    account to charge: bad debt. The insurance ends long 1 at 40,000 against the
    rich short."""
    set_risk(d, ONE_PERCENT, HALF_PERCENT, HALF_PERCENT)
    move(d, 50_000)
    thin_a, thin_b, rich_short = named("thin long a", "thin long b", "rich short")
    for account, usd in ((thin_a, 600), (thin_b, 600), (ATTACKER_SHORT, 600)):
        fund_and_deposit(d, account, usd)
    fund_and_deposit(d, rich_short, 30_000)
    fund_and_deposit(d, BYSTANDER, 10_000)
    fund_and_deposit(d, TAKER, 450)
    call(d, d.operator, "trade", thin_a, ATTACKER_SHORT, WAD, 50_000 * WAD)
    call(d, d.operator, "trade", thin_b, rich_short, WAD, 50_000 * WAD)
    move(d, 40_000)
    call(d, d.operator, "trade", ATTACKER_SHORT, TAKER, WAD, 40_000 * WAD)
    call(d, ATTACKER_SHORT, "withdraw", 10_600 * USD)
    call(d, KEEPER, "liquidate", thin_a)
    call(d, KEEPER, "liquidate", thin_b)
    (_, (_, cover)) = call(d, KEEPER, "liquidate", TAKER)
    assert cover[3] > 0  # unbacked: bad debt
    assert d.market.accounts(d.market.address)[1] == WAD
    return thin_a, thin_b, rich_short


def test_insurance_equity_pays_bad_debt_before_depositors_take_a_haircut(deployment):
    """The waterfall puts the insurance's positive equity before bad debt. Here bad
    debt arises while the insurance holds an inherited long of 1 at 40,000; the
    price then rises to 45,000 and the rich short on the other side closes by
    taking that long (`unwind_insurance`, a reducing trade, allowed with bad debt).
    Before the fix: the insurance account was flat with 5,000 of margin no one can
    withdraw, the bad debt (8,950) and the haircut (31,650 / 40,600 = 0.7796) are
    unchanged, and the bystander can take out 7,795.57 of its 10,000 (with the
    5,000 repaid it would be 8,890.45). Now its equity pays the bad debt down in the
    same call: the insurance never holds positive equity while there is bad debt."""
    d = deployment
    thin_a, thin_b, rich_short = _bad_debt_with_an_insurance_position(d)
    move(d, 45_000)
    attempt(d, rich_short, "unwind_insurance", WAD)
    accounts = (thin_a, thin_b, rich_short, ATTACKER_SHORT, TAKER, BYSTANDER)
    in_step(d, *accounts)
    books(d, *accounts)
    insurance = value(d, d.market.address, 45_000)
    assert d.market.bad_debt() == 0 or insurance <= 0


def test_bad_debt_haircut_is_order_independent_with_odd_margins_and_pieces(deployment):
    """With bad debt (the stage above) and margins that are not round, three
    withdrawal schedules are replayed: every account at once in one order, in the
    reverse order, and the bystander in 7 equal pieces first. The bystander gets
    floor(margin * haircut) in one go whatever the order, never more in pieces
    (each piece's debit is rounded up), and the rounding of all the debits never
    lets the total paid out pass the collateral held."""
    d = deployment
    thin_a, thin_b, rich_short = _bad_debt_with_an_insurance_position(d)
    call(d, rich_short, "unwind_insurance", WAD)  # everyone flat now (at 40,000)
    haircut = d.market.haircut()
    assert haircut < WAD
    flat = [a for a in (thin_a, thin_b, rich_short, BYSTANDER, TAKER) if d.market.accounts(a)[0]]
    expected = {a: d.market.accounts(a)[0] * haircut // WAD // SCALE for a in flat}
    results = []
    for order in (flat, flat[::-1]):
        with boa.env.anchor():
            model = copy.deepcopy(d.model.__dict__)
            got = {}
            for account in order:
                got[account] = withdraw_most(d, account)
            # What is left is dust: under a token unit per account, held and owed.
            assert d.market.total_collateral() <= len(flat) * SCALE
            assert d.market.bad_debt() <= len(flat) * SCALE
            books(d, *flat, ATTACKER_SHORT)
            results.append(got)
            d.model.__dict__.clear()
            d.model.__dict__.update(model)
    assert results[0] == results[1]
    for account, amount in results[0].items():
        assert abs(amount - expected[account]) <= 1
    with boa.env.anchor():
        model = copy.deepcopy(d.model.__dict__)
        piece = expected[BYSTANDER] // 7
        for _ in range(7):
            call(d, BYSTANDER, "withdraw", piece)
        pieces = 7 * piece + withdraw_most(d, BYSTANDER)
        assert pieces <= results[0][BYSTANDER]
        d.model.__dict__.clear()
        d.model.__dict__.update(model)


# ---------------------------------------------------------------- tiny OI and rounding


def test_a_one_wei_winning_side_pays_at_most_its_gain(deployment):
    """The winning side is the insurance account (a liquidated short of 1 base less
    1 wei) and a bystander-sized short of 1 wei. A long of 1 base goes bankrupt in a
    gap. Without the insurance's gain the whole shortfall would fall on 1 wei of
    open interest (a loss per unit far past 2**127, i.e. bad debt). The insurance
    pays first out of what its short gained, so the 1-wei short is charged at most
    its own gain per unit (plus a wei of rounding) and nothing is unbacked."""
    d = deployment
    set_risk(d, ONE_PERCENT, HALF_PERCENT, HALF_PERCENT)
    move(d, 50_000)
    long, thin_short, dust_short = named("long", "thin short", "dust short")
    fund_and_deposit(d, long, 700)
    fund_and_deposit(d, thin_short, 600)
    fund_and_deposit(d, dust_short, 1)
    call(d, d.operator, "trade", long, thin_short, WAD - 1, 50_000 * WAD)
    call(d, d.operator, "trade", long, dust_short, 1, 50_000 * WAD)
    move(d, 50_400)  # the thin short: 200 of value < 252 maintenance
    call(d, KEEPER, "liquidate", thin_short)
    assert d.market.accounts(d.market.address)[1] == -(WAD - 1)
    move(d, 40_000)  # the long is bankrupt
    margin_before = d.model.account(dust_short).margin
    (_, (_, cover)) = call(d, KEEPER, "liquidate", long)
    shortfall, by_insurance, socialised, unbacked, per_unit = cover
    assert unbacked == 0 and by_insurance > 0
    assert per_unit <= 10_000 * WAD  # at most the move per base
    call(d, KEEPER, "settle", dust_short)
    charged = margin_before - d.model.account(dust_short).margin
    assert charged <= 10_000 + 1  # 1 wei * 10,000 per base, plus a wei
    accounts = (long, thin_short, dust_short)
    in_step(d, *accounts)
    books(d, *accounts)


def test_ceil_per_unit_overcharge_is_bounded_and_kept_by_the_market(deployment):
    """A bankrupt long's shortfall socialised across three shorts of odd sizes.
    The loss per unit is rounded up and each share is rounded up: the shorts pay
    at least the loss and at most the loss plus ceil(OI / WAD) + 3 wei; the excess
    is surplus (the market's), never a payout."""
    d = deployment
    long = named("odd long")[0]
    shorts = named("odd short a", "odd short b", "odd short c")
    sizes = (WAD // 3, WAD // 7 + 11, WAD - WAD // 3 - WAD // 7 - 11)
    fund_and_deposit(d, long, 5_100)
    for short in shorts:
        fund_and_deposit(d, short, 20_000)
    move(d, 50_000)
    for short, size in zip(shorts, sizes, strict=True):
        call(d, d.operator, "trade", long, short, size, 50_000 * WAD + 12_345)
    move(d, 40_000)
    (_, (_, cover)) = call(d, KEEPER, "liquidate", long)
    shortfall, _, socialised, unbacked, per_unit = cover
    assert socialised == shortfall > 0 and unbacked == 0
    paid = sum(call(d, KEEPER, "settle", short)[0] for short in shorts)
    assert socialised <= paid <= socialised + 1 + 3  # ceil(OI / WAD) = 1
    assert d.market.surplus() >= 0
    accounts = (long, *shorts)
    in_step(d, *accounts)
    books(d, *accounts)


def test_repeated_dust_trades_never_pay_the_coalition(deployment):
    """Notional rounding: 200 trades of 1 wei of base (and of 1/3 base) back and
    forth between two attacker accounts at a price with a fractional wei. The buyer
    pays ceil, the seller receives floor, so the coalition's margins only fall; the
    wei stay in surplus. Then both leave with no more than they put in."""
    d = deployment
    move(d, 50_000)
    for account in (ATTACKER_LONG, ATTACKER_SHORT):
        fund_and_deposit(d, account, 10_000)
    price = 50_000 * WAD + 1
    third_price = 50_000 * WAD + 333_333_333_333_333_333
    for i in range(100):
        buyer, seller = (
            (ATTACKER_LONG, ATTACKER_SHORT) if i % 2 == 0 else (ATTACKER_SHORT, ATTACKER_LONG)
        )
        call(d, d.operator, "trade", buyer, seller, 1, price)
        call(d, d.operator, "trade", buyer, seller, WAD // 3, third_price)
    margins = sum(d.market.accounts(a)[0] for a in (ATTACKER_LONG, ATTACKER_SHORT))
    assert margins <= 20_000 * WAD and d.market.surplus() >= 0
    withdrawn = withdraw_most(d, ATTACKER_LONG) + withdraw_most(d, ATTACKER_SHORT)
    assert withdrawn <= 20_000 * USD
    in_step(d, ATTACKER_LONG, ATTACKER_SHORT)
    books(d, ATTACKER_LONG, ATTACKER_SHORT)
