"""The velocity, skew-proportional and bounded external rate models.

Each Vyper module (in a harness that keeps a funding index, as a market would) equals
its Python reference in ``fundingkit.models`` to the wei: pure formulas on wide random
inputs, and random sequences of accruals, waits (up to ten years), price changes and
setters, where every rejection must carry the same reason on both sides. Unit tests
pin the published SIP-279 example and hand-computed cases: the cap binding mid-gap, a
change charged from the moment it happens, and each rejected input.
"""

from fractions import Fraction
from functools import partial
from pathlib import Path

import boa
import pytest
from conftest import examples
from hypothesis import event, example, given
from hypothesis import strategies as st

from fundingkit.market import Rejected
from fundingkit.models import external_rate, skew_rate, velocity_rate
from fundingkit.models.velocity_rate import DAY
from fundingkit.vyper_math import INT256_MAX, INT256_MIN, WAD

ROOT = Path(__file__).resolve().parents[2]
VELOCITY_HARNESS = boa.load_partial(str(ROOT / "tests" / "contracts" / "VelocityRateHarness.vy"))
SKEW_HARNESS = boa.load_partial(str(ROOT / "tests" / "contracts" / "SkewRateHarness.vy"))
EXTERNAL_HARNESS = boa.load_partial(str(ROOT / "tests" / "contracts" / "ExternalRateHarness.vy"))

START = 1_700_000_000
HOUR = 3_600
YEAR = 365 * DAY
TEN_YEARS = 10 * YEAR
RATE_PROVIDER = boa.env.generate_address("rate_provider")
STRANGER = boa.env.generate_address("stranger")

prices = st.one_of(st.integers(0, 10**36), st.integers(10**18, 10**23))
gaps = st.one_of(st.sampled_from([0, 1]), st.integers(0, 3 * DAY), st.integers(0, TEN_YEARS))
int256s = st.one_of(
    st.integers(INT256_MIN, INT256_MAX),
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, 1, -1, INT256_MAX, INT256_MIN]),
)


def set_time(timestamp: int) -> None:
    boa.env.evm.patch.timestamp = timestamp


def same_outcome(call, reference):
    """Runs the reference, then the contract call: both return, or both revert with
    the same reason. Returns (contract result, reference result), or None."""
    try:
        expected = reference()
    except Rejected as rejected:
        event(f"rejected: {rejected.reason}")
        with boa.reverts(rejected.reason):
            call()
        return None
    event("accepted")
    return call(), expected


@pytest.fixture(scope="module", autouse=True)
def _module_anchor():
    saved = boa.env.evm.patch.timestamp
    with boa.env.anchor():
        set_time(START)
        yield
    set_time(saved)


@pytest.fixture
def fresh():
    """A unit test's chain: at START, rolled back afterwards."""
    with boa.env.anchor():
        set_time(START)
        yield


# Pure formulas: one harness each for the whole module (Hypothesis forbids
# function-scoped fixtures); sequences deploy their own inside an anchor.
@pytest.fixture(scope="module")
def velocity_pure():
    return VELOCITY_HARNESS.deploy(10**6 * WAD, 3 * WAD, WAD)


@pytest.fixture(scope="module")
def skew_pure():
    return SKEW_HARNESS.deploy(10**12, 1, 10**13)


@pytest.fixture(scope="module")
def external_pure():
    return EXTERNAL_HARNESS.deploy(RATE_PROVIDER, 10**12, 10**9)


# ---------------------------------------------------------------- velocity


def exact_velocity_step(scaled_rate: int, velocity: int, scaled_cap: int, gap: int, price: int):
    """The index step as a Fraction, by pieces: the trapezoid up to the moment t_c the
    rate reaches the cap (if inside the gap), then the cap, flat."""
    s0, v = Fraction(scaled_rate), Fraction(velocity)
    area = s0 * gap
    if v != 0:
        bound = scaled_cap if v > 0 else -scaled_cap
        t_c = (bound - s0) / v
        if t_c >= gap:
            area = (s0 + s0 + v * gap) / 2 * gap
        else:
            area = (s0 + bound) / 2 * t_c + bound * (gap - t_c)
    return Fraction(price) * area / (DAY * DAY * WAD)


velocities = st.one_of(
    st.integers(-velocity_rate.MAX_VELOCITY, velocity_rate.MAX_VELOCITY),
    st.integers(-(10**15), 10**15),
    st.just(0),
)


