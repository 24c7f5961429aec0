"""The numeric envelope of docs/SECURITY.md, tested at each edge and just past it,
on the contract and the reference (fundingkit.market.MarketModel) wherever both
apply.

* Prices: each feed decimals' smallest and largest answer that normalises into
  1 wei .. MAX_PRICE (1e36 WAD), and the first one outside; trading at both ends.
* Time: a 100-year gap at the largest cap (4 % per 1 h interval) with the
  premium pinning the rate to it, at the largest price and at the largest
  position of the envelope: accrual succeeds, contract == reference, to the wei
  of the closed form.
* The ledger's limits (collateral 1e39 quote, positions 1e12 base): at each the
  call works, one past it is refused with the limit's reason, however large the
  input, so int256 margins and notionals can never be reached (these tests
  first found four edges past int256 that reverted with no reason or locked an
  account; SECURITY.md §6).
* Every setter's bounds: each at its minimum and maximum, and one past.
"""

from dataclasses import replace

import boa
import pytest
from conftest import deploy, rolled_back
from eth_abi import decode
from test_market_unit import (
    MARK,
    SCALE,
    USD,
    WAD,
    assert_in_step,
    build_model,
    call,
    deploy_market,
    events,
    fresh_feed,
    open_position,
    reject,
)

from fundingkit.feeds import MAX_PRICE
from fundingkit.market import MAX_COLLATERAL, MAX_POSITION, ZERO_ADDRESS, RiskParameters, owed
from fundingkit.rates import (
    MAX_CAP,
    MAX_INTERVAL,
    MIN_CAP,
    MIN_INTERVAL,
    RateParameters,
    funding_delta,
    premium,
)

INT256_MAX = 2**255 - 1
ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)


def revert_reason(contract, name, *args, sender) -> str | None:
    """Calls `name` expecting a revert; returns its reason string, or None for a
    revert with no data (an overflow or a failed `convert`)."""
    data = getattr(contract, name).prepare_calldata(*args)
    computation = boa.env.execute_code(to_address=contract.address, sender=sender, data=data)
    assert computation.is_error, f"{name} did not revert"
    output = computation.output
    if not output.startswith(ERROR_STRING):
        return None
    return decode(["string"], output[4:])[0]


# ---------------------------------------------------------------- prices


