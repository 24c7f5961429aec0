"""Access control: a role x function matrix over FundingMarket, MockOracle and
CollateralToken. Each allowed role succeeds (the market in step with the model),
every other role is rejected with the exact reason and changes nothing. The
owner's functions never touch an account's margin, position or snapshot."""

from dataclasses import dataclass

import boa
import pytest
from conftest import rolled_back
from eth_utils import function_signature_to_4byte_selector
from test_market_unit import (
    MARK,
    THIRD,
    USD,
    assert_in_step,
    call,
    fresh_feed,
    reject,
    snapshot,
)
from test_volatility_market import deploy_volatility_cap

from fundingkit.market import owed
from fundingkit.rates import RateParameters

NOT_OWNER = "ownable: caller is not the owner"
NOT_OPERATOR = "market: caller is not the operator"
NOT_NEW_OWNER = "ownable_2step: caller is not the new owner"
NOT_FEEDER = "mock_oracle: caller is not the feeder"
DENIED = "erc20: access is denied"

MARKET_ROLES = ("owner", "operator", "feeder", "trader", "non_owner", "pending_owner")
ROLES = MARKET_ROLES[:-1]  # the oracle and the token have no pending owner
ANYONE = frozenset(MARKET_ROLES)
OWNER = frozenset({"owner"})

DEPOSIT = 10_000 * USD
NEW_PARAMS = RateParameters(interval=4 * 3_600, interest=-(10**14), dampener=10**15, cap=10**16)
ANSWER = 51_000 * 10**8
WAD = 10**18


@dataclass
class Stage:
    """The fixture's market with every role funded, trader long against
    counterparty, a pending owner, and spare feeds for `set_oracles`."""

    d: object
    roles: dict
    counterparty: str
    grantee: str  # an address handed a role (operator, feeder, owner, minter)
    index: tuple  # (oracle, model feed)
    mark: tuple

    @property
    def accounts(self):
        return (*self.roles.values(), self.counterparty)


@pytest.fixture(scope="module")
def _stage(_deployment_module):
    d = _deployment_module
    with rolled_back(d.model):
        roles = {"owner": d.owner, "operator": d.operator, "feeder": d.feeder}
        for name in ("trader", "non_owner", "pending_owner"):
            roles[name] = boa.env.generate_address(name)
        counterparty = boa.env.generate_address("counterparty")
        for account in (*roles.values(), counterparty):
            d.fund(account, 2 * DEPOSIT)
            call(d, account, "deposit", DEPOSIT)
        call(d, d.operator, "trade", roles["trader"], counterparty, THIRD, MARK)
        call(d, d.owner, "transfer_ownership", roles["pending_owner"])
        stage = Stage(
            d,
            roles,
            counterparty,
            boa.env.generate_address("grantee"),
            fresh_feed(d, ANSWER),
            fresh_feed(d, ANSWER + 50 * 10**8),
        )
        d.advance(600)  # funding is pending on both positions; feeds still fresh
        yield stage


@pytest.fixture
def stage(_stage):
    """The staged market, rolled back (chain and model) after each test."""
    with rolled_back(_stage.d.model):
        yield _stage


# ---------------------------------------------------------------- the market


@dataclass(frozen=True)
class Rule:
    allowed: frozenset
    reason: str | None  # what every other role gets
    chain_args: object = lambda s: ()
    model_args: object = None  # defaults to chain_args
    setup: object = None  # an owner call's name run first (pause before unpause), or f(stage)

    def prepare(self, stage):
        if callable(self.setup):
            self.setup(stage)
        elif self.setup:
            call(stage.d, stage.d.owner, self.setup)

    def args(self, stage):
        chain = self.chain_args(stage)
        return chain, (chain if self.model_args is None else self.model_args(stage))


