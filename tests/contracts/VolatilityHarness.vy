# pragma version ~=0.4.3
"""
@title VolatilityHarness
@notice Test-only: initialises the volatility_cap module and exposes its
        internals (and the snekmate functions it relies on), so that property
        tests can compare it with fundingkit.volatility on any input.
"""

from snekmate.utils import math

from contracts.modules import volatility_cap
initializes: volatility_cap

exports: (
    volatility_cap.variance_rate,
    volatility_cap.volatility_updated_at,
    volatility_cap.volatility_parameters,
)


# @dev The most updates one `replay` call takes.
MAX_STEPS: constant(uint256) = 64


@deploy
def __init__(
    price: uint256,
    half_life: uint256,
    multiplier: uint256,
    cap_min: int256,
    cap_max: int256,
    initial_sigma: uint256,
    interval: uint256,
):
    volatility_cap.__init__(price, half_life, multiplier, cap_min, cap_max, initial_sigma, interval)


@external
def update(price: uint256, now: uint256):
    volatility_cap._update(price, now)


@external
def update_gas(price: uint256, now: uint256) -> uint256:
    """
    @notice The gas `_update` alone uses (both words cold, as in a fresh
            transaction that has not touched them yet).
    """
    before: uint256 = msg.gas
    volatility_cap._update(price, now)
    return before - msg.gas


@external
def set_parameters(half_life: uint256, multiplier: uint256, cap_min: int256, cap_max: int256):
    volatility_cap._set_parameters(half_life, multiplier, cap_min, cap_max)


@external
def set_state(log_price: int256, updated_at: uint256, variance: uint256):
    """
    @notice Puts the estimator in any state it can hold (for one-step properties).
    """
    volatility_cap.packed_volatility = volatility_cap._pack(log_price, updated_at, variance)


@external
def replay(
    half_life: uint256,
    multiplier: uint256,
    cap_min: int256,
    cap_max: int256,
    log_price: int256,
    updated_at: uint256,
    variance: uint256,
    prices: DynArray[uint256, MAX_STEPS],
    times: DynArray[uint256, MAX_STEPS],
    interval: uint256,
) -> (DynArray[uint256, MAX_STEPS], DynArray[uint256, MAX_STEPS], DynArray[int256, MAX_STEPS]):
    """
    @notice With the given parameters, from the given state, takes every
            (price, time) sample in turn; returns the estimator word, sigma
            per interval and the effective cap after each.
    """
    volatility_cap._set_parameters(half_life, multiplier, cap_min, cap_max)
    volatility_cap.packed_volatility = volatility_cap._pack(log_price, updated_at, variance)
    words: DynArray[uint256, MAX_STEPS] = []
    sigmas: DynArray[uint256, MAX_STEPS] = []
    caps: DynArray[int256, MAX_STEPS] = []
    for i: uint256 in range(len(prices), bound=MAX_STEPS):
        volatility_cap._update(prices[i], times[i])
        words.append(volatility_cap.packed_volatility)
        sigmas.append(volatility_cap._sigma(interval))
        caps.append(volatility_cap._effective_cap(interval))
    return words, sigmas, caps


@external
@view
def state() -> volatility_cap.VolatilityState:
    return volatility_cap._state()


@external
@view
def packed_state() -> uint256:
    return volatility_cap.packed_volatility


@external
@view
def effective_cap(interval: uint256) -> int256:
    return volatility_cap._effective_cap(interval)


@external
@view
def sigma(interval: uint256) -> uint256:
    return volatility_cap._sigma(interval)


@external
@pure
def decay(elapsed: uint256, half_life: uint256) -> uint256:
    return volatility_cap._decay(elapsed, half_life)


@external
@pure
def wad_ln(x: int256) -> int256:
    return math._wad_ln(x)


@external
@pure
def wad_exp(x: int256) -> int256:
    return math._wad_exp(x)
