# pragma version ~=0.4.3
"""
@title MockOracle
@custom:contract-name MockOracle
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A price feed with the Chainlink AggregatorV3 read interface, whose
        answers a feeder role submits. Each submission opens and completes a new
        round. `submit_round` sets the round's timestamps freely, so tests and
        scenarios can produce the faults a real feed can show (a round from the
        future, an incomplete round, a stale answer).
        Two instances drive a market: the index (spot) and the mark (perp).
@custom:kill The owner sets the feeder to the zero address: no more rounds.
"""


from interfaces import IAggregatorV3
implements: IAggregatorV3

from snekmate.auth import ownable
initializes: ownable


exports: (ownable.owner, ownable.transfer_ownership)


# @dev The interface version this mock reports (AggregatorV3).
VERSION: constant(uint256) = 4


# @dev Digits after the decimal point of every answer.
decimals: public(immutable(uint8))
# @dev What the feed prices, e.g. "BTC / USD".
description: public(immutable(String[64]))
# @dev The account allowed to submit answers.
feeder: public(address)
# @dev The id of the newest round; 0 before the first.
latest_round: public(uint80)


# @dev Every round by id (ids start at 1), packed in one word as Chainlink's
# aggregators pack theirs: answer (int128, bits 128..255), startedAt (64..127),
# updatedAt (0..63). One storage read per round.
rounds: HashMap[uint80, uint256]

TIME_MASK: constant(uint256) = 2**64 - 1


# @dev A new round was recorded (Chainlink's AnswerUpdated shape).
event AnswerUpdated:
    current: indexed(int256)
    roundId: indexed(uint256)
    updatedAt: uint256


event FeederChanged:
    feeder: indexed(address)


@deploy
def __init__(decimals_: uint8, description_: String[64], feeder: address):
    """
    @param decimals_ Digits of each answer (8 for a Chainlink USD pair).
    @param description_ What the feed prices.
    @param feeder The account allowed to submit answers.
    """
    ownable.__init__()
    decimals = decimals_
    description = description_
    self.feeder = feeder
    log FeederChanged(feeder=feeder)


@external
@view
def version() -> uint256:
    """
    @notice The AggregatorV3 interface version.
    """
    return VERSION


@external
def submit(answer: int256) -> uint80:
    """
    @notice Feeder only: records `answer` as a new round, now.
    @param answer The price with `decimals` digits.
    @return uint80 The new round's id.
    """
    return self._submit(answer, block.timestamp, block.timestamp)


@external
def submit_round(answer: int256, started_at: uint256, updated_at: uint256) -> uint80:
    """
    @notice Feeder only: records a round with chosen timestamps. An
            `updated_at` of 0 is an incomplete round; one after now is a round
            from the future; an old one is stale.
    @return uint80 The new round's id.
    """
    return self._submit(answer, started_at, updated_at)


@external
def set_feeder(feeder: address):
    """
    @notice Owner only: replaces the feeder.
    """
    ownable._check_owner()
    self.feeder = feeder
    log FeederChanged(feeder=feeder)


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice The newest round: (roundId, answer, startedAt, updatedAt,
            answeredInRound). Reverts before the first round, as Chainlink does.
    """
    round_id: uint80 = self.latest_round
    assert round_id != 0, "mock_oracle: no data present"
    return self._round_data(round_id)


@external
@view
def getRoundData(_roundId: uint80) -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice A past round, by id; reverts for a round that does not exist.
    """
    assert _roundId != 0 and _roundId <= self.latest_round, "mock_oracle: no data present"
    return self._round_data(_roundId)


@internal
def _submit(answer: int256, started_at: uint256, updated_at: uint256) -> uint80:
    assert msg.sender == self.feeder, "mock_oracle: caller is not the feeder"
    assert abs(answer) < 2**127, "mock_oracle: answer out of range"
    assert started_at <= TIME_MASK and updated_at <= TIME_MASK, "mock_oracle: timestamp out of range"
    round_id: uint80 = self.latest_round + 1
    self.latest_round = round_id
    self.rounds[round_id] = convert(convert(answer << 128, bytes32), uint256) | started_at << 64 | updated_at
    log AnswerUpdated(current=answer, roundId=convert(round_id, uint256), updatedAt=updated_at)
    return round_id


@internal
@view
def _round_data(round_id: uint80) -> (uint80, int256, uint256, uint256, uint80):
    word: uint256 = self.rounds[round_id]
    # An arithmetic shift restores the answer's sign.
    answer: int256 = convert(convert(word, bytes32), int256) >> 128
    return round_id, answer, (word >> 64) & TIME_MASK, word & TIME_MASK, round_id
