# pragma version ~=0.4.3
"""
@title The ledger: margins, positions and funding settlement
@custom:contract-name ledger
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice Each account holds a margin (signed quote, WAD), a position (signed
        base, WAD) and the funding index at its last settlement. Settling
        charges position * (F - index_snapshot).
        Every rounding favours the market: what an account owes is rounded up,
        what it receives is rounded down, and the difference stays in `surplus`.
        Conservation, exact at every moment:
            total_collateral == sum of all margins + surplus
        where `surplus` also carries the funding that payers have settled and
        receivers have not yet (or the reverse, when it is negative). Once every
        account is settled to the same index, 0 <= surplus <= one wei per
        rounded operation. Positions always sum to zero.
"""


from . import fixed_point
from . import funding_accrual
uses: funding_accrual


struct Account:
    margin: int256  # quote (WAD); negative once funding exceeds it
    position: int256  # base (WAD); positive = long
    index_snapshot: int256  # F at the last settlement


# @dev Every account's margin, position and index snapshot.
accounts: public(HashMap[address, Account])
# @dev Collateral held for accounts, in quote (WAD): deposits less withdrawals.
total_collateral: public(uint256)
# @dev Collateral not owed to any account: rounding residue plus funding
# settled by one side and not yet by the other (quote, WAD, signed).
surplus: public(int256)


# @dev An account's funding was settled at `funding_index`.
event FundingSettled:
    account: indexed(address)
    funding_index: int256
    position: int256
    owed: int256  # quote (WAD) paid by the account; negative = received


@internal
@pure
def _owed(position: int256, snapshot: int256, index: int256) -> int256:
    """
    @dev position * (index - snapshot) / WAD, rounded toward +inf: a payer
         pays the wei fraction, a receiver forgoes it; the market keeps it.
    """
    return fixed_point._mul_div_ceil(position, index - snapshot, fixed_point.WAD)


@internal
def _settle(account: address) -> int256:
    """
    @dev Charges the account's funding up to the stored index.
    @return int256 The amount owed (negative = received).
    """
    index: int256 = funding_accrual._index()
    snapshot: int256 = self.accounts[account].index_snapshot
    if snapshot == index:
        return 0
    position: int256 = self.accounts[account].position
    owed: int256 = 0
    if position != 0:
        owed = self._owed(position, snapshot, index)
        self.accounts[account].margin -= owed
        self.surplus += owed
        log FundingSettled(account=account, funding_index=index, position=position, owed=owed)
    self.accounts[account].index_snapshot = index
    return owed


@internal
def _credit(account: address, amount: uint256):
    """
    @dev Adds deposited collateral (WAD) to a settled account.
    """
    self.accounts[account].margin += convert(amount, int256)
    self.total_collateral += amount


@internal
def _debit(account: address, amount: uint256):
    """
    @dev Removes withdrawn collateral (WAD) from a settled account.
    """
    # Margin settled from funding that payers have not settled yet is not in
    # the market's hands: it can be withdrawn once they settle.
    assert amount <= self.total_collateral, "ledger: market holds less collateral until payers settle"
    self.accounts[account].margin -= convert(amount, int256)
    self.total_collateral -= amount


@internal
def _trade(buyer: address, seller: address, size: uint256, price: uint256):
    """
    @dev Moves `size` base from seller to buyer at `price`, both settled.
         The buyer pays the notional rounded up, the seller receives it
         rounded down; the wei between stays in `surplus`.
    """
    paid: uint256 = fixed_point._wad_mul_up(size, price)
    received: uint256 = fixed_point._wad_mul_down(size, price)
    self.accounts[buyer].position += convert(size, int256)
    self.accounts[buyer].margin -= convert(paid, int256)
    self.accounts[seller].position -= convert(size, int256)
    self.accounts[seller].margin += convert(received, int256)
    self.surplus += convert(paid - received, int256)


@internal
@view
def _value(account: address, price: uint256) -> int256:
    """
    @dev margin + position * price, rounded down (in the market's favour).
    """
    position: int256 = self.accounts[account].position
    return self.accounts[account].margin + fixed_point._mul_div_floor(
        position, convert(price, int256), fixed_point.WAD
    )


@internal
@pure
def _margin_required(position: int256, price: uint256, ratio: uint256) -> int256:
    """
    @dev |position| * price * ratio, rounded up (in the market's favour).
    """
    notional: uint256 = fixed_point._wad_mul_up(convert(abs(position), uint256), price)
    return convert(fixed_point._wad_mul_up(notional, ratio), int256)