@examples("math")
@given(
    cap=st.one_of(st.integers(1, velocity_rate.MAX_CAP), st.sampled_from([1, 10**16])),
    where=st.fractions(-1, 1),
    velocity=velocities,
    gap=gaps,
    price=prices,
)
@example(cap=10**16, where=Fraction(0), velocity=2 * 10**16, gap=DAY, price=2_000 * WAD)
@example(cap=1, where=Fraction(1), velocity=1, gap=TEN_YEARS, price=10**36)
@example(
    cap=velocity_rate.MAX_CAP,
    where=Fraction(-1),
    velocity=velocity_rate.MAX_VELOCITY,
    gap=TEN_YEARS,
    price=10**36,
)
def test_velocity_integral_equals_reference_and_exact_pieces(
    velocity_pure, cap, where, velocity, gap, price
):
    scaled_cap = cap * DAY
    scaled_rate = int(where * scaled_cap)  # anywhere within the cap
    step, end = velocity_rate.integrate(scaled_rate, velocity, scaled_cap, gap, price)
    assert velocity_pure.integrate(scaled_rate, velocity, scaled_cap, gap, price) == (step, end)
    # The closed form is the exact integral, truncated toward zero once.
    assert step == int(exact_velocity_step(scaled_rate, velocity, scaled_cap, gap, price))
    assert end == max(-scaled_cap, min(scaled_cap, scaled_rate + velocity * gap))


@examples("math")
@given(
    skew=int256s,
    skew_scale=st.one_of(st.integers(1, velocity_rate.MAX_SKEW_SCALE), st.just(10**24)),
    max_velocity=st.integers(0, velocity_rate.MAX_VELOCITY),
)
@example(skew=100 * WAD, skew_scale=10**6 * WAD, max_velocity=3 * WAD)  # SIP-279: 0.03 %/day²
@example(skew=INT256_MIN, skew_scale=1, max_velocity=velocity_rate.MAX_VELOCITY)
def test_velocity_of_a_skew(velocity_pure, skew, skew_scale, max_velocity):
    expected = velocity_rate.velocity(skew, skew_scale, max_velocity)
    assert velocity_pure.velocity(skew, skew_scale, max_velocity) == expected
    assert abs(expected) <= max_velocity
    assert (expected > 0) <= (skew > 0) and (expected < 0) <= (skew < 0)


def test_velocity_integral_rejects_a_rate_outside_the_cap(velocity_pure):
    reason = "velocity_rate: rate outside the cap"
    with pytest.raises(Rejected, match=reason):
        velocity_rate.integrate(DAY + 1, 0, DAY, 1, WAD)
    with boa.reverts(reason):
        velocity_pure.integrate(DAY + 1, 0, DAY, 1, WAD)


def deploy_velocity(params: velocity_rate.VelocityParameters):
    return VELOCITY_HARNESS.deploy(params.skew_scale, params.max_velocity, params.cap)


def assert_velocity_state(harness, params, state, index, now):
    assert harness.scaled_rate() == state.scaled_rate
    assert harness.checkpoint_time() == state.checkpoint_time
    assert harness.skew() == state.skew
    assert (harness.skew_scale(), harness.max_velocity(), harness.cap()) == (
        params.skew_scale,
        params.max_velocity,
        params.cap,
    )
    assert harness.funding_index() == index
    assert harness.rate_now() == velocity_rate.rate_now(params, state, now)
    assert abs(velocity_rate.rate_now(params, state, now)) <= params.cap


def velocity_parameters(valid_only: bool = False):
    scales = st.one_of(st.integers(1, velocity_rate.MAX_SKEW_SCALE), st.just(10**6 * WAD))
    velocities_ = st.integers(0, velocity_rate.MAX_VELOCITY)
    caps = st.one_of(st.integers(1, velocity_rate.MAX_CAP), st.just(WAD // 100))
    if not valid_only:
        scales = st.one_of(scales, st.sampled_from([0, velocity_rate.MAX_SKEW_SCALE + 1]))
        velocities_ = st.one_of(velocities_, st.just(velocity_rate.MAX_VELOCITY + 1))
        caps = st.one_of(caps, st.sampled_from([0, velocity_rate.MAX_CAP + 1]))
    return st.builds(velocity_rate.VelocityParameters, scales, velocities_, caps)


skews = st.one_of(int256s, st.integers(-(10**25), 10**25), st.just(0))
# A setter's price is the one held before it (accrue first), or None: no accrual.
accrual_prices = st.one_of(st.none(), prices)

velocity_operations = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), gaps),
        st.tuples(st.just("accrue"), prices),
        st.tuples(st.just("skew"), skews, accrual_prices),
        st.tuples(st.just("parameters"), velocity_parameters(), accrual_prices),
    ),
    max_size=14,
)


