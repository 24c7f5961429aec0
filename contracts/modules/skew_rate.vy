# pragma version ~=0.4.3
"""
@title The skew-proportional funding rate model (GMX v2 style)
@custom:contract-name skew_rate
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice The rate follows the open-interest imbalance:
            |R| = min(factor * |L - S|**e / (L + S), cap),   e in {1, 2},
        paid by the heavier side: R > 0 (longs pay) when L > S, R < 0 (shorts
        pay) when S > L, 0 when balanced or empty. L and S are the long and
        short open interest (base, WAD). R is a fraction of notional per
        second (WAD). With e = 1 `factor` is per second; with e = 2 it is per
        second per unit of base, as GMX v2's factor is per USD of imbalance.
        R depends only on the open interest, which changes only after an
        accrual, so R is constant across a gap: a position of one unit of base
        pays R * p * gap over it, in quote, at the held price p.
        Shape shared with velocity_rate and external_rate, so a market can
        `initializes:` any one of them: `_accrue(price)` moves the model to now
        and returns the index step per unit of base; `_pending(price)` is the
        same step as a view; `_rate_now()` is the rate in force now. Every
        setter requires `_accrue` in the same block first ("accrue first"), so
        the old inputs are charged up to now and the new ones from now on.
"""


from snekmate.utils import math

from . import fixed_point


# @dev Hard bounds.
MAX_OPEN_INTEREST: constant(uint256) = 10**36  # per side, base (WAD)
MAX_FACTOR: constant(uint256) = 10**18
MAX_CAP: constant(uint256) = 10**13  # per second (WAD): about 86 % a day


# @dev Open interest (base, WAD) of the long and the short side.
long_open_interest: public(uint256)
short_open_interest: public(uint256)
# @dev The factor (WAD per second; with exponent 2, per second per unit of base).
factor: public(uint256)
# @dev The exponent e applied to the imbalance: 1 or 2.
exponent: public(uint256)
# @dev The absolute cap on the rate (WAD per second).
cap: public(uint256)
# @dev The time of the last accrual.
checkpoint_time: public(uint256)


@deploy
def __init__(factor_: uint256, exponent_: uint256, cap_: uint256):
    """
    @dev Starts with no open interest (rate 0), accrued up to now.
    """
    self._store_parameters(factor_, exponent_, cap_)
    self.checkpoint_time = block.timestamp


@internal
@pure
def _rate(
    long_open_interest_: uint256, short_open_interest_: uint256, factor_: uint256, exponent_: uint256, cap_: uint256
) -> int256:
    """
    @dev The rate per second (WAD) for an open interest. Its size rounds down
         (toward zero) once, before the cap; its sign is the heavier side's.
    """
    total: uint256 = long_open_interest_ + short_open_interest_
    imbalance: uint256 = max(long_open_interest_, short_open_interest_) - min(
        long_open_interest_, short_open_interest_
    )
    if imbalance == 0:
        return 0
    size: uint256 = 0
    if exponent_ == 1:
        # dev: factor <= 1e18 and imbalance <= 2e36: the product fits.
        size = factor_ * imbalance // total
    else:
        # factor * imbalance**2 / (total * WAD): the imbalance is in WAD, so
        # its square carries one WAD too many. 512-bit product.
        size = math._mul_div(factor_ * imbalance, imbalance, total * fixed_point.WAD, False)
    rate: int256 = convert(min(size, cap_), int256)
    if short_open_interest_ > long_open_interest_:
        return -rate
    return rate


@internal
@pure
def _funding_delta(rate: int256, gap: uint256, price: uint256) -> int256:
    """
    @dev p * R * gap / WAD: the index step (WAD quote per base) of a gap at a
         constant rate, truncated toward zero (symmetric).
    """
    # dev: p <= 1e36, |R| <= 1e13, gap < 2**64: the product stays below 2e68.
    return convert(price, int256) * rate * convert(gap, int256) // convert(fixed_point.WAD, int256)


@internal
@view
def _rate_now() -> int256:
    """
    @dev The rate in force now (WAD per second).
    """
    return self._rate(
        self.long_open_interest, self.short_open_interest, self.factor, self.exponent, self.cap
    )


@internal
@view
def _pending(price: uint256) -> int256:
    """
    @dev The step `_accrue(price)` would return now.
    """
    return self._funding_delta(self._rate_now(), block.timestamp - self.checkpoint_time, price)


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
    assert self.checkpoint_time == block.timestamp, "skew_rate: accrue first"


@internal
def _set_open_interest(long_open_interest_: uint256, short_open_interest_: uint256):
    """
    @dev The open interest after a trade: its rate applies from now on.
    """
    self._check_accrued()
    assert (
        long_open_interest_ <= MAX_OPEN_INTEREST and short_open_interest_ <= MAX_OPEN_INTEREST
    ), "skew_rate: open interest above 1e36"
    self.long_open_interest = long_open_interest_
    self.short_open_interest = short_open_interest_


@internal
def _set_parameters(factor_: uint256, exponent_: uint256, cap_: uint256):
    """
    @dev New parameters apply from now on.
    """
    self._check_accrued()
    self._store_parameters(factor_, exponent_, cap_)


@internal
def _store_parameters(factor_: uint256, exponent_: uint256, cap_: uint256):
    assert factor_ <= MAX_FACTOR, "skew_rate: factor above 1e18"
    assert exponent_ == 1 or exponent_ == 2, "skew_rate: exponent must be 1 or 2"
    assert cap_ >= 1 and cap_ <= MAX_CAP, "skew_rate: cap outside 1 wei..1e13 per second"
    self.factor = factor_
    self.exponent = exponent_
    self.cap = cap_
