"""Unit tests of FundingMarket.vy: every external function, its success path and
every rejection, checked against the reference model (fundingkit.market)."""

from dataclasses import astuple

import boa
import pytest
from deployers import MARKET, ORACLE, TOKEN

from fundingkit.deployment import market_constructor_args
from fundingkit.feeds import MockFeed
from fundingkit.market import ZERO_ADDRESS, MarketModel, Rejected, RiskParameters, owed
from fundingkit.rates import RateParameters, premium

WAD = 10**18
USD = 10**6  # one token unit of the 6-decimal collateral
SCALE = 10**12  # 10**(18 - 6)
INDEX = 50_000 * WAD  # the fixture's feed answers, in WAD
MARK = 50_050 * WAD
THIRD = 333_333_333_333_333_333  # 1/3 base: leaves a wei remainder in most products
MAX_AGE = 3_600
DEFAULT_PARAMS = RateParameters()

# ---------------------------------------------------------------- helpers


def chain_state(d, *accounts):
    """Every storage view the model mirrors, read from the contract."""
    m = d.market
    return dict(
        funding_index=m.funding_index(),
        last_accrual=m.last_accrual(),
        sampled_price=m.sampled_price(),
        sampled_premium=m.sampled_premium(),
        interval_start=m.interval_start(),
        premium_sum=m.premium_sum(),
        last_premium_average=m.last_premium_average(),
        params=(m.interval(), m.interest(), m.dampener(), m.cap()),
        total_collateral=m.total_collateral(),
        surplus=m.surplus(),
        paused=m.paused(),
        owner=str(m.owner()).lower(),
        pending_owner=str(m.pending_owner()).lower(),
        operator=str(m.operator()).lower(),
        max_age=m.max_age(),
        risk=(
            m.initial_margin_ratio(),
            m.maintenance_margin_ratio(),
            m.price_band(),
            m.liquidation_fee(),
            m.funding_horizon(),
        ),
        open_interest=m.open_interest(),
        socialised_losses=tuple(m.socialised_losses()),
        accounts={a: tuple(m.accounts(a)) for a in accounts},
        wallets={a: d.token.balanceOf(a) for a in accounts},
    )


def model_state(d, *accounts):
    md = d.model
    s, p = md.interval_state, md.params
    return dict(
        funding_index=md.funding_index,
        last_accrual=md.last_accrual,
        sampled_price=md.sampled_price,
        sampled_premium=md.sampled_premium,
        interval_start=s.interval_start,
        premium_sum=s.premium_sum,
        last_premium_average=s.last_premium_average,
        params=(p.interval, p.interest, p.dampener, p.cap),
        total_collateral=md.total_collateral,
        surplus=md.surplus,
        paused=md.paused,
        owner=str(md.owner).lower(),
        pending_owner=str(md.pending_owner or ZERO_ADDRESS).lower(),
        operator=str(md.operator).lower(),
        max_age=md.max_age,
        risk=astuple(md.risk),
        open_interest=md.open_interest,
        socialised_losses=(md.long_loss, md.short_loss),
        accounts={a: _account_tuple(md.account(a)) for a in accounts},
        wallets={a: md.wallet.get(a, 0) for a in accounts},
    )


def _account_tuple(account):
    return (account.margin, account.position, account.index_snapshot)


def snapshot(d, *accounts):
    """The contract's state, plus what the model does not hold."""
    m = d.market
    return dict(
        chain_state(d, *accounts),
        market_balance=d.token.balanceOf(m),
        oracles=(m.index_oracle(), m.mark_oracle()),
        views=(m.current_funding_index(), m.current_rate(), m.next_rate(), m.total_margin()),
    )


def assert_in_step(d, *accounts):
    assert chain_state(d, *accounts) == model_state(d, *accounts)


LAST_LOGS = []  # the market's logs of the last `call` or `record`


def record(contract):
    """Keeps the logs of `contract`'s last transaction (a later view call drops them)."""
    LAST_LOGS[:] = contract.get_logs()


def events(name):
    return [log for log in LAST_LOGS if type(log).__name__ == name]


def call(d, caller, name, *args):
    """Makes the same call on the contract and the model; returns both results."""
    result = getattr(d.market, name)(*args, sender=caller)
    record(d.market)
    model_args = args if name in ("accrue", "settle") else (caller, *args)
    return result, getattr(d.model, name)(*model_args)


def reject(d, caller, name, *args, reason, accounts=(), model_args=None):
    """The contract reverts with `reason` and changes nothing; so does the model."""
    accounts = tuple(dict.fromkeys((*accounts, caller)))
    before = snapshot(d, *accounts)
    with boa.reverts(reason):
        getattr(d.market, name)(*args, sender=caller)
    assert snapshot(d, *accounts) == before
    model_args = (caller, *args) if model_args is None else model_args
    with pytest.raises(Rejected) as info:
        getattr(d.model, name)(*model_args)
    assert info.value.reason == reason
    assert_in_step(d, *accounts)


def fund_and_deposit(d, account, usd):
    d.fund(account, usd * USD)
    call(d, account, "deposit", usd * USD)


def open_position(d, buyer, seller, size=THIRD, price=MARK, buyer_usd=10_000, seller_usd=10_000):
    if buyer_usd:
        fund_and_deposit(d, buyer, buyer_usd)
    if seller_usd:
        fund_and_deposit(d, seller, seller_usd)
    call(d, d.operator, "trade", buyer, seller, size, price)


def submit_round(d, which, answer, started_at, updated_at):
    """Feeder records a round with chosen timestamps on the chain and in the model."""
    oracle = d.index_oracle if which == "index" else d.mark_oracle
    feed = d.model.index_feed if which == "index" else d.model.mark_feed
    oracle.submit_round(answer, started_at, updated_at, sender=d.feeder)
    feed.submit_round(answer, started_at, updated_at)