@examples("stateful")
@given(params=velocity_parameters(valid_only=True), operations=velocity_operations)
def test_velocity_sequences_equal_reference(params, operations):
    """Any sequence: the same storage, index, rate and pending step; the index is the
    exact integral within one wei per accrual (the rate path itself is exact)."""
    with boa.env.anchor():
        set_time(START)
        run_velocity_sequence(params, operations)


def run_velocity_sequence(params, operations):
    now = START
    harness = deploy_velocity(params)
    state = velocity_rate.start(params, now)
    index, exact, accruals = 0, Fraction(0), 0

    def accrue(price):
        nonlocal state, index, exact, accruals
        v = velocity_rate.velocity(state.skew, params.skew_scale, params.max_velocity)
        gap = now - state.checkpoint_time
        exact += exact_velocity_step(state.scaled_rate, v, params.cap * DAY, gap, price)
        accruals += gap > 0
        step, state = velocity_rate.accrue(params, state, price, now)
        assert harness.pending(price) == step
        assert harness.accrue(price) == step
        index += step

    for operation in operations:
        kind = operation[0]
        if kind == "wait":
            now += operation[1]
            set_time(now)
        elif kind == "accrue":
            accrue(operation[1])
        else:
            if operation[2] is not None:
                accrue(operation[2])
            if kind == "skew":
                outcome = same_outcome(
                    partial(harness.set_skew, operation[1]),
                    partial(velocity_rate.set_skew, state, operation[1], now),
                )
            else:
                new = operation[1]
                outcome = same_outcome(
                    partial(harness.set_parameters, new.skew_scale, new.max_velocity, new.cap),
                    partial(velocity_rate.set_parameters, state, new, now),
                )
                if outcome is not None:
                    params = new
            if outcome is not None:
                state = outcome[1]
        assert_velocity_state(harness, params, state, index, now)
        assert abs(index - exact) < max(accruals, 1)


def test_sip_279_example(fresh):
    """SIP-279 ("Perps v2", Test Cases, "Funding rate velocity"): ETH at 2,000 USD,
    skew scale 1,000,000 ETH, max funding velocity 300 % per day. With the market
    balanced and the rate at 0, user #1 longs 100 ETH (200,000 sUSD): skew 100 ETH,
    velocity 100 / 1e6 * 3 = 0.03 % per day per day. After 24 hours user #2 shorts
    100 ETH: skew 0, rate 0.03 % per day, and user #1 has accrued
    200,000 * 0.5 * (0 % + 0.03 %) = 30 sUSD of funding (the long pays).
    """
    price = 2_000 * WAD
    harness = VELOCITY_HARNESS.deploy(10**6 * WAD, 3 * WAD, WAD)  # cap 100 % a day: never binds
    harness.accrue(price)
    harness.set_skew(100 * WAD)  # user #1 longs 100 ETH
    set_time(START + DAY)
    step = harness.accrue(price)
    assert step == 3 * 10**17  # 0.3 USD per ETH: 2,000 * (0 + 0.0003) / 2
    assert 100 * WAD * step // WAD == 30 * WAD  # user #1 pays 30 exactly
    assert harness.rate_now() == 3 * 10**14  # 0.03 % per day
    harness.set_skew(0)  # user #2 shorts 100 ETH
    set_time(START + 2 * DAY)
    assert harness.rate_now() == 3 * 10**14  # at rest where the neutralising trade left it
    assert harness.accrue(price) == 6 * 10**17  # 2,000 * 0.03 % for a whole day
    params = velocity_rate.VelocityParameters(10**6 * WAD, 3 * WAD, WAD)
    state = velocity_rate.set_skew(velocity_rate.start(params, START), 100 * WAD, START)
    assert velocity_rate.accrue(params, state, price, START + DAY)[0] == step