PAST = {
    "range": "answer out of range",
    "zero": "answer not positive",
    "unreadable": "feed unreadable",
}
# (feed decimals, answer, the WAD price it normalises to, or what is wrong with it)
PRICE_EDGES = [
    (0, 1, WAD),
    (0, 10**18, MAX_PRICE),
    (0, 10**18 + 1, PAST["range"]),
    (8, 1, 10**10),  # 1e-8 quote per base: an 8-decimal feed's smallest price
    (8, 10**26, MAX_PRICE),
    (8, 10**26 + 1, PAST["range"]),
    (18, 1, 1),  # 1 wei: the smallest price any feed can give
    (18, 10**36, MAX_PRICE),
    (18, 10**36 + 1, PAST["range"]),
    (20, 99, PAST["zero"]),  # below one wei once normalised
    (20, 100, 1),
    (20, 10**38 + 99, MAX_PRICE),  # the last two digits round down
    (20, 10**38 + 100, PAST["range"]),
    (36, 10**18 - 1, PAST["zero"]),
    (36, 10**18, 1),
    (36, 2**127 - 1, (2**127 - 1) // 10**18),  # MockOracle's largest answer
    (37, 10**19, PAST["unreadable"]),
]


@pytest.mark.parametrize("decimals, answer, expected", PRICE_EDGES)
def test_price_edges_through_set_oracles(deployment, decimals, answer, expected):
    """Both feeds answer `answer` with `decimals`: the market takes it as
    `expected` WAD (premium 0), or rejects it naming the index feed."""
    d = deployment
    d.advance(60)
    (index, index_feed), (mark, mark_feed) = (
        fresh_feed(d, answer, decimals),
        fresh_feed(d, answer, decimals),
    )
    if isinstance(expected, str):
        reject(
            d,
            d.owner,
            "set_oracles",
            index,
            mark,
            reason=f"price_feed: index {expected}",
            model_args=(d.owner, index_feed, mark_feed),
        )
        return
    set_oracles(d, (index, index_feed), (mark, mark_feed))
    assert d.market.sampled_price() == expected == d.model.sampled_price
    assert d.market.sampled_premium() == 0
    assert_in_step(d)


@pytest.mark.parametrize("decimals, answer, expected", [e for e in PRICE_EDGES if e[0] == 8])
def test_mark_price_edges_through_set_oracles(deployment, decimals, answer, expected):
    """The same edges on the mark alone, the index a plain 8-decimal feed."""
    d = deployment
    d.advance(60)
    (index, index_feed), (mark, mark_feed) = fresh_feed(d, 50_000 * 10**8), fresh_feed(d, answer)
    if isinstance(expected, str):
        reject(
            d,
            d.owner,
            "set_oracles",
            index,
            mark,
            reason=f"price_feed: mark {expected}",
            model_args=(d.owner, index_feed, mark_feed),
        )
        return
    set_oracles(d, (index, index_feed), (mark, mark_feed))
    assert d.market.sampled_premium() == premium(expected, 50_000 * WAD) == d.model.sampled_premium
    assert_in_step(d)


def set_oracles(d, index, mark):
    """The owner points the market at new feeds, each an (oracle, model feed)."""
    d.market.set_oracles(index[0], mark[0], sender=d.owner)
    d.model.set_oracles(d.owner, index[1], mark[1])


def wad_market(d, answer):
    """The owner moves the market to two 18-decimal feeds answering `answer`."""
    index, mark = fresh_feed(d, answer, 18), fresh_feed(d, answer, 18)
    set_oracles(d, index, mark)
    return index[0], mark[0]


def test_trading_at_the_largest_price(deployment, trader, counterparty, non_owner):
    """At MAX_PRICE a trade of 1 base (1e18 quote of notional) works; one wei
    higher, the reading is unusable: accrual keeps the sample and logs the
    status, trade says why, settlement still works."""
    d = deployment
    d.advance(60)
    index, mark = wad_market(d, MAX_PRICE)
    for account in (trader, counterparty):
        d.fund(account, 10**17 * 10**6)  # 1e17 quote: 10 % of the notional
        call(d, account, "deposit", 10**17 * 10**6)
    call(d, d.operator, "trade", trader, counterparty, WAD, MAX_PRICE)
    assert d.market.accounts(trader).margin == 10**35 - MAX_PRICE
    d.advance(600)
    for oracle, feed in ((index, d.model.index_feed), (mark, d.model.mark_feed)):
        oracle.submit(MAX_PRICE + 1, sender=d.feeder)
        feed.submit(MAX_PRICE + 1, d.model.now)
    call(d, non_owner, "accrue")
    (event,) = events("Accrued")
    assert (event.index_status, event.mark_status) == (6, 6)
    assert d.market.sampled_price() == MAX_PRICE
    args = (counterparty, trader, WAD, MAX_PRICE)
    reason = "price_feed: index answer out of range"
    reject(d, d.operator, "trade", *args, reason=reason, accounts=(trader, counterparty))
    paid, _ = call(d, non_owner, "settle", trader)
    assert paid > 0
    assert_in_step(d, trader, counterparty)


def test_trading_at_the_smallest_price(deployment, trader, counterparty):
    """At 1 wei per base (1e-18 quote) a trade works to the wei; the band around
    the mark is then zero wide, so only the mark itself is a valid price."""
    d = deployment
    d.advance(60)
    wad_market(d, 1)
    for account in (trader, counterparty):
        d.fund(account, 1)
        call(d, account, "deposit", 1)  # 1e12 wei of quote
    call(d, d.operator, "trade", trader, counterparty, 10**30, 1)  # 1e12 base, 1e12 wei
    assert d.market.accounts(trader).margin == 0
    reject(
        d,
        d.operator,
        "trade",
        trader,
        counterparty,
        WAD,
        2,
        reason="market: price outside the band around the mark",
        accounts=(trader, counterparty),
    )
    assert_in_step(d, trader, counterparty)


def test_index_resolution_at_the_bottom_of_the_envelope(deployment, non_owner):
    """At 1e-8 quote per base (an 8-decimal feed's smallest answer), with the
    default 0.01 % per 8 h, 12 s of funding move the index by 416.67 wei of
    quote per base: each accrual truncates it to 416, the documented one wei
    per accrual at most, here 0.16 % of the step. One 1,200 s gap loses 0.67."""
    d = deployment
    d.advance(60)
    set_oracles(d, fresh_feed(d, 1), fresh_feed(d, 1))
    start = d.market.funding_index()
    with rolled_back(d.model):
        d.advance(1_200)
        call(d, non_owner, "accrue")
        one_gap = d.market.funding_index() - start
    for _ in range(100):
        d.advance(12)
        call(d, non_owner, "accrue")
    assert 10**10 * 10**14 * 12 // (28_800 * WAD) == 416
    assert one_gap == 10**10 * 10**14 * 1_200 // (28_800 * WAD) == 41_666
    assert d.market.funding_index() - start == 100 * 416 == d.model.funding_index - start
    assert_in_step(d)


# ---------------------------------------------------------------- a century at the cap


YEAR = 365 * 86_400 + 86_400 // 4
CENTURY = 100 * YEAR
FASTEST = RateParameters(interval=MIN_INTERVAL, interest=10**15, dampener=10**16, cap=MAX_CAP)

# (index answer, mark answer, position) with 8-decimal answers; the premium is
# +-10 %, beyond the cap, so every interval after the first pays the cap.
CENTURY_CASES = {
    "largest price, longs pay": (9 * 10**25, 10**26, WAD),
    "largest price, shorts pay": (10**26, 9 * 10**25, WAD),
    "envelope position 1e12 base at 1e12 quote, longs pay": (9 * 10**19, 10**20, 10**30),
    "envelope position 1e12 base at 1e12 quote, shorts pay": (10**20, 9 * 10**19, 10**30),
}


@pytest.mark.parametrize("case", list(CENTURY_CASES))
def test_a_century_without_accrual_at_the_largest_cap(case):
    """Nobody accrues for 100 years at a 4 % cap per 1 h interval. One accrual
    then moves the index by the closed form, to the wei: the first interval at
    R(0) = I, every later one at the cap (the first interval's average is the
    premium held). Settling charges each side its position times that move:
    the payer's margin goes deeply negative, nothing reverts, contract ==
    reference. The insolvent payer can still be liquidated: its shortfall is
    socialised, or at the largest price, where it exceeds the loss index's
    room, recorded as unbacked."""
    index_answer, mark_answer, size = CENTURY_CASES[case]
    with boa.env.anchor():
        d = deploy(params=FASTEST, index_answer=index_answer, mark_answer=mark_answer)
        p, m = index_answer * 10**10, mark_answer * 10**10
        long, short, keeper = (boa.env.generate_address(n) for n in ("long", "short", "keeper"))
        deposit = size * m // WAD // SCALE * 2  # twice the notional, in token units
        for account in (long, short):
            d.fund(account, deposit)
            call(d, account, "deposit", deposit)
        call(d, d.operator, "trade", long, short, size, m)
        sign = 1 if mark_answer > index_answer else -1
        d.advance(CENTURY)
        call(d, keeper, "accrue")
        held = premium(m, p)
        assert abs(held) > FASTEST.cap and FASTEST.rate(held) == sign * FASTEST.cap
        rate_time = FASTEST.interest * MIN_INTERVAL + sign * FASTEST.cap * (CENTURY - MIN_INTERVAL)
        index = funding_delta(p, rate_time, MIN_INTERVAL)
        assert d.market.funding_index() == index == d.model.funding_index
        assert d.market.current_rate() == sign * FASTEST.cap
        paid, _ = call(d, keeper, "settle", long)
        received, _ = call(d, keeper, "settle", short)
        assert paid == owed(size, 0, index) and received == owed(-size, 0, index)
        payer = long if sign > 0 else short
        assert d.market.accounts(payer).margin < 0
        assert_in_step(d, long, short, keeper)
        d.submit(index_answer, mark_answer)
        _, (_, cover) = call(d, keeper, "liquidate", payer)
        assert d.market.accounts(payer).position == 0
        shortfall, by_insurance, socialised, unbacked, _ = cover
        (event,) = events("ShortfallCovered")
        assert (event.shortfall, event.by_insurance, event.socialised, event.unbacked) == cover[:4]
        # The winning side's loss index takes the rest while it has room (2**127
        # per base); at the largest price a century's funding exceeds it.
        rest = shortfall - by_insurance
        fits = -(-rest * WAD // d.market.open_interest()) <= 2**127 - 1
        assert rest > 0 and (socialised, unbacked) == ((rest, 0) if fits else (0, rest))
        assert fits == ("envelope" in case)
        assert_in_step(d, long, short, keeper)
        insurance = d.model.account(d.market.address)
        assert tuple(d.market.accounts(d.market.address)) == (
            insurance.margin,
            insurance.position,
            insurance.index_snapshot,
        )


# ---------------------------------------------------------------- the ledger's hard edges


LARGEST_DEPOSIT = MAX_COLLATERAL // SCALE  # token units: the market's collateral limit
COLLATERAL_LIMIT = "ledger: collateral above the market's limit of 1e39"
AMOUNT_LIMIT = "market: amount above the collateral limit of 1e39"
POSITION_LIMIT = "market: position above 1e12 base"


def test_the_largest_deposit_is_credited_and_withdrawn(deployment, trader):
    d = deployment
    d.fund(trader, LARGEST_DEPOSIT + 1)
    call(d, trader, "deposit", LARGEST_DEPOSIT)
    assert d.market.accounts(trader).margin == LARGEST_DEPOSIT * SCALE == MAX_COLLATERAL
    assert d.market.total_margin() == MAX_COLLATERAL
    # one more token is refused with the limit's reason, nothing moved
    reject(d, trader, "deposit", 1, reason=COLLATERAL_LIMIT)
    call(d, trader, "withdraw", LARGEST_DEPOSIT)
    assert d.token.balanceOf(trader) == LARGEST_DEPOSIT + 1
    assert_in_step(d, trader)


@pytest.mark.parametrize("name", ["deposit", "withdraw", "fund_insurance"])
def test_an_amount_past_the_limit_is_rejected_with_a_reason(deployment, trader, name):
    """Past the limit, and far past it (where token units times the scale would
    overflow 256 bits), every collateral call names the limit."""
    d = deployment
    d.fund(trader, 2**255)
    for amount in (LARGEST_DEPOSIT + 1, 2**255):
        reject(d, trader, name, amount, reason=AMOUNT_LIMIT)


def test_a_margin_cannot_be_built_near_the_int256_edge(deployment, trader, counterparty):
    """The collateral limit keeps every margin ~1e19 times below int256's range,
    so no settlement can overflow it (SECURITY.md §1): the attempt is refused."""
    refused = build_margin_at_the_edge(deployment, trader, counterparty, headroom=10**17)
    assert refused == AMOUNT_LIMIT


def build_margin_at_the_edge(d, short, long, headroom):
    """`short` tries to deposit enough to end a 1-base sale `headroom` wei below
    the int256 maximum. Returns the market's reason to refuse, else None."""
    deposit = (INT256_MAX - headroom - MARK) // SCALE  # the trade credits MARK
    d.fund(short, deposit + 1)
    d.fund(long, 10_000 * USD)
    call(d, long, "deposit", 10_000 * USD)
    try:
        d.market.deposit(deposit, sender=short)
    except boa.BoaError:
        return revert_reason(d.market, "deposit", deposit, sender=short) or "(no reason)"
    d.model.deposit(short, deposit)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    return None


def test_a_year_of_funding_at_the_envelope_edge_settles(
    deployment, trader, counterparty, non_owner
):
    """Half the collateral limit on each side of the largest position, a year
    unaccrued: settlement works, in step."""
    d = deployment
    d.fund(trader, LARGEST_DEPOSIT // 2)
    call(d, trader, "deposit", LARGEST_DEPOSIT // 2)
    d.fund(counterparty, LARGEST_DEPOSIT // 2)
    call(d, counterparty, "deposit", LARGEST_DEPOSIT // 2)
    call(d, d.operator, "trade", counterparty, trader, MAX_POSITION, MARK)
    d.advance(365 * 86_400)
    received, _ = call(d, non_owner, "settle", trader)
    assert received < 0
    call(d, non_owner, "settle", counterparty)
    assert_in_step(d, trader, counterparty)


MARGIN = 10_000 * USD * SCALE  # each side's margin before the trade


@pytest.fixture
def funded(deployment, trader, counterparty):
    for account in (trader, counterparty):
        deployment.fund(account, 10_000 * USD)
        call(deployment, account, "deposit", 10_000 * USD)
    return deployment


def test_the_largest_position_is_accepted_and_one_wei_more_refused(
    deployment, trader, counterparty
):
    d = deployment
    for account in (trader, counterparty):
        d.fund(account, 10**13 * USD)
        call(d, account, "deposit", 10**13 * USD)  # 1e13 quote: margin for 1e12 base at 0.1 %
    call(d, d.owner, "set_risk_parameters", 10**16, 5 * 10**15, 10**16, 0, 0)
    size = MAX_POSITION // 10**6  # 1e6 base at ~5e4: notional 5e10, within 1 % of 1e13
    call(d, d.operator, "trade", trader, counterparty, size, MARK)
    reject(
        d,
        d.operator,
        "trade",
        trader,
        counterparty,
        MAX_POSITION - size + 1,
        MARK,
        reason=POSITION_LIMIT,
        accounts=(trader, counterparty),
    )
    reject(
        d,
        d.operator,
        "trade",
        trader,
        counterparty,
        MAX_POSITION + 1,
        MARK,
        reason=POSITION_LIMIT,
        accounts=(trader, counterparty),
    )
    assert_in_step(d, trader, counterparty)


def test_a_trade_whose_notional_exceeds_256_bits_is_rejected_with_the_size_limit(
    funded, trader, counterparty
):
    size = (2**256 - 1) * WAD // MARK + 1
    args = (trader, counterparty, size, MARK)
    assert revert_reason(funded.market, "trade", *args, sender=funded.operator) == POSITION_LIMIT


# ---------------------------------------------------------------- every setter's bounds


BASE_RATE = dict(interval=MAX_INTERVAL, interest=0, dampener=5 * 10**14, cap=MAX_CAP)
INTERVAL_REASON = "premium_rate: interval outside 1 h..8 h"
INTEREST_REASON = "premium_rate: interest outside +-0.1 %"
DAMPENER_REASON = "premium_rate: dampener outside 0..1 %"
CAP_REASON = "premium_rate: cap outside 0.01 %..4 %"
INTEREST_CAP_REASON = "premium_rate: interest exceeds the cap"
# (field, value, None if accepted else the reason), the other fields at BASE_RATE.
RATE_EDGES = [
    ("interval", MIN_INTERVAL, None),
    ("interval", MAX_INTERVAL, None),
    ("interval", MIN_INTERVAL - 1, INTERVAL_REASON),
    ("interval", MAX_INTERVAL + 1, INTERVAL_REASON),
    ("interest", -(10**15), None),
    ("interest", 10**15, None),
    ("interest", -(10**15) - 1, INTEREST_REASON),
    ("interest", 10**15 + 1, INTEREST_REASON),
    ("dampener", 0, None),
    ("dampener", 10**16, None),
    ("dampener", -1, DAMPENER_REASON),
    ("dampener", 10**16 + 1, DAMPENER_REASON),
    ("cap", MIN_CAP, None),
    ("cap", MAX_CAP, None),
    ("cap", MIN_CAP - 1, CAP_REASON),
    ("cap", MAX_CAP + 1, CAP_REASON),
]
# |interest| <= cap: at the cap, and one past, both signs.
INTEREST_CAP_EDGES = [
    (dict(interest=5 * 10**14, cap=5 * 10**14), None),
    (dict(interest=-5 * 10**14, cap=5 * 10**14), None),
    (dict(interest=5 * 10**14 + 1, cap=5 * 10**14), INTEREST_CAP_REASON),
    (dict(interest=-5 * 10**14 - 1, cap=5 * 10**14), INTEREST_CAP_REASON),
]


@pytest.mark.parametrize(
    "change, reason",
    [({f: v}, r) for f, v, r in RATE_EDGES] + INTEREST_CAP_EDGES,
    ids=lambda x: str(x),
)
def test_set_rate_parameters_edges(deployment, change, reason):
    d = deployment
    d.advance(100)
    params = RateParameters(**(BASE_RATE | change))
    args = (params.interval, params.interest, params.dampener, params.cap)
    if reason is None:
        d.market.set_rate_parameters(*args, sender=d.owner)
        d.model.set_rate_parameters(d.owner, params)
        assert (d.market.interval(), d.market.interest(), d.market.dampener(), d.market.cap()) == (
            args
        )
        assert_in_step(d)
    else:
        reject(
            d,
            d.owner,
            "set_rate_parameters",
            *args,
            reason=reason,
            model_args=(d.owner, params),
        )


MAX_AGE_REASON = "market: max age outside 60 s..3 days"


@pytest.mark.parametrize(
    "max_age, reason",
    [(60, None), (3 * 86_400, None), (59, MAX_AGE_REASON), (3 * 86_400 + 1, MAX_AGE_REASON)],
)
def test_set_max_age_edges(deployment, max_age, reason):
    d = deployment
    d.advance(100)
    if reason is None:
        call(d, d.owner, "set_max_age", max_age)
        assert d.market.max_age() == max_age
        assert_in_step(d)
    else:
        reject(d, d.owner, "set_max_age", max_age, reason=reason)


BASE_RISK = RiskParameters(10**17, 5 * 10**16, 10**16, 5 * 10**15, 0)
IMR_REASON = "market: initial margin ratio outside 1 %..100 %"
MMR_REASON = "market: maintenance margin ratio outside 0.5 %..initial"
BAND_REASON = "market: price band outside 0.1 %..10 %"
FEE_REASON = "market: liquidation fee above 1 % or the maintenance ratio"
HORIZON_REASON = "market: funding horizon above 7 days"
# (changes to BASE_RISK, None if accepted else the reason)
RISK_EDGES = [
    (dict(initial_margin_ratio=10**16, maintenance_margin_ratio=10**16), None),
    (dict(initial_margin_ratio=10**18), None),
    (dict(initial_margin_ratio=10**16 - 1, maintenance_margin_ratio=5 * 10**15), IMR_REASON),
    (dict(initial_margin_ratio=10**18 + 1), IMR_REASON),
    (dict(maintenance_margin_ratio=5 * 10**15), None),
    (dict(maintenance_margin_ratio=10**17), None),  # = initial
    (dict(maintenance_margin_ratio=5 * 10**15 - 1, liquidation_fee=0), MMR_REASON),
    (dict(maintenance_margin_ratio=10**17 + 1), MMR_REASON),
    (dict(price_band=10**15), None),
    (dict(price_band=10**17), None),
    (dict(price_band=10**15 - 1), BAND_REASON),
    (dict(price_band=10**17 + 1), BAND_REASON),
    (dict(liquidation_fee=0), None),
    (dict(liquidation_fee=10**16), None),
    (dict(liquidation_fee=10**16 + 1), FEE_REASON),
    (dict(maintenance_margin_ratio=6 * 10**15, liquidation_fee=6 * 10**15), None),
    (dict(maintenance_margin_ratio=6 * 10**15, liquidation_fee=6 * 10**15 + 1), FEE_REASON),
    (dict(funding_horizon=0), None),
    (dict(funding_horizon=7 * 86_400), None),
    (dict(funding_horizon=7 * 86_400 + 1), HORIZON_REASON),
]


@pytest.mark.parametrize("change, reason", RISK_EDGES, ids=lambda x: str(x))
def test_set_risk_parameters_edges(deployment, change, reason):
    d = deployment
    risk = replace(BASE_RISK, **change)
    args = (
        risk.initial_margin_ratio,
        risk.maintenance_margin_ratio,
        risk.price_band,
        risk.liquidation_fee,
        risk.funding_horizon,
    )
    assert (risk.rejection() or None) == reason  # the reference agrees on the verdict
    if reason is None:
        call(d, d.owner, "set_risk_parameters", *args)
        assert_in_step(d)
    else:
        reject(d, d.owner, "set_risk_parameters", *args, reason=reason)


def test_the_largest_maintenance_ratio_makes_leveraged_positions_liquidatable(
    deployment, trader, counterparty, non_owner
):
    """The owner's reach (docs/SECURITY.md): within its bounds, a maintenance
    ratio of 100 % makes any position with less margin than its notional
    liquidatable, and the caller takes the fee (1 % of the notional at most)."""
    d = deployment
    open_position(d, trader, counterparty)  # 1/3 base long on 10,000: 60 % margin
    d.advance(60)
    call(d, d.owner, "set_risk_parameters", 10**18, 10**18, 10**16, 10**16, 0)
    fee, _ = call(d, non_owner, "liquidate", trader)
    assert fee is None  # the contract returns nothing; the model returns (fee, cover)
    assert d.market.accounts(trader).position == 0
    assert d.market.accounts(non_owner).margin == d.model.account(non_owner).margin > 0
    assert_in_step(d, trader, counterparty, non_owner)


@pytest.mark.parametrize("formula, reason", [(2, None), (3, "premium_rate: unknown formula")])
def test_constructor_formula_edge(deployment, formula, reason):
    d = deployment
    params = RateParameters(formula=formula)
    if reason is None:
        assert deploy_market(d, params=params).formula() == formula
        assert build_model(d, params=params).params.formula == formula
        return
    with boa.reverts(reason):
        deploy_market(d, params=params)
    assert params.rejection() == reason


def test_the_operator_can_be_set_to_nobody(deployment, trader, counterparty):
    """`set_operator` has no bound: the zero address leaves no one able to trade,
    a second way to stop trading (docs/SECURITY.md)."""
    d = deployment
    call(d, d.owner, "set_operator", ZERO_ADDRESS)
    reject(
        d,
        d.operator,
        "trade",
        trader,
        counterparty,
        WAD,
        MARK,
        reason="market: caller is not the operator",
    )
