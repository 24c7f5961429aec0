"""The volatility-linked cap: contracts/modules/volatility_cap.vy equals
fundingkit.volatility to the wei, on random price paths and on every single update.

Layers: snekmate's _wad_ln and _wad_exp against their Python ports (bit for bit); one
update from any state the estimator can hold; whole paths with crashes, flat stretches
and gaps of up to 100 years; unit tests of the documented behaviour (first sample,
long gaps, halving per half-life, the clamps, every rejected input); the gas of one
update; and the comparison script's core on the crash and flip regimes.
"""

import importlib.util
import math
import re
from dataclasses import astuple, replace
from decimal import Decimal, localcontext
from pathlib import Path

import boa
import pytest
from conftest import examples
from hypothesis import example, given
from hypothesis import strategies as st

from fundingkit import volatility
from fundingkit.rates import RateParameters
from fundingkit.volatility import (
    DAY,
    EXP_ZERO_BELOW,
    HOUR,
    LN2,
    MAX_CAP,
    MAX_HALF_LIFE,
    MAX_INITIAL_SIGMA,
    MAX_MULTIPLIER,
    MAX_PRICE,
    MIN_CAP,
    MIN_HALF_LIFE,
    MIN_MULTIPLIER,
    YEAR,
    Rejected,
    VolatilityParameters,
    VolatilityState,
)
from fundingkit.vyper_math import INT256_MAX, INT256_MIN, WAD

ROOT = Path(__file__).resolve().parents[2]
HARNESS = boa.load_partial(str(ROOT / "tests" / "contracts" / "VolatilityHarness.vy"))

PARAMS = VolatilityParameters()  # half-life 1 day, k = 0.25, caps 0.5 % .. 4 %
INTERVAL = 8 * HOUR
PRICE = 50_000 * WAD
SIGMA = 2 * 10**16  # 2 % per interval: k * sigma = 0.5 %, exactly cap_min
MAX_STEPS = 64  # VolatilityHarness.MAX_STEPS
CENTURY = 100 * YEAR
LOG_PRICE_MIN = volatility.wad_ln(1)  # -MAX_LOG_PRICE
LOG_PRICE_MAX = volatility.wad_ln(MAX_PRICE)  # MAX_LOG_PRICE - 1
VARIANCE_BOUND = (LOG_PRICE_MAX - LOG_PRICE_MIN) ** 2  # no sample can exceed it


def deploy(
    params: VolatilityParameters = PARAMS,
    price: int = PRICE,
    initial_sigma: int = SIGMA,
    interval: int = INTERVAL,
):
    return HARNESS.deploy(
        price,
        params.half_life,
        params.multiplier,
        params.cap_min,
        params.cap_max,
        initial_sigma,
        interval,
    )


@pytest.fixture(scope="module")
def harness():
    return deploy()


def stored_state(harness) -> VolatilityState:
    return VolatilityState(*harness.volatility_state())


def parameters_of(harness) -> VolatilityParameters:
    return VolatilityParameters(
        harness.volatility_half_life(),
        harness.volatility_multiplier(),
        harness.cap_min(),
        harness.cap_max(),
    )


def fresh_gas(call, *args) -> int:
    """Runs ``call`` as the first transaction touching the harness's storage: every slot
    cold and clean. (titanoboa otherwise carries warm and dirty slots from call to call;
    committing the journal breaks the tests' snapshots, so only inside ``boa.swap_env``.)"""
    boa.env.evm.vm.state.lock_changes()
    boa.env.reset_gas_used()
    return call(*args)


# ---------------------------------------------------------------- strategies

# Prices the market can sample (1 wei .. 1e36), log-uniform so every scale shows up.
prices = st.one_of(
    st.builds(
        lambda exponent, mantissa: min(MAX_PRICE, mantissa * 10**exponent),
        st.integers(0, 35),
        st.integers(1, 10**6),
    ),
    st.integers(1, MAX_PRICE),
    st.sampled_from([1, 2, 10**10, 10**18, 10**30, MAX_PRICE - 1, MAX_PRICE]),
)
gaps = st.one_of(
    st.integers(0, 120),
    st.integers(0, 3 * DAY),
    st.integers(0, CENTURY),
    st.sampled_from([0, 1, 12, HOUR, 8 * HOUR, DAY, 60 * DAY, CENTURY]),
)


