# pragma version ~=0.4.3
"""
@title The premium-clamp funding rate model (BitMEX, Binance, Hyperliquid)
@custom:contract-name premium_rate
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice R = clamp(Pavg + clamp(I - Pavg, -d, +d), -cap, +cap), a fraction of
        notional per funding interval T (WAD).
        Time is cut into intervals of T seconds. The premium is sampled at each
        accrual and held until the next one; `premium_sum` integrates it over the
        interval in progress. Interval k's time-weighted average premium Pavg_k
        sets the rate paid, continuously, through interval k + 1, so the rate in
        force is always known one interval ahead.
        `_advance` integrates the rate over any gap in O(1): the premium held
        across the gap is the premium of the whole gap, so after the interval in
        progress closes, at most one interval runs at the rate set by it, and
        every later one averages exactly the held premium.
"""


from . import fixed_point


# @dev Hard bounds of the parameters, per interval and in WAD (1e18 = 100 %).
MIN_INTERVAL: constant(uint256) = 3_600  # 1 h
MAX_INTERVAL: constant(uint256) = 28_800  # 8 h
MAX_ABS_INTEREST: constant(int256) = 10**15  # 0.1 % per interval
MAX_DAMPENER: constant(int256) = 10**16  # 1 % per interval
MIN_CAP: constant(int256) = 10**14  # 0.01 % per interval
MAX_CAP: constant(int256) = 4 * 10**16  # 4 % per interval (Hyperliquid's hourly cap)


# @dev Length of one funding interval, in seconds.
interval: public(uint256)
# @dev Interest component I per interval (WAD, signed).
interest: public(int256)
# @dev Dampener d: the premium band around I inside which R = I (WAD, >= 0).
dampener: public(int256)
# @dev Absolute cap on |R| per interval (WAD, > 0).
cap: public(int256)

# @dev Start of the interval in progress (unix seconds).
interval_start: public(uint256)
# @dev Integral of the held premium over the interval in progress (WAD * seconds).
premium_sum: public(int256)
# @dev Average premium of the last closed interval: it sets the rate in force (WAD).
last_premium_average: public(int256)
# @dev The premium sampled at the last good accrual, held until the next (WAD).
sampled_premium: public(int256)


# @dev The interval state after integrating up to some time (see `_project`).
struct Projection:
    rate_time: int256  # integral of R dt over the gap (WAD * seconds)
    interval_start: uint256
    premium_sum: int256
    last_premium_average: int256


@deploy
def __init__(interval: uint256, interest: int256, dampener: int256, cap: int256, premium: int256):
    """
    @dev Starts the first interval now, with `premium` as the first sample and
         the rate in force equal to that of a zero average premium.
    """
    self._check_parameters(interval, interest, dampener, cap)
    self.interval = interval
    self.interest = interest
    self.dampener = dampener
    self.cap = cap
    self.interval_start = block.timestamp
    self.sampled_premium = premium


@internal
@pure
def _premium(mark_price: uint256, index_price: uint256) -> int256:
    """
    @dev P = (m - p) / p (WAD). Signed `//` truncates toward zero.
    """
    return (convert(mark_price, int256) - convert(index_price, int256)) * convert(
        fixed_point.WAD, int256
    ) // convert(index_price, int256)


@internal
@pure
def _rate(average_premium: int256, interest: int256, dampener: int256, cap: int256) -> int256:
    """
    @dev The premium-clamp formula. Exact: no division, no rounding.
    @param average_premium Pavg, the interval's average premium (WAD).
    @param interest I per interval (WAD).
    @param dampener d per interval (WAD, >= 0).
    @param cap The absolute cap per interval (WAD, > 0).
    @return int256 The funding rate R per interval (WAD).
    """
    damped: int256 = average_premium + min(max(interest - average_premium, -dampener), dampener)
    return min(max(damped, -cap), cap)


@internal
@view
def _rate_for(average_premium: int256) -> int256:
    """
    @dev The formula with the stored parameters.
    """
    return self._rate(average_premium, self.interest, self.dampener, self.cap)


