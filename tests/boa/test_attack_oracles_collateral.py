"""Adversarial review, oracles and collateral tokens: feeds that answer malformed data,
burn their gas or sit at the edges of the envelope, and collateral tokens that charge
fees, return no data, return false, move nothing or shrink under the market.

Each test pins one attack. Where the market defends, the test asserts the defence
(the documented revert reason, nothing stuck, the books balanced to the wei, the
contract in step with the reference). The one finding of this review (feeds that
burn their gas locked the market) is fixed; its test asserts the safe behaviour and
SECURITY.md §6 names it. Where a token breaks the market by design of the token,
the test pins what happens and says so: those are bounds to document, not defects
of the market.
"""

from dataclasses import dataclass, field
from pathlib import Path

import boa
import pytest
from conftest import deploy
from deployers import FEE_TOKEN, ORACLE
from test_market_unit import (
    MARK,
    SCALE,
    USD,
    WAD,
    assert_in_step,
    call,
    deploy_market,
    events,
    fund_and_deposit,
    record,
    reject,
)

from fundingkit.feeds import (
    MAX_FEED_DECIMALS,
    MAX_PRICE,
    FeedStatus,
    MockFeed,
    Reading,
    Round,
    read_round,
)
from fundingkit.market import MAX_COLLATERAL

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
ATTACK_FEED = boa.load_partial(str(CONTRACTS / "AttackFeed.vy"))
ATTACK_TOKEN = boa.load_partial(str(CONTRACTS / "AttackToken.vy"))
NO_RETURN_TOKEN = boa.load_partial(str(CONTRACTS / "AttackNoReturnToken.vy"))

INDEX_ANSWER = 50_000 * 10**8
MARK_ANSWER = 50_050 * 10**8
ANSWERS = {"index": INDEX_ANSWER, "mark": MARK_ANSWER}
OTHER = {"index": "mark", "mark": "index"}
MARGIN = 20_000  # USD per account
BLOCK_GAS_LIMIT = 30_000_000  # Ethereum's block gas limit (36M since 2025: same verdict)
ROUND_BITS = 80

ANSWER, REVERT, BURN = 0, 1, 2  # AttackFeed modes
BEHAVES, RETURNS_FALSE, MOVES_NOTHING, FEE_ON_TOP = 0, 1, 2, 3  # AttackToken modes

TRANSFER_IN_FAILED = "market: transfer in failed"
TRANSFER_OUT_FAILED = "market: transfer out failed"
NOTHING_ARRIVED = "market: no collateral arrived"
AMOUNT_LIMIT = "market: amount above the collateral limit of 1e39"
COLLATERAL_LIMIT = "ledger: collateral above the market's limit of 1e39"
INSUFFICIENT = "erc20: transfer amount exceeds balance"

KEEPER = boa.env.generate_address("oracle attack keeper")


def named(*names):
    return [boa.env.generate_address(name) for name in names]


def word(value: int) -> bytes:
    return (value % 2**256).to_bytes(32, "big")


def words(*values: int) -> bytes:
    return b"".join(word(v) for v in values)


# ---------------------------------------------------------------- hostile feeds


DECIMALS_SELECTOR = bytes.fromhex("313ce567")


def raw_runtime(latest: bytes, decimals: bytes) -> bytes:
    """EVM code answering `decimals()` with exactly the bytes `decimals` and any
    other call (`latestRoundData()`) with exactly the bytes `latest`: a feed whose
    answers may be any length, which no Vyper 0.4.3 contract can return."""
    code = bytearray(bytes.fromhex("60003560e01c63") + DECIMALS_SELECTOR + bytes.fromhex("14"))
    code += bytes.fromhex("610000" + "57")  # PUSH2 <decimals branch> JUMPI
    jump = len(code) - 3
    patches = []
    for blob in (latest, decimals):
        if blob is decimals:
            code[jump : jump + 2] = len(code).to_bytes(2, "big")
            code += bytes.fromhex("5b")  # JUMPDEST
        # CODECOPY(0, <offset>, len); RETURN(0, len)
        code += bytes.fromhex("61") + len(blob).to_bytes(2, "big") + bytes.fromhex("610000600039")
        patches.append(len(code) - 5)
        code += bytes.fromhex("61") + len(blob).to_bytes(2, "big") + bytes.fromhex("6000f3")
    offset = len(code)
    for at, blob in zip(patches, (latest, decimals), strict=True):
        code[at : at + 2] = offset.to_bytes(2, "big")
        offset += len(blob)
    return bytes(code) + latest + decimals


