# pragma version ~=0.4.3
"""
@title A rate cap that follows the index price's realised volatility
@custom:contract-name volatility_cap
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Keeps an O(1) exponentially weighted estimate of the variance rate of
        the index price's log returns, and turns it into a rate cap per
        funding interval T:
            cap = clamp(k * sigma_T, cap_min, cap_max),  sigma_T = sqrt(v * T).
        At each update over a gap of dt seconds with log return r:
            w  = 2**(-dt / half_life)        (snekmate _wad_exp, 0 beyond ~60 half-lives)
            v' = w * v + (1 - w) * r**2 / dt
        so a gap of any length is one observation scaled by its length, and a
        gap of many half-lives replaces the estimate by the gap's own variance
        rate. Every bound and rounding is in docs/MATH.md ("Volatility-linked
        cap"); fundingkit/volatility.py mirrors this module to the wei.
        Two storage words: the estimator (read and written on every update)
        and the parameters.
"""


from snekmate.utils import math


# @dev One, in 18-decimal fixed point.
WAD: constant(uint256) = 10**18
# @dev floor(ln 2 * 1e18).
LN2: constant(uint256) = 693_147_180_559_945_309
# @dev _wad_exp(-x) is 0 for x at or above this: a gap of about 59.8 half-lives.
EXP_ZERO_BELOW: constant(uint256) = 41_446_531_673_892_822_313

# @dev Hard bounds of the parameters (caps per interval, WAD).
MIN_HALF_LIFE: constant(uint256) = 3_600  # 1 h
MAX_HALF_LIFE: constant(uint256) = 2_592_000  # 30 days
MIN_MULTIPLIER: constant(uint256) = 10**16  # k = 0.01
MAX_MULTIPLIER: constant(uint256) = 10**19  # k = 10
MIN_CAP: constant(int256) = 10**14  # 0.01 %, premium_rate's lowest cap
MAX_CAP: constant(int256) = 4 * 10**16  # 4 %, premium_rate's highest cap
MIN_INTERVAL: constant(uint256) = 3_600  # 1 h, as premium_rate
MAX_INTERVAL: constant(uint256) = 28_800  # 8 h, as premium_rate
MAX_INITIAL_SIGMA: constant(uint256) = 10**18  # 100 % per interval
# @dev The market's feed range (price_feed.MAX_PRICE): 1 wei .. 1e18 quote per base.
MAX_PRICE: constant(uint256) = 10**36

# @dev The estimator word: variance (bits 0..135), update time (136..183) and
# log price (signed, 184..255). |log price| <= 41.45e18 < 2**71 for any price in
# 1..1e36; variance <= max(seed, (2 * 41.45e18)**2) < 2**133; time < 2**48 s
# (8.9 million years).
VARIANCE_MASK: constant(uint256) = 2**136 - 1
TIME_MASK: constant(uint256) = 2**48 - 1
LOG_PRICE_LIMIT: constant(int256) = 2**71


struct VolatilityState:
    log_price: int256  # wad_ln(price) at the last update (WAD)
    updated_at: uint256  # unix seconds
    variance: uint256  # variance rate of the log price, WAD**2 per second


struct CapParameters:
    half_life: uint256  # seconds
    multiplier: uint256  # k (WAD)
    cap_min: int256  # per interval (WAD)
    cap_max: int256  # per interval (WAD)


# @dev The estimator (see VolatilityState), packed: read and written on every update.
packed_volatility: uint256
# @dev half_life (bits 0..31), k (32..95), cap_min (96..159), cap_max (160..223).
packed_volatility_parameters: uint256


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
    """
    @dev The first sample: `price` now, with no return yet. The variance starts
         at initial_sigma**2 / interval (rounded down), the variance rate of a
         volatility of `initial_sigma` per interval.
    @param price The index price now (WAD, 1..1e36).
    @param half_life The estimator's half-life, seconds (1 h..30 days).
    @param multiplier k (WAD, 0.01..10).
    @param cap_min The lowest cap per interval (WAD, 0.01 %..4 %).
    @param cap_max The highest cap per interval (WAD, cap_min..4 %).
    @param initial_sigma The seed: volatility per interval (WAD, at most 100 %).
    @param interval The funding interval the seed is given per (1 h..8 h).
    """
    self._set_parameters(half_life, multiplier, cap_min, cap_max)
    assert initial_sigma <= MAX_INITIAL_SIGMA, "volatility_cap: initial sigma above 100 %"
    assert interval >= MIN_INTERVAL and interval <= MAX_INTERVAL, "volatility_cap: interval outside 1 h..8 h"
    self._check_price(price)
    self.packed_volatility = self._pack(
        math._wad_ln(convert(price, int256)), block.timestamp, initial_sigma * initial_sigma // interval
    )


@external
@view
def variance_rate() -> uint256:
    """
    @notice The estimated variance rate of the index's log price, as of the last
            update (WAD**2 per second: sigma over T seconds is sqrt(v * T), WAD).
    """
    return self._state().variance


@external
@view
def volatility_updated_at() -> uint256:
    """
    @notice The time of the last index sample the estimator took.
    """
    return self._state().updated_at


@external
@view
def volatility_parameters() -> CapParameters:
    """
    @notice half-life (s), k (WAD), cap_min and cap_max per interval (WAD).
    """
    return self._parameters()