@internal
@view
def _project(since: uint256, until: uint256) -> Projection:
    """
    @dev Integrates the rate from `since` (the last accrual) to `until`, in at
         most three pieces: the rest of the interval in progress at the rate in
         force, the next interval at the rate its average sets, and every later
         interval at the rate of the held premium. O(1) for any gap.
    @param since The last accrual (>= interval_start).
    @param until Now (> since).
    @return Projection The rate integral and the interval state at `until`.
    """
    period: uint256 = self.interval
    held: int256 = self.sampled_premium
    start: uint256 = self.interval_start
    end: uint256 = start + period
    average: int256 = self.last_premium_average
    rate_time: int256 = 0

    if until < end:
        # dev: the gap stays inside the interval in progress.
        gap: int256 = convert(until - since, int256)
        return Projection(
            rate_time=self._rate_for(average) * gap,
            interval_start=start,
            premium_sum=self.premium_sum + held * gap,
            last_premium_average=average,
        )

    # Close the interval in progress. Signed `//` truncates toward zero.
    rest: int256 = convert(end - since, int256)
    rate_time = self._rate_for(average) * rest
    average = (self.premium_sum + held * rest) // convert(period, int256)

    # The next interval pays the rate its predecessor's average set.
    next_end: uint256 = end + period
    if until < next_end:
        gap: int256 = convert(until - end, int256)
        return Projection(
            rate_time=rate_time + self._rate_for(average) * gap,
            interval_start=end,
            premium_sum=held * gap,
            last_premium_average=average,
        )
    rate_time += self._rate_for(average) * convert(period, int256)

    # Every later interval averages exactly the held premium.
    start = next_end + (until - next_end) // period * period
    return Projection(
        rate_time=rate_time + self._rate_for(held) * convert(until - next_end, int256),
        interval_start=start,
        premium_sum=held * convert(until - start, int256),
        last_premium_average=held,
    )


@internal
def _advance(since: uint256, until: uint256) -> int256:
    """
    @dev `_project`, stored.
    @return int256 The rate integral over the gap (WAD * seconds).
    """
    projection: Projection = self._project(since, until)
    self.interval_start = projection.interval_start
    self.premium_sum = projection.premium_sum
    self.last_premium_average = projection.last_premium_average
    return projection.rate_time


@internal
def _set_parameters(interval: uint256, interest: int256, dampener: int256, cap: int256):
    """
    @dev Replaces the parameters; the caller has accrued up to now first, so the
         old ones are charged up to this second and the new ones from it on.
         The rate in force becomes the new formula applied to the last closed
         interval's average. A new interval length closes the interval in
         progress now, at the average premium of the part that elapsed.
    """
    self._check_parameters(interval, interest, dampener, cap)
    if interval != self.interval:
        elapsed: uint256 = block.timestamp - self.interval_start
        if elapsed > 0:
            # dev: truncates toward zero, like the interval close in `_project`.
            self.last_premium_average = self.premium_sum // convert(elapsed, int256)
        self.interval_start = block.timestamp
        self.premium_sum = 0
        self.interval = interval
    self.interest = interest
    self.dampener = dampener
    self.cap = cap


@internal
@pure
def _check_parameters(interval: uint256, interest: int256, dampener: int256, cap: int256):
    assert interval >= MIN_INTERVAL and interval <= MAX_INTERVAL, "premium_rate: interval outside 1 h..8 h"
    assert abs(interest) <= MAX_ABS_INTEREST, "premium_rate: interest outside +-0.1 %"
    assert dampener >= 0 and dampener <= MAX_DAMPENER, "premium_rate: dampener outside 0..1 %"
    assert cap >= MIN_CAP and cap <= MAX_CAP, "premium_rate: cap outside 0.01 %..4 %"
    assert abs(interest) <= cap, "premium_rate: interest exceeds the cap"


@internal
@view
def _next_rate(state: Projection, now: uint256) -> int256:
    """
    @dev The rate the interval in progress will set if the held premium stands
         until it ends: the "predicted rate" users watch.
    @param state The interval state at `now` (from `_project`).
    """
    period: int256 = convert(self.interval, int256)
    remaining: int256 = convert(state.interval_start, int256) + period - convert(now, int256)
    full_sum: int256 = state.premium_sum + self.sampled_premium * remaining
    return self._rate_for(full_sum // period)