@pytest.mark.parametrize("side", [1, -1])
def test_velocity_cap_binds_mid_gap(fresh, side):
    """Skew at the scale (velocity 2 % per day per day), cap 1 % per day, price 2,000:
    the rate reaches the cap after 12 hours of a 24-hour gap. Funding per unit of base
    is 2,000 * (1 % * 0.5 day / 2 + 1 % * 0.5 day) = 15, not the 20 of an uncapped rate."""
    price = 2_000 * WAD
    harness = VELOCITY_HARNESS.deploy(WAD, 2 * 10**16, 10**16)
    harness.set_skew(side * WAD)
    set_time(START + DAY // 2)
    assert harness.pending(price) == side * 5 * WAD  # the triangle alone: 2,000 * 0.25 %
    assert harness.rate_now() == side * 10**16  # the cap, reached just now
    set_time(START + DAY)
    assert harness.accrue(price) == side * 15 * WAD
    assert harness.scaled_rate() == side * 10**16 * DAY
    set_time(START + 2 * DAY)
    assert harness.accrue(price) == side * 20 * WAD  # flat at the cap: 2,000 * 1 %


@examples("stateful")
@given(
    params=velocity_parameters(valid_only=True),
    skew=skews,
    cuts=st.lists(st.integers(1, YEAR), min_size=1, max_size=6),
    price=prices,
)
def test_velocity_gap_in_pieces_follows_the_same_rate_path(params, skew, cuts, price):
    """Accruing a gap in n pieces leaves the same rate exactly, and the index within
    n - 1 wei of one accrual over the whole gap."""
    with boa.env.anchor():
        set_time(START)
        run_pieces(params, skew, cuts, price)


def run_pieces(params, skew, cuts, price):
    one = deploy_velocity(params)
    pieces = deploy_velocity(params)
    for harness in (one, pieces):
        harness.set_skew(skew)
    now = START
    for cut in cuts:
        now += cut
        set_time(now)
        pieces.accrue(price)
    one.accrue(price)
    assert one.scaled_rate() == pieces.scaled_rate()
    assert abs(one.funding_index() - pieces.funding_index()) <= len(cuts) - 1


def test_velocity_parameter_change_is_charged_from_when_it_happens(fresh):
    """A max velocity raised at hour 12 speeds the rate up from hour 12 only: the first
    half of the day pays the old ramp, the second half the new one."""
    price = 1_000 * WAD
    old = velocity_rate.VelocityParameters(WAD, WAD // 100, WAD)  # 1 % per day per day
    new = velocity_rate.VelocityParameters(WAD, WAD // 10, WAD)  # 10 % per day per day
    harness = deploy_velocity(old)
    harness.set_skew(WAD)
    set_time(START + DAY // 2)
    before = harness.accrue(price)
    harness.set_parameters(new.skew_scale, new.max_velocity, new.cap)
    set_time(START + DAY)
    after = harness.accrue(price)
    # 1,000 * 1 % * (0.5 day)**2 / 2 = 1.25; then from 0.5 % a day, 10 % per day per day.
    assert before == 125 * 10**16
    assert after == 15 * WAD  # 1,000 * (0.5 % * 0.5 + 10 % * 0.5**2 / 2)
    retroactive = velocity_rate.set_skew(velocity_rate.start(new, START), WAD, START)
    assert velocity_rate.accrue(new, retroactive, price, START + DAY)[0] != before + after


def test_velocity_lower_cap_clamps_the_rate_from_then_on(fresh):
    """The rate ramps to 2 % per day over a day; a cap lowered to 1 % then clamps it at
    once, and the next day pays 1 %, not 2 %."""
    price = 1_000 * WAD
    params = velocity_rate.VelocityParameters(WAD, 2 * 10**16, WAD)
    harness = deploy_velocity(params)
    harness.set_skew(WAD)
    set_time(START + DAY)
    assert harness.accrue(price) == 10 * WAD  # 1,000 * 2 % / 2
    harness.set_skew(0)
    lower = velocity_rate.VelocityParameters(WAD, 2 * 10**16, 10**16)
    harness.set_parameters(lower.skew_scale, lower.max_velocity, lower.cap)
    assert harness.scaled_rate() == 10**16 * DAY
    state = velocity_rate.VelocityState(START + DAY, 2 * 10**16 * DAY)
    assert velocity_rate.set_parameters(state, lower, START + DAY).scaled_rate == 10**16 * DAY
    set_time(START + 2 * DAY)
    assert harness.rate_now() == 10**16
    assert harness.accrue(price) == 10 * WAD  # 1,000 * 1 %


@pytest.mark.parametrize(
    "params, reason",
    [
        ((0, WAD, WAD), "velocity_rate: skew scale outside 1 wei..1e36"),
        ((10**36 + 1, WAD, WAD), "velocity_rate: skew scale outside 1 wei..1e36"),
        ((WAD, 1_000 * WAD + 1, WAD), "velocity_rate: max velocity above 1,000 per day"),
        ((WAD, WAD, 0), "velocity_rate: cap outside 1 wei..1,000 % per day"),
        ((WAD, WAD, 10 * WAD + 1), "velocity_rate: cap outside 1 wei..1,000 % per day"),
    ],
)
def test_velocity_rejects_parameters_outside_the_bounds(fresh, params, reason):
    assert velocity_rate.VelocityParameters(*params).rejection() == reason
    with boa.reverts(reason):
        VELOCITY_HARNESS.deploy(*params)
    harness = VELOCITY_HARNESS.deploy(WAD, WAD, WAD)
    with boa.reverts(reason):
        harness.set_parameters(*params)


# ---------------------------------------------------------------- skew-proportional

open_interests = st.one_of(
    st.integers(0, skew_rate.MAX_OPEN_INTEREST),
    st.integers(0, 10**24),
    st.sampled_from([0, 1, skew_rate.MAX_OPEN_INTEREST]),
)


@examples("math")
@given(
    long_oi=open_interests,
    short_oi=open_interests,
    factor=st.one_of(st.integers(0, skew_rate.MAX_FACTOR), st.integers(0, 10**12)),
    exponent=st.sampled_from([1, 2]),
    cap=st.one_of(st.integers(1, skew_rate.MAX_CAP), st.just(skew_rate.MAX_CAP)),
)
@example(long_oi=10**36, short_oi=0, factor=10**18, exponent=2, cap=10**13)
@example(long_oi=1, short_oi=2, factor=1, exponent=2, cap=1)  # rounds to 0
def test_skew_rate_equals_reference(skew_pure, long_oi, short_oi, factor, exponent, cap):
    expected = skew_rate.rate(long_oi, short_oi, factor, exponent, cap)
    assert skew_pure.rate(long_oi, short_oi, factor, exponent, cap) == expected
    total = long_oi + short_oi
    imbalance = abs(long_oi - short_oi)
    exact = Fraction(factor * imbalance**exponent, max(total, 1) * WAD ** (exponent - 1))
    assert abs(expected) == min(cap, int(exact))  # size rounds down once, then the cap
    # The heavier side pays: positive (longs pay) only when longs are heavier.
    assert (expected > 0) <= (long_oi > short_oi) and (expected < 0) <= (short_oi > long_oi)


@examples("math")
@given(
    rate=st.integers(-(10**13), 10**13),
    gap=st.one_of(gaps, st.just(2**64 - 1)),
    price=prices,
)
def test_constant_rate_step_equals_reference(skew_pure, external_pure, rate, gap, price):
    """Skew and external models share the step of a constant rate: p * R * gap / WAD."""
    expected = skew_rate.funding_delta(rate, gap, price)
    assert expected == external_rate.funding_delta(rate, gap, price)
    assert skew_pure.funding_delta(rate, gap, price) == expected
    assert external_pure.funding_delta(rate, gap, price) == expected
    assert expected == int(Fraction(price * rate * gap, WAD))  # toward zero


@pytest.fixture
def skew_harness(fresh):
    return SKEW_HARNESS.deploy(10**12, 1, 10**13)


def skew_parameters(valid_only: bool = False):
    factors = st.one_of(st.integers(0, skew_rate.MAX_FACTOR), st.integers(0, 10**12))
    exponents = st.sampled_from([1, 2])
    caps = st.integers(1, skew_rate.MAX_CAP)
    if not valid_only:
        factors = st.one_of(factors, st.just(skew_rate.MAX_FACTOR + 1))
        exponents = st.sampled_from([0, 1, 2, 3])
        caps = st.one_of(caps, st.sampled_from([0, skew_rate.MAX_CAP + 1]))
    return st.builds(skew_rate.SkewParameters, factors, exponents, caps)


skew_operations = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), gaps),
        st.tuples(st.just("accrue"), prices),
        st.tuples(
            st.just("open_interest"),
            st.one_of(open_interests, st.just(skew_rate.MAX_OPEN_INTEREST + 1)),
            open_interests,
            accrual_prices,
        ),
        st.tuples(st.just("parameters"), skew_parameters(), accrual_prices),
    ),
    max_size=14,
)


