# pragma version ~=0.4.3
"""
@title VelocityRateHarness
@notice Test-only: the velocity rate model inside a minimal funding index, as a
        market would hold it. `accrue` adds the model's step to the index;
        setters do not accrue, so tests can check the "accrue first" guard.
"""

from contracts.modules import velocity_rate
initializes: velocity_rate

exports: (
    velocity_rate.skew,
    velocity_rate.skew_scale,
    velocity_rate.max_velocity,
    velocity_rate.cap,
    velocity_rate.scaled_rate,
    velocity_rate.checkpoint_time,
)

# @dev Cumulative funding per unit of base (WAD quote).
funding_index: public(int256)


@deploy
def __init__(skew_scale: uint256, max_velocity: uint256, cap: uint256):
    velocity_rate.__init__(skew_scale, max_velocity, cap)


@external
def accrue(price: uint256) -> int256:
    step: int256 = velocity_rate._accrue(price)
    self.funding_index += step
    return step


@external
@view
def pending(price: uint256) -> int256:
    return velocity_rate._pending(price)


@external
@view
def rate_now() -> int256:
    return velocity_rate._rate_now()


@external
def set_skew(skew: int256):
    velocity_rate._set_skew(skew)


@external
def set_parameters(skew_scale: uint256, max_velocity: uint256, cap: uint256):
    velocity_rate._set_parameters(skew_scale, max_velocity, cap)


@external
@pure
def velocity(skew: int256, skew_scale: uint256, max_velocity: uint256) -> int256:
    return velocity_rate._velocity(skew, skew_scale, max_velocity)


@external
@pure
def integrate(
    scaled_rate: int256, velocity: int256, scaled_cap: int256, gap: uint256, price: uint256
) -> (int256, int256):
    return velocity_rate._integrate(scaled_rate, velocity, scaled_cap, gap, price)
