"""Markets deployed with a rate model contract (velocity, skew-proportional, external).

The random sequences of ``test_market_stateful.py`` run half their markets under one
of these models, with every invariant of the core. Here: the binding of a model to
its one market, the SIP-279 example through a whole market (a trader long 100 against
the vault, 24 hours, then flat: the long pays 30), what each model charges and when,
and the parameter changes of each model, charged from the moment they happen, never
retroactively, in contract and reference alike.
"""

import boa
import pytest
from conftest import START_TIME, deploy
from deployers import EXTERNAL_MODEL, MARKET, SKEW_MODEL, VELOCITY_MODEL

from fundingkit.deployment import market_constructor_args
from fundingkit.models import deployed, skew_rate, velocity_rate
from fundingkit.models.external_rate import ExternalParameters
from fundingkit.models.skew_rate import SkewParameters
from fundingkit.models.velocity_rate import DAY, VelocityParameters

WAD = 10**18
HOUR = 3_600
VELOCITY = VelocityParameters(skew_scale=10**6 * WAD, max_velocity=3 * WAD, cap=WAD)
SKEW = SkewParameters(factor=10**12, exponent=1, cap=10**12)
EXTERNAL = ExternalParameters(max_rate=10**12, max_change_per_second=10**9)
MODELS = {"velocity": VELOCITY, "skew": SKEW, "external": EXTERNAL}
VAULT = boa.env.generate_address("vault")
TRADER = boa.env.generate_address("trader")
STRANGER = boa.env.generate_address("stranger")


def pool_market(params, price: int = 2_000):
    """A pool-mode market under `params`' model, index = mark = `price`, with the vault
    and a trader funded (1e9 quote each)."""
    answer = price * 10**8
    d = deploy(rate_model=params, vault=VAULT, index_answer=answer, mark_answer=answer)
    for account in (VAULT, TRADER):
        d.fund(account, 10**15)
        d.market.deposit(10**15, sender=account)
        d.model.deposit(account, 10**15)
    return d


def trade(d, buyer, seller, size):
    """A trade at the mark price, after the feeder republishes both prices (fresh)."""
    answer = d.mark_oracle.latestRoundData()[1]
    d.submit(answer, answer)
    price = answer * 10**10
    d.market.trade(buyer, seller, size, price, sender=d.operator)
    d.model.trade(d.operator, buyer, seller, size, price)


def in_step(d):
    """Contract == reference: the index now, the rate, the trader's account."""
    market, model = d.market, d.model
    assert market.current_funding_index() == model.current_funding_index()
    assert market.current_rate() == model.current_rate()
    assert market.pending_funding(TRADER) == model.pending_funding(TRADER)
    assert market.accounts(TRADER) == tuple(vars(model.account(TRADER)).values())
    assert d.rate_model.checkpoint_time() == model.last_accrual == market.last_accrual()


@pytest.fixture(params=list(MODELS))
def model_market(request):
    with boa.env.anchor():
        yield pool_market(MODELS[request.param])


# ---- binding ----------------------------------------------------------------


def test_the_market_and_its_model_name_each_other(model_market):
    d = model_market
    assert d.market.RATE_MODEL() == d.rate_model.address
    assert d.rate_model.market() == d.market.address
    assert d.rate_model.checkpoint_time() == START_TIME == d.market.last_accrual()


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_model_deployed_for_another_address_is_refused(kind):
    with boa.env.anchor():
        d = deploy(rate_model=MODELS[kind], vault=VAULT)
        args = market_constructor_args(
            d.token,
            d.index_oracle,
            d.mark_oracle,
            d.operator,
            d.model.params,
            max_age=d.model.max_age,
            risk=d.model.risk,
            vault=VAULT,
            rate_model=d.rate_model.address,
        )
        # A second market pointed at the first market's model.
        with boa.reverts("market: the rate model serves another market"):
            MARKET.deploy(*args, sender=d.owner)


