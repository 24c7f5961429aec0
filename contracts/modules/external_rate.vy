# pragma version ~=0.4.3
"""
@title The bounded external funding rate model (dYdX perpetual P1)
@custom:contract-name external_rate
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A rate-provider role sets the rate R, a fraction of notional per
        second (WAD). Like dYdX's P1FundingOracle, a requested rate is bounded,
        not rejected: first into [-max_rate, +max_rate], then to within
        max_change_per_second * (seconds since the last setting) of the rate in
        force. The rate set (and the one requested) is logged.
        Unlike P1, where the perpetual applies the rate read at its next index
        update to the whole gap before it, setting a rate requires an accrual
        in the same block first: the old rate is charged up to now, the new
        one from now on. R is constant across a gap: a position of one unit
        of base pays R * p * gap over it, in quote, at the held price p.
        Shape shared with velocity_rate and skew_rate, so a market can
        `initializes:` any one of them: `_accrue(price)` moves the model to now
        and returns the index step per unit of base; `_pending(price)` is the
        same step as a view; `_rate_now()` is the rate in force now. Every
        setter of the rate or its bounds requires `_accrue` in the same block
        first ("accrue first").
"""


from . import fixed_point


# @dev Hard bounds, per second (WAD).
MAX_RATE: constant(uint256) = 10**13  # about 86 % a day
MAX_CHANGE: constant(uint256) = 10**13  # per second of elapsed time


event FundingRateSet:
    requested: int256
    rate: int256


event RateProviderChanged:
    rate_provider: address


# @dev The only account that may set the rate.
rate_provider: public(address)
# @dev The rate in force (WAD per second), |rate| <= max_rate.
rate: public(int256)
# @dev When the rate was last set: the change limit grows from it.
rate_set_time: public(uint256)
# @dev The largest |rate| (WAD per second).
max_rate: public(uint256)
# @dev The largest change of the rate per second since the last setting (WAD per second).
max_change_per_second: public(uint256)
# @dev The time of the last accrual.
checkpoint_time: public(uint256)


@deploy
def __init__(rate_provider_: address, max_rate_: uint256, max_change_per_second_: uint256):
    """
    @dev Starts at rate 0, set and accrued now.
    """
    self._store_rate_provider(rate_provider_)
    self._store_parameters(max_rate_, max_change_per_second_)
    self.rate_set_time = block.timestamp
    self.checkpoint_time = block.timestamp


@internal
@pure
def _bound(
    old: int256, requested: int256, elapsed: uint256, max_rate_: uint256, max_change_per_second_: uint256
) -> int256:
    """
    @dev The rate a request sets: within +-max_rate, then within
         max_change_per_second * elapsed of the old rate. Exact.
         |old| <= max_rate, so the result stays within +-max_rate.
    """
    limit: int256 = convert(max_rate_, int256)
    # dev: max_change <= 1e13 and elapsed < 2**64: the product fits.
    allowed: int256 = convert(max_change_per_second_ * elapsed, int256)
    bounded: int256 = min(max(requested, -limit), limit)
    return min(max(bounded, old - allowed), old + allowed)


@internal
@pure
def _funding_delta(rate_: int256, gap: uint256, price: uint256) -> int256:
    """
    @dev p * R * gap / WAD: the index step (WAD quote per base) of a gap at a
         constant rate, truncated toward zero (symmetric).
    """
    # dev: p <= 1e36, |R| <= 1e13, gap < 2**64: the product stays below 2e68.
    return convert(price, int256) * rate_ * convert(gap, int256) // convert(fixed_point.WAD, int256)


@internal
@view
def _rate_now() -> int256:
    """
    @dev The rate in force now (WAD per second).
    """
    return self.rate


@internal
@view
def _pending(price: uint256) -> int256:
    """
    @dev The step `_accrue(price)` would return now.
    """
    return self._funding_delta(self.rate, block.timestamp - self.checkpoint_time, price)


@internal
def _accrue(price: uint256) -> int256:
    """
    @dev Moves the model to now at the held `price`.
    @return int256 The funding index step per unit of base (WAD quote).
    """
    if self.checkpoint_time == block.timestamp:
        return 0
    step: int256 = self._pending(price)
    self.checkpoint_time = block.timestamp
    return step


@internal
@view
def _check_accrued():
    assert self.checkpoint_time == block.timestamp, "external_rate: accrue first"


@internal
def _set_rate(requested: int256) -> int256:
    """
    @dev Only the rate provider. Sets the bounded rate from now on.
    @return int256 The rate set.
    """
    assert msg.sender == self.rate_provider, "external_rate: caller is not the rate provider"
    self._check_accrued()
    bounded: int256 = self._bound(
        self.rate, requested, block.timestamp - self.rate_set_time, self.max_rate, self.max_change_per_second
    )
    self.rate = bounded
    self.rate_set_time = block.timestamp
    log FundingRateSet(requested=requested, rate=bounded)
    return bounded


@internal
def _set_rate_provider(rate_provider_: address):
    """
    @dev The caller checks who may change the role. The rate is untouched.
    """
    self._store_rate_provider(rate_provider_)


@internal
def _set_parameters(max_rate_: uint256, max_change_per_second_: uint256):
    """
    @dev New bounds apply from now on. A lower max_rate clamps the rate now
         (the last setting time stays: it only paces the provider).
    """
    self._check_accrued()
    self._store_parameters(max_rate_, max_change_per_second_)
    limit: int256 = convert(max_rate_, int256)
    self.rate = min(max(self.rate, -limit), limit)


@internal
def _store_rate_provider(rate_provider_: address):
    assert rate_provider_ != empty(address), "external_rate: rate provider is the zero address"
    self.rate_provider = rate_provider_
    log RateProviderChanged(rate_provider=rate_provider_)


@internal
def _store_parameters(max_rate_: uint256, max_change_per_second_: uint256):
    assert max_rate_ >= 1 and max_rate_ <= MAX_RATE, "external_rate: max rate outside 1 wei..1e13 per second"
    assert (
        max_change_per_second_ >= 1 and max_change_per_second_ <= MAX_CHANGE
    ), "external_rate: max change outside 1 wei..1e13 per second"
    self.max_rate = max_rate_
    self.max_change_per_second = max_change_per_second_