def break_feed(d, which, fault):
    """Leaves `which` feed unusable with `fault` and the other one fresh."""
    now = d.model.now
    answer = 50_000 * 10**8
    if fault == "stale":
        d.advance(MAX_AGE + 1)
        if which == "index":
            d.submit(None, 50_050 * 10**8)
        else:
            d.submit(answer, None)
    elif fault == "zero":
        submit_round(d, which, 0, now, now)
    elif fault == "negative":
        submit_round(d, which, -1, now, now)
    elif fault == "future":
        submit_round(d, which, answer, now + 1, now + 1)
    elif fault == "incomplete":
        submit_round(d, which, answer, now, 0)
    elif fault == "out_of_range":
        submit_round(d, which, OUT_OF_RANGE_ANSWER, now, now)


# An 8-decimal answer whose WAD price exceeds price_feed.MAX_PRICE (1e36).
OUT_OF_RANGE_ANSWER = 10**26 + 1

FAULT_REASONS = {
    "stale": "answer stale",
    "zero": "answer not positive",
    "negative": "answer not positive",
    "future": "round from the future",
    "incomplete": "round incomplete",
    "out_of_range": "answer out of range",
}


def new_oracle(d, decimals=8):
    with boa.env.prank(d.owner):
        return ORACLE.deploy(decimals, "NEW / USD", d.feeder)


def fresh_feed(d, answer, decimals=8):
    """A new oracle with one fresh round, and its model copy."""
    oracle, feed = new_oracle(d, decimals), MockFeed(decimals)
    oracle.submit(answer, sender=d.feeder)
    feed.submit(answer, d.model.now)
    return oracle, feed


def faulty_feed(d, fault):
    """A new oracle whose latest round shows `fault` ("none": no round at all)."""
    oracle, feed = new_oracle(d), MockFeed(8)
    now, answer = d.model.now, 50_000 * 10**8
    rounds = {
        "none": None,
        "zero": (0, now, now),
        "negative": (-(10**8), now, now),
        "stale": (answer, now - MAX_AGE - 1, now - MAX_AGE - 1),
        "future": (answer, now + 1, now + 1),
        "incomplete": (answer, now, 0),
        "out_of_range": (OUT_OF_RANGE_ANSWER, now, now),
    }[fault]
    if rounds is not None:
        oracle.submit_round(*rounds, sender=d.feeder)
        feed.submit_round(*rounds)
    return oracle, feed


CONSTRUCTOR_FAULTS = {"none": "feed unreadable", **FAULT_REASONS}


def deploy_market(d, *, token=None, index=None, mark=None, params=DEFAULT_PARAMS, **kw):
    args = dict(max_age=MAX_AGE, risk=RiskParameters()) | kw
    with boa.env.prank(d.owner):
        return MARKET.deploy(
            *market_constructor_args(
                token or d.token,
                index or d.index_oracle,
                mark or d.mark_oracle,
                d.operator,
                params,
                **args,
            )
        )


def build_model(d, *, index_feed=None, mark_feed=None, params=DEFAULT_PARAMS, **kw):
    args = dict(max_age=MAX_AGE, risk=RiskParameters()) | kw
    return MarketModel(
        now=d.model.now,
        owner=d.owner,
        operator=d.operator,
        index_feed=index_feed or d.model.index_feed,
        mark_feed=mark_feed or d.model.mark_feed,
        params=params,
        **args,
    )


def reject_deploy(d, reason, model_kw=None, **kw):
    with boa.reverts(reason):
        deploy_market(d, **kw)
    model_kw = kw if model_kw is None else model_kw
    with pytest.raises(Rejected) as info:
        build_model(d, **model_kw)
    assert info.value.reason == reason


def logs_named(contract, name):
    record(contract)
    return events(name)


BAD_RATE_PARAMETERS = [
    (dict(interval=3_599), "premium_rate: interval outside 1 h..8 h"),
    (dict(interval=28_801), "premium_rate: interval outside 1 h..8 h"),
    (dict(interest=10**15 + 1), "premium_rate: interest outside +-0.1 %"),
    (dict(interest=-(10**15) - 1), "premium_rate: interest outside +-0.1 %"),
    (dict(dampener=-1), "premium_rate: dampener outside 0..1 %"),
    (dict(dampener=10**16 + 1), "premium_rate: dampener outside 0..1 %"),
    (dict(cap=10**14 - 1), "premium_rate: cap outside 0.01 %..4 %"),
    (dict(cap=4 * 10**16 + 1), "premium_rate: cap outside 0.01 %..4 %"),
    (dict(interest=2 * 10**14, cap=10**14), "premium_rate: interest exceeds the cap"),
    (dict(interest=-2 * 10**14, cap=10**14), "premium_rate: interest exceeds the cap"),
]
IMR_REASON = "market: initial margin ratio outside 1 %..100 %"
BAND_REASON = "market: price band outside 0.1 %..10 %"
MMR_REASON = "market: maintenance margin ratio outside 0.5 %..initial"
FEE_REASON = "market: liquidation fee above 1 % or the maintenance ratio"
HORIZON_REASON = "market: funding horizon above 7 days"
# (initial, maintenance, band, fee, horizon) just past each bound, with the reason.
BAD_RISK_PARAMETERS = [
    ((10**16 - 1, 5 * 10**15, 10**16, 0, 0), IMR_REASON),
    ((10**18 + 1, 5 * 10**16, 10**16, 0, 0), IMR_REASON),
    ((10**17, 5 * 10**15 - 1, 10**16, 0, 0), MMR_REASON),
    ((10**17, 10**17 + 1, 10**16, 0, 0), MMR_REASON),
    ((10**17, 5 * 10**16, 10**15 - 1, 0, 0), BAND_REASON),
    ((10**17, 5 * 10**16, 10**17 + 1, 0, 0), BAND_REASON),
    ((10**17, 5 * 10**16, 10**16, 10**16 + 1, 0), FEE_REASON),
    ((10**17, 6 * 10**15, 10**16, 6 * 10**15 + 1, 0), FEE_REASON),
    ((10**17, 5 * 10**16, 10**16, 0, 7 * 86_400 + 1), HORIZON_REASON),
]
# ... and at each bound.
GOOD_RISK_PARAMETERS = [
    (10**16, 5 * 10**15, 10**15, 0, 0),
    (10**18, 10**18, 10**17, 10**16, 7 * 86_400),
    (10**17, 5 * 10**15, 10**16, 5 * 10**15, 3_600),
]
MAX_AGE_REASON = "market: max age outside 60 s..3 days"


