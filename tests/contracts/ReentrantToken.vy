# pragma version ~=0.4.3
"""
@title ReentrantToken
@notice Test-only: snekmate's erc20 whose `transfer` and `transferFrom` make
        one armed call (any target, any calldata) before they move any tokens,
        as an ERC777-style sender hook would. The call disarms itself first,
        so it fires once; a reverting call reverts the transfer with its data.
        `execute` lets the token itself act as a market account.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]


exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.decimals,
    erc20.name,
    erc20.symbol,
    erc20.approve,
    erc20.mint,
    erc20.owner,
)


MAX_PAYLOAD: constant(uint256) = 1_024

# @dev The call the next transfer makes, while `armed`.
armed: public(bool)
target: public(address)
payload: public(Bytes[MAX_PAYLOAD])
# @dev How many armed calls completed (each one disarms the token).
calls_made: public(uint256)


@deploy
def __init__(decimals: uint8):
    ownable.__init__()
    erc20.__init__("Reentrant USD", "RUSD", decimals, "Reentrant USD", "1")


@external
def arm(target: address, payload: Bytes[MAX_PAYLOAD]):
    """
    @notice Anyone: the next `transfer` or `transferFrom` first calls `target`.
    """
    self.armed = True
    self.target = target
    self.payload = payload


@external
def disarm():
    self.armed = False


@external
def execute(target: address, payload: Bytes[MAX_PAYLOAD]):
    """
    @notice Anyone: calls `target` with the token as `msg.sender`.
    """
    raw_call(target, payload)


@external
def transfer(to: address, amount: uint256) -> bool:
    self._call_back()
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    self._call_back()
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    return True


@internal
def _call_back():
    if self.armed:
        self.armed = False
        raw_call(self.target, self.payload)
        self.calls_made += 1
