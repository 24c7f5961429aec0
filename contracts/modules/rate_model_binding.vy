# pragma version ~=0.4.3
"""
@title The one market a rate model contract serves
@custom:contract-name rate_model_binding
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Fixed at deployment: deploy the model for the market's address, then
        the market, which checks it. Only the market accrues the model, in
        every accrual, so the model's last accrual is always the market's.
        Every setter of a model accrues the market first (which accrues the
        model): the old inputs are charged up to now, the new ones from now.
"""


interface IAccruable:
    def accrue(): nonpayable


# @dev The market this model serves.
market: public(immutable(address))


@deploy
def __init__(market_: address):
    assert market_ != empty(address), "rate model: market is the zero address"
    market = market_


@internal
@view
def _check_market():
    assert msg.sender == market, "rate model: caller is not the market"


@internal
def _accrue_market():
    """
    @dev Brings the market, and with it this model, to now.
    """
    extcall IAccruable(market).accrue()
