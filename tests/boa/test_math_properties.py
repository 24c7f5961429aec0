"""The contract's pure formulas equal the reference's, to the wei, on any input.

Strategies cover the whole int256/uint256 range where the formula accepts it,
and its edges; where Vyper's checked arithmetic reverts, the reference must
raise too.
"""

import boa
import pytest
from conftest import examples
from deployers import MATH_HARNESS
from hypothesis import example, given
from hypothesis import strategies as st

from fundingkit import market, rates, vyper_math
from fundingkit.vyper_math import INT256_MAX, INT256_MIN, UINT256_MAX, WAD

int256s = st.one_of(
    st.integers(INT256_MIN + 1, INT256_MAX),
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, 1, -1, WAD, -WAD, INT256_MAX, INT256_MIN + 1]),
)
# Quantities the market actually sees: prices, sizes, index moves (WAD).
wad_quantities = st.integers(-(10**36), 10**36)
prices = st.integers(1, 10**36)
per_interval = st.integers(-(10**17), 10**17)


@pytest.fixture(scope="module")
def harness():
    return MATH_HARNESS.deploy()


@examples("math")
@given(x=int256s, y=int256s, d=st.integers(1, UINT256_MAX))
@example(x=-7, y=1, d=2)
@example(x=7, y=-1, d=2)
@example(x=INT256_MAX, y=INT256_MAX, d=UINT256_MAX)
def test_mul_div_floor_and_ceil(harness, x, y, d):
    floor = vyper_math.mul_div_floor(x, y, d)
    ceil = vyper_math.mul_div_ceil(x, y, d)
    assert floor <= ceil <= floor + 1
    # The magnitude must fit int256; otherwise the contract reverts.
    for call, expected in ((harness.mul_div_floor, floor), (harness.mul_div_ceil, ceil)):
        if abs(expected) <= INT256_MAX:
            assert call(x, y, d) == expected
        else:
            with boa.reverts():
                call(x, y, d)


@examples("math")
@given(mark=prices, index=prices)
@example(mark=1, index=3)  # -2/3: truncation gives -666..., flooring -667...
@example(mark=10**36, index=1)
def test_premium_truncates_toward_zero(harness, mark, index):
    assert harness.premium(mark, index) == rates.premium(mark, index)


@examples("math")
@given(
    formula=st.sampled_from([rates.PREMIUM_CLAMP, rates.LINEAR, rates.PREMIUM_ONLY]),
    average=int256s.filter(lambda a: abs(a) < 2**250),
    interest=per_interval,
    dampener=st.integers(0, 10**17),
    cap=st.integers(0, 10**17),
)
def test_rate_formula(harness, formula, average, interest, dampener, cap):
    expected = rates.formula_rate(formula, average, interest, dampener, cap)
    assert harness.rate(formula, average, interest, dampener, cap) == expected
    assert -cap <= expected <= cap
    if formula == rates.LINEAR:
        assert expected == rates.clamp(average + interest, -cap, cap)
    elif formula == rates.PREMIUM_ONLY:
        assert expected == rates.clamp(average, -cap, cap)


@examples("math")
@given(position=wad_quantities, snapshot=wad_quantities, index=wad_quantities)
@example(position=1, snapshot=0, index=1)  # a payer pays a whole wei for 1e-18
@example(position=-1, snapshot=0, index=1)  # a receiver gets nothing
def test_owed_rounds_toward_the_market(harness, position, snapshot, index):
    owed = market.owed(position, snapshot, index)
    assert harness.owed(position, snapshot, index) == owed
    exact = position * (index - snapshot)
    assert owed * WAD >= exact > (owed - 1) * WAD


@examples("math")
@given(position=wad_quantities, price=prices, ratio=st.integers(0, WAD))
def test_margin_required_rounds_up(harness, position, price, ratio):
    required = market.margin_required(position, price, ratio)
    assert harness.margin_required(position, price, ratio) == required
    assert required * WAD * WAD >= abs(position) * price * ratio


def test_div_trunc_differs_from_python_floor():
    assert vyper_math.div_trunc(-7, 2) == -3 and -7 // 2 == -4
    assert vyper_math.div_trunc(7, -2) == -3
    assert vyper_math.div_trunc(-8, 2) == -4
