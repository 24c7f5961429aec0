# pragma version ~=0.4.3
"""
@title SkewRateHarness
@notice Test-only: the skew-proportional rate model inside a minimal funding
        index, as a market would hold it. `accrue` adds the model's step to the
        index; setters do not accrue, so tests can check the "accrue first" guard.
"""

from contracts.modules import skew_rate
initializes: skew_rate

exports: (
    skew_rate.long_open_interest,
    skew_rate.short_open_interest,
    skew_rate.factor,
    skew_rate.exponent,
    skew_rate.cap,
    skew_rate.checkpoint_time,
)

# @dev Cumulative funding per unit of base (WAD quote).
funding_index: public(int256)


@deploy
def __init__(factor: uint256, exponent: uint256, cap: uint256):
    skew_rate.__init__(factor, exponent, cap)


@external
def accrue(price: uint256) -> int256:
    step: int256 = skew_rate._accrue(price)
    self.funding_index += step
    return step


@external
@view
def pending(price: uint256) -> int256:
    return skew_rate._pending(price)


@external
@view
def rate_now() -> int256:
    return skew_rate._rate_now()


@external
def set_open_interest(long_open_interest: uint256, short_open_interest: uint256):
    skew_rate._set_open_interest(long_open_interest, short_open_interest)


@external
def set_parameters(factor: uint256, exponent: uint256, cap: uint256):
    skew_rate._set_parameters(factor, exponent, cap)


@external
@pure
def rate(
    long_open_interest: uint256, short_open_interest: uint256, factor: uint256, exponent: uint256, cap: uint256
) -> int256:
    return skew_rate._rate(long_open_interest, short_open_interest, factor, exponent, cap)


@external
@pure
def funding_delta(rate: int256, gap: uint256, price: uint256) -> int256:
    return skew_rate._funding_delta(rate, gap, price)
