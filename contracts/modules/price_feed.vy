# pragma version ~=0.4.3
"""
@title Reading a Chainlink-shaped price feed
@custom:contract-name price_feed
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Reads `latestRoundData` and `decimals` from an AggregatorV3 feed without
        ever reverting, normalises the answer to WAD, and classifies the reading.
        An answer that does not decode (short data, a round id wider than 80
        bits) is a failed call too. A reading is usable only when the answer is positive, the round is
        complete, it is not from the future and not older than `max_age`.
        Callers decide what an unusable reading means: accrual keeps its last
        good sample, while trades and withdrawals revert with the reason
        `_require_usable` gives.
"""


# @dev Reading classifications. `FEED_OK` is the only usable one.
FEED_OK: constant(uint8) = 0
FEED_CALL_FAILED: constant(uint8) = 1
FEED_NOT_POSITIVE: constant(uint8) = 2
FEED_INCOMPLETE: constant(uint8) = 3
FEED_FROM_FUTURE: constant(uint8) = 4
FEED_STALE: constant(uint8) = 5
FEED_OUT_OF_RANGE: constant(uint8) = 6

# @dev The largest price a reading accepts: 1e18 quote per base (WAD). Above it a
# reading is unusable, so no later product can overflow and accrual never reverts.
MAX_PRICE: constant(uint256) = 10**36

# @dev The gas each feed call may use (a Chainlink proxy's latestRoundData needs
# about 20,000), and the gas a read must have left before each call, so that no
# caller can starve a healthy feed into a failed reading (EIP-150 keeps 1/64
# back, a cold address costs 2,600): a feed that burns its gas costs a read at
# most FEED_GAS per call, never a lock.
FEED_GAS: constant(uint256) = 100_000
FEED_GAS_NEEDED: constant(uint256) = 110_000

# @dev Feeds with more decimals than this cannot be normalised to WAD exactly
# in both directions; none is known to exist.
MAX_FEED_DECIMALS: constant(uint8) = 36


struct Reading:
    price: uint256  # the answer in WAD (quote per base), 0 when unusable
    round_id: uint80
    updated_at: uint256
    status: uint8


@internal
@view
def _read(feed: address, max_age: uint256) -> Reading:
    """
    @dev Reads the feed's latest round. Never reverts for the feed's sake: a
         reverting, malformed or gas-burning feed is reported as FEED_CALL_FAILED
         (each call gets FEED_GAS); it reverts only when the caller sent too
         little gas for the feeds.
    @param feed The AggregatorV3 feed address.
    @param max_age The oldest `updatedAt` accepted, in seconds before now.
    @return Reading The normalised price and the classification.
    """
    ok: bool = False
    data: Bytes[160] = b""
    assert msg.gas >= FEED_GAS_NEEDED, "price_feed: too little gas for the feeds"
    ok, data = raw_call(
        feed, method_id("latestRoundData()"), max_outsize=160, gas=FEED_GAS, is_static_call=True, revert_on_failure=False
    )
    if not ok or len(data) != 160:
        return Reading(price=0, round_id=0, updated_at=0, status=FEED_CALL_FAILED)
    # Decoded as plain words: a uint80 field that does not fit 80 bits would make
    # abi_decode revert, and a feed must never be able to block a call that reads it.
    wide_round: uint256 = 0
    answer: int256 = 0
    started_at: uint256 = 0
    updated_at: uint256 = 0
    wide_answered: uint256 = 0
    wide_round, answer, started_at, updated_at, wide_answered = abi_decode(
        data, (uint256, int256, uint256, uint256, uint256)
    )
    if wide_round >= 2**80 or wide_answered >= 2**80:
        return Reading(price=0, round_id=0, updated_at=0, status=FEED_CALL_FAILED)
    round_id: uint80 = convert(wide_round, uint80)
    answered_in_round: uint80 = convert(wide_answered, uint80)

    decimals_data: Bytes[32] = b""
    assert msg.gas >= FEED_GAS_NEEDED, "price_feed: too little gas for the feeds"
    ok, decimals_data = raw_call(
        feed, method_id("decimals()"), max_outsize=32, gas=FEED_GAS, is_static_call=True, revert_on_failure=False
    )
    if not ok or len(decimals_data) != 32:
        return Reading(price=0, round_id=round_id, updated_at=updated_at, status=FEED_CALL_FAILED)
    decimals: uint256 = abi_decode(decimals_data, uint256)
    if decimals > convert(MAX_FEED_DECIMALS, uint256):
        return Reading(price=0, round_id=round_id, updated_at=updated_at, status=FEED_CALL_FAILED)

    status: uint8 = FEED_OK
    if answer <= 0:
        status = FEED_NOT_POSITIVE
    elif updated_at == 0 or answered_in_round < round_id:
        status = FEED_INCOMPLETE
    elif updated_at > block.timestamp:
        status = FEED_FROM_FUTURE
    elif block.timestamp - updated_at > max_age:
        status = FEED_STALE
    if status != FEED_OK:
        return Reading(price=0, round_id=round_id, updated_at=updated_at, status=status)

    price: uint256 = convert(answer, uint256)
    if decimals <= 18:
        if price > MAX_PRICE // 10 ** (18 - decimals):
            return Reading(price=0, round_id=round_id, updated_at=updated_at, status=FEED_OUT_OF_RANGE)
        price = price * 10 ** (18 - decimals)
    else:
        # dev: a finer feed loses its last digits, rounding down.
        price = price // 10 ** (decimals - 18)
        if price > MAX_PRICE:
            return Reading(price=0, round_id=round_id, updated_at=updated_at, status=FEED_OUT_OF_RANGE)
    if price == 0:
        status = FEED_NOT_POSITIVE
    return Reading(price=price, round_id=round_id, updated_at=updated_at, status=status)


@internal
@pure
def _require_usable(reading: Reading, name: String[5]):
    """
    @dev Reverts with a reason naming the feed and the fault, unless usable.
    @param reading A reading from `_read`.
    @param name "index" or "mark", for the reason string.
    """
    if reading.status == FEED_CALL_FAILED:
        raise concat("price_feed: ", name, " feed unreadable")
    if reading.status == FEED_NOT_POSITIVE:
        raise concat("price_feed: ", name, " answer not positive")
    if reading.status == FEED_INCOMPLETE:
        raise concat("price_feed: ", name, " round incomplete")
    if reading.status == FEED_FROM_FUTURE:
        raise concat("price_feed: ", name, " round from the future")
    if reading.status == FEED_STALE:
        raise concat("price_feed: ", name, " answer stale")
    if reading.status == FEED_OUT_OF_RANGE:
        raise concat("price_feed: ", name, " answer out of range")
