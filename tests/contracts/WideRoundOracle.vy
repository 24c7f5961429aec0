# pragma version ~=0.4.3
"""
@title WideRoundOracle (tests only)
@custom:contract-name WideRoundOracle
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A feed whose `latestRoundData()` answers five raw 32-byte words, so a
        test can put in the round id and answeredInRound slots values that an
        AggregatorV3 `uint80` cannot hold (a round id wider than 80 bits), as a
        faulty or hostile feed may. `decimals()` answers 8. Anyone may script it.
"""


round_id: public(uint256)
answer: public(int256)
started_at: public(uint256)
updated_at: public(uint256)
answered_in_round: public(uint256)


@external
def set_round(
    round_id: uint256, answer: int256, started_at: uint256, updated_at: uint256, answered_in_round: uint256
):
    """
    @notice Replaces the latest round with exactly these words.
    """
    self.round_id = round_id
    self.answer = answer
    self.started_at = started_at
    self.updated_at = updated_at
    self.answered_in_round = answered_in_round


@external
@view
def decimals() -> uint8:
    return 8


@external
@view
def latestRoundData() -> (uint256, int256, uint256, uint256, uint256):
    """
    @notice The latest round as plain words: same selector and layout as
            AggregatorV3's, without the uint80 bound on the first and last.
    """
    return self.round_id, self.answer, self.started_at, self.updated_at, self.answered_in_round
