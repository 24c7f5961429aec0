"""The pause table of docs/SECURITY.md: every external function of FundingMarket
while the market is paused, on the contract and the reference in step.

Pausing stops what opens or grows risk: a trade (or taking the insurance
account's position) in which an account other than the vault grows its
exposure. Since liquidation goes on while paused, everything that lowers risk
keeps working too: deposits, trades that reduce, taking the insurance's
position to reduce one's own, accrual, settlement, withdrawal of free margin,
liquidation, insurance funding, the owner's setters and unpausing, ownership
transfer, every view. A withdrawal with a position still needs a usable index
reading and must leave the initial margin, paused or not: so a flat account can
always leave, an account with a position can take out its free margin while the
index answers, and it can always close or add margin before it is liquidated.

Each row is one call from the same paused market; a row that works must change
the market's state, exactly as the reference says. A new external function
fails `test_table_covers_every_state_changing_function` until its row is added.
"""

from collections.abc import Callable
from dataclasses import dataclass

import boa
import pytest
from conftest import rolled_back
from test_market_unit import (
    MARK,
    MAX_AGE,
    THIRD,
    USD,
    assert_in_step,
    call,
    events,
    fresh_feed,
    reject,
    snapshot,
)
from test_volatility_market import deploy_volatility_cap

from fundingkit.feeds import FeedStatus
from fundingkit.market import owed
from fundingkit.rates import RateParameters, funding_delta, project

PAUSED = "pausable: contract is paused"
REDUCE_ONLY = "market: only trades that reduce (paused or bad debt)"
NEW_PARAMS = RateParameters(interval=4 * 3_600, interest=-(10**14), dampener=10**15, cap=10**16)
DEPOSIT = 10_000 * USD


@dataclass
class Stage:
    """The fixture's market, paused, with `long` long 1/3 base against `short`
    (10,000 of margin each), a `flat` account with margin only, a funded
    `newcomer`, a pending owner, and spare fresh feeds for `set_oracles`."""

    d: object
    roles: dict
    index: tuple  # (oracle, model feed)
    mark: tuple

    @property
    def accounts(self):
        return tuple(self.roles.values())


@pytest.fixture(scope="module")
def _stage(_deployment_module):
    d = _deployment_module
    with rolled_back(d.model):
        roles = {"owner": d.owner, "operator": d.operator, "feeder": d.feeder}
        names = ("keeper", "long", "short", "flat", "newcomer", "pending_owner", "grantee")
        roles |= {name: boa.env.generate_address(name) for name in names}
        for name in ("long", "short", "flat"):
            d.fund(roles[name], DEPOSIT)
            call(d, roles[name], "deposit", DEPOSIT)
        d.fund(roles["newcomer"], DEPOSIT)
        call(d, d.operator, "trade", roles["long"], roles["short"], THIRD, MARK)
        call(d, d.owner, "transfer_ownership", roles["pending_owner"])
        stage = Stage(d, roles, fresh_feed(d, 51_000 * 10**8), fresh_feed(d, 51_050 * 10**8))
        d.advance(600)
        call(d, d.owner, "pause")
        d.advance(600)  # funding is pending on both positions; feeds still fresh
        yield stage


@pytest.fixture
def stage(_stage):
    """The paused market, rolled back (chain and model) after each test."""
    with rolled_back(_stage.d.model):
        yield _stage


# ---------------------------------------------------------------- situations a row can need


def crash(s):
    """The index falls to 20,000: the long (1/3 base bought at 50,050 on 10,000
    of margin) is below maintenance margin."""
    s.d.submit(20_000 * 10**8, 20_000 * 10**8)


def crash_and_liquidate(s):
    """The long is liquidated while paused: the insurance account holds its long."""
    crash(s)
    call(s.d, s.roles["keeper"], "liquidate", s.roles["long"])


def stale(s):
    """Both feeds' latest answers become older than max_age."""
    s.d.advance(MAX_AGE + 1)


def crash_then_stale(s):
    crash(s)
    stale(s)


def volatility_cap(s):
    """A VolatilityCap bound to the market, and its reference, kept on the stage."""
    s.cap_source = deploy_volatility_cap(s.d)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    function: str
    caller: str  # a role of the stage
    reason: str | None  # None: works while paused
    args: Callable = lambda s: ()
    model_args: Callable | None = None  # defaults to args
    setup: Callable | None = None
    label: str = ""

    @property
    def id(self):
        return f"{self.function}{' ' + self.label if self.label else ''}"


def _role(name):
    return lambda s: (s.roles[name],)


