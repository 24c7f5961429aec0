# pragma version ~=0.4.3
"""
@title One storage word holding a signed value and a timestamp
@custom:contract-name packed_word
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Values read and written together on every accrual share a slot, so an
        accrual pays for one storage access instead of two. Two layouts:
        a signed value (high 192 bits, two's complement) with a unix time (low
        64 bits); and a pair of signed values of 128 bits each.
"""


# @dev The value's range: |value| < 2**191 (about 3.1e57).
VALUE_LIMIT: constant(int256) = 2**191
TIME_MASK: constant(uint256) = 2**64 - 1
# @dev Each half of a pair: |half| < 2**127 (about 1.7e38).
HALF_LIMIT: constant(int256) = 2**127
HALF_MASK: constant(uint256) = 2**128 - 1


@internal
@pure
def _pack(number: int256, time: uint256) -> uint256:
    # dev: both fit by the bounds the callers document; checked, never truncated.
    assert number < VALUE_LIMIT and number >= -VALUE_LIMIT
    assert time <= TIME_MASK
    return convert(convert(number << 64, bytes32), uint256) | time


@internal
@pure
def _value(word: uint256) -> int256:
    # Arithmetic shift: the sign comes back with the value.
    return convert(convert(word, bytes32), int256) >> 64


@internal
@pure
def _time(word: uint256) -> uint256:
    return word & TIME_MASK


@internal
@pure
def _pack_pair(high: int256, low: int256) -> uint256:
    # dev: both fit by the bounds the callers document; checked, never truncated.
    assert high < HALF_LIMIT and high >= -HALF_LIMIT
    assert low < HALF_LIMIT and low >= -HALF_LIMIT
    return convert(convert(high << 128, bytes32), uint256) | (convert(convert(low, bytes32), uint256) & HALF_MASK)


@internal
@pure
def _high(word: uint256) -> int256:
    return convert(convert(word, bytes32), int256) >> 128


@internal
@pure
def _low(word: uint256) -> int256:
    # Moves the low half to the top, then shifts it back with its sign.
    return convert(convert(word << 128, bytes32), int256) >> 128
