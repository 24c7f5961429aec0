# pragma version ~=0.4.3
"""
@title The velocity funding rate model (Synthetix perps v2/v3, SIP-279)
@custom:contract-name velocity_rate
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice The skew sets how fast the rate moves, not the rate itself:
            dR/dt = clamp(skew / skew_scale, -1, 1) * max_velocity,   |R| <= cap.
        R is a fraction of notional per day (WAD, as Synthetix quotes it);
        max_velocity is per day per day. A position of one unit of base held
        over a gap pays, in quote, the integral of R * p dt / 1 day, with p the
        price held across the gap (the market's sampled index price).
        Between two skew changes R is linear in time, so the integral is a
        trapezoid, split exactly where R reaches the cap (linear up to that
        moment, flat after it). The rate is stored exactly, as R * DAY: a gap
        accrued in pieces follows the same rate path as one gap; each accrual
        rounds its index step once, toward zero.
        Shape shared with skew_rate and external_rate, so a market can
        `initializes:` any one of them: `_accrue(price)` moves the model to now
        and returns the index step per unit of base; `_pending(price)` is the
        same step as a view; `_rate_now()` is the rate in force now. Every
        setter requires `_accrue` in the same block first ("accrue first"), so
        the old inputs are charged up to now and the new ones from now on.
"""


from snekmate.utils import math

from . import fixed_point
from . import packed_word


DAY: constant(uint256) = 86_400

# @dev Hard bounds of the parameters.
MAX_SKEW_SCALE: constant(uint256) = 10**36  # base (WAD): 1e18 units of base
MAX_VELOCITY: constant(uint256) = 1_000 * 10**18  # per day per day (WAD): +100,000 % a day
MAX_CAP: constant(uint256) = 10 * 10**18  # per day (WAD): 1,000 % a day


# @dev The skew (base, WAD; long minus short open interest) standing since the
# last change.
skew: public(int256)
# @dev The skew at which the velocity reaches max_velocity (base, WAD).
skew_scale: public(uint256)
# @dev The fastest the rate moves (WAD per day, per day).
max_velocity: public(uint256)
# @dev The absolute cap on the rate (WAD per day).
cap: public(uint256)
# @dev The rate at the last accrual, scaled: R * DAY, exact (value), and the
# time of that accrual (time). |R * DAY| <= MAX_CAP * DAY < 2**191.
packed_rate: uint256


@deploy
def __init__(skew_scale_: uint256, max_velocity_: uint256, cap_: uint256):
    """
    @dev Starts at rate 0 and skew 0, accrued up to now.
    """
    self._store_parameters(skew_scale_, max_velocity_, cap_)
    self.packed_rate = packed_word._pack(0, block.timestamp)


@external
@view
def scaled_rate() -> int256:
    """
    @notice The rate at the last accrual times DAY (WAD per day * seconds): exact.
    """
    return packed_word._value(self.packed_rate)


@external
@view
def checkpoint_time() -> uint256:
    """
    @notice The time of the last accrual.
    """
    return packed_word._time(self.packed_rate)


@internal
@pure
def _velocity(skew_: int256, skew_scale_: uint256, max_velocity_: uint256) -> int256:
    """
    @dev clamp(skew / skew_scale, -1, 1) * max_velocity, in WAD per day per
         day, with one division, truncated toward zero (symmetric).
    """
    scale: int256 = convert(skew_scale_, int256)
    # dev: |clamped| <= 1e36 and max_velocity <= 1e21: the product fits.
    clamped: int256 = min(max(skew_, -scale), scale)
    return clamped * convert(max_velocity_, int256) // scale


