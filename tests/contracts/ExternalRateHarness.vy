# pragma version ~=0.4.3
"""
@title ExternalRateHarness
@notice Test-only: the bounded external rate model inside a minimal funding
        index, as a market would hold it. `accrue` adds the model's step to the
        index; setters do not accrue, so tests can check the "accrue first" guard.
        Anyone may change the rate provider here; a market would restrict it.
"""

from contracts.modules import external_rate
initializes: external_rate

exports: (
    external_rate.rate_provider,
    external_rate.rate,
    external_rate.rate_set_time,
    external_rate.max_rate,
    external_rate.max_change_per_second,
    external_rate.checkpoint_time,
)

# @dev Cumulative funding per unit of base (WAD quote).
funding_index: public(int256)


@deploy
def __init__(rate_provider: address, max_rate: uint256, max_change_per_second: uint256):
    external_rate.__init__(rate_provider, max_rate, max_change_per_second)


@external
def accrue(price: uint256) -> int256:
    step: int256 = external_rate._accrue(price)
    self.funding_index += step
    return step


@external
@view
def pending(price: uint256) -> int256:
    return external_rate._pending(price)


@external
@view
def rate_now() -> int256:
    return external_rate._rate_now()


@external
def set_rate(requested: int256) -> int256:
    return external_rate._set_rate(requested)


@external
def set_rate_provider(rate_provider: address):
    external_rate._set_rate_provider(rate_provider)


@external
def set_parameters(max_rate: uint256, max_change_per_second: uint256):
    external_rate._set_parameters(max_rate, max_change_per_second)


@external
@pure
def bound(
    old: int256, requested: int256, elapsed: uint256, max_rate: uint256, max_change_per_second: uint256
) -> int256:
    return external_rate._bound(old, requested, elapsed, max_rate, max_change_per_second)


@external
@pure
def funding_delta(rate: int256, gap: uint256, price: uint256) -> int256:
    return external_rate._funding_delta(rate, gap, price)