@dataclass
class AttackRef:
    """The reference's copy of an AttackFeed (tests/contracts/AttackFeed.vy), or of
    the raw code a test put at its address: price_feed's reading rules, applied to
    the bytes the feed answers."""

    round_id: int = 0
    answer: int = 0
    started_at: int = 0
    updated_at: int = 0
    answered_in_round: int = 0
    decimals: int = 8
    burns: bool = False
    raw: tuple[bytes, bytes] | None = field(default=None)  # (latest, decimals) answers

    def answers(self) -> tuple[bytes, bytes]:
        if self.raw is not None:
            return self.raw
        rnd = (self.round_id, self.answer, self.started_at, self.updated_at)
        return words(*rnd, self.answered_in_round), word(self.decimals)

    def read(self, now: int, max_age: int) -> Reading:
        if self.burns:
            return Reading(0, 0, FeedStatus.CALL_FAILED)
        latest, decimals = self.answers()
        if len(latest) < 160:
            return Reading(0, 0, FeedStatus.CALL_FAILED)
        # A longer answer is cut to its first 160 bytes (raw_call's max_outsize).
        fields = [int.from_bytes(latest[i : i + 32], "big") for i in range(0, 160, 32)]
        round_id, answer, started_at, updated_at, answered_in_round = fields
        answer -= 2**256 if answer >= 2**255 else 0
        if max(round_id, answered_in_round) >= 2**ROUND_BITS:
            return Reading(0, 0, FeedStatus.CALL_FAILED)
        if len(decimals) < 32:
            return Reading(0, round_id, FeedStatus.CALL_FAILED)
        dec = int.from_bytes(decimals[:32], "big")
        if dec <= MAX_FEED_DECIMALS and answer > 0 and answered_in_round < round_id:
            return Reading(0, round_id, FeedStatus.INCOMPLETE)
        return read_round(round_id, Round(answer, started_at, updated_at), dec, now, max_age)


@dataclass
class Feed:
    """An AttackFeed on the chain and its copy in the reference."""

    oracle: object
    ref: AttackRef

    def set_round(self, round_id, answer, started_at, updated_at, answered_in_round):
        self.oracle.set_round(round_id, answer, started_at, updated_at, answered_in_round)
        r = self.ref
        r.round_id, r.answer, r.started_at, r.updated_at = round_id, answer, started_at, updated_at
        r.answered_in_round = answered_in_round

    def answer_now(self, answer: int, now: int):
        """A new complete round, fresh."""
        self.set_round(self.ref.round_id + 1, answer, now, now, self.ref.round_id + 1)

    def set_decimals(self, decimals: int):
        self.oracle.set_decimals(decimals)
        self.ref.decimals = decimals

    def burn(self, latest: bool, decimals: bool):
        self.oracle.set_modes(BURN if latest else ANSWER, BURN if decimals else ANSWER)
        self.ref.burns = latest or decimals

    def answer_raw(self, latest: bytes, decimals: bytes):
        """From now on the feed's address answers exactly these bytes."""
        boa.env.set_code(self.oracle.address, raw_runtime(latest, decimals))
        self.ref.raw = (latest, decimals)


def attack_feed(d, answer: int, decimals: int = 8) -> Feed:
    with boa.env.prank(d.owner):
        feed = Feed(ATTACK_FEED.deploy(decimals), AttackRef(decimals=decimals))
    feed.answer_now(answer, d.model.now)
    return feed


def set_oracles(d, index, mark):
    """The owner points the market at (oracle, reference feed) pairs."""
    d.market.set_oracles(index[0], mark[0], sender=d.owner)
    record(d.market)
    d.model.set_oracles(d.owner, index[1], mark[1])


