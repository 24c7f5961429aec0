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
        Loss socialisation: when a liquidation leaves a shortfall that the
        insurance account cannot absorb, the side that gained from the loss
        pays it through its own loss index, added to F for its accounts
        (longs settle against F + L_long, shorts against F - L_short), so it
        is charged in O(1) at each account's next settlement, like funding.
"""


from . import fixed_point
from . import packed_word
from . import funding_accrual
uses: funding_accrual


struct Account:
    margin: int256  # quote (WAD); negative once funding exceeds it
    position: int256  # base (WAD); positive = long
    index_snapshot: int256  # the side's index (see `_side_index`) at the last settlement


# @dev Every account's margin, position and index snapshot.
accounts: public(HashMap[address, Account])
# @dev Collateral held for accounts, in quote (WAD): deposits less withdrawals.
total_collateral: public(uint256)
# @dev Collateral not owed to any account: rounding residue plus funding
# settled by one side and not yet by the other (quote, WAD, signed).
surplus: public(int256)


# @dev The losses socialised so far per unit of base, one per side (WAD quote
# per base, >= 0, below 2**127): L_long in the high half, L_short in the low.
packed_losses: uint256
# @dev The sum of all long positions, equal to the sum of all short sizes
# (base, WAD): the size across which a loss is socialised.
open_interest: public(uint256)

# @dev The largest a side's loss index may reach (it is packed in 128 bits).
MAX_LOSS_INDEX: constant(int256) = 2**127 - 1
# @dev The most collateral the market holds (WAD quote: 1e39 quote). With
# positions at most 1e12 base and prices at most 1e36 WAD, no margin can then
# come near int256's range, whatever funding or socialised loss it settles.
MAX_COLLATERAL: constant(uint256) = 10**57


# @dev An account's funding was settled at `funding_index` (its side's index:
# F, plus the longs' or less the shorts' socialised losses).
event FundingSettled:
    account: indexed(address)
    funding_index: int256
    position: int256
    owed: int256  # quote (WAD) paid by the account; negative = received


# @dev A liquidated account's negative margin was covered: by the insurance
# account's equity first, then by the winning side's loss index. `unbacked` is
# what neither could cover (the winning side had no open interest, or its loss
# index is full); it stays a negative part of `surplus`. Amounts in quote (WAD).
event ShortfallCovered:
    account: indexed(address)
    shortfall: uint256
    by_insurance: uint256
    socialised: uint256
    unbacked: uint256
    longs_pay: bool  # the side charged: True = longs, False = shorts
    loss_per_unit: uint256  # added to that side's loss index (WAD quote per base)


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
    position: int256 = self.accounts[account].position
    index: int256 = self._side_index(position, funding_accrual._index())
    snapshot: int256 = self.accounts[account].index_snapshot
    if snapshot == index:
        return 0
    owed: int256 = 0
    if position != 0:
        owed = self._owed(position, snapshot, index)
        self.accounts[account].margin -= owed
        self.surplus += owed
        log FundingSettled(account=account, funding_index=index, position=position, owed=owed)
    self.accounts[account].index_snapshot = index
    return owed


@internal
@view
def _side_index(position: int256, index: int256) -> int256:
    """
    @dev The index a position settles against: F for a flat account, F plus
         the longs' socialised loss for a long (a rise makes it pay), F less the
         shorts' for a short (a fall makes it pay).
    """
    if position == 0:
        return index
    losses: uint256 = self.packed_losses
    if position > 0:
        return index + packed_word._high(losses)
    return index - packed_word._low(losses)


@internal
def _credit(account: address, amount: uint256):
    """
    @dev Adds deposited collateral (WAD) to a settled account.
    """
    assert amount <= MAX_COLLATERAL - self.total_collateral, "ledger: collateral above the market's limit of 1e39"
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
    buyer_before: int256 = self.accounts[buyer].position
    seller_before: int256 = self.accounts[seller].position
    buyer_after: int256 = buyer_before + convert(size, int256)
    seller_after: int256 = seller_before - convert(size, int256)
    self.accounts[buyer].position = buyer_after
    self.accounts[buyer].margin -= convert(paid, int256)
    self.accounts[seller].position = seller_after
    self.accounts[seller].margin += convert(received, int256)
    self.surplus += convert(paid - received, int256)
    # Open interest: the long sizes' sum moves by each account's change of long size.
    self.open_interest = convert(
        convert(self.open_interest, int256)
        + max(buyer_after, 0) - max(buyer_before, 0)
        + max(seller_after, 0) - max(seller_before, 0),
        uint256,
    )
    # An account that changed side settles against the other side's index from now.
    index: int256 = funding_accrual._index()
    self._resnapshot(buyer, buyer_before, buyer_after, index)
    self._resnapshot(seller, seller_before, seller_after, index)


@internal
def _resnapshot(account: address, before: int256, after: int256, index: int256):
    """
    @dev After a settled account's position moved from `before` to `after`:
         if it is now on another side, its snapshot becomes that side's index.
    """
    if after != 0 and (before == 0 or (before > 0) != (after > 0)):
        self.accounts[account].index_snapshot = self._side_index(after, index)


@internal
def _cover_shortfall(account: address, insurance: address, price: uint256, longs_pay: bool):
    """
    @dev Brings a liquidated (flat, settled) account's negative margin to zero:
         the insurance account's equity at `price` absorbs what it can, the
         winning side's loss index takes the rest, rounded up per unit so the
         side pays at least the loss. Conservation holds: the margins' sum
         rises by what the insurance did not absorb and `surplus` falls by it;
         the winning side's settlements pay it back into `surplus`.
    """
    margin: int256 = self.accounts[account].margin
    if margin >= 0:
        return
    shortfall: uint256 = convert(-margin, uint256)
    self.accounts[account].margin = 0
    equity: int256 = self._value(insurance, price)
    by_insurance: uint256 = min(shortfall, convert(max(equity, 0), uint256))
    self.accounts[insurance].margin -= convert(by_insurance, int256)
    rest: uint256 = shortfall - by_insurance
    self.surplus -= convert(rest, int256)

    socialised: uint256 = 0
    per_unit: uint256 = 0
    open_interest: uint256 = self.open_interest
    if rest > 0 and open_interest > 0:
        per_unit = convert(
            fixed_point._mul_div_ceil(convert(rest, int256), convert(fixed_point.WAD, int256), open_interest),
            uint256,
        )
        losses: uint256 = self.packed_losses
        long_loss: int256 = packed_word._high(losses)
        short_loss: int256 = packed_word._low(losses)
        side_loss: int256 = short_loss
        if longs_pay:
            side_loss = long_loss
        # A side whose loss index would overflow its half word takes no more.
        if convert(per_unit, int256) <= MAX_LOSS_INDEX - side_loss:
            socialised = rest
            if longs_pay:
                long_loss += convert(per_unit, int256)
            else:
                short_loss += convert(per_unit, int256)
            self.packed_losses = packed_word._pack_pair(long_loss, short_loss)
        else:
            per_unit = 0
    log ShortfallCovered(
        account=account,
        shortfall=shortfall,
        by_insurance=by_insurance,
        socialised=socialised,
        unbacked=rest - socialised,
        longs_pay=longs_pay,
        loss_per_unit=per_unit,
    )


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
