# pragma version ~=0.4.3
"""
@title ExternalRateModel
@custom:contract-name ExternalRateModel
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice The bounded external rate model (modules/external_rate.vy, dYdX
        perpetual P1) as a FundingMarket's rate model: a rate provider sets
        the rate R per second, bounded to +-max_rate and to max_change_per_second
        times the seconds since the last setting. Works with or without a
        vault. Deploy it for the market's address, then the market with it
        (`rate_model`). Setting a rate accrues the market first: the old rate
        is charged up to now, the new one from now. The owner (two-step
        transfer) appoints the provider and sets the bounds.
        docs/MATH.md §13.3 and §18.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.auth import ownable_2step
initializes: ownable_2step[ownable := ownable]

from .modules import external_rate
initializes: external_rate

from .modules import rate_model_binding
initializes: rate_model_binding


exports: (
    ownable.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    rate_model_binding.market,
    external_rate.rate_provider,
    external_rate.rate,
    external_rate.rate_set_time,
    external_rate.max_rate,
    external_rate.max_change_per_second,
    external_rate.checkpoint_time,
)


event ExternalParametersChanged:
    max_rate: uint256
    max_change_per_second: uint256


@deploy
def __init__(market_: address, rate_provider: address, max_rate: uint256, max_change_per_second: uint256):
    """
    @param market_ The market's address (deploy the market next, with this model).
    @param rate_provider The account that sets the rate.
    @param max_rate The largest |R| (WAD per second).
    @param max_change_per_second The largest change of R per second since the last setting.
    """
    ownable.__init__()
    ownable_2step.__init__()
    rate_model_binding.__init__(market_)
    external_rate.__init__(rate_provider, max_rate, max_change_per_second)
    log ExternalParametersChanged(max_rate=max_rate, max_change_per_second=max_change_per_second)


@external
def accrue(price: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The market only: charges the gap at the rate set, and returns the
            index step (WAD quote per base).
    """
    rate_model_binding._check_market()
    return external_rate._accrue(price)


@external
@view
def pending(price: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The step `accrue` would return now.
    """
    return external_rate._pending(price)


@external
@view
def rate_per_period(period: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The rate in force, per `period` seconds (WAD).
    """
    return external_rate.rate * convert(period, int256)


@external
def set_rate(requested: int256) -> int256:
    """
    @notice The rate provider only. Accrues the market, then sets the bounded
            rate from now on (`FundingRateSet` logs the requested and the set rate).
    @return int256 The rate set.
    """
    rate_model_binding._accrue_market()
    return external_rate._set_rate(requested)


@external
def set_rate_provider(rate_provider: address):
    """
    @notice Owner only. The rate in force is untouched.
    """
    ownable._check_owner()
    external_rate._set_rate_provider(rate_provider)


@external
def set_parameters(max_rate: uint256, max_change_per_second: uint256):
    """
    @notice Owner only. Accrues the market, then applies the new bounds from now
            on (a lower max_rate clamps the rate now).
    """
    ownable._check_owner()
    rate_model_binding._accrue_market()
    external_rate._set_parameters(max_rate, max_change_per_second)
    log ExternalParametersChanged(max_rate=max_rate, max_change_per_second=max_change_per_second)
