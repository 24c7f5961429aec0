# pragma version ~=0.4.3
"""
@title The premium funding rate model (BitMEX, Binance, Hyperliquid)
@custom:contract-name premium_rate
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice R = clamp(Pavg + clamp(I - Pavg, -d, +d), -cap, +cap), a fraction of
        notional per funding interval T (WAD): the premium-clamp formula. Two
        other formulas can be chosen at deployment, within the same cap:
        linear, R = Pavg + I (the textbook form), and premium only, R = Pavg
        (Hyperliquid in mid-2023).
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
from . import packed_word


# @dev The formulas a market can be deployed with.
FORMULA_PREMIUM_CLAMP: constant(uint8) = 0  # R = Pavg + clamp(I - Pavg, -d, +d)
FORMULA_LINEAR: constant(uint8) = 1  # R = Pavg + I
FORMULA_PREMIUM_ONLY: constant(uint8) = 2  # R = Pavg

# @dev Hard bounds of the parameters, per interval and in WAD (1e18 = 100 %).
MIN_INTERVAL: constant(uint256) = 3_600  # 1 h
MAX_INTERVAL: constant(uint256) = 28_800  # 8 h
MAX_ABS_INTEREST: constant(int256) = 10**15  # 0.1 % per interval
MAX_DAMPENER: constant(int256) = 10**16  # 1 % per interval
MIN_CAP: constant(int256) = 10**14  # 0.01 % per interval
MAX_CAP: constant(int256) = 4 * 10**16  # 4 % per interval (Hyperliquid's hourly cap)
# @dev A premium sample is at most +1,000 % (a mark 11 times the index); it is
# at least -100 % by nature. Far beyond any cap, so no rate changes, but a
# freak print moves an interval's average by a bounded amount, and the interval
# sums fit 128 bits: |sum| <= 1e19 * 28,800 s < 2**127.
MAX_PREMIUM: constant(int256) = 10 * 10**18


# @dev The rate formula, fixed at deployment (one of the FORMULA_ constants).
formula: public(immutable(uint8))
# @dev The cap's bits in `packed_parameters`.
CAP_BITS: constant(uint256) = (2**64 - 1) << 96
# @dev The parameters, packed in one word (read on every accrual):
# interval T in seconds (bits 0..31), dampener d (32..95), cap (96..159), all
# per interval in WAD; interest I per interval, signed (160..255).
packed_parameters: uint256
# @dev The premium sampled at the last good accrual, held until the next (WAD,
# value), with the start of the interval in progress (unix seconds, time).
packed_premium: uint256
# @dev Integral of the held premium over the interval in progress (WAD * seconds,
# high half) and the average premium of the last closed interval, which sets the
# rate in force (WAD, low half).
packed_sums: uint256


struct Parameters:
    interval: uint256
    interest: int256
    dampener: int256
    cap: int256


# @dev The interval state after integrating up to some time (see `_project`).
struct Projection:
    rate_time: int256  # integral of R dt over the gap (WAD * seconds)
    interval_start: uint256
    premium_sum: int256
    last_premium_average: int256


@deploy
def __init__(
    formula_: uint8, interval: uint256, interest: int256, dampener: int256, cap: int256, premium: int256
):
    """
    @dev Starts the first interval now, with `premium` as the first sample and
         the rate in force equal to that of a zero average premium.
    """
    assert formula_ <= FORMULA_PREMIUM_ONLY, "premium_rate: unknown formula"
    formula = formula_
    self._store_parameters(Parameters(interval=interval, interest=interest, dampener=dampener, cap=cap))
    self.packed_premium = packed_word._pack(premium, block.timestamp)


@external
@view
def interval() -> uint256:
    """
    @notice The funding interval T, in seconds.
    """
    return self._parameters().interval


@external
@view
def interest() -> int256:
    """
    @notice The interest component I per interval (WAD).
    """
    return self._parameters().interest


@external
@view
def dampener() -> int256:
    """
    @notice The dampener d per interval (WAD).
    """
    return self._parameters().dampener


@external
@view
def cap() -> int256:
    """
    @notice The absolute cap on the rate per interval (WAD).
    """
    return self._parameters().cap


@external
@view
def premium_sum() -> int256:
    """
    @notice The integral of the held premium over the interval in progress, as
            of the last accrual (WAD * seconds).
    """
    return packed_word._high(self.packed_sums)


@external
@view
def last_premium_average() -> int256:
    """
    @notice The average premium of the last closed interval (WAD): the rate in
            force is the formula applied to it.
    """
    return packed_word._low(self.packed_sums)


@external
@view
def sampled_premium() -> int256:
    """
    @notice The premium sampled at the last good accrual, held until the next (WAD).
    """
    return packed_word._value(self.packed_premium)


@external
@view
def interval_start() -> uint256:
    """
    @notice The start of the interval in progress, as of the last accrual.
    """
    return packed_word._time(self.packed_premium)


@internal
@pure
def _premium(mark_price: uint256, index_price: uint256) -> int256:
    """
    @dev P = (m - p) / p (WAD), at most MAX_PREMIUM. Signed `//` truncates
         toward zero.
    """
    premium: int256 = (convert(mark_price, int256) - convert(index_price, int256)) * convert(
        fixed_point.WAD, int256
    ) // convert(index_price, int256)
    return min(premium, MAX_PREMIUM)


@internal
@pure
def _rate(formula_: uint8, average_premium: int256, interest: int256, dampener: int256, cap: int256) -> int256:
    """
    @dev The rate for an average premium under a formula, within the cap.
         Exact: no division, no rounding.
    @param formula_ One of the FORMULA_ constants.
    @param average_premium Pavg, the interval's average premium (WAD).
    @param interest I per interval (WAD).
    @param dampener d per interval (WAD, >= 0).
    @param cap The absolute cap per interval (WAD, > 0).
    @return int256 The funding rate R per interval (WAD).
    """
    rate: int256 = average_premium  # FORMULA_PREMIUM_ONLY
    if formula_ == FORMULA_PREMIUM_CLAMP:
        rate = average_premium + min(max(interest - average_premium, -dampener), dampener)
    elif formula_ == FORMULA_LINEAR:
        rate = average_premium + interest
    return min(max(rate, -cap), cap)


@internal
@view
def _rate_with(parameters: Parameters, average_premium: int256) -> int256:
    """
    @dev The formula with a set of parameters.
    """
    return self._rate(formula, average_premium, parameters.interest, parameters.dampener, parameters.cap)


@internal
@view
def _rate_for(average_premium: int256) -> int256:
    """
    @dev The formula with the stored parameters.
    """
    return self._rate_with(self._parameters(), average_premium)


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
    parameters: Parameters = self._parameters()
    period: uint256 = parameters.interval
    word: uint256 = self.packed_premium
    held: int256 = packed_word._value(word)
    start: uint256 = packed_word._time(word)
    end: uint256 = start + period
    sums: uint256 = self.packed_sums
    premium_sum: int256 = packed_word._high(sums)
    average: int256 = packed_word._low(sums)

    if until < end:
        # dev: the gap stays inside the interval in progress.
        gap: int256 = convert(until - since, int256)
        return Projection(
            rate_time=self._rate_with(parameters, average) * gap,
            interval_start=start,
            premium_sum=premium_sum + held * gap,
            last_premium_average=average,
        )

    # Close the interval in progress. Signed `//` truncates toward zero.
    rest: int256 = convert(end - since, int256)
    rate_time: int256 = self._rate_with(parameters, average) * rest
    average = (premium_sum + held * rest) // convert(period, int256)

    # The next interval pays the rate its predecessor's average set.
    next_end: uint256 = end + period
    if until < next_end:
        gap: int256 = convert(until - end, int256)
        return Projection(
            rate_time=rate_time + self._rate_with(parameters, average) * gap,
            interval_start=end,
            premium_sum=held * gap,
            last_premium_average=average,
        )
    rate_time += self._rate_with(parameters, average) * convert(period, int256)

    # Every later interval averages exactly the held premium.
    start = next_end + (until - next_end) // period * period
    return Projection(
        rate_time=rate_time + self._rate_with(parameters, held) * convert(until - next_end, int256),
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
    self._store_interval(projection)
    return projection.rate_time


@internal
def _store_interval(projection: Projection):
    word: uint256 = self.packed_premium
    if packed_word._time(word) != projection.interval_start:
        self.packed_premium = packed_word._pack(packed_word._value(word), projection.interval_start)
    self.packed_sums = packed_word._pack_pair(projection.premium_sum, projection.last_premium_average)


@internal
def _sample(premium: int256):
    """
    @dev Holds `premium` from now until the next good sample.
    """
    word: uint256 = self.packed_premium
    if packed_word._value(word) != premium:
        self.packed_premium = packed_word._pack(premium, packed_word._time(word))


@internal
@view
def _held_premium() -> int256:
    return packed_word._value(self.packed_premium)


@internal
def _set_parameters(interval: uint256, interest: int256, dampener: int256, cap: int256):
    """
    @dev Replaces the parameters; the caller has accrued up to now first, so the
         old ones are charged up to this second and the new ones from it on.
         The rate in force becomes the new formula applied to the last closed
         interval's average. A new interval length closes the interval in
         progress now, at the average premium of the part that elapsed.
    """
    old: Parameters = self._parameters()
    if interval != old.interval:
        word: uint256 = self.packed_premium
        elapsed: uint256 = block.timestamp - packed_word._time(word)
        sums: uint256 = self.packed_sums
        average: int256 = packed_word._low(sums)
        if elapsed > 0:
            # dev: truncates toward zero, like the interval close in `_project`.
            average = packed_word._high(sums) // convert(elapsed, int256)
        self.packed_premium = packed_word._pack(packed_word._value(word), block.timestamp)
        self.packed_sums = packed_word._pack_pair(0, average)
    self._store_parameters(Parameters(interval=interval, interest=interest, dampener=dampener, cap=cap))


@internal
def _set_cap(cap: int256):
    """
    @dev Replaces the cap alone, with a cap source's answer (the caller checked
         it within MIN_CAP..MAX_CAP), raised to |I| if below it: the formula
         needs |I| <= cap at every moment. Written only when it changes.
    """
    word: uint256 = self.packed_parameters
    interest: int256 = convert(convert(word, bytes32), int256) >> 160
    # |I| <= MAX_ABS_INTEREST: the negation cannot overflow. Clear bits 96..159,
    # then put the cap there (0 < cap < 2**64).
    lowest: int256 = max(interest, unsafe_sub(0, interest))
    updated: uint256 = word ^ (word & CAP_BITS) | convert(max(cap, lowest), uint256) << 96
    if updated != word:
        self.packed_parameters = updated


@internal
def _store_parameters(parameters: Parameters):
    """
    @dev Checks the hard bounds, then packs (all fit: see the bounds).
    """
    self._check_parameters(parameters.interval, parameters.interest, parameters.dampener, parameters.cap)
    self.packed_parameters = (
        parameters.interval
        | convert(parameters.dampener, uint256) << 32
        | convert(parameters.cap, uint256) << 96
        | convert(convert(parameters.interest << 160, bytes32), uint256)
    )


@internal
@view
def _cap() -> int256:
    """
    @dev The cap alone: what an accrual logs.
    """
    return convert((self.packed_parameters >> 96) & (2**64 - 1), int256)


@internal
@view
def _parameters() -> Parameters:
    word: uint256 = self.packed_parameters
    return Parameters(
        interval=word & (2**32 - 1),
        # The top 96 bits hold I; an arithmetic shift restores its sign.
        interest=convert(convert(word, bytes32), int256) >> 160,
        dampener=convert((word >> 32) & (2**64 - 1), int256),
        cap=convert((word >> 96) & (2**64 - 1), int256),
    )


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
    parameters: Parameters = self._parameters()
    period: int256 = convert(parameters.interval, int256)
    remaining: int256 = convert(state.interval_start, int256) + period - convert(now, int256)
    full_sum: int256 = state.premium_sum + self._held_premium() * remaining
    return self._rate_with(parameters, full_sum // period)


@internal
@view
def _stored_state() -> Projection:
    """
    @dev The interval state as the last accrual left it (no rate integral).
    """
    return Projection(
        rate_time=0,
        interval_start=self._interval_start(),
        premium_sum=self._premium_sum(),
        last_premium_average=self._last_premium_average(),
    )


@internal
@view
def _interval_start() -> uint256:
    return packed_word._time(self.packed_premium)


@internal
@view
def _premium_sum() -> int256:
    return packed_word._high(self.packed_sums)


@internal
@view
def _last_premium_average() -> int256:
    return packed_word._low(self.packed_sums)