@examples("stateful")
@given(params=skew_parameters(valid_only=True), operations=skew_operations)
def test_skew_sequences_equal_reference(params, operations):
    with boa.env.anchor():
        set_time(START)
        run_skew_sequence(params, operations)


def run_skew_sequence(params, operations):
    now = START
    harness = SKEW_HARNESS.deploy(params.factor, params.exponent, params.cap)
    state = skew_rate.start(params, now)
    index = 0

    def accrue(price):
        nonlocal state, index
        step, state = skew_rate.accrue(params, state, price, now)
        assert harness.pending(price) == step
        assert harness.accrue(price) == step
        index += step

    for operation in operations:
        kind = operation[0]
        if kind == "wait":
            now += operation[1]
            set_time(now)
        elif kind == "accrue":
            accrue(operation[1])
        else:
            if operation[-1] is not None:
                accrue(operation[-1])
            if kind == "open_interest":
                outcome = same_outcome(
                    partial(harness.set_open_interest, operation[1], operation[2]),
                    partial(skew_rate.set_open_interest, state, operation[1], operation[2], now),
                )
            else:
                new = operation[1]
                outcome = same_outcome(
                    partial(harness.set_parameters, new.factor, new.exponent, new.cap),
                    partial(skew_rate.set_parameters, state, new, now),
                )
                if outcome is not None:
                    params = new
            if outcome is not None:
                state = outcome[1]
        assert harness.long_open_interest() == state.long_open_interest
        assert harness.short_open_interest() == state.short_open_interest
        assert harness.checkpoint_time() == state.checkpoint_time
        assert (harness.factor(), harness.exponent(), harness.cap()) == (
            params.factor,
            params.exponent,
            params.cap,
        )
        assert harness.rate_now() == skew_rate.rate_now(params, state)
        assert harness.funding_index() == index