# ---------------------------------------------------------------- constructor


class TestConstructor:
    def test_initial_state_and_event(self, deployment):
        d = deployment
        market = deploy_market(d)
        (event,) = logs_named(market, "MarketInitialised")
        assert market.COLLATERAL() == d.token.address
        assert market.COLLATERAL_SCALE() == SCALE
        assert market.owner() == d.owner and market.operator() == d.operator
        assert (market.index_oracle(), market.mark_oracle()) == (
            d.index_oracle.address,
            d.mark_oracle.address,
        )
        assert market.sampled_price() == INDEX
        assert market.sampled_premium() == premium(MARK, INDEX) == 10**15
        assert market.interval_start() == market.last_accrual() == d.model.now
        assert not market.paused()
        p = RateParameters()
        assert event.collateral == d.token.address and event.collateral_scale == SCALE
        assert (event.index_oracle, event.mark_oracle) == (
            d.index_oracle.address,
            d.mark_oracle.address,
        )
        assert (event.interval, event.interest, event.dampener, event.cap) == (
            p.interval,
            p.interest,
            p.dampener,
            p.cap,
        )
        assert (event.max_age, event.index_price, event.mark_price) == (MAX_AGE, INDEX, MARK)
        assert event.timestamp == d.model.now

    def test_18_decimal_collateral_has_scale_one(self, deployment):
        with boa.env.prank(deployment.owner):
            token = TOKEN.deploy("Wad USD", "WUSD", 18)
        assert deploy_market(deployment, token=token).COLLATERAL_SCALE() == 1

    def test_rejects_collateral_with_19_decimals(self, deployment):
        with boa.env.prank(deployment.owner):
            token = TOKEN.deploy("Fine USD", "FUSD", 19)
        reject_deploy(
            deployment,
            "market: collateral has more than 18 decimals",
            token=token,
            model_kw=dict(collateral_decimals=19),
        )

    @pytest.mark.parametrize("max_age", [59, 3 * 86_400 + 1])
    def test_rejects_max_age_out_of_bounds(self, deployment, max_age):
        reject_deploy(deployment, MAX_AGE_REASON, max_age=max_age)

    @pytest.mark.parametrize("max_age", [60, 3 * 86_400])
    def test_accepts_max_age_at_bounds(self, deployment, max_age):
        assert deploy_market(deployment, max_age=max_age).max_age() == max_age

    @pytest.mark.parametrize("change, reason", BAD_RATE_PARAMETERS)
    def test_rejects_rate_parameter_out_of_bounds(self, deployment, change, reason):
        reject_deploy(deployment, reason, params=RateParameters(**change))

    @pytest.mark.parametrize("risk, reason", BAD_RISK_PARAMETERS)
    def test_rejects_risk_parameter_out_of_bounds(self, deployment, risk, reason):
        reject_deploy(deployment, reason, risk=RiskParameters(*risk))

    @pytest.mark.parametrize("which", ["index", "mark"])
    @pytest.mark.parametrize("fault", list(CONSTRUCTOR_FAULTS))
    def test_rejects_unusable_feed(self, deployment, which, fault):
        d = deployment
        oracle, feed = faulty_feed(d, fault)
        reason = f"price_feed: {which} {CONSTRUCTOR_FAULTS[fault]}"
        with boa.reverts(reason):
            deploy_market(d, **{which: oracle})
        with pytest.raises(Rejected) as info:
            build_model(d, **{f"{which}_feed": feed})
        assert info.value.reason == reason

    def test_index_feed_is_checked_before_mark_feed(self, deployment):
        d = deployment
        (index, _), (mark, _) = faulty_feed(d, "stale"), faulty_feed(d, "zero")
        with boa.reverts("price_feed: index answer stale"):
            deploy_market(d, index=index, mark=mark)


# ---------------------------------------------------------------- accrue


class TestAccrue:
    def test_accrues_and_logs_the_readings(self, deployment, non_owner):
        d = deployment
        d.advance(600)
        d.submit(49_000 * 10**8, 49_100 * 10**8)
        assert call(d, non_owner, "accrue")[1] is True
        assert d.market.funding_index() > 0
        (event,) = events("Accrued")
        assert event.timestamp == d.model.now
        assert event.funding_index == d.model.funding_index
        assert (event.index_price, event.mark_price) == (49_000 * WAD, 49_100 * WAD)
        assert (event.index_round, event.mark_round) == (2, 2)
        assert (event.index_status, event.mark_status) == (0, 0)
        assert d.market.sampled_price() == 49_000 * WAD
        assert d.market.sampled_premium() == premium(49_100 * WAD, 49_000 * WAD)
        assert_in_step(d)

    def test_second_accrue_in_the_same_block_does_nothing(self, deployment, non_owner):
        d = deployment
        d.advance(600)
        call(d, non_owner, "accrue")
        d.submit(40_000 * 10**8, 40_000 * 10**8)
        before = snapshot(d)
        _, accrued = call(d, non_owner, "accrue")
        assert accrued is False
        assert LAST_LOGS == []
        assert snapshot(d) == before
        assert d.market.sampled_price() == INDEX  # the new answers were not sampled
        assert_in_step(d)

    def test_stale_index_keeps_previous_samples_and_logs_status(self, deployment, non_owner):
        d = deployment
        d.advance(MAX_AGE + 1)
        call(d, non_owner, "accrue")
        (event,) = events("Accrued")
        assert (event.index_price, event.mark_price) == (0, 0)
        assert (event.index_status, event.mark_status) == (5, 5)
        assert d.market.sampled_price() == INDEX
        assert d.market.sampled_premium() == 10**15
        assert_in_step(d)

    def test_bad_mark_keeps_premium_but_samples_index(self, deployment, non_owner):
        d = deployment
        d.advance(60)
        d.submit(48_000 * 10**8, 0)
        call(d, non_owner, "accrue")
        (event,) = events("Accrued")
        assert (event.index_status, event.mark_status) == (0, 2)
        assert d.market.sampled_price() == 48_000 * WAD
        assert d.market.sampled_premium() == 10**15
        assert_in_step(d)


