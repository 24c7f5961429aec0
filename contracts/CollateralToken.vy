# pragma version ~=0.4.3
"""
@title CollateralToken
@custom:contract-name CollateralToken
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A plain ERC20 (snekmate's erc20: EIP-2612 permit, minter role) for
        local networks and tests, with any number of decimals up to 18. The
        deployer is the first minter and can grant the role with `set_minter`.
@custom:kill Not needed: a test token. The owner can revoke every minter.
"""


from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]


exports: erc20.__interface__


@deploy
def __init__(name: String[25], symbol: String[5], decimals: uint8):
    """
    @param name The token's name.
    @param symbol Its ticker.
    @param decimals Digits after the decimal point (at most 18 for a market).
    """
    ownable.__init__()
    erc20.__init__(name, symbol, decimals, name, "1")