@st.composite
def parameters(draw) -> VolatilityParameters:
    low, high = sorted(draw(st.lists(st.integers(MIN_CAP, MAX_CAP), min_size=2, max_size=2)))
    return VolatilityParameters(
        half_life=draw(st.integers(MIN_HALF_LIFE, MAX_HALF_LIFE) | st.just(DAY)),
        multiplier=draw(st.integers(MIN_MULTIPLIER, MAX_MULTIPLIER)),
        cap_min=low,
        cap_max=high,
    )


# A state the estimator can hold: a log price of a price in range, a variance within
# the bound no sample exceeds, a time that leaves a century of room.
states = st.builds(
    VolatilityState,
    log_price=st.integers(LOG_PRICE_MIN, LOG_PRICE_MAX),
    updated_at=st.integers(0, 2**48 - 1 - CENTURY),
    variance=st.one_of(
        st.integers(0, VARIANCE_BOUND),
        st.integers(0, 10**30),  # the range of real markets
        st.sampled_from([0, 1, VARIANCE_BOUND]),
    ),
)
intervals = st.integers(HOUR, 8 * HOUR)


@st.composite
def price_moves(draw, price: int) -> int:
    """The next price: flat, a small move, a crash, a pump or a jump to an edge."""
    kind = draw(st.sampled_from(["flat", "flat", "small", "small", "crash", "pump", "edge"]))
    if kind == "flat":
        return price
    if kind == "small":
        moved = price * (1_000_000 + draw(st.integers(-10_000, 10_000))) // 1_000_000
    elif kind == "crash":
        moved = price * draw(st.integers(5, 70)) // 100
    elif kind == "pump":
        moved = price * draw(st.integers(150, 2_000)) // 100
    else:
        moved = draw(st.sampled_from([1, MAX_PRICE]))
    return min(max(moved, 1), MAX_PRICE)


@st.composite
def price_paths(draw) -> tuple[list[int], list[int]]:
    """Up to MAX_STEPS samples after a start at 50,000 (prices, times)."""
    count = draw(st.integers(1, MAX_STEPS))
    price, now = PRICE, 0
    path_prices, path_times = [], []
    for _ in range(count):
        price = draw(price_moves(price))
        now += draw(gaps)
        path_prices.append(price)
        path_times.append(now)
    return path_prices, path_times


def run_reference(params, state, path_prices, path_times, interval):
    """The estimator word and the cap after each sample."""
    words, caps = [], []
    for price, now in zip(path_prices, path_times, strict=True):
        state = volatility.update(state, price, now, params)
        words.append(state.pack())
        caps.append(volatility.effective_cap(state, params, interval))
    return words, caps


def run_contract(harness, params, state, path_prices, path_times, interval):
    """The same through the module's pure functions, with any parameters."""
    words, caps = harness.replay(
        state.pack(),
        path_prices,
        path_times,
        params.half_life,
        params.multiplier,
        params.cap_min,
        params.cap_max,
        interval,
    )
    return list(words), list(caps)


# ---------------------------------------------------------------- snekmate, bit for bit

int256s = st.one_of(
    st.integers(INT256_MIN, INT256_MAX),
    st.integers(-(10**40), 10**40),
    st.integers(0, 10**20),
)


@examples("math")
@given(x=int256s)
@example(x=0)
@example(x=1)
@example(x=WAD)
@example(x=MAX_PRICE)
@example(x=INT256_MAX)
@example(x=-1)
def test_wad_ln_port_is_bit_exact(harness, x):
    if x < 0:
        with pytest.raises(ValueError, match="wad_ln undefined"):
            volatility.wad_ln(x)
        with boa.reverts("math: wad_ln undefined"):
            harness.wad_ln(x)
    else:
        assert harness.wad_ln(x) == volatility.wad_ln(x)