@internal
@pure
def _integrate(
    scaled_rate_: int256, velocity: int256, scaled_cap: int256, gap: uint256, price: uint256
) -> (int256, int256):
    """
    @dev The index step of a gap and the scaled rate at its end.
         With S = R * DAY, S(t) = S0 + v * t until |S| reaches C = cap * DAY.
         Uncapped:  step = p * (2 * S0 * g + v * g**2) / (2 * DAY**2 * WAD)
         Cap B = +-C reached at t_c = (B - S0) / v inside the gap:
                    step = p * (2 * v * B * g - (B - S0)**2) / (2 * v * DAY**2 * WAD)
         (the trapezoid up to t_c plus B flat after it). One division,
         truncated toward zero, in 512 bits.
    @param scaled_rate_ S0 = R * DAY at the start of the gap (|S0| <= C).
    @param velocity v, WAD per day per day.
    @param scaled_cap C = cap * DAY.
    @param gap g, seconds.
    @param price p, held across the gap (WAD quote per base, <= 1e36).
    @return (int256, int256) The index step (WAD quote per base) and S at the end.
    """
    assert abs(scaled_rate_) <= scaled_cap, "velocity_rate: rate outside the cap"
    g: int256 = convert(gap, int256)
    end: int256 = scaled_rate_ + velocity * g
    numerator: int256 = (2 * scaled_rate_ + velocity * g) * g
    denominator: int256 = 2 * convert(DAY * DAY * fixed_point.WAD, int256)
    if end > scaled_cap or end < -scaled_cap:
        # dev: |S0| <= C, so the cap is crossed in the direction of v (v != 0).
        bound: int256 = scaled_cap
        if velocity < 0:
            bound = -scaled_cap
        to_cap: int256 = bound - scaled_rate_
        numerator = 2 * velocity * bound * g - to_cap * to_cap
        denominator = denominator * velocity
        end = bound
    return self._mul_div_trunc(numerator, price, denominator), end


@internal
@pure
def _mul_div_trunc(x: int256, y: uint256, denominator: int256) -> int256:
    """
    @dev x * y / denominator, truncated toward zero, without overflow in the
         product (snekmate's 512-bit `_mul_div`).
    """
    magnitude: int256 = convert(
        math._mul_div(convert(abs(x), uint256), y, convert(abs(denominator), uint256), False), int256
    )
    if (x < 0) != (denominator < 0):
        return -magnitude
    return magnitude


@internal
@view
def _step(price: uint256) -> (int256, int256):
    """
    @dev The index step from the last accrual to now, and S now.
    """
    word: uint256 = self.packed_rate
    velocity: int256 = self._velocity(self.skew, self.skew_scale, self.max_velocity)
    return self._integrate(
        packed_word._value(word),
        velocity,
        convert(self.cap * DAY, int256),
        block.timestamp - packed_word._time(word),
        price,
    )


@internal
def _accrue(price: uint256) -> int256:
    """
    @dev Moves the model to now at the held `price`.
    @return int256 The funding index step per unit of base (WAD quote).
    """
    if packed_word._time(self.packed_rate) == block.timestamp:
        return 0
    step: int256 = 0
    scaled: int256 = 0
    step, scaled = self._step(price)
    self.packed_rate = packed_word._pack(scaled, block.timestamp)
    return step


@internal
@view
def _pending(price: uint256) -> int256:
    """
    @dev The step `_accrue(price)` would return now.
    """
    step: int256 = 0
    scaled: int256 = 0
    step, scaled = self._step(price)
    return step


@internal
@view
def _rate_now() -> int256:
    """
    @dev The rate in force now (WAD per day), truncated toward zero.
    """
    step: int256 = 0
    scaled: int256 = 0
    step, scaled = self._step(0)  # price 0: only the rate is wanted
    return scaled // convert(DAY, int256)


@internal
@view
def _check_accrued():
    assert packed_word._time(self.packed_rate) == block.timestamp, "velocity_rate: accrue first"


@internal
def _set_skew(skew_: int256):
    """
    @dev The new skew moves the rate from now on; the rate reached so far stays.
    """
    self._check_accrued()
    self.skew = skew_


@internal
def _set_parameters(skew_scale_: uint256, max_velocity_: uint256, cap_: uint256):
    """
    @dev New parameters apply from now on. A lower cap clamps the rate now.
    """
    self._check_accrued()
    self._store_parameters(skew_scale_, max_velocity_, cap_)
    scaled_cap: int256 = convert(cap_ * DAY, int256)
    scaled: int256 = packed_word._value(self.packed_rate)
    clamped: int256 = min(max(scaled, -scaled_cap), scaled_cap)
    if clamped != scaled:
        self.packed_rate = packed_word._pack(clamped, block.timestamp)


@internal
def _store_parameters(skew_scale_: uint256, max_velocity_: uint256, cap_: uint256):
    assert skew_scale_ >= 1 and skew_scale_ <= MAX_SKEW_SCALE, "velocity_rate: skew scale outside 1 wei..1e36"
    assert max_velocity_ <= MAX_VELOCITY, "velocity_rate: max velocity above 1,000 per day"
    assert cap_ >= 1 and cap_ <= MAX_CAP, "velocity_rate: cap outside 1 wei..1,000 % per day"
    self.skew_scale = skew_scale_
    self.max_velocity = max_velocity_
    self.cap = cap_
