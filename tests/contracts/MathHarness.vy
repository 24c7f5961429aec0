# pragma version ~=0.4.3
"""
@title MathHarness
@notice Test-only: exposes the market's pure formulas so that property tests can
        compare them with the Python reference on any input.
"""

from contracts.modules import fixed_point
from contracts.modules import premium_rate
from contracts.modules import ledger


@external
@pure
def mul_div_floor(x: int256, y: int256, denominator: uint256) -> int256:
    return fixed_point._mul_div_floor(x, y, denominator)


@external
@pure
def mul_div_ceil(x: int256, y: int256, denominator: uint256) -> int256:
    return fixed_point._mul_div_ceil(x, y, denominator)


@external
@pure
def premium(mark_price: uint256, index_price: uint256) -> int256:
    return premium_rate._premium(mark_price, index_price)


@external
@pure
def rate(
    formula: uint8, average_premium: int256, interest: int256, dampener: int256, cap: int256
) -> int256:
    return premium_rate._rate(formula, average_premium, interest, dampener, cap)


@external
@pure
def owed(position: int256, snapshot: int256, index: int256) -> int256:
    return ledger._owed(position, snapshot, index)


@external
@pure
def margin_required(position: int256, price: uint256, ratio: uint256) -> int256:
    return ledger._margin_required(position, price, ratio)
