# pragma version ~=0.4.3
"""
@title FeeOnTransferToken (tests only)
@custom:contract-name FeeOnTransferToken
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Snekmate's erc20 whose `transfer` and `transferFrom` burn a fee of
        `fee_bps` basis points of the amount (rounded down) on the way: the
        recipient receives `amount - fee`, as USDT would with its fee switched
        on. The owner is the minter and sets the fee.
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

# @dev The fee burnt per transfer, in basis points of the amount.
fee_bps: public(uint256)


@deploy
def __init__(decimals: uint8, fee_bps: uint256):
    ownable.__init__()
    erc20.__init__("Fee USD", "FUSD", decimals, "Fee USD", "1")
    self.fee_bps = fee_bps


@external
def set_fee(fee_bps: uint256):
    """
    @notice Owner only: the fee from the next transfer on (at most 100 %).
    """
    ownable._check_owner()
    assert fee_bps <= BPS, "fee token: fee above 100 %"
    self.fee_bps = fee_bps


@external
def transfer(to: address, amount: uint256) -> bool:
    self._transfer_less_fee(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    erc20._spend_allowance(owner, msg.sender, amount)
    self._transfer_less_fee(owner, to, amount)
    return True


@internal
def _transfer_less_fee(owner: address, to: address, amount: uint256):
    """
    @dev Moves the amount less the fee to `to` and burns the fee from `owner`.
    """
    fee: uint256 = amount * self.fee_bps // BPS
    erc20._transfer(owner, to, amount - fee)
    erc20._burn(owner, fee)
