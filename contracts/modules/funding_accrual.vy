# pragma version ~=0.4.3
"""
@title The funding index and its O(1) accrual
@custom:contract-name funding_accrual
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice F is the cumulative funding per one unit of base size, in quote (WAD,
        signed). Over a gap, F += p * integral(R dt) / T, where p is the index
        price sampled at the last accrual and held across the gap, R the rate
        per interval T. A position s held while F moved from F0 to F1 owes
        s * (F1 - F0). A positive rate makes F rise: longs pay, shorts receive.
        Each accrual rounds once, toward zero: accruing a gap in n pieces
        instead of one moves F by less than n wei per unit of base.
"""


from . import fixed_point
from . import packed_word
from . import premium_rate
uses: premium_rate


# @dev F (WAD quote per unit of base, value) and the block time of the last
# accrual (time), in one word: every settlement reads both.
packed_index: uint256
# @dev The index price sampled at the last good accrual, held until the next
# (WAD, quote per base; at most price_feed.MAX_PRICE).
sampled_price: public(uint256)


@deploy
def __init__(price: uint256):
    self.packed_index = packed_word._pack(0, block.timestamp)
    self.sampled_price = price


@external
@view
def funding_index() -> int256:
    """
    @notice F as of the last accrual: cumulative funding per unit of base (WAD quote).
    """
    return packed_word._value(self.packed_index)


@external
@view
def last_accrual() -> uint256:
    """
    @notice The block time of the last accrual.
    """
    return packed_word._time(self.packed_index)


@internal
@view
def _funding_delta(rate_time: int256, interval: uint256) -> int256:
    """
    @dev p * integral(R dt) / (T * WAD): the index move over a gap whose rate
         integral is `rate_time` (WAD * seconds). Truncates toward zero, so
         rounding is symmetric between longs and shorts.
    """
    # dev: p <= 1e36 and |rate_time| <= 4e16 * 3.2e9 (100 years at the largest
    # cap) keep the product near 1.3e62, far below 2**255.
    return convert(self.sampled_price, int256) * rate_time // convert(interval * fixed_point.WAD, int256)


@internal
def _accrue() -> bool:
    """
    @dev Brings F to now with the samples held since the last accrual.
    @return bool True when time has passed since the last accrual.
    """
    word: uint256 = self.packed_index
    since: uint256 = packed_word._time(word)
    if since == block.timestamp:
        return False
    interval: uint256 = premium_rate._parameters().interval
    rate_time: int256 = premium_rate._advance(since, block.timestamp)
    index: int256 = packed_word._value(word) + self._funding_delta(rate_time, interval)
    self.packed_index = packed_word._pack(index, block.timestamp)
    return True


@internal
def _add(step: int256):
    """
    @dev Moves F by `step` (a rate model's index step over the gap) and stamps now.
    """
    self.packed_index = packed_word._pack(packed_word._value(self.packed_index) + step, block.timestamp)


@internal
@view
def _last_accrual() -> uint256:
    return packed_word._time(self.packed_index)


@internal
@view
def _index() -> int256:
    """
    @dev F as of the last accrual.
    """
    return packed_word._value(self.packed_index)


@internal
@view
def _current() -> (int256, premium_rate.Projection):
    """
    @dev F and the interval state as an accrual now would leave them.
    """
    word: uint256 = self.packed_index
    since: uint256 = packed_word._time(word)
    if since == block.timestamp:
        return packed_word._value(word), premium_rate._stored_state()
    projection: premium_rate.Projection = premium_rate._project(since, block.timestamp)
    delta: int256 = self._funding_delta(projection.rate_time, premium_rate._parameters().interval)
    return packed_word._value(word) + delta, projection
