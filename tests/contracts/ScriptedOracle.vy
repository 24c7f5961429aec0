# pragma version ~=0.4.3
"""
@title ScriptedOracle (tests only)
@custom:contract-name ScriptedOracle
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice An AggregatorV3-shaped feed whose every field a test sets directly,
        including the faults MockOracle cannot show: a round answered in an
        earlier round (answeredInRound < roundId), decimals that change, and
        `latestRoundData()` or `decimals()` that revert. `decimals()` returns a
        uint256 so that a test can also report an absurd number of decimals.
        Anyone may script it: it is never deployed outside the tests.
"""


round_id: public(uint80)
answer: public(int256)
started_at: public(uint256)
updated_at: public(uint256)
answered_in_round: public(uint80)
feed_decimals: public(uint256)
latest_reverts: public(bool)
decimals_reverts: public(bool)


@deploy
def __init__(decimals_: uint256):
    self.feed_decimals = decimals_


@external
def set_round(
    round_id: uint80, answer: int256, started_at: uint256, updated_at: uint256, answered_in_round: uint80
):
    """
    @notice Replaces the latest round with exactly these fields.
    """
    self.round_id = round_id
    self.answer = answer
    self.started_at = started_at
    self.updated_at = updated_at
    self.answered_in_round = answered_in_round


@external
def set_decimals(decimals_: uint256):
    self.feed_decimals = decimals_


@external
def set_reverts(latest: bool, decimals_: bool):
    """
    @notice Makes `latestRoundData()` and/or `decimals()` revert.
    """
    self.latest_reverts = latest
    self.decimals_reverts = decimals_


@external
@view
def decimals() -> uint256:
    assert not self.decimals_reverts, "scripted_oracle: decimals reverts"
    return self.feed_decimals


@external
@view
def description() -> String[16]:
    return "SCRIPTED / USD"


@external
@view
def version() -> uint256:
    return 4


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    assert not self.latest_reverts, "scripted_oracle: latestRoundData reverts"
    return self.round_id, self.answer, self.started_at, self.updated_at, self.answered_in_round
