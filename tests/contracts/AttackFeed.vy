# pragma version ~=0.4.3
"""
@title AttackFeed (tests only)
@custom:contract-name AttackFeed
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A hostile AggregatorV3-shaped feed for adversarial tests. `latestRoundData()`
        answers five plain words (so the round id and answeredInRound may be wider
        than 80 bits) and `decimals()` a plain word (so it may be any number);
        either can instead revert, or burn all the gas it is given, as a feed
        running into an INVALID opcode or an unbounded loop would. Anyone may
        script it: it is never deployed outside the tests.
"""


# @dev What a call does: answer, revert, or burn all its gas.
ANSWER: constant(uint8) = 0
REVERT: constant(uint8) = 1
BURN: constant(uint8) = 2

# @dev The identity precompile. A call to it with an output buffer of HUGE bytes
# makes the caller pay a memory expansion of about 765 million gas first: more than
# any block holds, so `burn_gas` runs out of gas at once. Each call of it takes 63/64
# of the gas left (EIP-150); BURNS calls in a row leave nothing.
IDENTITY: constant(address) = 0x0000000000000000000000000000000000000004
HUGE: constant(uint256) = 20_000_000
BURNS: constant(uint256) = 8

round_id: public(uint256)
answer: public(int256)
started_at: public(uint256)
updated_at: public(uint256)
answered_in_round: public(uint256)
feed_decimals: public(uint256)
latest_mode: public(uint8)
decimals_mode: public(uint8)


@deploy
def __init__(decimals_: uint256):
    self.feed_decimals = decimals_


@external
def set_round(round_id: uint256, answer: int256, started_at: uint256, updated_at: uint256, answered_in_round: uint256):
    """
    @notice Replaces the latest round with exactly these words.
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
def set_modes(latest: uint8, decimals_: uint8):
    """
    @notice What `latestRoundData()` and `decimals()` do from now on: answer (0),
            revert (1) or burn all their gas (2).
    """
    self.latest_mode = latest
    self.decimals_mode = decimals_


@external
@view
def decimals() -> uint256:
    self._act(self.decimals_mode)
    return self.feed_decimals


@external
@view
def latestRoundData() -> (uint256, int256, uint256, uint256, uint256):
    self._act(self.latest_mode)
    return self.round_id, self.answer, self.started_at, self.updated_at, self.answered_in_round


@external
@view
def burn_gas():
    """
    @notice Runs out of all the gas it is given.
    """
    sink: Bytes[HUGE] = raw_call(IDENTITY, b"", max_outsize=HUGE, is_static_call=True)


@internal
@view
def _act(mode: uint8):
    assert mode != REVERT, "attack_feed: reverts"
    if mode == BURN:
        burnt: bool = False
        for i: uint256 in range(BURNS):
            burnt = raw_call(self, method_id("burn_gas()"), is_static_call=True, revert_on_failure=False)
