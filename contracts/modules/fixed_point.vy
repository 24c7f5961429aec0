# pragma version ~=0.4.3
"""
@title Fixed-point arithmetic with an explicit rounding direction
@custom:contract-name fixed_point
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Every quantity in fundingkit is a fixed-point number with 18 decimals
        (WAD). Products of two WAD numbers are divided back by WAD, and that
        division must round somewhere. These helpers name the direction so that
        each call site can say whom its rounding favours. They wrap snekmate's
        512-bit `_mul_div`, so no intermediate product can overflow.
        Signed results round toward negative infinity (floor) or toward positive
        infinity (ceil); Vyper's own signed `//` truncates toward zero, which is
        neither, and is only used where the code says so.
"""


from snekmate.utils import math


# @dev One, in 18-decimal fixed point.
WAD: constant(uint256) = 10**18


@internal
@pure
def _mul_div_floor(x: int256, y: int256, denominator: uint256) -> int256:
    """
    @dev Returns floor(x * y / denominator) for signed `x` and `y`.
    @param x The signed multiplicand.
    @param y The signed multiplier.
    @param denominator The positive divisor.
    @return int256 The product quotient, rounded toward negative infinity.
    """
    negative: bool = (x < 0) != (y < 0)
    # A negative result rounds toward -inf, so its magnitude rounds up.
    magnitude: uint256 = math._mul_div(
        convert(abs(x), uint256), convert(abs(y), uint256), denominator, negative
    )
    if negative:
        return -convert(magnitude, int256)
    return convert(magnitude, int256)


@internal
@pure
def _mul_div_ceil(x: int256, y: int256, denominator: uint256) -> int256:
    """
    @dev Returns ceil(x * y / denominator) for signed `x` and `y`.
    @param x The signed multiplicand.
    @param y The signed multiplier.
    @param denominator The positive divisor.
    @return int256 The product quotient, rounded toward positive infinity.
    """
    negative: bool = (x < 0) != (y < 0)
    # A positive result rounds toward +inf, so its magnitude rounds up.
    magnitude: uint256 = math._mul_div(
        convert(abs(x), uint256), convert(abs(y), uint256), denominator, not negative
    )
    if negative:
        return -convert(magnitude, int256)
    return convert(magnitude, int256)


@internal
@pure
def _wad_mul_down(x: uint256, y: uint256) -> uint256:
    """
    @dev Returns floor(x * y / WAD) for unsigned WAD numbers.
    """
    return math._mul_div(x, y, WAD, False)


@internal
@pure
def _wad_mul_up(x: uint256, y: uint256) -> uint256:
    """
    @dev Returns ceil(x * y / WAD) for unsigned WAD numbers.
    """
    return math._mul_div(x, y, WAD, True)
