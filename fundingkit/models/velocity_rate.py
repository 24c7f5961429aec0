"""The velocity funding rate model (Synthetix perps v2/v3, SIP-279), as pure functions.

    dR/dt = clamp(skew / skew_scale, -1, 1) * max_velocity,   |R| <= cap

Mirrors ``contracts/modules/velocity_rate.vy`` to the wei. ``R`` and ``cap`` are
fractions of notional per day (WAD), ``max_velocity`` per day per day, skews in base
(WAD). The state holds the rate exactly, scaled by ``DAY`` (``S = R * DAY``), so the
rate path does not depend on how often the model is accrued. One unit of base held
over a gap pays ``integral(R * p dt) / DAY`` in quote, at the price ``p`` held across
the gap: a trapezoid while ``R`` is below the cap, split exactly where it reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fundingkit.market import Rejected
from fundingkit.vyper_math import WAD, div_trunc

DAY = 86_400

# Hard bounds, as in velocity_rate.vy.
MAX_SKEW_SCALE = 10**36  # base (WAD)
MAX_VELOCITY = 1_000 * WAD  # per day per day
MAX_CAP = 10 * WAD  # per day: 1,000 %


@dataclass(frozen=True)
class VelocityParameters:
    skew_scale: int  # the skew (base, WAD) at which the velocity is max_velocity
    max_velocity: int  # WAD per day per day
    cap: int  # WAD per day

    def rejection(self) -> str | None:
        """The contract's revert reason for these parameters, or None."""
        if not 1 <= self.skew_scale <= MAX_SKEW_SCALE:
            return "velocity_rate: skew scale outside 1 wei..1e36"
        if not 0 <= self.max_velocity <= MAX_VELOCITY:
            return "velocity_rate: max velocity above 1,000 per day"
        if not 1 <= self.cap <= MAX_CAP:
            return "velocity_rate: cap outside 1 wei..1,000 % per day"
        return None


@dataclass(frozen=True)
class VelocityState:
    """velocity_rate.vy's storage, apart from the parameters."""

    checkpoint_time: int  # the last accrual
    scaled_rate: int = 0  # R * DAY at the last accrual, exact
    skew: int = 0  # base (WAD), standing since its last change


def start(params: VelocityParameters, now: int) -> VelocityState:
    """The state at deployment: rate 0, skew 0, accrued up to ``now``."""
    _check(params)
    return VelocityState(checkpoint_time=now)


def velocity(skew: int, skew_scale: int, max_velocity: int) -> int:
    """clamp(skew / skew_scale, -1, 1) * max_velocity (WAD per day per day), truncated
    toward zero with one division."""
    return div_trunc(min(max(skew, -skew_scale), skew_scale) * max_velocity, skew_scale)


def integrate(
    scaled_rate: int, velocity_: int, scaled_cap: int, gap: int, price: int
) -> tuple[int, int]:
    """The index step (WAD quote per base) of a gap and the scaled rate at its end.

    With ``S(t) = S0 + v * t`` until ``|S|`` reaches ``C = cap * DAY``, the step is
    ``p * integral(S dt) / (DAY**2 * WAD)``, computed as one fraction and truncated
    toward zero.
    """
    if abs(scaled_rate) > scaled_cap:
        raise Rejected("velocity_rate: rate outside the cap")
    end = scaled_rate + velocity_ * gap
    numerator = (2 * scaled_rate + velocity_ * gap) * gap  # twice the trapezoid
    denominator = 2 * DAY * DAY * WAD
    if abs(end) > scaled_cap:
        # The cap B is reached at t_c = (B - S0) / v: the trapezoid up to t_c and B
        # after it, B * g - (B - S0)**2 / (2 * v), over one common denominator.
        bound = scaled_cap if velocity_ > 0 else -scaled_cap
        numerator = 2 * velocity_ * bound * gap - (bound - scaled_rate) ** 2
        denominator *= velocity_
        end = bound
    return div_trunc(numerator * price, denominator), end


def _scaled_cap(params: VelocityParameters) -> int:
    return params.cap * DAY


def _step(
    params: VelocityParameters, state: VelocityState, price: int, now: int
) -> tuple[int, int]:
    v = velocity(state.skew, params.skew_scale, params.max_velocity)
    return integrate(state.scaled_rate, v, _scaled_cap(params), now - state.checkpoint_time, price)


def pending(params: VelocityParameters, state: VelocityState, price: int, now: int) -> int:
    """The step ``accrue`` would return at ``now``."""
    return _step(params, state, price, now)[0]


def accrue(
    params: VelocityParameters, state: VelocityState, price: int, now: int
) -> tuple[int, VelocityState]:
    """The index step since the last accrual, at the held ``price``, and the state at
    ``now``."""
    if now == state.checkpoint_time:
        return 0, state
    step, scaled = _step(params, state, price, now)
    return step, replace(state, scaled_rate=scaled, checkpoint_time=now)


def rate_now(params: VelocityParameters, state: VelocityState, now: int) -> int:
    """The rate in force at ``now`` (WAD per day), truncated toward zero."""
    return div_trunc(_step(params, state, 0, now)[1], DAY)


def _check_accrued(state: VelocityState, now: int) -> None:
    if state.checkpoint_time != now:
        raise Rejected("velocity_rate: accrue first")


def set_skew(state: VelocityState, skew: int, now: int) -> VelocityState:
    """The new skew moves the rate from ``now`` on (the caller has accrued)."""
    _check_accrued(state, now)
    return replace(state, skew=skew)


def set_parameters(state: VelocityState, params: VelocityParameters, now: int) -> VelocityState:
    """New parameters from ``now`` on; a lower cap clamps the rate now."""
    _check_accrued(state, now)
    _check(params)
    cap = _scaled_cap(params)
    return replace(state, scaled_rate=min(max(state.scaled_rate, -cap), cap))


def _check(params: VelocityParameters) -> None:
    reason = params.rejection()
    if reason:
        raise Rejected(reason)
