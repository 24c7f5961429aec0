# pragma version ~=0.4.3
"""
@title A rate cap that follows the index price's realised volatility
@custom:contract-name volatility_cap
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Keeps an O(1) exponentially weighted estimate v of the variance rate
        of the index price's log returns, and turns it into a rate cap per
        funding interval T:
            cap = clamp(k * sigma_T, cap_min, cap_max),  sigma_T = sqrt(v * T).
        Each sample of the index, after a gap of dt seconds with log return r,
        is one observation of the variance rate over the whole gap:
            w  = 2**(-dt / half_life)        (snekmate _wad_exp; 0 after ~60 half-lives)
            v' = w * v + (1 - w) * r**2 / dt
        The weights compose (2**-a * 2**-b = 2**-(a + b)), so sampling a flat
        price in pieces decays v as one gap would, and a gap of many half-lives
        replaces v by the gap's own variance rate. One storage word, read and
        written on every sample; the parameters are immutable. The formulas,
        units, bounds and roundings are in docs/MATH.md ("Volatility-linked
        cap"); fundingkit/volatility.py mirrors this module to the wei.
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

# @dev The estimator word: variance (bits 0..135), sample time (136..183) and
# log price (signed, 184..255). For prices in 1..1e36, |log price| <=
# MAX_LOG_PRICE = -_wad_ln(1) < 2**66, so every sample r**2 / dt <= (2 *
# MAX_LOG_PRICE)**2 < 2**133; the seed is at most 1e36 / 3,600; a convex
# combination stays below the larger of its two terms. Times are below 2**48 s
# (8.9 million years).
VARIANCE_MASK: constant(uint256) = 2**136 - 1
TIME_MASK: constant(uint256) = 2**48 - 1
MAX_LOG_PRICE: constant(int256) = 41_446_531_673_892_822_313


# @dev The estimator's half-life, in seconds (fixed at deployment).
volatility_half_life: public(immutable(uint256))
# @dev k: the cap is k times sigma per interval (WAD, fixed at deployment).
volatility_multiplier: public(immutable(uint256))
# @dev The lowest and the highest cap per interval (WAD, fixed at deployment).
cap_min: public(immutable(int256))
cap_max: public(immutable(int256))


struct VolatilityState:
    log_price: int256  # wad_ln(price) at the last sample (WAD)
    updated_at: uint256  # unix seconds
    variance: uint256  # variance rate of the log price, WAD**2 per second


# @dev The estimator (see VolatilityState), packed: read and written on every sample.
packed_volatility: uint256


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
    """
    @dev The first sample: `price` now, with no return yet. The variance rate
         starts at initial_sigma**2 // interval: a volatility of `initial_sigma`
         per interval.
    @param price The index price now (WAD, 1..1e36).
    @param half_life The estimator's half-life, seconds (1 h..30 days).
    @param multiplier k (WAD, 0.01..10).
    @param lowest_cap cap_min per interval (WAD, 0.01 %..4 %).
    @param highest_cap cap_max per interval (WAD, cap_min..4 %).
    @param initial_sigma The seed: volatility per interval (WAD, at most 100 %).
    @param interval The funding interval the seed is given per (1 h..8 h).
    """
    self._check_parameters(half_life, multiplier, lowest_cap, highest_cap)
    assert initial_sigma <= MAX_INITIAL_SIGMA, "volatility_cap: initial sigma above 100 %"
    assert interval >= MIN_INTERVAL and interval <= MAX_INTERVAL, "volatility_cap: interval outside 1 h..8 h"
    assert price >= 1 and price <= MAX_PRICE, "volatility_cap: price outside 1..1e36 wei"
    volatility_half_life = half_life
    volatility_multiplier = multiplier
    cap_min = lowest_cap
    cap_max = highest_cap
    self.packed_volatility = self._pack(
        math._wad_ln(convert(price, int256)), block.timestamp, initial_sigma * initial_sigma // interval
    )


@external
@view
def volatility_state() -> VolatilityState:
    """
    @notice The estimator as of its last sample: log price (WAD), sample time,
            variance rate (WAD**2 per second; sigma over T seconds is
            sqrt(v * T), WAD).
    """
    return self._unpack(self.packed_volatility)


@internal
def _update(price: uint256, now: uint256):
    """
    @dev Takes a sample of the index. The market calls it when it samples a
         usable index price, after integrating the gap with the cap in force.
    @param price The index price sampled now (WAD, 1..1e36).
    @param now The block time (at or after the last sample).
    """
    self.packed_volatility = self._advance(self.packed_volatility, price, now, volatility_half_life)


@internal
@view
def _effective_cap(interval: uint256) -> int256:
    """
    @dev The cap per interval of the estimate as of the last sample.
    @param interval The funding interval T, in seconds (at most 2**32).
    """
    return self._cap(
        self.packed_volatility & VARIANCE_MASK, interval, volatility_multiplier, cap_min, cap_max
    )


@internal
@pure
def _advance(word: uint256, price: uint256, now: uint256, half_life: uint256) -> uint256:
    """
    @dev The estimator word after a sample of `price` at `now`:
         v' = (w * v + (WAD - w) * (r**2 // dt)) // WAD, w = _decay(dt, half_life),
         r the change of wad_ln(price), dt the gap. A sample at the time of the
         last one changes nothing (the price it carries counts in the next return).
    """
    state: VolatilityState = self._unpack(word)
    # dev: the market samples its own index price, at block.timestamp.
    assert price >= 1 and price <= MAX_PRICE  # dev: price outside 1..1e36
    assert now >= state.updated_at  # dev: time before the last sample
    assert now <= TIME_MASK  # dev: time beyond 2**48
    if now == state.updated_at:
        return word
    elapsed: uint256 = unsafe_sub(now, state.updated_at)
    log_price: int256 = math._wad_ln(convert(price, int256))
    # Both log prices lie in +-MAX_LOG_PRICE: |change| < 2**67, change**2 < 2**133.
    change: int256 = unsafe_sub(log_price, state.log_price)
    sample: uint256 = unsafe_div(convert(unsafe_mul(change, change), uint256), elapsed)
    weight: uint256 = self._decay(elapsed, half_life)
    # Rounds down, by less than 1e-36 per second: whom it favours is immaterial.
    # Both products < 2**60 * 2**136: no overflow.
    variance: uint256 = unsafe_div(
        unsafe_add(unsafe_mul(weight, state.variance), unsafe_mul(unsafe_sub(WAD, weight), sample)), WAD
    )
    # Packed without `_pack`'s checks, which hold here: the price check bounds
    # the log price, `now` is checked, and the variance stays below the larger
    # of the stored variance and the sample (both < 2**136).
    return convert(convert(log_price << 184, bytes32), uint256) | now << 136 | variance


@internal
@pure
def _decay(elapsed: uint256, half_life: uint256) -> uint256:
    """
    @dev 2**(-elapsed / half_life) in WAD: _wad_exp(-floor(elapsed * LN2 /
         half_life)), at most WAD. Exactly WAD // 2**n after n whole half-lives;
         exactly 0 from about 59.8 half-lives on.
    """
    exponent: uint256 = elapsed * LN2 // half_life
    if exponent >= EXP_ZERO_BELOW:
        return 0
    return min(convert(math._wad_exp(-convert(exponent, int256)), uint256), WAD)


@internal
@pure
def _cap(variance: uint256, interval: uint256, multiplier: uint256, lowest: int256, highest: int256) -> int256:
    """
    @dev clamp(k * isqrt(v * T) // WAD, lowest, highest): both roundings down.
    """
    # isqrt(v * T) < 2**128 and k < 2**64: the product cannot overflow.
    scaled: uint256 = unsafe_div(unsafe_mul(multiplier, isqrt(variance * interval)), WAD)
    if scaled >= convert(highest, uint256):
        return highest
    return max(convert(scaled, int256), lowest)


@internal
@pure
def _check_parameters(half_life: uint256, multiplier: uint256, lowest_cap: int256, highest_cap: int256):
    assert half_life >= MIN_HALF_LIFE and half_life <= MAX_HALF_LIFE, "volatility_cap: half-life outside 1 h..30 days"
    assert multiplier >= MIN_MULTIPLIER and multiplier <= MAX_MULTIPLIER, "volatility_cap: k outside 0.01..10"
    assert lowest_cap >= MIN_CAP and lowest_cap <= MAX_CAP, "volatility_cap: cap_min outside 0.01 %..4 %"
    assert highest_cap >= lowest_cap and highest_cap <= MAX_CAP, "volatility_cap: cap_max outside cap_min..4 %"


@internal
@pure
def _unpack(word: uint256) -> VolatilityState:
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
    assert log_price <= MAX_LOG_PRICE and log_price >= -MAX_LOG_PRICE
    assert updated_at <= TIME_MASK
    assert variance <= VARIANCE_MASK
    return convert(convert(log_price << 184, bytes32), uint256) | updated_at << 136 | variance