def fresh_mock_oracles(d):
    """Two new healthy MockOracles answering the fixture's prices now."""
    pairs = {}
    for which, answer in ANSWERS.items():
        with boa.env.prank(d.owner):
            oracle = ORACLE.deploy(8, which, d.feeder)
        oracle.submit(answer, sender=d.feeder)
        feed = MockFeed(8)
        feed.submit(answer, d.model.now)
        pairs[which] = (oracle, feed)
    return pairs


def in_step(d, *accounts):
    """Contract and reference agree on every account, the insurance account and
    the solvency state."""
    assert_in_step(d, *accounts)
    m, model = d.market, d.model
    insurance = model.account(m.address)
    assert tuple(m.accounts(m.address)) == (
        insurance.margin,
        insurance.position,
        insurance.index_snapshot,
    )
    assert (m.bad_debt(), m.haircut()) == (model.bad_debt, model.haircut())
    for a in (*accounts, m.address):
        assert m.principal(a) == model.principal.get(a, 0)


def books(market, token, scale, *accounts):
    """Tokens held == total_collateral; total_collateral + bad_debt == margins +
    surplus; positions sum to zero."""
    everyone = {*accounts, KEEPER, market.address}
    margins = sum(market.accounts(a)[0] for a in everyone)
    assert token.balanceOf(market) * scale == market.total_collateral()
    assert market.total_collateral() + market.bad_debt() == margins + market.surplus()
    assert sum(market.accounts(a)[1] for a in everyone) == 0


# ---------------------------------------------------------------- the stage


@dataclass
class Stage:
    """The fixture's market on two AttackFeeds: `long` long one base against
    `short`, a `flat` account with margin only and a funded `newcomer`."""

    d: object
    feeds: dict
    long: str
    short: str
    flat: str
    newcomer: str

    @property
    def accounts(self):
        return (self.long, self.short, self.flat, self.newcomer, KEEPER)

    def check(self):
        in_step(self.d, *self.accounts)
        books(self.d.market, self.d.token, SCALE, *self.accounts)


@pytest.fixture
def stage(deployment):
    d = deployment
    feeds = {which: attack_feed(d, answer) for which, answer in ANSWERS.items()}
    set_oracles(d, *((f.oracle, f.ref) for f in feeds.values()))
    long, short, flat, newcomer = named("long", "short", "flat", "newcomer")
    for account in (long, short, flat):
        fund_and_deposit(d, account, MARGIN)
    d.fund(newcomer, 2_000 * USD)
    call(d, d.operator, "trade", long, short, WAD, MARK)
    s = Stage(d, feeds, long, short, flat, newcomer)
    s.check()
    return s


def good_round(now: int, which: str, round_id: int = 7) -> bytes:
    return words(round_id, ANSWERS[which], now, now, round_id)


# Each malformed answer: (what the feed does, the status it reads as, the reason).
UNREADABLE = (FeedStatus.CALL_FAILED, "feed unreadable")
MALFORMED = {
    "latestRoundData answers 159 bytes": (
        lambda f, now, w: f.answer_raw(good_round(now, w)[:159], word(8)),
        UNREADABLE,
    ),
    "latestRoundData answers nothing": (lambda f, now, w: f.answer_raw(b"", word(8)), UNREADABLE),
    "decimals answers 31 bytes": (
        lambda f, now, w: f.answer_raw(good_round(now, w), word(8)[1:]),
        UNREADABLE,
    ),
    "decimals answers nothing": (
        lambda f, now, w: f.answer_raw(good_round(now, w), b""),
        UNREADABLE,
    ),
    "decimals 264 (a uint8 with dirty high bits)": (
        lambda f, now, w: f.answer_raw(good_round(now, w), word(8 + 2**8)),
        UNREADABLE,
    ),
    "decimals 2**256 - 1": (lambda f, now, w: f.set_decimals(2**256 - 1), UNREADABLE),
    "answer -2**255": (
        lambda f, now, w: f.set_round(9, -(2**255), now, now, 9),
        (FeedStatus.NOT_POSITIVE, "answer not positive"),
    ),
    "updatedAt 2**256 - 1": (
        lambda f, now, w: f.set_round(9, ANSWERS[w], now, 2**256 - 1, 9),
        (FeedStatus.FROM_FUTURE, "round from the future"),
    ),
    "latestRoundData burns its gas": (lambda f, now, w: f.burn(True, False), UNREADABLE),
    "decimals burns its gas": (lambda f, now, w: f.burn(False, True), UNREADABLE),
}