# ---------------------------------------------------------------- settle


class TestSettle:
    @pytest.fixture
    def positions(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty)  # trader long 1/3, counterparty short 1/3
        d.advance(3_600)
        return d

    def test_payer_owes_rounded_up(self, positions, trader, non_owner):
        d = positions
        snapshot_before = d.market.accounts(trader).index_snapshot
        margin_before = d.market.accounts(trader).margin
        paid, expected = call(d, non_owner, "settle", trader)  # anyone settles anyone
        index = d.market.funding_index()
        assert index == 625 * 10**15  # 50,000 * 0.01 % * 1 h / 8 h
        assert THIRD * (index - snapshot_before) % WAD != 0  # a wei remainder
        assert paid == expected == owed(THIRD, snapshot_before, index) == 208_333_333_333_333_334
        assert d.market.accounts(trader).margin == margin_before - paid
        assert d.market.accounts(trader).index_snapshot == index
        (event,) = events("FundingSettled")
        assert (event.account, event.owed, event.position) == (trader, paid, THIRD)
        assert_in_step(d, trader)

    def test_receiver_gets_rounded_down(self, positions, counterparty, non_owner):
        d = positions
        received, expected = call(d, non_owner, "settle", counterparty)
        assert (
            received
            == expected
            == owed(-THIRD, 0, d.market.funding_index())
            == -208_333_333_333_333_333
        )
        assert_in_step(d, counterparty)

    def test_both_settled_leaves_one_wei_surplus(self, positions, trader, counterparty, non_owner):
        d = positions
        surplus_before = d.market.surplus()
        call(d, non_owner, "settle", trader)
        call(d, non_owner, "settle", counterparty)
        assert d.market.surplus() - surplus_before == 1
        assert_in_step(d, trader, counterparty)

    def test_flat_account_owes_nothing_and_moves_snapshot(self, positions, non_owner):
        d = positions
        paid, expected = call(d, non_owner, "settle", non_owner)
        assert paid == expected == 0
        assert d.market.accounts(non_owner).index_snapshot == d.market.funding_index()
        assert_in_step(d, non_owner)

    def test_second_settle_charges_nothing(self, positions, trader):
        d = positions
        call(d, trader, "settle", trader)
        assert call(d, trader, "settle", trader) == (0, 0)


# ---------------------------------------------------------------- deposit


class TestDeposit:
    def test_moves_tokens_and_credits_scaled_margin(self, deployment, trader):
        d = deployment
        d.fund(trader, 1_234 * USD + 5)
        call(d, trader, "deposit", 1_234 * USD + 5)
        assert d.token.balanceOf(trader) == 0
        assert d.token.balanceOf(d.market) == 1_234 * USD + 5
        assert d.market.accounts(trader).margin == (1_234 * USD + 5) * SCALE
        assert d.market.total_collateral() == (1_234 * USD + 5) * SCALE
        assert d.market.total_margin() == (1_234 * USD + 5) * SCALE
        (event,) = events("Deposited")
        assert (event.account, event.amount, event.margin) == (
            trader,
            1_234 * USD + 5,
            (1_234 * USD + 5) * SCALE,
        )
        assert_in_step(d, trader)

    def test_settles_before_crediting(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty)
        d.advance(3_600)
        d.fund(trader, 100 * USD)
        call(d, trader, "deposit", 100 * USD)
        assert d.market.accounts(trader).index_snapshot == d.market.funding_index() > 0
        assert_in_step(d, trader, counterparty)

    def test_rejects_zero_amount(self, deployment, trader):
        deployment.fund(trader, 10 * USD)
        reject(deployment, trader, "deposit", 0, reason="market: amount is zero")

    def test_works_while_paused(self, deployment, trader):
        """A trader can always add margin: a pause never stops deposits."""
        d = deployment
        d.fund(trader, 10 * USD)
        call(d, d.owner, "pause")
        call(d, trader, "deposit", 10 * USD)
        assert d.market.accounts(trader).margin == 10 * USD * SCALE
        assert_in_step(d, trader)

    def test_rejects_without_allowance(self, deployment, trader):
        d = deployment
        d.token.mint(trader, 10 * USD, sender=d.owner)
        d.model.mint(trader, 10 * USD)
        reject(d, trader, "deposit", 10 * USD, reason="erc20: insufficient allowance")

    def test_rejects_more_than_the_balance(self, deployment, trader):
        d = deployment
        d.fund(trader, 10 * USD)
        reject(d, trader, "deposit", 10 * USD + 1, reason="erc20: transfer amount exceeds balance")


# ---------------------------------------------------------------- withdraw


