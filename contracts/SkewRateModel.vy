# pragma version ~=0.4.3
"""
@title SkewRateModel
@custom:contract-name SkewRateModel
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice The skew-proportional rate model (modules/skew_rate.vy, GMX v2 style)
        as a FundingMarket's rate model:
            |R| = min(factor * |L - S|**e / (L + S), cap),  e in {1, 2},
        R per second, paid by the heavier side. L and S are the traders' long
        and short open interest: every account but the market's vault, so the
        model belongs to a market in pool mode (without a vault L = S and the
        rate is 0). Deploy it for the market's address, then the market with
        it (`rate_model`). The owner (two-step transfer) sets the bounded
        parameters; each change accrues the market first.
        docs/MATH.md §13.2 and §18.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.auth import ownable_2step
initializes: ownable_2step[ownable := ownable]

from .modules import skew_rate
initializes: skew_rate

from .modules import rate_model_binding
initializes: rate_model_binding


exports: (
    ownable.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    rate_model_binding.market,
    skew_rate.long_open_interest,
    skew_rate.short_open_interest,
    skew_rate.factor,
    skew_rate.exponent,
    skew_rate.cap,
    skew_rate.checkpoint_time,
)


event SkewParametersChanged:
    factor: uint256
    exponent: uint256
    cap: uint256


@deploy
def __init__(market_: address, factor: uint256, exponent: uint256, cap: uint256):
    """
    @param market_ The market's address (deploy the market next, with this model).
    @param factor WAD per second (with exponent 2, per second per unit of base).
    @param exponent 1 or 2.
    @param cap The largest |R| (WAD per second).
    """
    ownable.__init__()
    ownable_2step.__init__()
    rate_model_binding.__init__(market_)
    skew_rate.__init__(factor, exponent, cap)
    log SkewParametersChanged(factor=factor, exponent=exponent, cap=cap)


@external
def accrue(price: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The market only: charges the gap at the rate of the open interest
            that stood across it, and returns the index step (WAD quote per base).
    """
    rate_model_binding._check_market()
    # The module's bound (1e36 per side) clamps instead of reverting: an
    # accrual must never fail. A market's positions stay far below it.
    skew_rate.long_open_interest = min(long_open_interest, skew_rate.MAX_OPEN_INTEREST)
    skew_rate.short_open_interest = min(short_open_interest, skew_rate.MAX_OPEN_INTEREST)
    return skew_rate._accrue(price)


@external
@view
def pending(price: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The step `accrue` would return now.
    """
    rate: int256 = self._rate(long_open_interest, short_open_interest)
    return skew_rate._funding_delta(rate, block.timestamp - skew_rate.checkpoint_time, price)


@external
@view
def rate_per_period(period: uint256, skew: int256, long_open_interest: uint256, short_open_interest: uint256) -> int256:
    """
    @notice The rate in force now, per `period` seconds (WAD).
    """
    return self._rate(long_open_interest, short_open_interest) * convert(period, int256)


@external
def set_parameters(factor: uint256, exponent: uint256, cap: uint256):
    """
    @notice Owner only. Accrues the market, then applies the new parameters from now on.
    """
    ownable._check_owner()
    rate_model_binding._accrue_market()
    skew_rate._set_parameters(factor, exponent, cap)
    log SkewParametersChanged(factor=factor, exponent=exponent, cap=cap)


@internal
@view
def _rate(long_open_interest: uint256, short_open_interest: uint256) -> int256:
    return skew_rate._rate(
        min(long_open_interest, skew_rate.MAX_OPEN_INTEREST),
        min(short_open_interest, skew_rate.MAX_OPEN_INTEREST),
        skew_rate.factor,
        skew_rate.exponent,
        skew_rate.cap,
    )
