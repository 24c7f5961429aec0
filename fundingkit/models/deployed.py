"""The rate models as a market deploys them: ``VelocityRateModel.vy``,
``SkewRateModel.vy`` and ``ExternalRateModel.vy``, to the wei.

Each is an immutable value (a rejected call of the market rolls it back with
everything else) with the contract's interface, ``IRateModel.vyi``:

- ``accrue(caller, price, skew, longs, shorts, now)``: the market only; the index
  step over the gap since the last accrual under the inputs that stood across it
  (the traders' skew and their long and short open interest), and the model after;
- ``pending(price, skew, longs, shorts, now)``: the step alone;
- ``rate_per_period(period, skew, longs, shorts, now)``: the rate in force now, per
  ``period`` seconds (WAD).

Setters return the model after the change or raise ``Rejected`` with the contract's
reason; on the chain each one accrues the market first, which is
``MarketModel.change_rate_model``'s part.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from types import ModuleType
from typing import Any, ClassVar

from fundingkit.market import Rejected
from fundingkit.models import external_rate, skew_rate, velocity_rate
from fundingkit.vyper_math import div_trunc

NOT_THE_MARKET = "rate model: caller is not the market"
NOT_THE_OWNER = "ownable: caller is not the owner"


def _check(caller, expected, reason: str) -> None:
    if str(caller).lower() != str(expected).lower():
        raise Rejected(reason)


@dataclass(frozen=True)
class _RateModelContract:
    """What the three contracts share: the market they serve, an owner, their module's
    parameters and state (the module's reference in ``module``)."""

    market: str
    owner: str
    params: Any
    state: Any
    module: ClassVar[ModuleType]

    def set_parameters(self, caller, params, now: int):
        """Owner only; the module's setter (the caller accrued the market first)."""
        _check(caller, self.owner, NOT_THE_OWNER)
        state = self.module.set_parameters(self.state, params, now)
        return replace(self, params=params, state=state)


@dataclass(frozen=True)
class VelocityRateModel(_RateModelContract):
    params: velocity_rate.VelocityParameters
    state: velocity_rate.VelocityState
    module: ClassVar[ModuleType] = velocity_rate

    def accrue(self, caller, price: int, skew: int, longs: int, shorts: int, now: int):
        _check(caller, self.market, NOT_THE_MARKET)
        state = replace(self.state, skew=skew)
        step, state = velocity_rate.accrue(self.params, state, price, now)
        return step, replace(self, state=state)

    def _step(self, price: int, skew: int, now: int) -> tuple[int, int]:
        return velocity_rate._step(self.params, replace(self.state, skew=skew), price, now)

    def pending(self, price: int, skew: int, longs: int, shorts: int, now: int) -> int:
        return self._step(price, skew, now)[0]

    def rate_per_period(self, period: int, skew: int, longs: int, shorts: int, now: int) -> int:
        scaled = self._step(0, skew, now)[1]
        return div_trunc(scaled * period, velocity_rate.DAY * velocity_rate.DAY)


@dataclass(frozen=True)
class SkewRateModel(_RateModelContract):
    params: skew_rate.SkewParameters
    state: skew_rate.SkewState
    module: ClassVar[ModuleType] = skew_rate

    @staticmethod
    def _clamped(longs: int, shorts: int) -> tuple[int, int]:
        """The module's bound per side clamps instead of reverting an accrual."""
        return min(longs, skew_rate.MAX_OPEN_INTEREST), min(shorts, skew_rate.MAX_OPEN_INTEREST)

    def accrue(self, caller, price: int, skew: int, longs: int, shorts: int, now: int):
        _check(caller, self.market, NOT_THE_MARKET)
        longs, shorts = self._clamped(longs, shorts)
        state = replace(self.state, long_open_interest=longs, short_open_interest=shorts)
        step, state = skew_rate.accrue(self.params, state, price, now)
        return step, replace(self, state=state)

    def _rate(self, longs: int, shorts: int) -> int:
        p = self.params
        return skew_rate.rate(*self._clamped(longs, shorts), p.factor, p.exponent, p.cap)

    def pending(self, price: int, skew: int, longs: int, shorts: int, now: int) -> int:
        gap = now - self.state.checkpoint_time
        return skew_rate.funding_delta(self._rate(longs, shorts), gap, price)

    def rate_per_period(self, period: int, skew: int, longs: int, shorts: int, now: int) -> int:
        return self._rate(longs, shorts) * period


@dataclass(frozen=True)
class ExternalRateModel(_RateModelContract):
    params: external_rate.ExternalParameters
    state: external_rate.ExternalState
    module: ClassVar[ModuleType] = external_rate

    def accrue(self, caller, price: int, skew: int, longs: int, shorts: int, now: int):
        _check(caller, self.market, NOT_THE_MARKET)
        step, state = external_rate.accrue(self.state, price, now)
        return step, replace(self, state=state)

    def pending(self, price: int, skew: int, longs: int, shorts: int, now: int) -> int:
        return external_rate.pending(self.state, price, now)

    def rate_per_period(self, period: int, skew: int, longs: int, shorts: int, now: int) -> int:
        return self.state.rate * period

    def set_rate(self, caller, requested: int, now: int):
        state = external_rate.set_rate(self.params, self.state, requested, caller, now)
        return replace(self, state=state)

    def set_rate_provider(self, caller, rate_provider: str):
        _check(caller, self.owner, NOT_THE_OWNER)
        return replace(self, state=external_rate.set_rate_provider(self.state, rate_provider))


#: Each model's parameters -> its reference class and its contract's name.
CONTRACTS = {
    velocity_rate.VelocityParameters: (VelocityRateModel, "VelocityRateModel"),
    skew_rate.SkewParameters: (SkewRateModel, "SkewRateModel"),
    external_rate.ExternalParameters: (ExternalRateModel, "ExternalRateModel"),
}


def constructor(params, market, rate_provider) -> tuple[str, tuple]:
    """The contract to deploy for ``params`` (its name) and its constructor arguments,
    for the market at ``market`` (the external model also takes its rate provider)."""
    name = CONTRACTS[type(params)][1]
    fields = astuple(params)
    if isinstance(params, external_rate.ExternalParameters):
        return name, (market, rate_provider, *fields)
    return name, (market, *fields)


def reference(params, market, owner, now: int, rate_provider=None):
    """The reference of the contract ``constructor`` deploys, as deployed at ``now``."""
    cls = CONTRACTS[type(params)][0]
    if cls is ExternalRateModel:
        return cls(market, owner, params, external_rate.start(params, rate_provider, now))
    return cls(market, owner, params, cls.module.start(params, now))