def test_skew_rate_examples(fresh):
    """Longs 300, shorts 100 (imbalance 200 of 400 open): with e = 1 and a factor of
    1e12 per second, R = 1e12 * 200 / 400 = 5e11 per second, longs pay; with e = 2 and
    1e10 per second per unit of base, R = 1e10 * 200**2 / 400 = 1e12."""
    harness = SKEW_HARNESS.deploy(10**12, 1, 10**13)
    harness.set_open_interest(300 * WAD, 100 * WAD)
    assert harness.rate_now() == 5 * 10**11
    harness.set_open_interest(100 * WAD, 300 * WAD)
    assert harness.rate_now() == -5 * 10**11  # shorts heavier: shorts pay
    harness.set_open_interest(200 * WAD, 200 * WAD)
    assert harness.rate_now() == 0
    harness.set_parameters(10**10, 2, 10**13)
    harness.set_open_interest(300 * WAD, 100 * WAD)
    assert harness.rate_now() == 10**12
    harness.set_open_interest(300 * WAD, 0)
    assert harness.rate_now() == 3 * 10**12  # 1e10 * 300**2 / 300: below the cap
    harness.set_open_interest(5_000 * WAD, 0)
    assert harness.rate_now() == 10**13  # 1e10 * 5,000 = 5e13: the cap binds
    set_time(START + HOUR)
    assert harness.accrue(2_000 * WAD) == 2_000 * 10**13 * HOUR  # p * R * gap / WAD


def test_skew_open_interest_change_is_charged_from_when_it_happens(fresh):
    price = 3_000 * WAD
    harness = SKEW_HARNESS.deploy(10**12, 1, 10**13)
    harness.set_open_interest(300 * WAD, 100 * WAD)  # R = 5e11
    set_time(START + HOUR)
    assert harness.accrue(price) == 3_000 * 5 * 10**11 * HOUR
    harness.set_open_interest(100 * WAD, 100 * WAD)  # balanced: R = 0 from now on
    set_time(START + 2 * HOUR)
    assert harness.accrue(price) == 0
    assert harness.funding_index() == 3_000 * 5 * 10**11 * HOUR


@pytest.mark.parametrize(
    "params, reason",
    [
        ((10**18 + 1, 1, 10**13), "skew_rate: factor above 1e18"),
        ((10**12, 0, 10**13), "skew_rate: exponent must be 1 or 2"),
        ((10**12, 3, 10**13), "skew_rate: exponent must be 1 or 2"),
        ((10**12, 1, 0), "skew_rate: cap outside 1 wei..1e13 per second"),
        ((10**12, 1, 10**13 + 1), "skew_rate: cap outside 1 wei..1e13 per second"),
    ],
)
def test_skew_rejects_parameters_outside_the_bounds(fresh, params, reason):
    assert skew_rate.SkewParameters(*params).rejection() == reason
    with boa.reverts(reason):
        SKEW_HARNESS.deploy(*params)
    harness = SKEW_HARNESS.deploy(10**12, 1, 10**13)
    with boa.reverts(reason):
        harness.set_parameters(*params)


def test_skew_rejects_open_interest_above_the_bound(skew_harness):
    reason = "skew_rate: open interest above 1e36"
    state = skew_rate.start(skew_rate.SkewParameters(10**12, 1, 10**13), START)
    for sides in ((10**36 + 1, 0), (0, 10**36 + 1)):
        with pytest.raises(Rejected, match=reason):
            skew_rate.set_open_interest(state, *sides, START)
        with boa.reverts(reason):
            skew_harness.set_open_interest(*sides)


# ---------------------------------------------------------------- bounded external rate


@pytest.fixture
def external_harness(fresh):
    return EXTERNAL_HARNESS.deploy(RATE_PROVIDER, 10**12, 10**9)


