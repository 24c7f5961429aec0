# pragma version ~=0.4.3
"""
@title NoReturnToken
@notice Test-only: snekmate's erc20 whose `transfer` and `transferFrom` return
        no data, as USDT's do on Ethereum. A caller that decodes a bool from
        their return data reverts; one that accepts empty data works.
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


@deploy
def __init__(decimals: uint8):
    ownable.__init__()
    erc20.__init__("Tether-like USD", "NUSD", decimals, "Tether-like USD", "1")


@external
def transfer(to: address, amount: uint256):
    erc20._transfer(msg.sender, to, amount)


@external
def transferFrom(owner: address, to: address, amount: uint256):
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
