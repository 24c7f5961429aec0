"""The bounded external funding rate model (dYdX perpetual P1), as pure functions.

A rate provider sets the rate ``R``, a fraction of notional per second (WAD). As in
dYdX's P1FundingOracle, a request is bounded rather than rejected: into
``[-max_rate, max_rate]``, then to within ``max_change_per_second * elapsed`` of the
rate in force, ``elapsed`` being the seconds since the last setting. Setting a rate
requires an accrual at the same time first, so the old rate is charged up to then.
``R`` is constant across a gap: one unit of base pays ``R * p * gap`` over it, at the
held price ``p``. Mirrors ``contracts/modules/external_rate.vy`` to the wei.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fundingkit.market import Rejected
from fundingkit.vyper_math import WAD, div_trunc

# Hard bounds, per second (WAD), as in external_rate.vy.
MAX_RATE = 10**13  # about 86 % a day
MAX_CHANGE = 10**13

ZERO_ADDRESS = "0x" + "0" * 40


@dataclass(frozen=True)
class ExternalParameters:
    max_rate: int  # the largest |R|, WAD per second
    max_change_per_second: int  # the largest change of R per elapsed second

    def rejection(self) -> str | None:
        """The contract's revert reason for these parameters, or None."""
        if not 1 <= self.max_rate <= MAX_RATE:
            return "external_rate: max rate outside 1 wei..1e13 per second"
        if not 1 <= self.max_change_per_second <= MAX_CHANGE:
            return "external_rate: max change outside 1 wei..1e13 per second"
        return None


@dataclass(frozen=True)
class ExternalState:
    """external_rate.vy's storage, apart from the parameters."""

    rate_provider: str  # the only account that may set the rate
    checkpoint_time: int  # the last accrual
    rate_set_time: int  # the last setting: the change limit grows from it
    rate: int = 0  # WAD per second


def start(params: ExternalParameters, rate_provider: str, now: int) -> ExternalState:
    """The state at deployment: rate 0, set and accrued at ``now``."""
    _check_provider(rate_provider)
    _check(params)
    return ExternalState(rate_provider=rate_provider, checkpoint_time=now, rate_set_time=now)


def bound(old: int, requested: int, elapsed: int, max_rate: int, max_change: int) -> int:
    """The rate a request sets: within +-max_rate, then within max_change * elapsed of
    the old rate (exact)."""
    allowed = max_change * elapsed
    bounded = min(max(requested, -max_rate), max_rate)
    return min(max(bounded, old - allowed), old + allowed)


def funding_delta(rate_: int, gap: int, price: int) -> int:
    """p * R * gap / WAD: the index step of a gap at a constant rate, toward zero."""
    return div_trunc(price * rate_ * gap, WAD)


def rate_now(state: ExternalState) -> int:
    """The rate in force (WAD per second)."""
    return state.rate


def pending(state: ExternalState, price: int, now: int) -> int:
    """The step ``accrue`` would return at ``now``."""
    return funding_delta(state.rate, now - state.checkpoint_time, price)


def accrue(state: ExternalState, price: int, now: int) -> tuple[int, ExternalState]:
    """The index step since the last accrual, at the held ``price``, and the state at
    ``now``."""
    if now == state.checkpoint_time:
        return 0, state
    return pending(state, price, now), replace(state, checkpoint_time=now)


def set_rate(
    params: ExternalParameters, state: ExternalState, requested: int, caller: str, now: int
) -> ExternalState:
    """The provider's request, bounded, in force from ``now`` on."""
    if caller.lower() != state.rate_provider.lower():
        raise Rejected("external_rate: caller is not the rate provider")
    _check_accrued(state, now)
    bounded = bound(
        state.rate,
        requested,
        now - state.rate_set_time,
        params.max_rate,
        params.max_change_per_second,
    )
    return replace(state, rate=bounded, rate_set_time=now)


def set_rate_provider(state: ExternalState, rate_provider: str) -> ExternalState:
    """A new provider; the rate is untouched (the market restricts who calls this)."""
    _check_provider(rate_provider)
    return replace(state, rate_provider=rate_provider)


def set_parameters(state: ExternalState, params: ExternalParameters, now: int) -> ExternalState:
    """New bounds from ``now`` on; a lower max_rate clamps the rate now."""
    _check_accrued(state, now)
    _check(params)
    return replace(state, rate=min(max(state.rate, -params.max_rate), params.max_rate))


def _check_accrued(state: ExternalState, now: int) -> None:
    if state.checkpoint_time != now:
        raise Rejected("external_rate: accrue first")


def _check_provider(rate_provider: str) -> None:
    if int(rate_provider, 16) == 0:
        raise Rejected("external_rate: rate provider is the zero address")


def _check(params: ExternalParameters) -> None:
    reason = params.rejection()
    if reason:
        raise Rejected(reason)