exponents = st.one_of(
    st.integers(-EXP_ZERO_BELOW - 10, 136 * WAD),
    st.integers(-(10**6), 10**6),
    st.integers(-EXP_ZERO_BELOW, 0),
    int256s,
)


@examples("math")
@given(x=exponents)
@example(x=-EXP_ZERO_BELOW)
@example(x=-EXP_ZERO_BELOW + 1)
@example(x=-LN2)
@example(x=0)
@example(x=135_305_999_368_893_231_588)
@example(x=135_305_999_368_893_231_589)
def test_wad_exp_port_is_bit_exact(harness, x):
    try:
        expected = volatility.wad_exp(x)
    except OverflowError:
        with boa.reverts("math: wad_exp overflow"):
            harness.wad_exp(x)
    else:
        assert harness.wad_exp(x) == expected


@examples("math")
@given(elapsed=st.integers(0, 2**48), half_life=st.integers(MIN_HALF_LIFE, MAX_HALF_LIFE))
@example(elapsed=MIN_HALF_LIFE, half_life=MIN_HALF_LIFE)
def test_decay_weight_is_within_two_wei_of_the_power_of_two(harness, elapsed, half_life):
    weight = volatility.decay(elapsed, half_life)
    assert harness.decay(elapsed, half_life) == weight
    with localcontext() as exact:
        exact.prec = 60
        power = Decimal(2) ** (Decimal(-elapsed) / Decimal(half_life)) * WAD
    assert abs(weight - power) < 2
    if elapsed % half_life == 0 and elapsed // half_life < 256:
        assert weight == WAD >> (elapsed // half_life)  # whole half-lives: exact


# ---------------------------------------------------------------- one update, any state


@examples("math")
@given(
    params=parameters(),
    state=states,
    price=prices,
    gap=gaps,
    interval=intervals,
)
@example(  # a century-long gap from the lowest price to the highest
    params=PARAMS,
    state=VolatilityState(LOG_PRICE_MIN, 0, VARIANCE_BOUND),
    price=MAX_PRICE,
    gap=CENTURY,
    interval=8 * HOUR,
)
@example(  # one second from the highest price to the lowest: the largest sample
    params=replace(PARAMS, half_life=MIN_HALF_LIFE),
    state=VolatilityState(LOG_PRICE_MAX, 0, VARIANCE_BOUND),
    price=1,
    gap=1,
    interval=8 * HOUR,
)
def test_one_update_equals_reference(harness, params, state, price, gap, interval):
    now = state.updated_at + gap
    after = volatility.update(state, price, now, params)
    assert harness.advance(state.pack(), price, now, params.half_life) == after.pack()
    cap = harness.cap(after.variance, interval, params.multiplier, params.cap_min, params.cap_max)
    assert cap == volatility.effective_cap(after, params, interval)
    if gap > 0:
        # The update is a convex combination of the old variance and the sample.
        sample = (volatility.wad_ln(price) - state.log_price) ** 2 // gap
        assert min(state.variance, sample) - 1 <= after.variance <= max(state.variance, sample)
    else:
        assert after == state  # a second sample at the same time changes nothing


# ---------------------------------------------------------------- whole paths


@examples("stateful")
@given(
    params=parameters(),
    initial_sigma=st.integers(0, MAX_INITIAL_SIGMA),
    path=price_paths(),
    interval=intervals,
)
@example(  # flat for a century, then a 95 % crash one second later
    params=PARAMS,
    initial_sigma=SIGMA,
    path=([PRICE, PRICE // 20], [CENTURY, CENTURY + 1]),
    interval=8 * HOUR,
)
def test_random_paths_equal_reference(harness, params, initial_sigma, path, interval):
    path_prices, path_times = path
    start = volatility.initial_state(params, PRICE, 0, initial_sigma, interval)
    expected = run_reference(params, start, path_prices, path_times, interval)
    assert run_contract(harness, params, start, path_prices, path_times, interval) == expected
    for word, cap in zip(*expected, strict=True):
        sigma = math.isqrt(VolatilityState.unpack(word).variance * interval)
        assert cap == min(max(params.multiplier * sigma // WAD, params.cap_min), params.cap_max)


@examples("stateful")
@given(path=price_paths(), interval=intervals)
def test_random_paths_through_storage_equal_reference(harness, path, interval):
    """The same through `_update` and `_effective_cap` (the deployed parameters)."""
    path_prices, path_times = path
    start = stored_state(harness)
    times = [start.updated_at + time for time in path_times]
    expected = run_reference(PARAMS, start, path_prices, times, interval)
    words, caps = harness.replay_stored(path_prices, times, interval)
    assert (list(words), list(caps)) == expected
    assert harness.packed_state() == expected[0][-1]


# ---------------------------------------------------------------- documented behaviour


def test_first_sample(harness):
    state = stored_state(harness)
    assert state.log_price == volatility.wad_ln(PRICE)
    assert state.updated_at == boa.env.evm.patch.timestamp
    assert state.variance == SIGMA * SIGMA // INTERVAL
    assert state == volatility.initial_state(PARAMS, PRICE, state.updated_at, SIGMA, INTERVAL)
    # The seed round-trips to sigma within one wei, and k * sigma = 0.5 % = cap_min.
    assert SIGMA - 1 <= volatility.sigma(state, INTERVAL) <= SIGMA
    assert harness.effective_cap(INTERVAL) == PARAMS.cap_min
    assert parameters_of(harness) == PARAMS


def test_a_second_sample_at_the_same_time_does_nothing(harness):
    before = stored_state(harness)
    harness.update(PRICE // 2, before.updated_at)  # even at half the price
    assert stored_state(harness) == before
    assert volatility.update(before, PRICE // 2, before.updated_at, PARAMS) == before
    # The move counts in the next return instead.
    harness.update(PRICE // 2, before.updated_at + 60)
    after = stored_state(harness)
    assert after == volatility.update(before, PRICE // 2, before.updated_at + 60, PARAMS)
    assert after.variance > before.variance


@pytest.mark.parametrize("half_lives", [1, 2, 5, 18])
def test_flat_price_halves_the_variance_every_half_life(harness, half_lives):
    before = stored_state(harness)
    harness.update(PRICE, before.updated_at + half_lives * PARAMS.half_life)
    after = stored_state(harness)
    # A whole number of half-lives: the weight is exactly WAD / 2**n (n <= 18).
    assert after.variance == before.variance >> half_lives
    assert after.log_price == before.log_price


def test_a_flat_stretch_decays_alike_in_pieces_or_at_once(harness):
    before = stored_state(harness)
    harness.update(PRICE, before.updated_at + 10 * HOUR)
    at_once = stored_state(harness).variance
    state = before
    for hour in range(1, 11):
        state = volatility.update(state, PRICE, before.updated_at + hour * HOUR, PARAMS)
    # Each piece's weight is within about a wei (of WAD) of the exact power of two.
    assert abs(state.variance - at_once) <= 10 * (2 * before.variance // WAD + 1)
    assert at_once == before.variance * volatility.decay(10 * HOUR, PARAMS.half_life) // WAD


def test_a_gap_of_many_hours_is_one_observation_scaled_by_its_length(harness):
    before = stored_state(harness)
    gap = 100 * HOUR  # 4.2 half-lives of a day
    price = PRICE * 3 // 4
    harness.update(price, before.updated_at + gap)
    after = stored_state(harness)
    change = volatility.wad_ln(price) - before.log_price
    weight = volatility.decay(gap, PARAMS.half_life)
    assert weight == volatility.wad_exp(-(gap * LN2 // PARAMS.half_life))
    assert after.variance == (weight * before.variance + (WAD - weight) * (change**2 // gap)) // WAD
    # The return over the whole gap is one sample of the variance rate:
    assert abs(after.variance / (change**2 / gap) - 1) < 0.06  # 2**-4.2 of the seed remains


def test_a_gap_of_sixty_half_lives_replaces_the_estimate(harness):
    before = stored_state(harness)
    gap = 60 * PARAMS.half_life  # beyond ~59.8 half-lives the weight is exactly 0
    assert volatility.decay(gap, PARAMS.half_life) == 0
    harness.update(PRICE * 2, before.updated_at + gap)
    change = volatility.wad_ln(PRICE * 2) - before.log_price
    assert stored_state(harness).variance == change**2 // gap


def test_cap_sits_at_cap_min_in_a_calm_market(harness):
    now = stored_state(harness).updated_at
    price = PRICE
    for hour in range(1, 24 * 7 + 1):  # a week of hourly moves of +-0.1 %
        price = price * (1_001 if hour % 2 else 999) // 1_000
        harness.update(price, now + hour * HOUR)
    # Daily volatility about 0.5 %: k * sigma_8h = 0.25 * 0.28 % is below 0.5 %.
    state = stored_state(harness)
    assert volatility.sigma(state, INTERVAL) < PARAMS.cap_min * WAD // PARAMS.multiplier
    assert harness.effective_cap(INTERVAL) == PARAMS.cap_min
    assert volatility.effective_cap(state, PARAMS, INTERVAL) == PARAMS.cap_min


def test_cap_reaches_cap_max_in_a_violent_market(harness):
    now = stored_state(harness).updated_at
    harness.update(PRICE * 6 // 10, now + HOUR)  # -40 % in an hour
    state = stored_state(harness)
    # sigma_8h jumps to about 24 %: k * sigma = 6 % > 4 %.
    assert volatility.sigma(state, INTERVAL) > 20 * 10**16
    assert harness.effective_cap(INTERVAL) == PARAMS.cap_max
    assert volatility.effective_cap(state, PARAMS, INTERVAL) == PARAMS.cap_max
    # A 1 h interval sees sqrt(8) less volatility, still above the 4 % cap.
    assert harness.effective_cap(HOUR) == volatility.effective_cap(state, PARAMS, HOUR)


def test_cap_between_the_clamps_is_k_sigma(harness):
    variance = (10 * 10**16) ** 2 // INTERVAL  # about 10 % per interval
    harness.set_state(volatility.wad_ln(PRICE), 0, variance)
    sigma = volatility.sigma(stored_state(harness), INTERVAL)
    assert sigma == math.isqrt(variance * INTERVAL) == 10 * 10**16 - 1  # both floors
    cap = harness.effective_cap(INTERVAL)
    assert cap == PARAMS.multiplier * sigma // WAD == 25 * 10**15 - 1
    assert PARAMS.cap_min < cap < PARAMS.cap_max


def test_extreme_inputs_never_revert(harness):
    state = stored_state(harness)
    now = state.updated_at
    for price, gap in ((1, 1), (MAX_PRICE, 1), (1, CENTURY), (MAX_PRICE, 1), (MAX_PRICE, CENTURY)):
        now += gap
        harness.update(price, now)
        state = volatility.update(state, price, now, PARAMS)
        assert stored_state(harness) == state
        assert state.variance <= VARIANCE_BOUND
        for interval in (HOUR, 8 * HOUR):
            assert harness.effective_cap(interval) == volatility.effective_cap(
                state, PARAMS, interval
            )


# ---------------------------------------------------------------- rejected inputs

EDGES = [
    ("half_life", MIN_HALF_LIFE - 1),
    ("half_life", MAX_HALF_LIFE + 1),
    ("multiplier", MIN_MULTIPLIER - 1),
    ("multiplier", MAX_MULTIPLIER + 1),
    ("multiplier", 0),
    ("cap_min", MIN_CAP - 1),
    ("cap_min", MAX_CAP + 1),
    ("cap_max", PARAMS.cap_min - 1),
    ("cap_max", MAX_CAP + 1),
]


@pytest.mark.parametrize(("field", "value"), EDGES)
def test_rejected_parameters_revert_with_the_reference_reason(harness, field, value):
    params = replace(PARAMS, **{field: value})
    reason = params.rejection()
    assert reason is not None
    with pytest.raises(Rejected, match=reason):
        volatility.initial_state(params, PRICE, 0, SIGMA, INTERVAL)
    with boa.reverts(reason):
        deploy(params)
    with boa.reverts(reason):
        harness.check_parameters(*astuple(params))


@pytest.mark.parametrize(
    "params",
    [
        VolatilityParameters(MIN_HALF_LIFE, MIN_MULTIPLIER, MIN_CAP, MIN_CAP),
        VolatilityParameters(MAX_HALF_LIFE, MAX_MULTIPLIER, MAX_CAP, MAX_CAP),
    ],
)
def test_parameters_at_the_bounds_are_accepted(params):
    assert params.rejection() is None
    assert parameters_of(deploy(params)) == params


@examples("stateful")  # four comparisons: the bounds' edges are pinned above
@given(
    half_life=st.integers(0, 2 * MAX_HALF_LIFE),
    multiplier=st.integers(0, 2 * MAX_MULTIPLIER),
    cap_min=st.integers(-MAX_CAP, 2 * MAX_CAP),
    cap_max=st.integers(-MAX_CAP, 2 * MAX_CAP),
)
def test_parameter_checks_equal_reference(harness, half_life, multiplier, cap_min, cap_max):
    reason = VolatilityParameters(half_life, multiplier, cap_min, cap_max).rejection()
    if reason is None:
        harness.check_parameters(half_life, multiplier, cap_min, cap_max)
    else:
        with boa.reverts(reason):
            harness.check_parameters(half_life, multiplier, cap_min, cap_max)


@pytest.mark.parametrize(
    ("price", "initial_sigma", "interval"),
    [
        (0, SIGMA, INTERVAL),
        (MAX_PRICE + 1, SIGMA, INTERVAL),
        (PRICE, MAX_INITIAL_SIGMA + 1, INTERVAL),
        (PRICE, SIGMA, HOUR - 1),
        (PRICE, SIGMA, 8 * HOUR + 1),
    ],
)
def test_rejected_first_sample(price, initial_sigma, interval):
    with pytest.raises(Rejected) as rejected:
        volatility.initial_state(PARAMS, price, 0, initial_sigma, interval)
    with boa.reverts(str(rejected.value)):
        deploy(price=price, initial_sigma=initial_sigma, interval=interval)


@pytest.mark.parametrize(
    ("price", "time", "reason"),
    [
        (0, 60, "price outside 1..1e36"),
        (MAX_PRICE + 1, 60, "price outside 1..1e36"),
        (PRICE, -1, "time before the last sample"),
        (PRICE, 2**48, "time beyond 2**48"),
    ],
)
def test_samples_the_market_never_takes_revert(harness, price, time, reason):
    """Invariants the market guarantees (its own sampled price, block.timestamp):
    bare asserts, matched by their `# dev:` comment."""
    before = stored_state(harness)
    now = time if time > 2**40 else before.updated_at + time
    with pytest.raises(Rejected, match=re.escape(reason)):
        volatility.update(before, price, now, PARAMS)
    with boa.reverts(dev=reason):
        harness.update(price, now)
    assert stored_state(harness) == before


# ---------------------------------------------------------------- gas


@pytest.mark.ignore_isolation
def test_update_gas_is_flat_and_small():
    with boa.swap_env(boa.Env()):
        harness = deploy()
        now = stored_state(harness).updated_at
        used = []
        for price, gap in ((PRICE, 12), (PRICE * 99 // 100, HOUR), (PRICE // 3, CENTURY), (1, 1)):
            now += gap
            used.append(fresh_gas(harness.update_gas, price, now))
    # One cold read and one write of the estimator's word are 5,000 of it.
    assert 5_000 < min(used) and max(used) < 9_000
    assert max(used) - min(used) < 1_000  # the same for a block or a century


# ---------------------------------------------------------------- the comparison script

SCRIPT = ROOT / "scripts" / "volatility_cap.py"
SHARED_HISTORY = ROOT.parent / "shared" / "data" / "binance_btcusdt_funding_8h_2020_2023.csv"
FIXED = RateParameters()  # the fixed cap: 0.75 % per 8 h
SEED_SIGMA = volatility.sigma_for(0.03, FIXED.interval)  # the synthetic spot's 3 % a day


def load_script():
    spec = importlib.util.spec_from_file_location("volatility_cap_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_regime(regime: str):
    return volatility.compare_regime(
        regime,
        days=20,
        seed=1,
        rate_params=FIXED,
        vol_params=PARAMS,
        initial_sigma=SEED_SIGMA,
    )


def test_crash_lifts_the_linked_cap_above_the_fixed_one():
    crash = run_regime("crash")
    linked, fixed = crash.linked, crash.fixed
    event = len(linked) // 2  # the synthetic crash: -40 % within the hour at mid-path
    assert linked[event].index_price * 10 < linked[event - 1].index_price * 7
    # Calm before: the linked cap sits at cap_min (tighter than the fixed 0.75 %) and,
    # since no rate comes near either cap, both markets pay the very same rates.
    assert {step.cap for step in linked[:event]} == {PARAMS.cap_min}
    assert [s.rate for s in linked[:event]] == [s.rate for s in fixed[:event]]
    # The crash's return lifts sigma per 8 h from ~1.7 % to ~24 %: the cap to cap_max.
    assert linked[event - 1].sigma < 2 * 10**16 < 20 * 10**16 < linked[event].sigma
    assert linked[event].cap == PARAMS.cap_max > FIXED.cap
    assert {step.cap for step in fixed} == {FIXED.cap}
    # The perp at a 2 % discount: the fixed cap pins the rate at -0.75 %, the linked
    # cap lets it reach the damped average premium, and longs receive more.
    assert min(s.rate for s in fixed) == -FIXED.cap
    assert min(s.rate for s in linked) < -14 * 10**15
    assert linked[-1].funding_index < fixed[-1].funding_index < 0
    # Decaying with a one-day half-life, the cap is back near cap_min ten days later.
    assert linked[-1].cap < FIXED.cap
    rows = volatility.summarise(crash)
    assert rows[0].cap == "fixed" and rows[0].time_at_cap_min is None
    assert rows[1].cap_high == PARAMS.cap_max and 0.45 < rows[1].time_at_cap_min < 0.55


def test_flip_pays_the_same_under_either_cap():
    flip = run_regime("flip")
    assert [s.rate for s in flip.linked] == [s.rate for s in flip.fixed]
    assert flip.linked[-1].funding_index == flip.fixed[-1].funding_index
    rows = volatility.summarise(flip)
    assert rows[1].time_at_cap_min > 0.8 and rows[1].time_at_cap_max == 0
    assert max(abs(s.rate) for s in flip.linked) < 10**15  # +-0.1 %: no cap binds


def test_script_writes_the_plot_and_the_table(tmp_path):
    from click.testing import CliRunner

    script = load_script()
    missing = tmp_path / "missing.csv"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        script.cli, ["--days", "4", "--history", str(missing), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"history skipped: no file at {missing}" in result.output
    assert (out / "volatility-cap.png").stat().st_size > 20_000
    table = (out / "summary.md").read_text()
    assert table.count("| crash |") == 2 and table.count("| flip |") == 2
    crash = [line for line in table.splitlines() if line.startswith("| crash | vol-linked |")]
    assert crash[0].startswith("| crash | vol-linked | 0.500 / ") and "/ 4.000 |" in crash[0]
    rejected = CliRunner().invoke(script.cli, ["--cap-min", "5", "--no-history"])
    assert rejected.exit_code != 0
    assert "volatility_cap: cap_min outside 0.01 %..4 %" in rejected.output


@pytest.mark.skipif(
    not SHARED_HISTORY.is_file(), reason="no shared funding data beside the project"
)
def test_replayed_history_under_either_cap():
    history = volatility.compare_history(
        SHARED_HISTORY, seed=1, fixed_cap=FIXED.cap, vol_params=PARAMS
    )
    # The fixed cap replays the published rates; no published rate reaches 0.5 %,
    # so the linked cap (never below cap_min) pays exactly the same.
    assert [s.rate for s in history.linked] == [s.rate for s in history.fixed]
    assert max(abs(s.rate) for s in history.fixed) == 3 * 10**15  # Binance's 0.3 % of 2020
    assert PARAMS.cap_min == min(s.cap for s in history.linked)