def test_only_the_market_accrues_its_model(model_market):
    d = model_market
    for caller in (STRANGER, d.owner, TRADER):
        with boa.reverts("rate model: caller is not the market"):
            d.rate_model.accrue(10**18, 0, 0, 0, sender=caller)


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_model_needs_a_market(kind):
    zero = "0x" + "00" * 20
    args = {
        "velocity": (VELOCITY_MODEL, (zero, *vars(VELOCITY).values())),
        "skew": (SKEW_MODEL, (zero, *vars(SKEW).values())),
        "external": (EXTERNAL_MODEL, (zero, STRANGER, *vars(EXTERNAL).values())),
    }[kind]
    with boa.reverts("rate model: market is the zero address"):
        args[0].deploy(*args[1])


def test_model_setters_are_the_owners_and_the_providers(model_market):
    d = model_market
    params = d.model.rate_model.params
    with boa.reverts("ownable: caller is not the owner"):
        d.rate_model.set_parameters(*vars(params).values(), sender=STRANGER)
    if isinstance(d.model.rate_model, deployed.ExternalRateModel):
        with boa.reverts("external_rate: caller is not the rate provider"):
            d.rate_model.set_rate(1, sender=d.owner)
        with boa.reverts("ownable: caller is not the owner"):
            d.rate_model.set_rate_provider(STRANGER, sender=d.rate_provider)


# ---- what each model charges --------------------------------------------------


