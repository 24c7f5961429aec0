"""Re-entrancy: a collateral token whose transfers call back into the market.

`deposit` and `withdraw` are `@nonreentrant`. Vyper 0.4.3 keeps one lock for the
whole contract (in transient storage under the default EVM, prague), checked on
entry by a bare `assert`: a re-entered `deposit` or `withdraw` reverts with empty
data, and the token and the outer call pass that empty revert up unchanged.
`accrue`, `settle` and `trade` are not guarded: re-entering them is shown to be
harmless, the market staying in step with the reference model."""

from dataclasses import dataclass, replace

import boa
import pytest
from boa import BoaError
from deployers import REENTRANT_TOKEN
from test_market_unit import (
    MARK,
    SCALE,
    THIRD,
    USD,
    assert_in_step,
    build_model,
    call,
    deploy_market,
    snapshot,
)

GUARDED = ("deposit", "withdraw")


@dataclass
class Rig:
    """A market on the re-entrant token: trader long against counterparty,
    both with funding pending, and the token itself holding margin."""

    d: object  # a Deployment of its own: this market, this token, its model
    trader: str
    counterparty: str

    @property
    def token(self):
        return self.d.token

    @property
    def accounts(self):
        return (self.trader, self.counterparty, self.token.address)


@pytest.fixture
def rig(deployment, trader, counterparty):
    with boa.env.prank(deployment.owner):
        token = REENTRANT_TOKEN.deploy(6)
    d = replace(
        deployment,
        token=token,
        market=deploy_market(deployment, token=token),
        model=build_model(deployment, collateral_decimals=6),
    )
    rig = Rig(d, trader, counterparty)
    for account in rig.accounts:
        d.fund(account, 20_000 * USD)
        call(d, account, "deposit", 10_000 * USD)
    call(d, d.operator, "trade", trader, counterparty, THIRD, MARK)
    d.advance(600)
    return rig


# What the armed token sends back to the market (as `msg.sender`, so the token's
# own account), and the same call on the model.
INNER = {
    "deposit": (
        lambda r: r.d.market.deposit.prepare_calldata(USD),
        lambda r: r.d.model.deposit(r.token.address, USD),
    ),
    "withdraw": (
        lambda r: r.d.market.withdraw.prepare_calldata(USD),
        lambda r: r.d.model.withdraw(r.token.address, USD),
    ),
    "settle_caller": (
        lambda r: r.d.market.settle.prepare_calldata(r.trader),
        lambda r: r.d.model.settle(r.trader),
    ),
    "settle_other": (
        lambda r: r.d.market.settle.prepare_calldata(r.counterparty),
        lambda r: r.d.model.settle(r.counterparty),
    ),
    "accrue": (
        lambda r: r.d.market.accrue.prepare_calldata(),
        lambda r: r.d.model.accrue(),
    ),
    "trade": (  # the token is made operator first
        lambda r: r.d.market.trade.prepare_calldata(r.trader, r.counterparty, THIRD, MARK),
        lambda r: r.d.model.trade(r.token.address, r.trader, r.counterparty, THIRD, MARK),
    ),
}


def arm(rig, inner):
    rig.token.arm(rig.d.market, INNER[inner][0](rig))


def books_balance(rig):
    """total_collateral == sum of margins + surplus, and the market holds it all."""
    m = rig.d.market
    margins = sum(m.accounts(a).margin for a in rig.accounts)
    assert m.total_collateral() == margins + m.surplus()
    assert rig.token.balanceOf(m) * SCALE == m.total_collateral()


# ---------------------------------------------------------------- the guard


@pytest.mark.parametrize("inner", GUARDED)
@pytest.mark.parametrize("outer", GUARDED)
def test_reentering_a_guarded_function_reverts_everything(rig, outer, inner):
    d = rig.d
    arm(rig, inner)
    before = snapshot(d, *rig.accounts)

    with pytest.raises(BoaError) as info:
        getattr(d.market, outer)(USD, sender=rig.trader)

    # the re-entered function fails its lock check on entry, with no data; the
    # token's raw_call and the outer call bubble the same empty revert (how many of
    # those frames titanoboa's trace shows depends on the code generator's source
    # map: the outermost is the market's, and every frame shown carries no data)
    frames = info.value.stack_trace
    assert "ReentrantToken" not in frames[-1].contract_repr
    assert all(f.vm_error.args == (b"",) for f in frames)
    assert rig.token.armed()  # the token's own disarm was rolled back with it

    # nothing moved, and the token is still armed: its disarm was rolled back too
    assert snapshot(d, *rig.accounts) == before
    assert rig.token.armed() and rig.token.calls_made() == 0
    books_balance(rig)
    assert_in_step(d, *rig.accounts)

    # the lock is released with the failed transaction: disarmed, the call succeeds
    rig.token.disarm()
    call(d, rig.trader, outer, USD)
    assert_in_step(d, *rig.accounts)
    books_balance(rig)


@pytest.mark.parametrize("inner", GUARDED)
def test_same_callback_outside_the_market_succeeds(rig, inner):
    """Control: the armed call itself is valid (the token has margin and an
    allowance), so the reverts above come from the lock, not from the call."""
    arm(rig, inner)
    rig.token.transfer(rig.counterparty, 1, sender=rig.trader)  # a plain transfer fires it
    INNER[inner][1](rig)
    rig.d.model.wallet[rig.trader] -= 1
    rig.d.model.wallet[rig.counterparty] += 1
    assert rig.token.calls_made() == 1 and not rig.token.armed()
    assert_in_step(rig.d, *rig.accounts)
    books_balance(rig)


# ---------------------------------------------------------------- the unguarded calls


@pytest.mark.parametrize("inner", ["settle_caller", "settle_other", "accrue", "trade"])
@pytest.mark.parametrize("outer", GUARDED)
def test_reentering_an_unguarded_function_is_harmless(rig, outer, inner):
    """Why it is safe: before it calls the token, the outer call has accrued,
    settled its caller and moved margin and total_collateral together, so the
    books already balance. Accrual is a no-op later in the same block, and
    settling moves an account's snapshot to the index, so a second settle at
    that index charges nothing: funding cannot be counted twice. Each charge
    moves margin into surplus, leaving the sum unchanged. A re-entered trade
    runs its own margin checks on the updated books; in a deposit it can lean on
    the credit before the tokens arrive, but if they never do, the whole
    transaction reverts with it. The result equals the two calls in sequence."""
    d = rig.d
    if inner == "trade":
        call(d, d.owner, "set_operator", rig.token.address)
    arm(rig, inner)

    call(d, rig.trader, outer, USD)
    INNER[inner][1](rig)

    assert rig.token.calls_made() == 1
    assert_in_step(d, *rig.accounts)
    books_balance(rig)


def test_reentrant_settle_charges_once(rig):
    """The double-count check made explicit: settle re-entered during the
    trader's deposit charges the trader nothing (already settled by the deposit),
    and the counterparty exactly what one settle would."""
    d = rig.d
    arm(rig, "settle_other")
    pending = d.market.pending_funding(rig.counterparty)
    margin = d.market.accounts(rig.counterparty).margin
    surplus = d.market.surplus()
    paid_by_trader = d.market.pending_funding(rig.trader)
    assert pending != 0 and paid_by_trader != 0

    call(d, rig.trader, "deposit", USD)

    assert d.market.accounts(rig.counterparty).margin == margin - pending
    assert d.market.surplus() == surplus + pending + paid_by_trader
    assert d.market.pending_funding(rig.counterparty) == 0
    assert d.market.settle(rig.counterparty, sender=rig.trader) == 0  # nothing left
    books_balance(rig)