@examples("math")
@given(
    max_rate=st.integers(1, external_rate.MAX_RATE),
    max_change=st.integers(1, external_rate.MAX_CHANGE),
    where=st.fractions(-1, 1),
    requested=int256s,
    elapsed=st.one_of(gaps, st.just(2**64 - 1)),
)
def test_external_bound_equals_reference(
    external_pure, max_rate, max_change, where, requested, elapsed
):
    old = int(where * max_rate)
    expected = external_rate.bound(old, requested, elapsed, max_rate, max_change)
    assert external_pure.bound(old, requested, elapsed, max_rate, max_change) == expected
    assert abs(expected) <= max_rate
    assert abs(expected - old) <= max_change * elapsed
    # It moves from the old rate toward the request, and reaches it when allowed.
    assert min(old, requested) <= expected <= max(old, requested)
    if abs(requested) <= max_rate and abs(requested - old) <= max_change * elapsed:
        assert expected == requested


def external_parameters(valid_only: bool = False):
    rates = st.integers(1, external_rate.MAX_RATE)
    changes = st.one_of(st.integers(1, external_rate.MAX_CHANGE), st.integers(1, 10**9))
    if not valid_only:
        rates = st.one_of(rates, st.sampled_from([0, external_rate.MAX_RATE + 1]))
        changes = st.one_of(changes, st.sampled_from([0, external_rate.MAX_CHANGE + 1]))
    return st.builds(external_rate.ExternalParameters, rates, changes)


requests = st.one_of(int256s, st.integers(-(10**13), 10**13))
external_operations = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), gaps),
        st.tuples(st.just("accrue"), prices),
        st.tuples(
            st.just("rate"), requests, st.sampled_from([RATE_PROVIDER, STRANGER]), accrual_prices
        ),
        st.tuples(st.just("parameters"), external_parameters(), accrual_prices),
        st.tuples(st.just("provider"), st.sampled_from([RATE_PROVIDER, STRANGER])),
    ),
    max_size=14,
)


@examples("stateful")
@given(params=external_parameters(valid_only=True), operations=external_operations)
def test_external_sequences_equal_reference(params, operations):
    with boa.env.anchor():
        set_time(START)
        run_external_sequence(params, operations)


def run_external_sequence(params, operations):
    now = START
    harness = EXTERNAL_HARNESS.deploy(RATE_PROVIDER, params.max_rate, params.max_change_per_second)
    state = external_rate.start(params, RATE_PROVIDER, now)
    index = 0

    def accrue(price):
        nonlocal state, index
        step, state = external_rate.accrue(state, price, now)
        assert harness.pending(price) == step
        assert harness.accrue(price) == step
        index += step

    for operation in operations:
        kind = operation[0]
        if kind == "wait":
            now += operation[1]
            set_time(now)
        elif kind == "accrue":
            accrue(operation[1])
        elif kind == "provider":
            harness.set_rate_provider(operation[1])
            state = external_rate.set_rate_provider(state, operation[1])
        else:
            if operation[-1] is not None:
                accrue(operation[-1])
            if kind == "rate":
                _, requested, caller, _ = operation
                outcome = same_outcome(
                    partial(harness.set_rate, requested, sender=caller),
                    partial(external_rate.set_rate, params, state, requested, caller, now),
                )
                if outcome is not None:
                    assert outcome[0] == outcome[1].rate
            else:
                new = operation[1]
                outcome = same_outcome(
                    partial(harness.set_parameters, new.max_rate, new.max_change_per_second),
                    partial(external_rate.set_parameters, state, new, now),
                )
                if outcome is not None:
                    params = new
            if outcome is not None:
                state = outcome[1]
        assert harness.rate() == harness.rate_now() == state.rate
        assert abs(state.rate) <= params.max_rate
        assert harness.rate_set_time() == state.rate_set_time
        assert harness.checkpoint_time() == state.checkpoint_time
        assert harness.rate_provider() == state.rate_provider
        assert (harness.max_rate(), harness.max_change_per_second()) == (
            params.max_rate,
            params.max_change_per_second,
        )
        assert harness.funding_index() == index


def test_external_rate_is_bounded_and_charged_from_when_it_is_set(external_harness):
    """max_rate 1e12, max change 1e9 per second. After 100 s a request of 5e12 sets
    1e11 (the change limit); 10,000 s later a request of 5e12 sets 1e12 (max_rate).
    The old rate is charged up to each setting, the new one after it."""
    price = 2_000 * WAD
    set_time(START + 100)
    assert external_harness.accrue(price) == 0  # rate 0 so far
    assert external_harness.set_rate(5 * 10**12, sender=RATE_PROVIDER) == 10**11
    logs = external_harness.get_logs()
    assert (logs[-1].requested, logs[-1].rate) == (5 * 10**12, 10**11)
    set_time(START + 10_100)
    assert external_harness.accrue(price) == 2_000 * 10**11 * 10_000
    assert external_harness.set_rate(5 * 10**12, sender=RATE_PROVIDER) == 10**12
    assert (
        external_harness.set_rate(-(10**12), sender=RATE_PROVIDER) == 10**12
    )  # no time: no change
    set_time(START + 10_101)
    assert external_harness.accrue(price) == 2_000 * 10**12
    assert external_harness.set_rate(-(10**12), sender=RATE_PROVIDER) == 10**12 - 10**9
    # A lower max_rate clamps the rate from now on.
    external_harness.set_parameters(10**11, 10**9)
    assert external_harness.rate() == 10**11