PAUSE_TABLE = [
    Row("accrue", "keeper", None),
    Row("settle", "keeper", None, _role("long")),
    Row("settle", "keeper", None, _role("long"), setup=stale, label="with stale feeds"),
    Row("deposit", "newcomer", None, lambda s: (DEPOSIT,), label="adds margin"),
    Row(
        "deposit",
        "long",
        None,
        lambda s: (DEPOSIT,),
        setup=lambda s: s.d.fund(s.roles["long"], DEPOSIT),
        label="adds margin to a position",
    ),
    Row("deposit", "newcomer", "market: amount is zero", lambda s: (0,), label="of zero"),
    Row("withdraw", "flat", None, lambda s: (DEPOSIT,), label="flat, all of it"),
    Row(
        "withdraw", "flat", None, lambda s: (DEPOSIT,), setup=stale, label="flat, with stale feeds"
    ),
    Row("withdraw", "long", None, lambda s: (1_000 * USD,), label="free margin, with a position"),
    Row(
        "withdraw",
        "long",
        "market: withdrawal leaves margin below initial",
        lambda s: (9_000 * USD,),
        label="below initial margin, with a position",
    ),
    Row(
        "withdraw",
        "long",
        "price_feed: index answer stale",
        lambda s: (USD,),
        setup=stale,
        label="with a position, stale index",
    ),
    Row(
        "trade",
        "operator",
        None,
        lambda s: (s.roles["short"], s.roles["long"], THIRD, MARK),
        label="one that closes both positions",
    ),
    Row(
        "trade",
        "operator",
        None,
        lambda s: (s.roles["short"], s.roles["long"], THIRD // 2, MARK),
        label="one that reduces both positions",
    ),
    Row(
        "trade",
        "operator",
        REDUCE_ONLY,
        lambda s: (s.roles["long"], s.roles["flat"], THIRD // 10, MARK),
        label="one that grows a position",
    ),
    Row(
        "trade",
        "operator",
        REDUCE_ONLY,
        lambda s: (s.roles["short"], s.roles["long"], THIRD + THIRD // 10, MARK),
        label="one that flips a side",
    ),
    Row(
        "trade",
        "keeper",
        "market: caller is not the operator",
        lambda s: (s.roles["short"], s.roles["long"], THIRD, MARK),
        label="by another caller: the operator check comes first",
    ),
    Row("liquidate", "keeper", None, _role("long"), setup=crash, label="below maintenance"),
    Row(
        "liquidate",
        "keeper",
        "market: account is above maintenance margin",
        _role("long"),
        label="above maintenance",
    ),
    Row(
        "liquidate",
        "keeper",
        "price_feed: index answer stale",
        _role("long"),
        setup=crash_then_stale,
        label="stale index",
    ),
    Row(
        "unwind_insurance",
        "short",
        None,
        lambda s: (THIRD // 2,),
        setup=crash_and_liquidate,
        label="by a short that reduces",
    ),
    Row(
        "unwind_insurance",
        "flat",
        REDUCE_ONLY,
        lambda s: (THIRD // 10,),
        setup=crash_and_liquidate,
        label="by a flat account that would open",
    ),
    Row("fund_insurance", "newcomer", None, lambda s: (DEPOSIT,)),
    Row("set_operator", "owner", None, _role("grantee")),
    Row(
        "set_rate_parameters",
        "owner",
        None,
        lambda s: (NEW_PARAMS.interval, NEW_PARAMS.interest, NEW_PARAMS.dampener, NEW_PARAMS.cap),
        lambda s: (NEW_PARAMS,),
    ),
    Row(
        "set_oracles",
        "owner",
        None,
        lambda s: (s.index[0], s.mark[0]),
        lambda s: (s.index[1], s.mark[1]),
    ),
    Row("set_max_age", "owner", None, lambda s: (7_200,)),
    Row(
        "set_cap_source",
        "owner",
        None,
        lambda s: (s.cap_source[0].address,),
        lambda s: (s.cap_source[1],),
        setup=volatility_cap,
        label="a VolatilityCap",
    ),
    Row(
        "set_cap_source",
        "owner",
        None,
        lambda s: ("0x" + "00" * 20,),
        lambda s: (None,),
        label="back to a fixed cap",
    ),
    Row(
        "set_risk_parameters",
        "owner",
        None,
        lambda s: (2 * 10**17, 10**17, 2 * 10**16, 10**16, 3_600),
    ),
    Row("pause", "owner", PAUSED),
    Row("unpause", "owner", None),
    Row("transfer_ownership", "owner", None, _role("grantee")),
    Row("accept_ownership", "pending_owner", None),
]
PERMISSIONLESS = ("accrue", "settle")  # the model's versions take no caller


@pytest.mark.parametrize("row", PAUSE_TABLE, ids=lambda r: r.id)
def test_while_paused(stage, row):
    d = stage.d
    assert d.market.paused() and d.model.paused
    if row.setup:
        row.setup(stage)
    caller = stage.roles[row.caller]
    args = row.args(stage)
    model_args = args if row.model_args is None else row.model_args(stage)
    if row.function not in PERMISSIONLESS:
        model_args = (caller, *model_args)
    if row.reason is not None:
        reject(
            d,
            caller,
            row.function,
            *args,
            reason=row.reason,
            accounts=stage.accounts,
            model_args=model_args,
        )
        assert d.market.paused()
        return
    before = snapshot(d, *stage.accounts)
    getattr(d.market, row.function)(*args, sender=caller)
    getattr(d.model, row.function)(*model_args)
    assert snapshot(d, *stage.accounts) != before  # it did something ...
    assert_in_step(d, *stage.accounts)  # ... exactly what the reference does
    insurance = d.model.account(d.market.address)
    expected = (insurance.margin, insurance.position, insurance.index_snapshot)
    assert tuple(d.market.accounts(d.market.address)) == expected
    assert d.market.paused() == (row.function != "unpause")


def test_table_covers_every_state_changing_function(stage):
    mutating = {
        item["name"]
        for item in stage.d.market.abi
        if item.get("type") == "function" and item["stateMutability"] not in ("view", "pure")
    }
    assert mutating == {row.function for row in PAUSE_TABLE}


def test_every_view_works_while_paused(stage):
    """Every view answers while paused (with stale feeds too), and those the
    reference has agree with it."""
    d, long = stage.d, stage.roles["long"]
    stale(stage)
    mirrored = {
        "current_funding_index",
        "current_rate",
        "next_rate",
        "premium_average",
        "total_margin",
        "pending_funding",
        "projected_margin",
    }
    seen = set()
    for item in d.market.abi:
        if item.get("type") != "function" or item["stateMutability"] not in ("view", "pure"):
            continue
        name, inputs = item["name"], [i["type"] for i in item["inputs"]]
        if inputs == ["address"]:
            args = (long,)
        elif inputs == []:
            args = ()
        else:
            pytest.fail(f"no arguments chosen for the view {name}{inputs}")
        value = getattr(d.market, name)(*args)
        if name in mirrored:
            assert value == getattr(d.model, name)(*args), name
            seen.add(name)
    assert seen == mirrored


def test_a_flat_account_can_always_leave(stage):
    """Paused, with both feeds stale: a flat account still withdraws every
    token it holds, settling first (its funding from a position it closed
    before the pause included)."""
    d, flat = stage.d, stage.roles["flat"]
    stale(stage)
    call(d, flat, "withdraw", DEPOSIT)
    assert d.token.balanceOf(flat) == DEPOSIT and d.market.accounts(flat).margin == 0
    assert_in_step(d, *stage.accounts)


def test_an_account_with_a_position_can_reduce_and_add_margin_while_paused(stage):
    """Paused, and liquidation goes on: the long can add margin, take out free
    margin and close its position; the whole margin can then leave. Growing
    the position again is refused until unpaused."""
    d, long, short = stage.d, stage.roles["long"], stage.roles["short"]
    d.fund(long, DEPOSIT)
    call(d, long, "deposit", DEPOSIT)
    call(d, long, "withdraw", 1_000 * USD)
    reopen = (long, short, THIRD // 10, MARK)
    call(d, d.operator, "trade", short, long, THIRD, MARK)
    margin = d.market.accounts(long).margin
    assert d.market.accounts(long).position == 0 and margin > 0
    call(d, long, "withdraw", margin // 10**12)
    reject(d, d.operator, "trade", *reopen, reason=REDUCE_ONLY, accounts=stage.accounts)
    call(d, d.owner, "unpause")
    d.fund(long, DEPOSIT)
    call(d, long, "deposit", DEPOSIT)
    call(d, d.operator, "trade", *reopen)
    assert_in_step(d, *stage.accounts)


def test_funding_keeps_accruing_while_paused(stage):
    """A pause is no funding holiday: across a paused stretch (feeds stale, so
    the samples held at the pause stand), the index moves as one gap with those
    samples would move it, but for the one wei `unpause`'s own accrual can
    truncate, and the long pays exactly its position times that move."""
    d, long = stage.d, stage.roles["long"]
    m, model = d.market, d.model
    t0, index0, state0 = m.last_accrual(), m.funding_index(), model.interval_state
    held = (m.sampled_price(), m.sampled_premium())
    snapshot_before = m.accounts(long).index_snapshot
    d.advance(3 * 3_600)
    call(d, d.owner, "unpause")
    assert events("Accrued")[0].index_status == FeedStatus.STALE
    d.advance(10 * 3_600)
    paid, _ = call(d, stage.roles["keeper"], "settle", long)
    assert_in_step(d, *stage.accounts)
    rate_time, _ = project(model.params, state0, held[1], t0, model.now)
    one_gap = index0 + funding_delta(held[0], rate_time, model.params.interval)
    assert 0 <= one_gap - m.funding_index() <= 1
    assert paid == owed(THIRD, snapshot_before, m.funding_index()) > 0
