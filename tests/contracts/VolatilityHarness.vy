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
    volatility_cap.volatility_state,
    volatility_cap.volatility_half_life,
    volatility_cap.volatility_multiplier,
    volatility_cap.cap_min,
    volatility_cap.cap_max,
)


# @dev The most samples one `replay` call takes.
MAX_STEPS: constant(uint256) = 64


@deploy
def __init__(
    price: uint256,
    half_life: uint256,
    multiplier: uint256,
    lowest_cap: int256,
    highest_cap: int256,
    initial_sigma: uint256,
    interval: uint256,
):
    volatility_cap.__init__(price, half_life, multiplier, lowest_cap, highest_cap, initial_sigma, interval)


@external
def update(price: uint256, now: uint256):
    volatility_cap._update(price, now)


@external
def update_gas(price: uint256, now: uint256) -> uint256:
    """
    @notice The gas `_update` alone uses.
    """
    before: uint256 = msg.gas
    volatility_cap._update(price, now)
    return before - msg.gas


@external
def set_state(log_price: int256, updated_at: uint256, variance: uint256):
    """
    @notice Puts the estimator in any state it can hold.
    """
    volatility_cap.packed_volatility = volatility_cap._pack(log_price, updated_at, variance)


@external
def replay_stored(
    prices: DynArray[uint256, MAX_STEPS], times: DynArray[uint256, MAX_STEPS], interval: uint256
) -> (DynArray[uint256, MAX_STEPS], DynArray[int256, MAX_STEPS]):
    """
    @notice Samples every (price, time) in turn through the module's storage;
            returns the estimator word and the effective cap after each.
    """
    words: DynArray[uint256, MAX_STEPS] = []
    caps: DynArray[int256, MAX_STEPS] = []
    for i: uint256 in range(len(prices), bound=MAX_STEPS):
        volatility_cap._update(prices[i], times[i])
        words.append(volatility_cap.packed_volatility)
        caps.append(volatility_cap._effective_cap(interval))
    return words, caps


@external
@pure
def replay(
    word: uint256,
    prices: DynArray[uint256, MAX_STEPS],
    times: DynArray[uint256, MAX_STEPS],
    half_life: uint256,
    multiplier: uint256,
    lowest_cap: int256,
    highest_cap: int256,
    interval: uint256,
) -> (DynArray[uint256, MAX_STEPS], DynArray[int256, MAX_STEPS]):
    """
    @notice The same with any parameters, from any estimator word (no storage).
    """
    state: uint256 = word
    words: DynArray[uint256, MAX_STEPS] = []
    caps: DynArray[int256, MAX_STEPS] = []
    for i: uint256 in range(len(prices), bound=MAX_STEPS):
        state = volatility_cap._advance(state, prices[i], times[i], half_life)
        words.append(state)
        variance: uint256 = state & volatility_cap.VARIANCE_MASK
        caps.append(volatility_cap._cap(variance, interval, multiplier, lowest_cap, highest_cap))
    return words, caps


@external
@pure
def advance(word: uint256, price: uint256, now: uint256, half_life: uint256) -> uint256:
    return volatility_cap._advance(word, price, now, half_life)


@external
@pure
def cap(variance: uint256, interval: uint256, multiplier: uint256, lowest_cap: int256, highest_cap: int256) -> int256:
    return volatility_cap._cap(variance, interval, multiplier, lowest_cap, highest_cap)


@external
@pure
def check_parameters(half_life: uint256, multiplier: uint256, lowest_cap: int256, highest_cap: int256):
    volatility_cap._check_parameters(half_life, multiplier, lowest_cap, highest_cap)


@external
@view
def packed_state() -> uint256:
    return volatility_cap.packed_volatility


@external
@view
def effective_cap(interval: uint256) -> int256:
    return volatility_cap._effective_cap(interval)


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