def test_external_rate_rejections(external_harness):
    with boa.reverts("external_rate: caller is not the rate provider"):
        external_harness.set_rate(1, sender=STRANGER)
    set_time(START + 1)
    with boa.reverts("external_rate: accrue first"):
        external_harness.set_rate(1, sender=RATE_PROVIDER)
    with boa.reverts("external_rate: rate provider is the zero address"):
        external_harness.set_rate_provider("0x" + "0" * 40)
    with boa.reverts("external_rate: rate provider is the zero address"):
        EXTERNAL_HARNESS.deploy("0x" + "0" * 40, 10**12, 10**9)
    state = external_rate.start(
        external_rate.ExternalParameters(10**12, 10**9), RATE_PROVIDER, START
    )
    params = external_rate.ExternalParameters(10**12, 10**9)
    with pytest.raises(Rejected, match="caller is not the rate provider"):
        external_rate.set_rate(params, state, 1, STRANGER, START + 1)
    with pytest.raises(Rejected, match="accrue first"):
        external_rate.set_rate(params, state, 1, RATE_PROVIDER, START + 1)
    with pytest.raises(Rejected, match="zero address"):
        external_rate.set_rate_provider(state, "0x" + "0" * 40)


@pytest.mark.parametrize(
    "params, reason",
    [
        ((0, 10**9), "external_rate: max rate outside 1 wei..1e13 per second"),
        ((10**13 + 1, 10**9), "external_rate: max rate outside 1 wei..1e13 per second"),
        ((10**12, 0), "external_rate: max change outside 1 wei..1e13 per second"),
        ((10**12, 10**13 + 1), "external_rate: max change outside 1 wei..1e13 per second"),
    ],
)
def test_external_rejects_parameters_outside_the_bounds(external_harness, params, reason):
    assert external_rate.ExternalParameters(*params).rejection() == reason
    with boa.reverts(reason):
        EXTERNAL_HARNESS.deploy(RATE_PROVIDER, *params)
    with boa.reverts(reason):
        external_harness.set_parameters(*params)


# ---------------------------------------------------------------- all three


@pytest.mark.parametrize(
    "deploy, setter, reason",
    [
        (lambda: VELOCITY_HARNESS.deploy(WAD, WAD, WAD), lambda h: h.set_skew(1), "velocity_rate"),
        (
            lambda: VELOCITY_HARNESS.deploy(WAD, WAD, WAD),
            lambda h: h.set_parameters(WAD, WAD, WAD),
            "velocity_rate",
        ),
        (lambda: SKEW_HARNESS.deploy(1, 1, 1), lambda h: h.set_open_interest(1, 0), "skew_rate"),
        (lambda: SKEW_HARNESS.deploy(1, 1, 1), lambda h: h.set_parameters(1, 1, 1), "skew_rate"),
        (
            lambda: EXTERNAL_HARNESS.deploy(RATE_PROVIDER, 1, 1),
            lambda h: h.set_parameters(1, 1),
            "external_rate",
        ),
    ],
)
def test_setters_require_an_accrual_in_the_same_block(fresh, deploy, setter, reason):
    """A setter works in the block of the last accrual and reverts a second later
    until the model is accrued, so no input is ever charged retroactively."""
    harness = deploy()
    setter(harness)  # deployed (accrued) this block
    set_time(START + 1)
    with boa.reverts(f"{reason}: accrue first"):
        setter(harness)
    harness.accrue(WAD)
    setter(harness)


def test_velocity_and_skew_references_reject_setters_before_accrual():
    params = velocity_rate.VelocityParameters(WAD, WAD, WAD)
    state = velocity_rate.start(params, START)
    with pytest.raises(Rejected, match="velocity_rate: accrue first"):
        velocity_rate.set_skew(state, 1, START + 1)
    with pytest.raises(Rejected, match="velocity_rate: accrue first"):
        velocity_rate.set_parameters(state, params, START + 1)
    skew_params = skew_rate.SkewParameters(1, 1, 1)
    skew_state = skew_rate.start(skew_params, START)
    with pytest.raises(Rejected, match="skew_rate: accrue first"):
        skew_rate.set_open_interest(skew_state, 1, 0, START + 1)
    with pytest.raises(Rejected, match="skew_rate: accrue first"):
        skew_rate.set_parameters(skew_state, skew_params, START + 1)
