"""The premium-clamp funding rate model, as pure functions on WAD integers.

    R = clamp(Pavg + clamp(I - Pavg, -d, +d), -cap, +cap)

Every function here mirrors ``contracts/modules/premium_rate.vy`` to the wei and
can be called by an auditor on their own inputs. Rates, premiums, the interest
``I``, the dampener ``d`` and the cap are fractions per funding interval, in WAD
(1e18 = 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass

from fundingkit.vyper_math import WAD, div_trunc

HOUR = 3_600

# Hard bounds, as in premium_rate.vy.
MIN_INTERVAL = 1 * HOUR
MAX_INTERVAL = 8 * HOUR
MAX_ABS_INTEREST = 10**15  # 0.1 %
MAX_DAMPENER = 10**16  # 1 %
MIN_CAP = 10**14  # 0.01 %
MAX_CAP = 4 * 10**16  # 4 %


def clamp(x: int, low: int, high: int) -> int:
    return min(max(x, low), high)


MAX_PREMIUM = 10 * WAD  # +1,000 %: a sample is never above it


def premium(mark_price: int, index_price: int) -> int:
    """P = (m - p) / p in WAD, truncated toward zero like the contract, at most +1,000 %."""
    return min(div_trunc((mark_price - index_price) * WAD, index_price), MAX_PREMIUM)


# The formulas a market can be deployed with (premium_rate.vy's FORMULA_ constants).
PREMIUM_CLAMP, LINEAR, PREMIUM_ONLY = 0, 1, 2
FORMULAS = {"premium-clamp": PREMIUM_CLAMP, "linear": LINEAR, "premium-only": PREMIUM_ONLY}


def premium_clamp_rate(average_premium: int, interest: int, dampener: int, cap: int) -> int:
    """The funding rate per interval for an interval-average premium (exact)."""
    damped = average_premium + clamp(interest - average_premium, -dampener, dampener)
    return clamp(damped, -cap, cap)


def formula_rate(formula: int, average_premium: int, interest: int, dampener: int, cap: int) -> int:
    """The rate under a formula, within the cap: premium-clamp (the default),
    linear (Pavg + I) or premium only (Pavg). Exact."""
    if formula == PREMIUM_CLAMP:
        return premium_clamp_rate(average_premium, interest, dampener, cap)
    if formula == LINEAR:
        return clamp(average_premium + interest, -cap, cap)
    return clamp(average_premium, -cap, cap)


@dataclass(frozen=True)
class RateParameters:
    """The premium-clamp model's parameters (per interval, WAD)."""

    interval: int = 8 * HOUR
    interest: int = 10**14  # 0.01 % per interval
    dampener: int = 5 * 10**14  # 0.05 %
    cap: int = 75 * 10**14  # 0.75 %
    formula: int = PREMIUM_CLAMP  # fixed at deployment

    def rate(self, average_premium: int) -> int:
        return formula_rate(self.formula, average_premium, self.interest, self.dampener, self.cap)

    def rejection(self) -> str | None:
        """The contract's revert reason for these parameters, or None."""
        if self.formula not in (PREMIUM_CLAMP, LINEAR, PREMIUM_ONLY):
            return "premium_rate: unknown formula"
        if not MIN_INTERVAL <= self.interval <= MAX_INTERVAL:
            return "premium_rate: interval outside 1 h..8 h"
        if abs(self.interest) > MAX_ABS_INTEREST:
            return "premium_rate: interest outside +-0.1 %"
        if not 0 <= self.dampener <= MAX_DAMPENER:
            return "premium_rate: dampener outside 0..1 %"
        if not MIN_CAP <= self.cap <= MAX_CAP:
            return "premium_rate: cap outside 0.01 %..4 %"
        if abs(self.interest) > self.cap:
            return "premium_rate: interest exceeds the cap"
        return None


@dataclass(frozen=True)
class IntervalState:
    """Where the model stands in its intervals (premium_rate.vy's storage)."""

    interval_start: int
    premium_sum: int  # integral of the held premium over the interval in progress (WAD * s)
    last_premium_average: int  # Pavg of the last closed interval: sets the rate in force


def project(
    params: RateParameters, state: IntervalState, held_premium: int, since: int, until: int
) -> tuple[int, IntervalState]:
    """Integrates the rate from the last accrual ``since`` to ``until`` in O(1).

    Returns the rate integral (WAD * seconds) and the interval state at ``until``.
    The held premium stands for the whole gap: after the interval in progress
    closes, the next one pays the rate its average sets, and every later one
    averages exactly the held premium.
    """
    period = params.interval
    start = state.interval_start
    end = start + period
    average = state.last_premium_average
    if until < end:
        gap = until - since
        return params.rate(average) * gap, IntervalState(
            start, state.premium_sum + held_premium * gap, average
        )
    rest = end - since
    rate_time = params.rate(average) * rest
    average = div_trunc(state.premium_sum + held_premium * rest, period)
    next_end = end + period
    if until < next_end:
        gap = until - end
        return rate_time + params.rate(average) * gap, IntervalState(
            end, held_premium * gap, average
        )
    rate_time += params.rate(average) * period
    start = next_end + (until - next_end) // period * period
    return rate_time + params.rate(held_premium) * (until - next_end), IntervalState(
        start, held_premium * (until - start), held_premium
    )


DEFAULT_PARAMETERS = RateParameters()


def next_rate(params: RateParameters, state: IntervalState, held_premium: int, now: int) -> int:
    """The rate the interval in progress sets if the held premium stands to its end."""
    remaining = state.interval_start + params.interval - now
    return params.rate(div_trunc(state.premium_sum + held_premium * remaining, params.interval))


def funding_delta(index_price: int, rate_time: int, interval: int) -> int:
    """The index move p * integral(R dt) / (T * WAD), truncated toward zero."""
    return div_trunc(index_price * rate_time, interval * WAD)