class TestWithdraw:
    def test_flat_account_withdraws_its_margin(self, deployment, trader):
        d = deployment
        fund_and_deposit(d, trader, 500)
        call(d, trader, "withdraw", 200 * USD)
        assert d.token.balanceOf(trader) == 200 * USD
        assert d.token.balanceOf(d.market) == 300 * USD
        assert d.market.accounts(trader).margin == 300 * USD * SCALE
        (event,) = events("Withdrawn")
        assert (event.account, event.amount, event.margin) == (trader, 200 * USD, 300 * USD * SCALE)
        call(d, trader, "withdraw", 300 * USD)  # all of it
        assert d.market.accounts(trader).margin == 0
        assert_in_step(d, trader)

    def test_rejects_zero_amount(self, deployment, trader):
        fund_and_deposit(deployment, trader, 500)
        reject(deployment, trader, "withdraw", 0, reason="market: amount is zero")

    def test_rejects_more_than_margin_when_flat(self, deployment, trader, counterparty):
        d = deployment
        fund_and_deposit(d, trader, 500)
        fund_and_deposit(d, counterparty, 500)
        reject(d, trader, "withdraw", 500 * USD + 1, reason="market: amount exceeds margin")

    def test_position_withdraws_down_to_initial_margin(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty, buyer_usd=2_000)
        call(d, trader, "withdraw", 300 * USD)
        account = d.model.account(trader)
        worth = min(d.model._value(account, INDEX), d.model.principal[trader])
        assert d.model._meets_margin(account, INDEX, 10**17, worth)
        assert d.market.principal(trader) == d.model.principal[trader] == 1_700 * USD * SCALE
        assert_in_step(d, trader, counterparty)

    def test_rejects_below_initial_margin_with_position(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty, buyer_usd=2_000)
        reject(
            d,
            trader,
            "withdraw",
            400 * USD,
            reason="market: withdrawal leaves margin below initial",
            accounts=(counterparty,),
        )

    def test_stale_index_blocks_withdrawal_with_position(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty)
        d.advance(MAX_AGE + 1)
        reject(
            d,
            trader,
            "withdraw",
            1,
            reason="price_feed: index answer stale",
            accounts=(counterparty,),
        )

    def test_stale_index_does_not_block_flat_withdrawal(self, deployment, trader):
        d = deployment
        fund_and_deposit(d, trader, 500)
        d.advance(MAX_AGE + 1)
        call(d, trader, "withdraw", 500 * USD)
        assert d.token.balanceOf(trader) == 500 * USD
        assert_in_step(d, trader)

    def test_flat_account_withdraws_while_paused(self, deployment, trader):
        d = deployment
        fund_and_deposit(d, trader, 500)
        call(d, d.owner, "pause")
        call(d, trader, "withdraw", 500 * USD)
        assert d.token.balanceOf(trader) == 500 * USD
        assert_in_step(d, trader)

    def test_rejects_more_than_the_market_holds(self, deployment, trader, counterparty, non_owner):
        d = deployment
        open_position(d, trader, counterparty, size=WAD, buyer_usd=5_100, seller_usd=5_000)
        d.submit(40_000 * 10**8, 40_000 * 10**8)
        fund_and_deposit(d, non_owner, 4_000)
        call(
            d, d.operator, "trade", counterparty, non_owner, WAD, 40_000 * WAD
        )  # counterparty closes
        margin = d.market.accounts(counterparty).margin
        assert margin == 15_050 * WAD > d.market.total_collateral() == 14_100 * WAD
        reject(
            d,
            counterparty,
            "withdraw",
            15_050 * USD,
            reason="ledger: market holds less collateral until payers settle",
            accounts=(trader, non_owner),
        )


# ---------------------------------------------------------------- trade


