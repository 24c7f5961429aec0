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
        Solvency: a bankrupt account's loss goes down a waterfall (docs/MATH.md
        §16): its own margin, the insurance account's positive equity, the
        side that gained from it (through that side's loss index, added to F for
        its accounts: longs settle against F + L_long, shorts against
        F - L_short, so it is charged in O(1) at each account's next
        settlement, like funding), and what no one can take is bad debt, shared
        by every account pro rata through a haircut frozen when it arises:
            total_collateral + bad_debt == sum of all margins + surplus.
        The insurance account (the market's own address) is never charged by a
        loss index: it settles against F alone, and a deficit of its own goes
        down the waterfall from the side that gained from it.
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
# @dev Per account: its margin when its position opened from flat, plus deposits
# less withdrawals since (quote, WAD). With a position open, a withdrawal must
# leave the initial margin counting at most this much: profit, realised or not,
# stays in until the position is closed (docs/MATH.md §16.3).
principal: public(HashMap[address, uint256])
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

# @dev Losses no one could take (quote, WAD), shared by every account through
# `haircut`; conservation: total_collateral + bad_debt == margins + surplus.
bad_debt: public(uint256)
# @dev While there is bad debt: the share of a margin that a withdrawal pays out
# (WAD), total_collateral / (total_collateral + bad_debt) when the bad debt last
# grew or was repaid. Frozen in between, so what each account can take out does
# not depend on who withdraws first. Read through `_haircut`.
frozen_haircut: uint256

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


# @dev A loss went down the waterfall: a liquidated account's negative margin,
# or the insurance account's own deficit (`account` = the market). Covered by
# the insurance account's equity first, then by the winning side's loss index
# (over its open interest without the insurance account's). `unbacked` is what
# neither could take (no one else on the winning side, or its loss index full):
# it is added to `bad_debt`. Amounts in quote (WAD).
# @dev The insurance account's margin paid `amount` of bad debt (quote, WAD);
# `bad_debt` is what is left.
event BadDebtRepaid:
    amount: uint256
    bad_debt: uint256


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
    index: int256 = self._side_index(account, position, funding_accrual._index())
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
def _side_index(account: address, position: int256, index: int256) -> int256:
    """
    @dev The index `account`'s position settles against: F for a flat account
         and for the insurance account (the market), F plus the longs'
         socialised loss for a long (a rise makes it pay), F less the shorts'
         for a short (a fall makes it pay).
    """
    if position == 0 or account == self:
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
def _debit(account: address, amount: uint256) -> uint256:
    """
    @dev Pays out withdrawn collateral (WAD) from a settled account.
    @return uint256 What its margin gives for it: `amount`, or with bad debt
         `amount / haircut` rounded up, whose excess pays the bad debt down.
    """
    # Margin settled from funding that payers have not settled yet is not in
    # the market's hands: it can be withdrawn once they settle.
    assert amount <= self.total_collateral, "ledger: market holds less collateral until payers settle"
    debit: uint256 = amount
    bad: uint256 = self.bad_debt
    if bad != 0:
        debit = convert(
            fixed_point._mul_div_ceil(convert(amount, int256), convert(fixed_point.WAD, int256), self.frozen_haircut),
            uint256,
        )
        repaid: uint256 = min(debit - amount, bad)
        self.bad_debt = bad - repaid
        # Rounding beyond the bad debt stays with the market.
        self.surplus += convert(debit - amount - repaid, int256)
    self.accounts[account].margin -= convert(debit, int256)
    self.total_collateral -= amount
    return debit


@internal
def _repay(amount: uint256) -> bool:
    """
    @dev Pays bad debt down with up to `amount` (WAD) of the insurance account's
         margin: collateral just paid into it, or its equity; the haircut is
         frozen anew.
    @return bool True when some bad debt was repaid.
    """
    bad: uint256 = self.bad_debt
    repaid: uint256 = min(amount, bad)
    if repaid == 0:
        return False
    self.bad_debt = bad - repaid
    self.accounts[self].margin -= convert(repaid, int256)
    self._freeze_haircut()
    log BadDebtRepaid(amount=repaid, bad_debt=bad - repaid)
    return True


@internal
def _freeze_haircut():
    """
    @dev The share of a margin a withdrawal pays out from now: collateral held
         over collateral held plus bad debt (WAD, rounded down).
    """
    total: uint256 = self.total_collateral
    self.frozen_haircut = total * fixed_point.WAD // (total + self.bad_debt)


@internal
@view
def _haircut() -> uint256:
    """
    @dev The share of a margin a withdrawal pays out (WAD): all of it without bad debt.
    """
    if self.bad_debt == 0:
        return fixed_point.WAD
    return self.frozen_haircut


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
    # A position opened from flat: the margin it opens with is its principal.
    if buyer_before == 0:
        self.principal[buyer] = convert(max(self.accounts[buyer].margin, 0), uint256)
    if seller_before == 0:
        self.principal[seller] = convert(max(self.accounts[seller].margin, 0), uint256)
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
        self.accounts[account].index_snapshot = self._side_index(account, after, index)


@internal
def _cover_shortfall(account: address, price: uint256, longs_pay: bool):
    """
    @dev Brings a liquidated (flat, settled) account's negative margin to zero:
         the insurance account's equity at `price` absorbs what it can, then
         the winning side (longs if `longs_pay`) and bad debt (`_socialise`).
    """
    margin: int256 = self.accounts[account].margin
    if margin >= 0:
        return
    shortfall: uint256 = convert(-margin, uint256)
    self.accounts[account].margin = 0
    equity: int256 = self._value(self, price)
    by_insurance: uint256 = min(shortfall, convert(max(equity, 0), uint256))
    self.accounts[self].margin -= convert(by_insurance, int256)
    self._socialise(account, shortfall, by_insurance, longs_pay, True)


@internal
def _resolve_insurance(price: uint256) -> bool:
    """
    @dev When the insurance account (the market; settled) is worth less than
         zero at `price`, its margin is raised to make it worth zero, and the
         deficit goes to the side opposite its position, which gained it (bad
         debt when it is flat). Its position stays. When it is worth more than
         zero, its equity pays bad debt down (`_repay`).
    @return bool True when there was a deficit or bad debt was repaid.
    """
    value: int256 = self._value(self, price)
    if value >= 0:
        return self._repay(convert(value, uint256))
    deficit: uint256 = convert(-value, uint256)
    self.accounts[self].margin += convert(deficit, int256)
    position: int256 = self.accounts[self].position
    self._socialise(self, deficit, 0, position < 0, position != 0)
    return True


@internal
def _socialise(account: address, shortfall: uint256, by_insurance: uint256, longs_pay: bool, has_side: bool):
    """
    @dev What is left of a loss after the insurance (`shortfall - by_insurance`,
         already added to the margins) is charged to the winning side's loss
         index, rounded up per unit so the side pays at least the loss, over
         that side's open interest without the insurance account's own; when
         there is no such side, or its loss index would overflow its half word,
         it is bad debt, and the haircut is frozen anew. Conservation holds:
         `surplus` falls by what is socialised (the side's settlements pay it
         back), `bad_debt` rises by the rest.
    """
    rest: uint256 = shortfall - by_insurance
    insurance: int256 = self.accounts[self].position
    side_interest: uint256 = self.open_interest
    if longs_pay:
        side_interest -= convert(max(insurance, 0), uint256)
    else:
        side_interest -= convert(max(-insurance, 0), uint256)
    socialised: uint256 = 0
    per_unit: uint256 = 0
    if rest > 0 and side_interest > 0 and has_side:
        per_unit = convert(
            fixed_point._mul_div_ceil(convert(rest, int256), convert(fixed_point.WAD, int256), side_interest),
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
            self.surplus -= convert(rest, int256)
        else:
            per_unit = 0
    unbacked: uint256 = rest - socialised
    if unbacked != 0:
        self.bad_debt += unbacked
        self._freeze_haircut()
    log ShortfallCovered(
        account=account,
        shortfall=shortfall,
        by_insurance=by_insurance,
        socialised=socialised,
        unbacked=unbacked,
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