@pytest.mark.parametrize("which", ["index", "mark"])
@pytest.mark.parametrize("fault", list(MALFORMED))
def test_a_malformed_answer_is_only_a_faulty_reading(stage, fault, which):
    """A feed answering malformed data (short or empty return data, undecodable or
    absurd decimals, the most negative answer, a round from the end of time, or a
    call that burns all its gas) is a faulty reading and never a revert: accrual
    logs it and keeps its samples; deposit, settle, fund_insurance and a flat
    withdrawal work; a trade names the feed; a withdrawal with a position and a
    liquidation name the index when the index is at fault; and the owner's
    recovery works while the feed answers so: pause, set_max_age, unpause and
    set_oracles. A feed that burns its gas costs the caller 64 times the gas of a
    read (EIP-150), well inside a block. Contract and reference stay in step."""
    s, d = stage, stage.d
    make, (status, reason) = MALFORMED[fault]
    reason = f"price_feed: {which} {reason}"
    d.advance(600)
    make(s.feeds[which], d.model.now, which)
    s.feeds[OTHER[which]].answer_now(ANSWERS[OTHER[which]], d.model.now)
    assert s.feeds[which].ref.read(d.model.now, d.model.max_age).status == status

    call(d, KEEPER, "accrue")
    (accrued,) = events("Accrued")
    assert getattr(accrued, f"{which}_status") == status
    assert getattr(accrued, f"{which}_price") == 0
    s.check()

    reject(
        d, d.operator, "trade", s.short, s.long, WAD // 2, MARK, reason=reason, accounts=s.accounts
    )
    if which == "index":
        reject(d, s.long, "withdraw", USD, reason=reason, accounts=s.accounts)
        reject(d, KEEPER, "liquidate", s.long, reason=reason, accounts=s.accounts)
    else:
        call(d, s.long, "withdraw", USD)
    call(d, s.flat, "withdraw", MARGIN * USD)
    assert d.token.balanceOf(s.flat) == MARGIN * USD
    call(d, s.newcomer, "deposit", 1_000 * USD)
    call(d, s.newcomer, "fund_insurance", 500 * USD)
    d.advance(3_600)
    call(d, KEEPER, "settle", s.long)
    s.check()

    for function, *args in (("pause",), ("set_max_age", 600), ("unpause",)):
        d.advance(60)
        call(d, d.owner, function, *args)
    fresh = fresh_mock_oracles(d)
    set_oracles(d, fresh["index"], fresh["mark"])
    call(d, d.operator, "trade", s.short, s.long, WAD // 2, MARK)
    assert d.market.accounts(s.long)[1] == WAD // 2
    s.check()


# Answers that look odd and are usable: (feed set-up, the price read in WAD).
USABLE = {
    "latestRoundData answers 161 bytes": (
        lambda f, now: f.answer_raw(good_round(now, "index") + b"\x01", word(8)),
        INDEX_ANSWER * 10**10,
    ),
    "latestRoundData answers six words": (
        lambda f, now: f.answer_raw(good_round(now, "index") + word(2**255), word(8)),
        INDEX_ANSWER * 10**10,
    ),
    "decimals answers two words": (
        lambda f, now: f.answer_raw(good_round(now, "index"), word(8) + word(99)),
        INDEX_ANSWER * 10**10,
    ),
    "round id 2**80 - 1": (
        lambda f, now: f.set_round(2**80 - 1, INDEX_ANSWER, now, now, 2**80 - 1),
        INDEX_ANSWER * 10**10,
    ),
    "answeredInRound above roundId": (
        lambda f, now: f.set_round(3, INDEX_ANSWER, now, now, 2**80 - 1),
        INDEX_ANSWER * 10**10,
    ),
    "startedAt after updatedAt": (
        lambda f, now: f.set_round(3, INDEX_ANSWER, 2**256 - 1, now, 3),
        INDEX_ANSWER * 10**10,
    ),
    "36 decimals at the largest price": (
        lambda f, now: (f.set_decimals(36), f.set_round(3, MAX_PRICE * 10**18, now, now, 3)),
        MAX_PRICE,
    ),
    "36 decimals, finer digits rounded down": (
        lambda f, now: (f.set_decimals(36), f.set_round(3, 2 * 10**18 - 1, now, now, 3)),
        1,
    ),
    "0 decimals at the largest price": (
        lambda f, now: (f.set_decimals(0), f.set_round(3, 10**18, now, now, 3)),
        MAX_PRICE,
    ),
    "18 decimals at one wei": (
        lambda f, now: (f.set_decimals(18), f.set_round(3, 1, now, now, 3)),
        1,
    ),
}


@pytest.mark.parametrize("case", list(USABLE))
def test_odd_but_well_formed_answers_are_read_as_the_abi_says(deployment, case):
    """A longer answer is read by its first words, as any ABI decoder reads it (a
    Solidity caller's `abi.decode` too); a round id at the top of uint80, an
    answeredInRound above the round, a startedAt after updatedAt and the price
    envelope's edges are usable readings. (SECURITY.md §3 lists "a wrong-length
    answer" as a failed call: only a SHORT answer is; the text should say so.)"""
    d = deployment
    feed = attack_feed(d, INDEX_ANSWER)
    make, price = USABLE[case]
    make(feed, d.model.now)
    assert feed.ref.read(d.model.now, d.model.max_age) == Reading(
        price, feed.ref.read(d.model.now, d.model.max_age).round_id, FeedStatus.OK
    )
    set_oracles(d, (feed.oracle, feed.ref), (d.mark_oracle, d.model.mark_feed))
    (changed,) = events("OraclesChanged")
    assert changed.index_price == price == d.market.sampled_price()
    in_step(d)


def gas_used_or_error(fn, gas):
    """Runs `fn(gas)` in a rolled-back block: the gas it used, or None if it failed."""
    with boa.env.anchor():
        try:
            contract = fn(gas)
        except boa.BoaError:
            return None
        return contract._computation.get_gas_used()


def test_feeds_that_burn_their_gas_cannot_lock_the_market(stage):
    """Finding (fixed): feed calls got all the gas, so two feeds burning theirs
    made every accruing call need ~4,096x its gas, and a flat withdrawal, pause and
    set_oracles failed inside a 30M block. Now each feed call gets FEED_GAS: with
    both feeds burning all they are given, a flat account still takes its margin
    out and the owner still pauses and replaces the oracles, each inside one block."""
    s, d = stage, stage.d
    for feed in s.feeds.values():
        feed.burn(True, False)
    d.advance(60)
    m = d.market
    fresh = fresh_mock_oracles(d)
    attempts = {
        "flat withdraw": lambda g: m.withdraw(MARGIN * USD, sender=s.flat, gas=g) or m,
        "pause": lambda g: m.pause(sender=d.owner, gas=g) or m,
        "set_oracles": lambda g: (
            m.set_oracles(fresh["index"][0], fresh["mark"][0], sender=d.owner, gas=g) or m
        ),
    }
    used = {name: gas_used_or_error(fn, BLOCK_GAS_LIMIT) for name, fn in attempts.items()}
    assert None not in used.values(), used


def test_a_feed_burning_its_gas_costs_a_read_at_most_its_stipend(stage):
    """With one feed burning its gas, a flat withdrawal costs at most the feed's
    stipend (100,000) more than with a healthy feed, and the owner replaces the feed."""
    s, d = stage, stage.d
    m = d.market
    d.advance(60)
    normal = gas_used_or_error(lambda g: m.withdraw(MARGIN * USD, sender=s.flat, gas=g) or m, 10**6)
    s.feeds["index"].burn(True, False)
    burning = gas_used_or_error(
        lambda g: m.withdraw(MARGIN * USD, sender=s.flat, gas=g) or m, BLOCK_GAS_LIMIT
    )
    assert normal is not None and burning is not None
    assert normal < burning <= normal + 100_000
    fresh = fresh_mock_oracles(d)
    m.set_oracles(fresh["index"][0], fresh["mark"][0], sender=d.owner, gas=10**6)
    assert m.index_oracle() == fresh["index"][0].address


def test_no_caller_can_starve_a_healthy_feed_into_a_faulty_reading(stage):
    """A caller chooses its gas: could it make a healthy feed's call fail for want
    of gas, so that accrual keeps an old sample it likes? No: a read requires
    110,000 gas left before each feed call (`price_feed: too little gas for the
    feeds`), so every accrual that goes through read both feeds as usable."""
    s, d = stage, stage.d
    m = d.market
    outcomes = set()
    d.advance(60)
    s.feeds["index"].answer_now(49_000 * 10**8, d.model.now)
    s.feeds["mark"].answer_now(49_500 * 10**8, d.model.now)
    for gas in range(20_000, 400_001, 5_000):
        with boa.env.anchor():
            try:
                m.accrue(sender=KEEPER, gas=gas)
            except boa.BoaError:
                outcomes.add("reverted")
                continue
            (accrued,) = [e for e in m.get_logs() if type(e).__name__ == "Accrued"]
            assert (accrued.index_status, accrued.mark_status) == (0, 0), gas
            assert m.sampled_price() == 49_000 * WAD
            outcomes.add("accrued")
    assert outcomes == {"reverted", "accrued"}


# ---------------------------------------------------------------- collateral tokens


def token_market(d, token, *accounts, usd=10_000, decimals=6):
    """A market on `token`, every account funded with `usd` and approving it."""
    market = deploy_market(d, token=token)
    for account in accounts:
        token.mint(account, usd * 10**decimals, sender=d.owner)
        token.approve(market, 2**256 - 1, sender=account)
    return market


def test_a_token_whose_transfers_return_no_data_works(deployment):
    """A USDT-like token (transfer and transferFrom return nothing) is accepted:
    deposits, insurance funding, a trade and withdrawals work, every account gets
    its margin back to the unit and the books balance."""
    d = deployment
    long, short, funder = named("nd long", "nd short", "nd funder")
    with boa.env.prank(d.owner):
        token = NO_RETURN_TOKEN.deploy(6)
    m = token_market(d, token, long, short, funder)
    for account in (long, short):
        m.deposit(10_000 * USD, sender=account)
    m.fund_insurance(1_000 * USD, sender=funder)
    m.trade(long, short, WAD // 10, MARK, sender=d.operator)
    m.trade(short, long, WAD // 10, MARK, sender=d.operator)
    books(m, token, SCALE, long, short, funder)
    for account in (long, short):
        margin = m.accounts(account)[0]
        m.withdraw(margin // SCALE, sender=account)
        assert token.balanceOf(account) == margin // SCALE
    books(m, token, SCALE, long, short, funder)
    assert m.accounts(m.address)[0] == 1_000 * WAD


def test_a_token_returning_false_moves_nothing_and_the_call_reverts(deployment):
    """A token that answers false is refused with a reason both ways and nothing
    changes: the depositor keeps its tokens, the withdrawer keeps its margin, and
    it withdraws once the token behaves."""
    d = deployment
    trader, funder = named("false trader", "false funder")
    with boa.env.prank(d.owner):
        token = ATTACK_TOKEN.deploy(6)
    m = token_market(d, token, trader, funder)
    m.deposit(5_000 * USD, sender=trader)
    token.set_mode(RETURNS_FALSE, 0, sender=d.owner)
    with boa.reverts(TRANSFER_IN_FAILED):
        m.deposit(5_000 * USD, sender=trader)
    with boa.reverts(TRANSFER_IN_FAILED):
        m.fund_insurance(1_000 * USD, sender=funder)
    with boa.reverts(TRANSFER_OUT_FAILED):
        m.withdraw(5_000 * USD, sender=trader)
    assert m.accounts(trader)[0] == 5_000 * USD * SCALE
    assert token.balanceOf(trader) == 5_000 * USD
    books(m, token, SCALE, trader, funder)
    token.set_mode(BEHAVES, 0, sender=d.owner)
    m.withdraw(5_000 * USD, sender=trader)
    assert token.balanceOf(trader) == 10_000 * USD
    books(m, token, SCALE, trader, funder)


@pytest.mark.parametrize("name", ["deposit", "fund_insurance"])
def test_nothing_arrived_is_refused(deployment, name):
    """`market: no collateral arrived`: a token that answers true and moves nothing,
    and a fee token at 100 %, credit nothing, so neither a deposit nor insurance
    funding is recorded."""
    d = deployment
    payer = named("nothing payer")[0]
    with boa.env.prank(d.owner):
        liar = ATTACK_TOKEN.deploy(6)
        fee = FEE_TOKEN.deploy(6, 10_000)
    for token in (liar, fee):
        m = token_market(d, token, payer)
        if token is liar:
            token.set_mode(MOVES_NOTHING, 0, sender=d.owner)
        with boa.reverts(NOTHING_ARRIVED):
            getattr(m, name)(1_000 * USD, sender=payer)
        assert m.total_collateral() == 0 and token.balanceOf(payer) == 10_000 * USD


FEE_BPS = 100  # 1 % per transfer


def test_a_fee_token_market_stays_solvent_through_a_gap_and_a_liquidation(deployment):
    """On a token taking 1 % of each transfer from the amount moved: deposits and
    insurance funding credit what arrives, a gap bankrupts a long, the keeper
    liquidates it, the insurance covers the shortfall, everyone closes and takes
    out all its margin. At every step the market holds exactly its books; each
    withdrawal costs the market `amount` (the fee is the recipient's), and a
    bystander that never traded ends with its deposit less the two transfer fees."""
    d = deployment
    long, short, bystander, funder = named("fee long", "fee short", "fee bystander", "fee funder")
    with boa.env.prank(d.owner):
        token = FEE_TOKEN.deploy(6, FEE_BPS)
    accounts = (long, short, bystander, funder)
    m = token_market(d, token, *accounts, usd=20_000)
    for account, usd in ((long, 6_000), (short, 20_000), (bystander, 10_000)):
        m.deposit(usd * USD, sender=account)
        assert m.accounts(account)[0] == usd * USD * 99 // 100 * SCALE
    m.fund_insurance(10_000 * USD, sender=funder)
    assert m.accounts(m.address)[0] == 9_900 * WAD
    books(m, token, SCALE, *accounts)
    m.trade(long, short, WAD, MARK, sender=d.operator)

    crash = 44_000
    d.submit(crash * 10**8, crash * 10**8)
    m.liquidate(long, sender=KEEPER)
    (cover,) = [e for e in m.get_logs() if type(e).__name__ == "ShortfallCovered"]
    assert cover.by_insurance == cover.shortfall > 0 and cover.unbacked == 0
    books(m, token, SCALE, *accounts)
    m.unwind_insurance(WAD, sender=short)  # the short buys back the insurance's long
    assert m.accounts(short)[1] == 0 and m.accounts(m.address)[1] == 0
    for account in (short, bystander, KEEPER, long):
        margin = m.accounts(account)[0]
        if margin >= SCALE:
            before = token.balanceOf(m)
            m.withdraw(margin // SCALE, sender=account)
            assert before - token.balanceOf(m) == margin // SCALE
        books(m, token, SCALE, *accounts)
    assert m.bad_debt() == 0
    deposit = 10_000 * USD
    credited = deposit * 99 // 100
    assert token.balanceOf(bystander) == 20_000 * USD - deposit + credited - credited // 100


def test_acknowledged_a_token_charging_its_fee_on_top_breaks_the_books(deployment):
    """BOUND TO DOCUMENT, not a market defect: a token whose transfer takes a fee
    from the SENDER on top of the amount (recipient gets `amount`, sender pays
    `amount + fee`) drains the market by the fee at every withdrawal: after one
    withdrawal of 10,000 at 1 % it holds 100 less than its books, and the last
    depositor to leave cannot (`erc20: transfer amount exceeds balance`): first come,
    first served. `deposit` is safe (it credits what arrives); `withdraw` does not
    measure what leaves. Either document that the collateral must move exactly the
    amount out of its sender, or check the balance after the transfer out."""
    d = deployment
    first, last = named("on-top first", "on-top last")
    with boa.env.prank(d.owner):
        token = ATTACK_TOKEN.deploy(6)
    m = token_market(d, token, first, last)
    for account in (first, last):
        m.deposit(10_000 * USD, sender=account)
    token.set_mode(FEE_ON_TOP, FEE_BPS, sender=d.owner)
    m.withdraw(10_000 * USD, sender=first)
    assert token.balanceOf(first) == 10_000 * USD
    assert m.total_collateral() - token.balanceOf(m) * SCALE == 100 * WAD
    with boa.reverts(INSUFFICIENT):
        m.withdraw(10_000 * USD, sender=last)
    m.withdraw(9_900 * USD // 101 * 100, sender=last)  # what is left, less the fee on top


def test_acknowledged_a_rebasing_down_token_makes_withdrawals_first_come_first_served(
    deployment,
):
    """BOUND TO DOCUMENT, not a market defect: when the market's own balance falls
    (a negative rebase, a slashing), its books still promise the old amount. Two
    bystanders of 10,000 each, a 10 % rebase of the market's balance: the first
    takes its 10,000, the second can take only 8,000, the whole loss. No haircut
    applies, since `bad_debt` is 0. The collateral must be a token whose balances
    change only by transfers; rebasing tokens belong wrapped (as wstETH wraps stETH)."""
    d = deployment
    first, second = named("rebase first", "rebase second")
    with boa.env.prank(d.owner):
        token = ATTACK_TOKEN.deploy(6)
    m = token_market(d, token, first, second)
    for account in (first, second):
        m.deposit(10_000 * USD, sender=account)
    token.rebase(m, 2_000 * USD, sender=d.owner)
    assert m.haircut() == WAD and m.bad_debt() == 0
    m.withdraw(10_000 * USD, sender=first)
    with boa.reverts(INSUFFICIENT):
        m.withdraw(10_000 * USD, sender=second)
    m.withdraw(8_000 * USD, sender=second)
    assert m.accounts(second)[0] == 2_000 * WAD


@pytest.mark.parametrize("decimals", [0, 1, 6, 17, 18])
def test_the_collateral_limit_holds_for_every_token_decimals(decimals):
    """For a token of 0..18 decimals the largest deposit (1e39 quote) is credited,
    one unit more is refused with the limit's reason (deposit and insurance
    funding), a withdrawal past the limit is refused with the amount's reason, and
    the whole deposit comes back out, to the unit, in step with the reference."""
    with boa.env.anchor():
        d = deploy(token_decimals=decimals)
        scale = 10 ** (18 - decimals)
        largest = MAX_COLLATERAL // scale
        whale, other = named(f"whale {decimals}", f"other {decimals}")
        d.fund(whale, largest + 1)
        d.fund(other, 1)
        call(d, whale, "deposit", largest)
        assert d.market.accounts(whale)[0] == MAX_COLLATERAL == d.market.total_collateral()
        reject(d, other, "deposit", 1, reason=COLLATERAL_LIMIT)
        reject(d, other, "fund_insurance", 1, reason=COLLATERAL_LIMIT)
        reject(d, whale, "withdraw", largest + 1, reason=AMOUNT_LIMIT)
        call(d, whale, "withdraw", largest)
        assert d.token.balanceOf(whale) == largest + 1
        in_step(d, whale, other)
        books(d.market, d.token, scale, whale, other)


def test_a_zero_decimal_token_leaves_sub_unit_margin_in_the_account(deployment):
    """With a 0-decimal collateral a withdrawal moves whole tokens: an account whose
    margin has a fraction of a token (from a trade's notional) takes out the whole
    tokens, and the fraction stays its margin, not anyone else's. Every account is
    paid the floor of its margin; the market never pays out more than it holds."""
    with boa.env.anchor():
        d = deploy(token_decimals=0)
        long, short = named("zero long", "zero short")
        for account in (long, short):
            d.fund(account, 20_000)
            call(d, account, "deposit", 20_000)
        third = WAD // 3
        call(d, d.operator, "trade", long, short, third, MARK)
        call(d, d.operator, "trade", short, long, third, MARK)
        for account in (long, short):
            margin = d.market.accounts(account)[0]
            call(d, account, "withdraw", margin // WAD)
            assert 0 <= d.market.accounts(account)[0] < WAD
        in_step(d, long, short)
        books(d.market, d.token, WAD, long, short)