class TestTrade:
    def test_moves_position_and_notional(self, deployment, trader, counterparty):
        d = deployment
        fund_and_deposit(d, trader, 10_000)
        fund_and_deposit(d, counterparty, 10_000)
        price = MARK + 123_456_789  # leaves a wei between paid and received
        call(d, d.operator, "trade", trader, counterparty, THIRD, price)
        buyer, seller = d.market.accounts(trader), d.market.accounts(counterparty)
        assert (buyer.position, seller.position) == (THIRD, -THIRD)
        assert buyer.margin == 10_000 * WAD - (THIRD * price + WAD - 1) // WAD
        assert seller.margin == 10_000 * WAD + THIRD * price // WAD
        assert d.market.surplus() == 1
        (event,) = events("Traded")
        assert (event.buyer, event.seller, event.size, event.price) == (
            trader,
            counterparty,
            THIRD,
            price,
        )
        assert (event.index_price, event.mark_price) == (INDEX, MARK)
        assert_in_step(d, trader, counterparty)

    def test_rejects_non_operator(self, deployment, trader, counterparty, non_owner):
        reject(
            deployment,
            non_owner,
            "trade",
            trader,
            counterparty,
            WAD,
            MARK,
            reason="market: caller is not the operator",
        )

    def test_rejects_adding_exposure_while_paused(self, deployment, trader, counterparty):
        d = deployment
        call(d, d.owner, "pause")
        reject(
            d,
            d.operator,
            "trade",
            trader,
            counterparty,
            WAD,
            MARK,
            reason="market: only trades that reduce (paused or bad debt)",
        )

    @pytest.mark.parametrize("side", ["buyer", "seller"])
    def test_rejects_zero_address(self, deployment, counterparty, side):
        d = deployment
        accounts = (ZERO_ADDRESS, counterparty) if side == "buyer" else (counterparty, ZERO_ADDRESS)
        reject(
            d,
            d.operator,
            "trade",
            *accounts,
            WAD,
            MARK,
            reason="market: account is the zero address",
        )

    def test_rejects_same_account(self, deployment, trader):
        reject(
            deployment,
            deployment.operator,
            "trade",
            trader,
            trader,
            WAD,
            MARK,
            reason="market: buyer and seller are the same account",
        )

    def test_rejects_zero_size(self, deployment, trader, counterparty):
        reject(
            deployment,
            deployment.operator,
            "trade",
            trader,
            counterparty,
            0,
            MARK,
            reason="market: size is zero",
        )

    @pytest.mark.parametrize("which", ["index", "mark"])
    @pytest.mark.parametrize("fault", list(FAULT_REASONS))
    def test_rejects_unusable_feed(self, deployment, trader, counterparty, which, fault):
        d = deployment
        fund_and_deposit(d, trader, 10_000)
        fund_and_deposit(d, counterparty, 10_000)
        break_feed(d, which, fault)
        reject(
            d,
            d.operator,
            "trade",
            trader,
            counterparty,
            THIRD,
            MARK,
            reason=f"price_feed: {which} {FAULT_REASONS[fault]}",
            accounts=(trader, counterparty),
        )

    def test_accepts_feeds_exactly_max_age_old(self, deployment, trader, counterparty):
        d = deployment
        fund_and_deposit(d, trader, 10_000)
        fund_and_deposit(d, counterparty, 10_000)
        d.advance(MAX_AGE)
        call(d, d.operator, "trade", trader, counterparty, THIRD, MARK)
        assert_in_step(d, trader, counterparty)

    @pytest.mark.parametrize("side", [1, -1])
    def test_rejects_price_just_outside_the_band(self, deployment, trader, counterparty, side):
        d = deployment
        fund_and_deposit(d, trader, 10_000)
        fund_and_deposit(d, counterparty, 10_000)
        edge = MARK * 10**16 // WAD  # 1 % of the mark
        reject(
            d,
            d.operator,
            "trade",
            trader,
            counterparty,
            THIRD,
            MARK + side * (edge + 1),
            reason="market: price outside the band around the mark",
            accounts=(trader, counterparty),
        )

    @pytest.mark.parametrize("side", [1, -1])
    def test_accepts_price_at_the_band_edge(self, deployment, trader, counterparty, side):
        d = deployment
        fund_and_deposit(d, trader, 10_000)
        fund_and_deposit(d, counterparty, 10_000)
        call(
            d,
            d.operator,
            "trade",
            trader,
            counterparty,
            THIRD,
            MARK + side * (MARK * 10**16 // WAD),
        )
        assert_in_step(d, trader, counterparty)

    def test_rejects_buyer_below_initial_margin(self, deployment, trader, counterparty):
        d = deployment
        fund_and_deposit(d, counterparty, 10_000)
        reject(
            d,
            d.operator,
            "trade",
            trader,
            counterparty,
            THIRD,
            MARK,
            reason="market: buyer below initial margin or under water",
            accounts=(trader, counterparty),
        )

    def test_rejects_seller_below_initial_margin(self, deployment, trader, counterparty):
        d = deployment
        fund_and_deposit(d, trader, 10_000)
        reject(
            d,
            d.operator,
            "trade",
            trader,
            counterparty,
            THIRD,
            MARK,
            reason="market: seller below initial margin or under water",
            accounts=(trader, counterparty),
        )

    def test_reducing_trade_allowed_under_margin(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty, buyer_usd=2_000)
        d.submit(48_000 * 10**8, 48_000 * 10**8)
        account = d.model.account(trader)
        worth = d.model._value(account, 48_000 * WAD)
        assert worth > 0 and not d.model._meets_margin(account, 48_000 * WAD, 10**17, worth)
        call(d, d.operator, "trade", counterparty, trader, THIRD // 2, 48_000 * WAD)
        assert d.market.accounts(trader).position == THIRD - THIRD // 2
        assert_in_step(d, trader, counterparty)

    def test_flipping_side_under_margin_is_rejected(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty, buyer_usd=2_000)
        d.submit(48_000 * 10**8, 48_000 * 10**8)
        reject(
            d,
            d.operator,
            "trade",
            counterparty,
            trader,
            THIRD + 3 * 10**17,
            48_000 * WAD,
            reason="market: seller below initial margin or under water",
            accounts=(trader, counterparty),
        )


# ---------------------------------------------------------------- set_operator


class TestSetOperator:
    def test_owner_replaces_operator(self, deployment, non_owner, trader, counterparty):
        d = deployment
        call(d, d.owner, "set_operator", non_owner)
        assert d.market.operator() == non_owner
        (event,) = events("OperatorChanged")
        assert event.operator == non_owner
        with boa.reverts("market: caller is not the operator"):
            d.market.trade(trader, counterparty, WAD, MARK, sender=d.operator)
        assert_in_step(d)

    def test_rejects_non_owner(self, deployment, non_owner):
        reject(
            deployment,
            non_owner,
            "set_operator",
            non_owner,
            reason="ownable: caller is not the owner",
        )


# ---------------------------------------------------------------- set_rate_parameters


class TestSetRateParameters:
    NEW = RateParameters(interval=3_600, interest=-(10**15), dampener=10**16, cap=10**15)

    def _set(self, d, params):
        d.market.set_rate_parameters(
            params.interval, params.interest, params.dampener, params.cap, sender=d.owner
        )
        record(d.market)
        d.model.set_rate_parameters(d.owner, params)

    def test_accrues_with_old_parameters_first(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty)
        d.advance(5_000)
        self._set(d, self.NEW)
        assert d.market.last_accrual() == d.model.now
        assert d.market.funding_index() == 5_000 * 5 * 10**22 * 10**14 // (28_800 * WAD)
        (event,) = events("RateParametersChanged")
        assert (event.interval, event.interest, event.dampener, event.cap) == (
            3_600,
            -(10**15),
            10**16,
            10**15,
        )
        assert d.market.interval_start() == d.model.now  # a new interval closes the one in progress
        assert d.market.last_premium_average() == 10**15
        d.advance(7_000)
        call(d, trader, "settle", trader)
        assert_in_step(d, trader, counterparty)

    @pytest.mark.parametrize(
        "params",
        [
            RateParameters(3_600, -(10**14), 0, 10**14),
            RateParameters(3_600, -(10**15), 0, 10**15),
            RateParameters(28_800, 10**15, 10**16, 4 * 10**16),
        ],
    )
    def test_accepts_bounds(self, deployment, params):
        d = deployment
        d.advance(100)
        self._set(d, params)
        assert (d.market.interval(), d.market.interest(), d.market.dampener(), d.market.cap()) == (
            params.interval,
            params.interest,
            params.dampener,
            params.cap,
        )
        assert_in_step(d)

    @pytest.mark.parametrize("change, reason", BAD_RATE_PARAMETERS)
    def test_rejects_out_of_bounds(self, deployment, change, reason):
        d = deployment
        d.advance(100)
        p = RateParameters(**change)
        reject(
            d,
            d.owner,
            "set_rate_parameters",
            p.interval,
            p.interest,
            p.dampener,
            p.cap,
            reason=reason,
            model_args=(d.owner, p),
        )

    def test_rejects_non_owner(self, deployment, non_owner):
        p = self.NEW
        reject(
            deployment,
            non_owner,
            "set_rate_parameters",
            p.interval,
            p.interest,
            p.dampener,
            p.cap,
            reason="ownable: caller is not the owner",
            model_args=(non_owner, p),
        )


# ---------------------------------------------------------------- set_oracles


class TestSetOracles:
    def test_samples_new_feeds_at_once(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty)
        d.advance(600)
        (index, index_feed), (mark, mark_feed) = (
            fresh_feed(d, 60_000 * 10**8),
            fresh_feed(d, 59_400 * 10**8),
        )
        d.market.set_oracles(index, mark, sender=d.owner)
        record(d.market)
        d.model.set_oracles(d.owner, index_feed, mark_feed)
        assert (d.market.index_oracle(), d.market.mark_oracle()) == (index.address, mark.address)
        assert d.market.last_accrual() == d.model.now  # accrued with the old feeds first
        assert d.market.sampled_price() == 60_000 * WAD
        assert d.market.sampled_premium() == premium(59_400 * WAD, 60_000 * WAD) == -(10**16)
        (event,) = events("OraclesChanged")
        assert (event.index_oracle, event.mark_oracle) == (index.address, mark.address)
        assert (event.index_price, event.mark_price) == (60_000 * WAD, 59_400 * WAD)
        d.advance(30_000)
        call(d, trader, "settle", trader)
        assert_in_step(d, trader, counterparty)

    def test_normalises_a_feed_with_more_than_18_decimals(self, deployment):
        d = deployment
        (index, index_feed), (mark, mark_feed) = (
            fresh_feed(d, 50_000 * 10**20, 20),
            fresh_feed(d, 50_010 * 10**8),
        )
        d.market.set_oracles(index, mark, sender=d.owner)
        d.model.set_oracles(d.owner, index_feed, mark_feed)
        assert d.market.sampled_price() == 50_000 * WAD
        assert_in_step(d)

    def test_rejects_fine_feed_that_normalises_to_zero(self, deployment):
        d = deployment
        (index, index_feed), (mark, mark_feed) = fresh_feed(d, 99, 20), fresh_feed(d, 10**8)
        reject(
            d,
            d.owner,
            "set_oracles",
            index,
            mark,
            reason="price_feed: index answer not positive",
            model_args=(d.owner, index_feed, mark_feed),
        )

    def test_rejects_non_owner(self, deployment, non_owner):
        d = deployment
        (index, index_feed), (mark, mark_feed) = fresh_feed(d, 10**8), fresh_feed(d, 10**8)
        reject(
            d,
            non_owner,
            "set_oracles",
            index,
            mark,
            reason="ownable: caller is not the owner",
            model_args=(non_owner, index_feed, mark_feed),
        )

    @pytest.mark.parametrize("which", ["index", "mark"])
    @pytest.mark.parametrize("fault", list(CONSTRUCTOR_FAULTS))
    def test_rejects_unusable_new_feed(self, deployment, which, fault):
        d = deployment
        d.advance(MAX_AGE + 10)
        good, good_feed = fresh_feed(d, 50_000 * 10**8)
        bad, bad_feed = faulty_feed(d, fault)
        oracles = (bad, good) if which == "index" else (good, bad)
        feeds = (bad_feed, good_feed) if which == "index" else (good_feed, bad_feed)
        reject(
            d,
            d.owner,
            "set_oracles",
            *oracles,
            reason=f"price_feed: {which} {CONSTRUCTOR_FAULTS[fault]}",
            model_args=(d.owner, *feeds),
        )

    @pytest.mark.parametrize("kind", ["account without code", "feed with 37 decimals"])
    def test_rejects_unreadable_feed(self, deployment, non_owner, kind):
        d = deployment
        good, _ = fresh_feed(d, 50_000 * 10**8)
        bad = non_owner if kind == "account without code" else fresh_feed(d, 50_000 * 10**8, 37)[0]
        before = snapshot(d)
        with boa.reverts("price_feed: mark feed unreadable"):
            d.market.set_oracles(good, bad, sender=d.owner)
        assert snapshot(d) == before


# ---------------------------------------------------------------- set_max_age


class TestSetMaxAge:
    @pytest.mark.parametrize("max_age", [60, 3 * 86_400])
    def test_owner_sets_within_bounds_after_accruing(self, deployment, max_age):
        d = deployment
        d.advance(700)
        call(d, d.owner, "set_max_age", max_age)
        assert d.market.max_age() == max_age
        assert d.market.last_accrual() == d.model.now
        (event,) = events("MaxAgeChanged")
        assert event.max_age == max_age
        assert_in_step(d)

    def test_accrual_before_the_change_uses_the_old_max_age(self, deployment):
        d = deployment
        d.advance(2 * MAX_AGE)  # stale under the old max age, fresh under the new one
        d.submit(None, 50_200 * 10**8)
        call(d, d.owner, "set_max_age", 3 * 86_400)
        assert d.market.sampled_premium() == 10**15  # not resampled
        assert_in_step(d)

    @pytest.mark.parametrize("max_age", [59, 3 * 86_400 + 1])
    def test_rejects_out_of_bounds(self, deployment, max_age):
        d = deployment
        d.advance(100)
        reject(d, d.owner, "set_max_age", max_age, reason=MAX_AGE_REASON)

    def test_rejects_non_owner(self, deployment, non_owner):
        reject(deployment, non_owner, "set_max_age", 600, reason="ownable: caller is not the owner")


# ---------------------------------------------------------------- set_risk_parameters


class TestSetRiskParameters:
    @pytest.mark.parametrize("risk", GOOD_RISK_PARAMETERS)
    def test_owner_sets_within_bounds_without_accruing(self, deployment, risk):
        d = deployment
        d.advance(100)
        call(d, d.owner, "set_risk_parameters", *risk)
        assert chain_state(d)["risk"] == risk
        assert d.market.last_accrual() == d.model.now - 100
        (event,) = events("RiskParametersChanged")
        fields = ("initial_margin_ratio", "maintenance_margin_ratio", "price_band")
        fields += ("liquidation_fee", "funding_horizon")
        assert tuple(getattr(event, f) for f in fields) == risk
        assert_in_step(d)

    @pytest.mark.parametrize("risk, reason", BAD_RISK_PARAMETERS)
    def test_rejects_out_of_bounds(self, deployment, risk, reason):
        reject(deployment, deployment.owner, "set_risk_parameters", *risk, reason=reason)

    def test_rejects_non_owner(self, deployment, non_owner):
        reject(
            deployment,
            non_owner,
            "set_risk_parameters",
            *GOOD_RISK_PARAMETERS[2],
            reason="ownable: caller is not the owner",
        )


# ---------------------------------------------------------------- pause / unpause


class TestPause:
    def test_pause_and_unpause_accrue(self, deployment):
        d = deployment
        d.advance(100)
        call(d, d.owner, "pause")
        assert d.market.paused() and d.market.last_accrual() == d.model.now
        assert events("Paused")
        d.advance(100)
        call(d, d.owner, "unpause")
        assert not d.market.paused() and d.market.last_accrual() == d.model.now
        assert events("Unpaused")
        assert_in_step(d)

    def test_rejects_non_owner_pause(self, deployment, non_owner):
        reject(deployment, non_owner, "pause", reason="ownable: caller is not the owner")

    def test_rejects_non_owner_unpause(self, deployment, non_owner):
        call(deployment, deployment.owner, "pause")
        reject(deployment, non_owner, "unpause", reason="ownable: caller is not the owner")

    def test_rejects_double_pause(self, deployment):
        d = deployment
        call(d, d.owner, "pause")
        d.advance(100)
        reject(d, d.owner, "pause", reason="pausable: contract is paused")

    def test_rejects_unpause_when_not_paused(self, deployment):
        d = deployment
        d.advance(100)
        reject(d, d.owner, "unpause", reason="pausable: contract is not paused")


# ---------------------------------------------------------------- ownership


class TestOwnership:
    def test_two_step_transfer(self, deployment, non_owner):
        d = deployment
        call(d, d.owner, "transfer_ownership", non_owner)
        assert d.market.owner() == d.owner and d.market.pending_owner() == non_owner
        call(d, non_owner, "accept_ownership")
        assert d.market.owner() == non_owner
        assert d.market.pending_owner() == ZERO_ADDRESS
        assert_in_step(d)
        reject(d, d.owner, "set_operator", d.owner, reason="ownable: caller is not the owner")

    def test_rejects_transfer_by_non_owner(self, deployment, non_owner):
        reject(
            deployment,
            non_owner,
            "transfer_ownership",
            non_owner,
            reason="ownable: caller is not the owner",
        )

    def test_rejects_wrong_acceptor(self, deployment, non_owner, trader):
        d = deployment
        call(d, d.owner, "transfer_ownership", non_owner)
        reject(d, trader, "accept_ownership", reason="ownable_2step: caller is not the new owner")

    def test_rejects_accept_without_transfer(self, deployment, non_owner):
        reject(
            deployment,
            non_owner,
            "accept_ownership",
            reason="ownable_2step: caller is not the new owner",
        )

    def test_renounce_ownership_is_not_exposed(self, deployment):
        market = deployment.market
        assert not hasattr(market, "renounce_ownership")
        assert "renounce_ownership" not in {item.get("name") for item in market.abi}
        selector = bytes.fromhex("715018a6")  # renounce_ownership()
        result = boa.env.execute_code(market.address, sender=deployment.owner, data=selector)
        assert result.is_error
        assert market.owner() == deployment.owner


# ---------------------------------------------------------------- views


VIEWS = ["current_funding_index", "current_rate", "next_rate", "premium_average", "total_margin"]


def assert_views_match(d, *accounts):
    for view in VIEWS:
        assert getattr(d.market, view)() == getattr(d.model, view)(), view
    for account in accounts:
        assert d.market.pending_funding(account) == d.model.pending_funding(account)


class TestViews:
    @pytest.mark.parametrize("seconds", [0, 1_234, 28_800, 28_800 + 777, 3 * 28_800 + 5])
    def test_views_match_the_model(self, deployment, trader, counterparty, seconds):
        d = deployment
        open_position(d, trader, counterparty)
        d.advance(4_000)
        d.submit(50_500 * 10**8, 50_100 * 10**8)
        call(d, trader, "settle", trader)
        d.advance(seconds)
        assert_views_match(d, trader, counterparty)
        before = d.market.current_funding_index()
        call(d, counterparty, "accrue")
        assert d.market.funding_index() == before
        assert_views_match(d, trader, counterparty)

    def test_views_are_non_trivial(self, deployment, trader, counterparty):
        d = deployment
        open_position(d, trader, counterparty)
        d.advance(28_800 + 100)
        assert d.market.current_funding_index() == d.model.current_funding_index() > 0
        assert d.market.current_rate() == 5 * 10**14  # set by the first interval's 0.1 % premium
        assert d.market.next_rate() == 5 * 10**14
        assert d.market.premium_average() == 10**15
        pending = d.market.pending_funding(trader)
        assert pending == owed(THIRD, 0, d.market.current_funding_index()) > 0
        assert (
            d.market.pending_funding(counterparty)
            == owed(-THIRD, 0, d.market.current_funding_index())
            < 0
        )
        assert d.market.total_margin() == 20_000 * WAD - d.market.surplus()

    def test_premium_average_at_interval_start_is_the_held_premium(self, deployment):
        d = deployment
        d.submit(50_000 * 10**8, 49_000 * 10**8)  # not sampled: same block as deployment
        assert d.market.premium_average() == d.model.premium_average() == 10**15


class TestLimits:
    def test_largest_price_is_accepted_and_one_more_is_not(self, deployment):
        d = deployment
        d.advance(60)
        d.submit(10**26, 10**26)  # exactly 1e36 in WAD
        call(d, d.owner, "accrue")
        assert d.market.sampled_price() == 10**36 == d.model.sampled_price
        d.advance(60)
        d.submit(OUT_OF_RANGE_ANSWER, OUT_OF_RANGE_ANSWER)
        call(d, d.owner, "accrue")  # never reverts: the reading is just not sampled
        assert d.market.sampled_price() == 10**36 == d.model.sampled_price
        assert_in_step(d)

    def test_premium_sample_is_at_most_one_thousand_percent(self, deployment):
        d = deployment
        d.advance(60)
        d.submit(50_000 * 10**8, 20 * 50_000 * 10**8)  # mark 20 times the index
        call(d, d.owner, "accrue")
        assert d.market.sampled_premium() == 10 * WAD == d.model.sampled_premium
        assert_in_step(d)
