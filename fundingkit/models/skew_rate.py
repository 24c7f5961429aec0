"""The skew-proportional funding rate model (GMX v2 style), as pure functions.

    |R| = min(factor * |L - S|**e / (L + S), cap),   e in {1, 2}

Mirrors ``contracts/modules/skew_rate.vy`` to the wei. ``L`` and ``S`` are the long
and short open interest (base, WAD); ``R`` is a fraction of notional per second (WAD),
positive (longs pay) when ``L > S`` and negative (shorts pay) when ``S > L``. With
``e = 1`` the factor is per second, with ``e = 2`` per second per unit of base. ``R``
changes only when the open interest or a parameter changes, each after an accrual, so
it is constant across a gap: one unit of base pays ``R * p * gap`` over it, at the
held price ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fundingkit.market import Rejected
from fundingkit.vyper_math import WAD, div_trunc

# Hard bounds, as in skew_rate.vy.
MAX_OPEN_INTEREST = 10**36  # per side, base (WAD)
MAX_FACTOR = 10**18
MAX_CAP = 10**13  # per second: about 86 % a day


@dataclass(frozen=True)
class SkewParameters:
    factor: int  # WAD per second (e = 1) or per second per unit of base (e = 2)
    exponent: int  # 1 or 2
    cap: int  # WAD per second

    def rejection(self) -> str | None:
        """The contract's revert reason for these parameters, or None."""
        if not 0 <= self.factor <= MAX_FACTOR:
            return "skew_rate: factor above 1e18"
        if self.exponent not in (1, 2):
            return "skew_rate: exponent must be 1 or 2"
        if not 1 <= self.cap <= MAX_CAP:
            return "skew_rate: cap outside 1 wei..1e13 per second"
        return None


@dataclass(frozen=True)
class SkewState:
    """skew_rate.vy's storage, apart from the parameters."""

    checkpoint_time: int  # the last accrual
    long_open_interest: int = 0
    short_open_interest: int = 0


def start(params: SkewParameters, now: int) -> SkewState:
    """The state at deployment: no open interest, accrued up to ``now``."""
    _check(params)
    return SkewState(checkpoint_time=now)


def rate(
    long_open_interest: int, short_open_interest: int, factor: int, exponent: int, cap: int
) -> int:
    """The rate per second (WAD): its size rounded down once, then capped; the sign
    of the heavier side."""
    total = long_open_interest + short_open_interest
    imbalance = abs(long_open_interest - short_open_interest)
    if imbalance == 0:
        return 0
    # The imbalance is in WAD: its square carries one WAD too many.
    size = factor * imbalance**exponent // (total * WAD ** (exponent - 1))
    size = min(size, cap)
    return -size if short_open_interest > long_open_interest else size


def funding_delta(rate_: int, gap: int, price: int) -> int:
    """p * R * gap / WAD: the index step of a gap at a constant rate, toward zero."""
    return div_trunc(price * rate_ * gap, WAD)


def rate_now(params: SkewParameters, state: SkewState) -> int:
    """The rate in force (WAD per second)."""
    return rate(
        state.long_open_interest,
        state.short_open_interest,
        params.factor,
        params.exponent,
        params.cap,
    )


def pending(params: SkewParameters, state: SkewState, price: int, now: int) -> int:
    """The step ``accrue`` would return at ``now``."""
    return funding_delta(rate_now(params, state), now - state.checkpoint_time, price)


def accrue(params: SkewParameters, state: SkewState, price: int, now: int) -> tuple[int, SkewState]:
    """The index step since the last accrual, at the held ``price``, and the state at
    ``now``."""
    if now == state.checkpoint_time:
        return 0, state
    return pending(params, state, price, now), replace(state, checkpoint_time=now)


def _check_accrued(state: SkewState, now: int) -> None:
    if state.checkpoint_time != now:
        raise Rejected("skew_rate: accrue first")


def set_open_interest(
    state: SkewState, long_open_interest: int, short_open_interest: int, now: int
) -> SkewState:
    """The open interest after a trade: its rate applies from ``now`` on."""
    _check_accrued(state, now)
    if max(long_open_interest, short_open_interest) > MAX_OPEN_INTEREST:
        raise Rejected("skew_rate: open interest above 1e36")
    return replace(
        state, long_open_interest=long_open_interest, short_open_interest=short_open_interest
    )


def set_parameters(state: SkewState, params: SkewParameters, now: int) -> SkewState:
    """New parameters from ``now`` on."""
    _check_accrued(state, now)
    _check(params)
    return state


def _check(params: SkewParameters) -> None:
    reason = params.rejection()
    if reason:
        raise Rejected(reason)
