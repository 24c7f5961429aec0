# pragma version ~=0.4.3
"""
@title AttackToken (tests only)
@custom:contract-name AttackToken
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Snekmate's erc20 whose `transfer` and `transferFrom` misbehave as the
        owner scripts them, for adversarial tests of a market's collateral:
        mode 0 behaves; 1 returns false and moves nothing; 2 returns true and moves
        nothing; 3 moves the amount and takes a fee of `fee_bps` on top from the
        sender (the sender pays amount + fee, the recipient gets amount). `rebase`
        lowers any holder's balance, as a rebasing-down token (or a slashing) does.
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


BPS: constant(uint256) = 10_000
BEHAVES: constant(uint8) = 0
RETURNS_FALSE: constant(uint8) = 1
MOVES_NOTHING: constant(uint8) = 2
FEE_ON_TOP: constant(uint8) = 3

# @dev How the next transfers behave (see the notice), and the fee of mode 3.
mode: public(uint8)
fee_bps: public(uint256)


@deploy
def __init__(decimals: uint8):
    ownable.__init__()
    erc20.__init__("Attack USD", "AUSD", decimals, "Attack USD", "1")


@external
def set_mode(mode: uint8, fee_bps: uint256):
    ownable._check_owner()
    self.mode = mode
    self.fee_bps = fee_bps


@external
def rebase(holder: address, amount: uint256):
    """
    @notice Owner only: `holder`'s balance falls by `amount` (burnt).
    """
    ownable._check_owner()
    erc20._burn(holder, amount)


@external
def transfer(to: address, amount: uint256) -> bool:
    return self._move(msg.sender, to, amount)


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    erc20._spend_allowance(owner, msg.sender, amount)
    return self._move(owner, to, amount)


@internal
def _move(owner: address, to: address, amount: uint256) -> bool:
    mode: uint8 = self.mode
    if mode == RETURNS_FALSE:
        return False
    if mode == MOVES_NOTHING:
        return True
    erc20._transfer(owner, to, amount)
    if mode == FEE_ON_TOP:
        erc20._burn(owner, amount * self.fee_bps // BPS)
    return True