MARKET_RULES = {
    "accrue": Rule(ANYONE, None),
    "settle": Rule(ANYONE, None, lambda s: (s.roles["trader"],)),
    "deposit": Rule(ANYONE, None, lambda s: (USD,)),
    "withdraw": Rule(ANYONE, None, lambda s: (USD,)),
    "trade": Rule(
        frozenset({"operator"}),
        NOT_OPERATOR,
        lambda s: (s.roles["trader"], s.counterparty, THIRD, MARK),
    ),
    "set_operator": Rule(OWNER, NOT_OWNER, lambda s: (s.grantee,)),
    "set_rate_parameters": Rule(
        OWNER,
        NOT_OWNER,
        lambda s: (NEW_PARAMS.interval, NEW_PARAMS.interest, NEW_PARAMS.dampener, NEW_PARAMS.cap),
        lambda s: (NEW_PARAMS,),
    ),
    "set_oracles": Rule(
        OWNER,
        NOT_OWNER,
        lambda s: (s.index[0], s.mark[0]),
        lambda s: (s.index[1], s.mark[1]),
    ),
    "set_max_age": Rule(OWNER, NOT_OWNER, lambda s: (7_200,)),
    "set_cap_source": Rule(
        OWNER,
        NOT_OWNER,
        lambda s: (s.cap_source[0].address,),
        lambda s: (s.cap_source[1],),
        setup=lambda s: volatility_cap(s),
    ),
    "set_risk_parameters": Rule(
        OWNER, NOT_OWNER, lambda s: (2 * 10**17, 10**17, 2 * 10**16, 10**16, 3_600)
    ),
    "liquidate": Rule(ANYONE, None, lambda s: (s.roles["trader"],), setup=lambda s: crash(s)),
    "unwind_insurance": Rule(ANYONE, None, lambda s: (WAD // 1_000,), setup=lambda s: bankrupt(s)),
    "fund_insurance": Rule(ANYONE, None, lambda s: (USD,)),
    "pause": Rule(OWNER, NOT_OWNER),
    "unpause": Rule(OWNER, NOT_OWNER, setup="pause"),
    "transfer_ownership": Rule(OWNER, NOT_OWNER, lambda s: (s.grantee,)),
    "accept_ownership": Rule(frozenset({"pending_owner"}), NOT_NEW_OWNER),
}


def crash(stage):
    """The index falls to 20,000: the trader's long (1/3 base bought at 50,050 on
    10,000 of margin) is below maintenance and can be liquidated."""
    stage.d.submit(index_answer=20_000 * 10**8)


def bankrupt(stage):
    """The index falls to 21,000 and the counterparty liquidates the trader (left
    with a little margin): the insurance account holds its long, for anyone to take."""
    stage.d.submit(index_answer=21_000 * 10**8)
    call(stage.d, stage.counterparty, "liquidate", stage.roles["trader"])


def volatility_cap(stage):
    """A VolatilityCap bound to the staged market, and its reference, kept on the
    stage for the call's arguments."""
    stage.cap_source = deploy_volatility_cap(stage.d)


ADMIN_FUNCTIONS = [n for n, r in MARKET_RULES.items() if r.reason in (NOT_OWNER, NOT_NEW_OWNER)]
# Those that accrue first (`unpause` does too, but its setup `pause` already did this block).
ACCRUING = {"set_rate_parameters", "set_oracles", "set_max_age", "set_cap_source", "pause"}
PERMISSIONLESS = ("accrue", "settle")  # the model's versions take no caller


def act(s, caller, name, chain_args, model_args):
    """The call on the contract and the model, which must stay in step."""
    getattr(s.d.market, name)(*chain_args, sender=caller)
    if name not in PERMISSIONLESS:
        model_args = (caller, *model_args)
    getattr(s.d.model, name)(*model_args)
    assert_in_step(s.d, *s.accounts)


@pytest.mark.parametrize("role", MARKET_ROLES)
@pytest.mark.parametrize("name", list(MARKET_RULES))
def test_market_matrix(stage, name, role):
    rule, caller = MARKET_RULES[name], stage.roles[role]
    rule.prepare(stage)
    chain_args, model_args = rule.args(stage)
    if role in rule.allowed:
        act(stage, caller, name, chain_args, model_args)
    else:
        reject(
            stage.d,
            caller,
            name,
            *chain_args,
            reason=rule.reason,
            accounts=stage.accounts,
            model_args=(caller, *model_args),
        )


@pytest.mark.parametrize("name", ADMIN_FUNCTIONS)
def test_admin_functions_never_move_accounts(stage, name):
    """Each owner function (and the pending owner's acceptance) may accrue the
    index but settles nobody: every account keeps its margin, position and
    snapshot, and the funding due stays pending."""
    d, rule = stage.d, MARKET_RULES[name]
    rule.prepare(stage)
    (caller,) = [stage.roles[role] for role in rule.allowed]
    trader = stage.roles["trader"]
    accounts = {a: tuple(d.market.accounts(a)) for a in stage.accounts}
    wallets = {a: d.token.balanceOf(a) for a in (*stage.accounts, d.market.address)}
    books = (d.market.total_collateral(), d.market.surplus())
    index = d.market.funding_index()
    assert accounts[trader][1] == THIRD and d.market.pending_funding(trader) != 0

    act(stage, caller, name, *rule.args(stage))

    assert {a: tuple(d.market.accounts(a)) for a in stage.accounts} == accounts
    assert {a: d.token.balanceOf(a) for a in wallets} == wallets
    assert (d.market.total_collateral(), d.market.surplus()) == books
    assert (d.market.funding_index() != index) == (name in ACCRUING)
    # Whatever the index now is, the trader's charge is still pending, not taken.
    snapshot_index = accounts[trader][2]
    assert d.market.pending_funding(trader) == owed(
        THIRD, snapshot_index, d.market.current_funding_index()
    )


def test_owner_reaches_positions_only_by_appointing_itself_operator(stage):
    """Trust boundary, documented: the owner cannot trade, but `set_operator`
    is owner-only, so an owner that names itself operator can then submit
    trades between any two accounts (within the band) without their consent."""
    d, trader = stage.d, stage.roles["trader"]
    trade = (trader, stage.counterparty, THIRD, MARK)
    reject(d, d.owner, "trade", *trade, reason=NOT_OPERATOR, accounts=stage.accounts)
    call(d, d.owner, "set_operator", d.owner)
    call(d, d.owner, "trade", *trade)
    assert d.market.accounts(trader).position == 2 * THIRD
    assert_in_step(d, *stage.accounts)


@pytest.mark.parametrize("contract", ["market", "index_oracle"])
def test_renounce_ownership_is_not_exposed(stage, contract):
    target = getattr(stage.d, contract)
    assert "renounce_ownership" not in {item.get("name") for item in target.abi}
    selector = function_signature_to_4byte_selector("renounce_ownership()")
    before = target.owner()
    computation = boa.env.execute_code(
        to_address=target.address, sender=stage.d.owner, data=selector
    )
    assert computation.is_error and computation.output == b""  # no such function, no fallback
    assert target.owner() == before == stage.d.owner


# ---------------------------------------------------------------- oracle and token


def oracle_state(s):
    oracle = s.d.index_oracle
    return dict(
        owner=oracle.owner(),
        feeder=oracle.feeder(),
        latest_round=oracle.latest_round(),
        latest=oracle.latestRoundData(),
    )


def token_state(s):
    token = s.d.token
    return dict(
        owner=token.owner(),
        supply=token.totalSupply(),
        grantee_balance=token.balanceOf(s.grantee),
        grantee_minter=token.is_minter(s.grantee),
    )


def round_added(before, answer, started_at, updated_at):
    new = before["latest_round"] + 1
    return dict(latest_round=new, latest=(new, answer, started_at, updated_at, new))


@dataclass(frozen=True)
class PeripheryRule:
    contract: str
    allowed: str
    reason: str
    args: object
    changes: object  # what a permitted call changes, from the state before

    def state(self, s):
        return (oracle_state if self.contract == "index_oracle" else token_state)(s)


PERIPHERY_RULES = {
    "submit": PeripheryRule(
        "index_oracle",
        "feeder",
        NOT_FEEDER,
        lambda s: (ANSWER,),
        lambda s, b: round_added(b, ANSWER, s.d.model.now, s.d.model.now),
    ),
    "submit_round": PeripheryRule(
        "index_oracle",
        "feeder",
        NOT_FEEDER,
        lambda s: (ANSWER, s.d.model.now - 5, s.d.model.now - 1),
        lambda s, b: round_added(b, ANSWER, s.d.model.now - 5, s.d.model.now - 1),
    ),
    "set_feeder": PeripheryRule(
        "index_oracle",
        "owner",
        NOT_OWNER,
        lambda s: (s.grantee,),
        lambda s, b: dict(feeder=s.grantee),
    ),
    "transfer_ownership": PeripheryRule(
        "index_oracle",
        "owner",
        NOT_OWNER,
        lambda s: (s.grantee,),
        lambda s, b: dict(owner=s.grantee),  # one step: the oracle is plain ownable
    ),
    "mint": PeripheryRule(
        "token",
        "owner",  # the deployer is the only minter
        DENIED,
        lambda s: (s.grantee, 7),
        lambda s, b: dict(supply=b["supply"] + 7, grantee_balance=7),
    ),
    "set_minter": PeripheryRule(
        "token",
        "owner",
        NOT_OWNER,
        lambda s: (s.grantee, True),
        lambda s, b: dict(grantee_minter=True),
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(PERIPHERY_RULES))
def test_oracle_and_token_matrix(stage, name, role):
    rule = PERIPHERY_RULES[name]
    function = getattr(getattr(stage.d, rule.contract), name)
    caller, args = stage.roles[role], rule.args(stage)
    before = rule.state(stage)
    if role == rule.allowed:
        function(*args, sender=caller)
        assert rule.state(stage) == before | rule.changes(stage, before)
    else:
        with boa.reverts(rule.reason):
            function(*args, sender=caller)
        assert rule.state(stage) == before


def test_matrix_covers_every_state_changing_function(stage):
    """The tables above list every non-view external function."""

    def mutating(contract):
        return {
            item["name"]
            for item in contract.abi
            if item.get("type") == "function" and item["stateMutability"] not in ("view", "pure")
        }

    d = stage.d
    assert mutating(d.market) == set(MARKET_RULES)
    oracle_rules = {n for n, r in PERIPHERY_RULES.items() if r.contract == "index_oracle"}
    assert mutating(d.index_oracle) == oracle_rules
    # The token is snekmate's erc20: only its two role-gated functions are in scope.
    assert {n for n, r in PERIPHERY_RULES.items() if r.contract == "token"} <= mutating(d.token)


def test_snapshot_sees_the_staged_positions(stage):
    """Guards the fixture: the matrix runs against live positions and a pending owner."""
    s = snapshot(stage.d, *stage.accounts)
    assert s["pending_owner"] == str(stage.roles["pending_owner"]).lower()
    assert s["accounts"][stage.counterparty][1] == -THIRD
    assert stage.d.market.pending_funding(stage.roles["trader"]) != 0
    assert NEW_PARAMS.rejection() is None