@internal
def _update(price: uint256, now: uint256):
    """
    @dev Takes a sample of the index: the log return since the last sample is
         one observation of the variance rate over its gap, weighted by
         1 - 2**(-gap / half_life). A second sample at the same time does
         nothing (the price it carries counts in the next return).
    @param price The index price now (WAD, 1..1e36).
    @param now The sample's time (at or after the last sample).
    """
    self._check_price(price)
    state: VolatilityState = self._state()
    assert now >= state.updated_at, "volatility_cap: time before the last update"
    if now == state.updated_at:
        return
    elapsed: uint256 = now - state.updated_at
    log_price: int256 = math._wad_ln(convert(price, int256))
    change: int256 = log_price - state.log_price
    # dev: |change| <= 82.9e18, so change**2 < 2**133; floored per second.
    sample: uint256 = convert(change * change, uint256) // elapsed
    weight: uint256 = self._decay(elapsed, self._parameters().half_life)
    # dev: a convex combination, floored: never above max(variance, sample) < 2**133.
    variance: uint256 = (weight * state.variance + (WAD - weight) * sample) // WAD
    self.packed_volatility = self._pack(log_price, now, variance)


@internal
@view
def _effective_cap(interval: uint256) -> int256:
    """
    @dev clamp(k * sigma_T // WAD, cap_min, cap_max) for the estimate as of the
         last update, with sigma_T = isqrt(v * T) (both rounded down).
    @param interval The funding interval T, in seconds.
    @return int256 The rate cap per interval (WAD).
    """
    parameters: CapParameters = self._parameters()
    scaled: uint256 = parameters.multiplier * self._sigma(interval) // WAD
    # dev: scaled < 2**138; compared before converting, so no conversion can fail.
    if scaled >= convert(parameters.cap_max, uint256):
        return parameters.cap_max
    return max(convert(scaled, int256), parameters.cap_min)


@internal
@view
def _sigma(interval: uint256) -> uint256:
    """
    @dev The estimated volatility over `interval` seconds: isqrt(v * interval) (WAD).
    """
    return isqrt(self._state().variance * interval)


@internal
def _set_parameters(half_life: uint256, multiplier: uint256, cap_min: int256, cap_max: int256):
    """
    @dev Checks the hard bounds, then packs (all fit: see the bounds). The caller
         accrues first: the next update decays with the new half-life, and the
         cap follows the new k, cap_min and cap_max from now on.
    """
    assert half_life >= MIN_HALF_LIFE and half_life <= MAX_HALF_LIFE, "volatility_cap: half-life outside 1 h..30 days"
    assert multiplier >= MIN_MULTIPLIER and multiplier <= MAX_MULTIPLIER, "volatility_cap: k outside 0.01..10"
    assert cap_min >= MIN_CAP and cap_min <= MAX_CAP, "volatility_cap: cap_min outside 0.01 %..4 %"
    assert cap_max >= cap_min and cap_max <= MAX_CAP, "volatility_cap: cap_max outside cap_min..4 %"
    self.packed_volatility_parameters = (
        half_life
        | multiplier << 32
        | convert(cap_min, uint256) << 96
        | convert(cap_max, uint256) << 160
    )


@internal
@view
def _parameters() -> CapParameters:
    word: uint256 = self.packed_volatility_parameters
    return CapParameters(
        half_life=word & (2**32 - 1),
        multiplier=(word >> 32) & (2**64 - 1),
        cap_min=convert((word >> 96) & (2**64 - 1), int256),
        cap_max=convert((word >> 160) & (2**64 - 1), int256),
    )


@internal
@view
def _state() -> VolatilityState:
    word: uint256 = self.packed_volatility
    return VolatilityState(
        # Arithmetic shift: the sign comes back with the log price.
        log_price=convert(convert(word, bytes32), int256) >> 184,
        updated_at=(word >> 136) & TIME_MASK,
        variance=word & VARIANCE_MASK,
    )


@internal
@pure
def _pack(log_price: int256, updated_at: uint256, variance: uint256) -> uint256:
    # dev: all three fit by the bounds above; checked, never truncated.
    assert log_price < LOG_PRICE_LIMIT and log_price >= -LOG_PRICE_LIMIT
    assert updated_at <= TIME_MASK
    assert variance <= VARIANCE_MASK
    return convert(convert(log_price << 184, bytes32), uint256) | updated_at << 136 | variance


@internal
@pure
def _decay(elapsed: uint256, half_life: uint256) -> uint256:
    """
    @dev 2**(-elapsed / half_life) in WAD: _wad_exp(-floor(elapsed * ln 2 * 1e18
         / half_life)), at most WAD. Exactly 0 from about 59.8 half-lives on.
    """
    # dev: elapsed < 2**48 and LN2 < 2**60: the product cannot overflow.
    exponent: uint256 = elapsed * LN2 // half_life
    if exponent >= EXP_ZERO_BELOW:
        return 0
    return min(convert(math._wad_exp(-convert(exponent, int256)), uint256), WAD)


@internal
@pure
def _check_price(price: uint256):
    assert price >= 1 and price <= MAX_PRICE, "volatility_cap: price outside 1..1e36 wei"
