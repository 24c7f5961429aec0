# pragma version ~=0.4.3
"""
@title VelocityRateModel
@custom:contract-name VelocityRateModel
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice The velocity rate model (modules/velocity_rate.vy, Synthetix perps
        v2/v3) as a FundingMarket's rate model:
            dR/dt = clamp(skew / skew_scale, -1, 1) * max_velocity,  |R| <= cap,
        R per day. The skew is the market's: -(its vault's position), so the
        model belongs to a market in pool mode (without a vault the skew is 0
        and the rate stays where it is). Deploy it for the market's address,
        then the market with it (`rate_model`). The owner (two-step transfer)
        sets the bounded parameters; each change accrues the market first.
        docs/MATH.md §13.1 and §18.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.auth import ownable_2step
initializes: ownable_2step[ownable := ownable]

from .modules import packed_word

from .modules import velocity_rate
initializes: velocity_rate

from .modules import rate_model_binding
initializes: rate_model_binding


exports: (
    ownable.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    rate_model_binding.market,
    velocity_rate.skew,
    velocity_rate.skew_scale,
    velocity_rate.max_velocity,
    velocity_rate.cap,
    velocity_rate.scaled_rate,
    velocity_rate.checkpoint_time,
)


event VelocityParametersChanged:
    skew_scale: uint256
    max_velocity: uint256
    cap: uint256


@deploy
def __init__(market_: address, skew_scale: uint256, max_velocity: uint256, cap: uint256):
    """
    @param market_ The market's address (deploy the market next, with this model).
    @param skew_scale The skew at which the velocity is max_velocity (base, WAD).
    @param max_velocity WAD per day per day.
    @param cap The largest |R| (WAD per day).
    """
    ownable.__init__()
    ownable_2step.__init__()
    rate_model_binding.__init__(market_)
    velocity_rate.__init__(skew_scale, max_velocity, cap)
    log VelocityParametersChanged(skew_scale=skew_scale, max_velocity=max_velocity, cap=cap)


@external
def accrue(price: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The market only: moves the rate to now under `skew`, which stood
            across the whole gap, and returns the index step (WAD quote per base).
    """
    rate_model_binding._check_market()
    velocity_rate.skew = skew
    return velocity_rate._accrue(price)


@external
@view
def pending(price: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The step `accrue` would return now.
    """
    step: int256 = 0
    scaled: int256 = 0
    step, scaled = self._step(price, skew)
    return step


@external
@view
def rate_per_period(period: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The rate in force now, per `period` seconds (WAD), truncated toward zero.
    """
    step: int256 = 0
    scaled: int256 = 0
    step, scaled = self._step(0, skew)
    # dev: |S| <= 10 WAD * DAY and period <= 8 h: far inside int256.
    return scaled * convert(period, int256) // convert(velocity_rate.DAY * velocity_rate.DAY, int256)


@external
def set_parameters(skew_scale: uint256, max_velocity: uint256, cap: uint256):
    """
    @notice Owner only. Accrues the market, then applies the new parameters
            from now on (a lower cap clamps the rate now).
    """
    ownable._check_owner()
    rate_model_binding._accrue_market()
    velocity_rate._set_parameters(skew_scale, max_velocity, cap)
    log VelocityParametersChanged(skew_scale=skew_scale, max_velocity=max_velocity, cap=cap)


@internal
@view
def _step(price: uint256, skew: int256) -> (int256, int256):
    """
    @dev The index step since the last accrual and S = R * DAY now, under `skew`.
    """
    word: uint256 = velocity_rate.packed_rate
    velocity: int256 = velocity_rate._velocity(skew, velocity_rate.skew_scale, velocity_rate.max_velocity)
    return velocity_rate._integrate(
        packed_word._value(word),
        velocity,
        convert(velocity_rate.cap * velocity_rate.DAY, int256),
        block.timestamp - packed_word._time(word),
        price,
    )