def test_sip_279_through_a_market():
    """SIP-279's example on a whole market: price 2,000, a long of 100 against the vault
    (skew 100), skew scale 1,000,000, max velocity 3 per day; after 24 hours the rate
    is 0.03 % a day and the long has paid the trapezoid 0.5 * 0.0003 * 2,000 * 100 = 30.
    Then the long closes (skew 0): the rate stays, nobody holds a position to pay it."""
    with boa.env.anchor():
        d = pool_market(VELOCITY)
        margin = d.market.accounts(TRADER)[0]
        trade(d, TRADER, VAULT, 100 * WAD)
        d.advance(DAY)
        assert d.market.pending_funding(TRADER) == 30 * WAD
        assert d.market.pending_funding(VAULT) == -30 * WAD
        # The rate now: 0.0003 per day, per interval as the market quotes it.
        assert d.market.current_rate() == 3 * 10**14 * d.market.interval() // DAY
        in_step(d)
        # Back to skew 0 at the same price: flat, with its margin less the 30 it paid.
        trade(d, VAULT, TRADER, 100 * WAD)
        assert d.market.accounts(TRADER) == (margin - 30 * WAD, 0, 3 * WAD // 10)
        d.advance(DAY)
        assert d.market.current_rate() == 3 * 10**14 * d.market.interval() // DAY
        in_step(d)


def test_without_a_vault_the_skew_models_pay_nothing():
    """The skew is the traders' net position against the vault: with no vault every
    long has a short among the traders, so velocity and skew models have nothing to
    act on. The external model works either way."""
    for params in (VELOCITY, SKEW):
        with boa.env.anchor():
            d = deploy(rate_model=params)
            for account in (VAULT, TRADER):
                d.fund(account, 10**15)
                d.market.deposit(10**15, sender=account)
            d.market.trade(TRADER, VAULT, 10 * WAD, 50_050 * WAD, sender=d.operator)
            d.advance(30 * DAY)
            assert d.market.current_funding_index() == 0 == d.market.current_rate()


def test_the_skew_model_charges_the_heavier_side():
    """|R| = factor * |L - S| / (L + S): a trader long 10 against the vault is all the
    open interest, so R = factor, per second; the long pays p * R * t."""
    with boa.env.anchor():
        d = pool_market(SKEW)
        trade(d, TRADER, VAULT, 10 * WAD)
        d.advance(HOUR)
        assert d.market.current_rate() == SKEW.factor * d.market.interval()
        assert d.market.pending_funding(TRADER) == 2_000 * SKEW.factor * HOUR * 10
        in_step(d)


def test_the_external_rate_is_bounded_in_size_and_pace():
    """A requested rate beyond max_rate is clamped, and moves at most
    max_change_per_second per second since the last setting; the old rate is charged
    up to the setting, the new one after it."""
    with boa.env.anchor():
        d = pool_market(EXTERNAL)
        trade(d, TRADER, VAULT, 10 * WAD)
        d.advance(100)
        set_rate(d, 10**15)  # far beyond max_rate: 100 s * 1e9 per second allows 1e11
        assert d.rate_model.rate() == 100 * EXTERNAL.max_change_per_second
        d.advance(10 * HOUR)
        set_rate(d, 10**15)  # now max_rate binds
        assert d.rate_model.rate() == EXTERNAL.max_rate
        index = 2_000 * 10**11 * 10 * HOUR
        assert d.market.funding_index() == index
        d.advance(HOUR)
        assert d.market.current_funding_index() == index + 2_000 * EXTERNAL.max_rate * HOUR
        in_step(d)


def set_rate(d, requested):
    d.rate_model.set_rate(requested, sender=d.rate_provider)
    d.model.change_rate_model(lambda m: m.set_rate(d.rate_provider, requested, d.model.now))


# ---- parameter changes: from their moment on ------------------------------------


def change(d, params, caller=None):
    caller = caller or d.owner
    d.rate_model.set_parameters(*vars(params).values(), sender=caller)
    d.model.change_rate_model(lambda m: m.set_parameters(caller, params, d.model.now))


@pytest.mark.parametrize(
    "old, new",
    [
        (VELOCITY, VelocityParameters(10**5 * WAD, 10 * WAD, WAD // 2)),
        (SKEW, SkewParameters(factor=4 * 10**12, exponent=2, cap=3 * 10**12)),
        (EXTERNAL, ExternalParameters(max_rate=10**11, max_change_per_second=10**6)),
    ],
    ids=list(MODELS),
)
def test_a_parameter_change_is_charged_from_its_moment(old, new):
    """Two identical markets; one changes its model's parameters after 6 hours. Up to
    that moment both indices agree to the wei (nothing retroactive); after it the
    changed one moves by exactly the new parameters' step from the state it had."""
    markets = []
    with boa.env.anchor():
        for changes in (False, True):
            with boa.env.anchor():
                d = pool_market(old)
                trade(d, TRADER, VAULT, 50 * WAD)
                if isinstance(old, ExternalParameters):
                    d.advance(HOUR)
                    set_rate(d, old.max_rate)
                d.advance(6 * HOUR)
                if changes:
                    change(d, new)
                else:
                    d.market.accrue()
                    d.model.accrue()
                at_change = d.market.funding_index()
                state = d.model.rate_model
                d.advance(18 * HOUR)
                later = d.market.current_funding_index()
                in_step(d)
                markets.append((at_change, later, state))
    (same_at_change, unchanged_later, _), (at_change, changed_later, state) = markets
    assert at_change == same_at_change
    expected_step = expected_step_after(state, new, 2_000 * WAD, 18 * HOUR)
    assert changed_later - at_change == expected_step
    assert changed_later != unchanged_later


def expected_step_after(model, params, price, gap):
    """The step over `gap` under `params` from `model`'s state, by the pure formulas."""
    longs = 50 * WAD  # the trader's, against the vault: skew 50, no trader short
    if isinstance(model, deployed.VelocityRateModel):
        velocity = velocity_rate.velocity(longs, params.skew_scale, params.max_velocity)
        scaled = model.state.scaled_rate
        return velocity_rate.integrate(scaled, velocity, params.cap * DAY, gap, price)[0]
    if isinstance(model, deployed.SkewRateModel):
        p = params
        return price * skew_rate.rate(longs, 0, p.factor, p.exponent, p.cap) * gap // WAD
    return price * min(model.state.rate, params.max_rate) * gap // WAD


def test_a_rejected_parameter_change_changes_nothing(model_market):
    d = model_market
    trade(d, TRADER, VAULT, 5 * WAD)
    d.advance(HOUR)
    accrual = (d.market.funding_index, d.market.last_accrual, d.rate_model.checkpoint_time)
    before = tuple(view() for view in accrual)
    params, reason = {
        deployed.VelocityRateModel: (
            VelocityParameters(0, WAD, WAD),
            "velocity_rate: skew scale outside 1 wei..1e36",
        ),
        deployed.SkewRateModel: (SkewParameters(1, 3, 1), "skew_rate: exponent must be 1 or 2"),
        deployed.ExternalRateModel: (
            ExternalParameters(0, 1),
            "external_rate: max rate outside 1 wei..1e13 per second",
        ),
    }[type(d.model.rate_model)]
    with boa.reverts(reason):
        d.rate_model.set_parameters(*vars(params).values(), sender=d.owner)
    # The accrual the setter began is rolled back with it.
    assert tuple(view() for view in accrual) == before
