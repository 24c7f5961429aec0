"""The oracle-failure table of docs/SECURITY.md, row by row, on the contract and
on the reference (fundingkit.market.MarketModel), in step after every call.

A market holds a long, a short and a flat account. For each fault, shown by the
index feed or by the mark feed while the other one moves and stays fresh:

* ``accrue`` does not revert: it charges the gap with the samples it holds,
  logs the faulty reading (price 0, its round, its status) in ``Accrued``, and
  samples only what it can: the index price when the index reading is usable,
  the premium when both are;
* ``trade`` reverts with the faulty feed's reason; ``withdraw`` with a position
  and ``liquidate`` revert with the index feed's reason when the index is at
  fault (a faulty mark blocks neither: both value positions at the index only);
* ``deposit``, ``fund_insurance``, ``withdraw`` while flat and ``settle`` work;
* once the feed answers again, the next accrual samples it: no owner action.

Then the rows that are not a fault of the latest round: the owner replacing the
oracles, a feed changing its decimals. Last, the stale-stretch rule, attacked:
a trader who knows the feed is stale pokes, settles and tries to leave, and
ends up exactly where the documented rounding puts it, never better.
"""

from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from pathlib import Path

import boa
import pytest
from conftest import rolled_back
from test_market_unit import (
    MAX_AGE,
    USD,
    WAD,
    assert_in_step,
    call,
    events,
    record,
    reject,
)

from fundingkit.feeds import MAX_FEED_DECIMALS, FeedStatus, Reading, Round, read_round
from fundingkit.rates import MAX_PREMIUM, funding_delta, premium, project

SCRIPTED_ORACLE = boa.load_partial(
    str(Path(__file__).resolve().parents[1] / "contracts" / "ScriptedOracle.vy")
)

INDEX_ANSWER = 50_000 * 10**8  # the fixture's answers (8 decimals)
MARK_ANSWER = 50_050 * 10**8
HELD_PREMIUM = premium(MARK_ANSWER * 10**10, INDEX_ANSWER * 10**10)  # 0.1 %
MOVED = {"index": 49_000 * 10**8, "mark": 49_100 * 10**8}  # the healthy feed's new answer
SIZE = WAD  # the long's position: one base, so each wei of index is one wei of funding
MARGIN = 20_000  # USD each account deposits
OTHER = {"index": "mark", "mark": "index"}


# ---------------------------------------------------------------- feeds


@dataclass
class ScriptedFeed:
    """The reference's copy of a ScriptedOracle (tests/contracts/ScriptedOracle.vy)."""

    decimals: int = 8
    round_id: int = 0
    answer: int = 0
    started_at: int = 0
    updated_at: int = 0
    answered_in_round: int = 0
    latest_reverts: bool = False
    decimals_reverts: bool = False
    has_code: bool = True
    code: bytes = field(default=b"", repr=False, compare=False)  # to restore it

    def read(self, now: int, max_age: int) -> Reading:
        if not self.has_code or self.latest_reverts:
            return Reading(0, 0, FeedStatus.CALL_FAILED)
        if self.decimals_reverts:
            return Reading(0, self.round_id, FeedStatus.CALL_FAILED)
        # fundingkit.feeds has no answeredInRound (MockOracle answers every round
        # in itself); price_feed checks it with updatedAt == 0, after the decimals
        # and the answer's sign.
        if (
            self.decimals <= MAX_FEED_DECIMALS
            and self.answer > 0
            and self.answered_in_round < self.round_id
        ):
            return Reading(0, self.round_id, FeedStatus.INCOMPLETE)
        rnd = Round(self.answer, self.started_at, self.updated_at)
        return read_round(self.round_id, rnd, self.decimals, now, max_age)


@dataclass
class Handle:
    """One of a market's feeds: the chain's oracle and the model's copy."""

    oracle: object
    feed: object
    feeder: str | None = None  # MockOracle only

    @property
    def scripted(self) -> bool:
        return isinstance(self.feed, ScriptedFeed)

    def round(self, answer: int, started_at: int, updated_at: int, answered_in_round=None):
        """Records a new latest round (answered in itself unless told)."""
        if not self.scripted:
            assert answered_in_round is None, "MockOracle answers every round in itself"
            self.oracle.submit_round(answer, started_at, updated_at, sender=self.feeder)
            self.feed.submit_round(answer, started_at, updated_at)
            return
        f = self.feed
        f.round_id += 1
        f.answer, f.started_at, f.updated_at = answer, started_at, updated_at
        f.answered_in_round = f.round_id if answered_in_round is None else answered_in_round
        self.oracle.set_round(f.round_id, answer, started_at, updated_at, f.answered_in_round)

    def set_decimals(self, decimals: int):
        self.oracle.set_decimals(decimals)
        self.feed.decimals = decimals

    def set_reverts(self, latest: bool, decimals: bool):
        self.oracle.set_reverts(latest, decimals)
        self.feed.latest_reverts, self.feed.decimals_reverts = latest, decimals

    def remove_code(self):
        """As a SELFDESTRUCT did before EIP-6780: a call to the feed now succeeds
        and returns nothing, exactly as a call to an account without code."""
        self.feed.code = boa.env.get_code(self.oracle.address)
        boa.env.set_code(self.oracle.address, b"")
        self.feed.has_code = False

    def heal(self, answer: int, now: int):
        """Back to a healthy feed of 8 decimals with a fresh round."""
        if self.scripted:
            if not self.feed.has_code:
                boa.env.set_code(self.oracle.address, self.feed.code)
                self.feed.has_code = True
            self.set_reverts(False, False)
            self.set_decimals(8)
        self.round(answer, now, now)


# ---------------------------------------------------------------- the scene


@dataclass
class Scene:
    """The fixture's market with `long` long one base against `short`, a `flat`
    account with margin only, a funded `newcomer`, and a `keeper`."""

    d: object
    long: str
    short: str
    flat: str
    newcomer: str
    keeper: str

    @property
    def accounts(self):
        return (self.long, self.short, self.flat, self.newcomer, self.keeper)

    @property
    def now(self) -> int:
        return self.d.model.now

    def handle(self, which: str) -> Handle:
        """The feed the market reads now, on the chain and in the model."""
        feed = getattr(self.d.model, f"{which}_feed")
        address = getattr(self.d.market, f"{which}_oracle")()
        if isinstance(feed, ScriptedFeed):
            return Handle(SCRIPTED[address], feed)
        oracle = getattr(self.d, f"{which}_oracle")
        assert oracle.address == address
        return Handle(oracle, feed, self.d.feeder)

    def reading(self, which: str) -> Reading:
        return getattr(self.d.model, f"{which}_feed").read(self.now, self.d.model.max_age)

    def answer(self, which: str, answer: int):
        self.handle(which).round(answer, self.now, self.now)

    def in_step(self):
        assert_in_step(self.d, *self.accounts)
        insurance = self.d.model.account(self.d.market.address)
        expected = (insurance.margin, insurance.position, insurance.index_snapshot)
        assert tuple(self.d.market.accounts(self.d.market.address)) == expected


@pytest.fixture(scope="module")
def _scene(_deployment_module):
    d = _deployment_module
    with rolled_back(d.model):
        names = ("long", "short", "flat", "newcomer", "keeper")
        long, short, flat, newcomer, keeper = (boa.env.generate_address(n) for n in names)
        for account in (long, short, flat):
            d.fund(account, MARGIN * USD)
            call(d, account, "deposit", MARGIN * USD)
        d.fund(newcomer, 2_000 * USD)
        call(d, d.operator, "trade", long, short, SIZE, MARK_ANSWER * 10**10)
        d.advance(600)
        yield Scene(d, long, short, flat, newcomer, keeper)


@pytest.fixture
def scene(_scene):
    """The scene, rolled back (chain and model) after each test."""
    with rolled_back(_scene.d.model):
        yield _scene


SCRIPTED = {}  # every ScriptedOracle deployed, by address


def scripted_handle(s: Scene, answer: int) -> Handle:
    """A new ScriptedOracle of 8 decimals with one fresh round, and its copy."""
    with boa.env.prank(s.d.owner):
        oracle = SCRIPTED_ORACLE.deploy(8)
    SCRIPTED[oracle.address] = oracle
    handle = Handle(oracle, ScriptedFeed(8))
    handle.round(answer, s.now, s.now)
    return handle


def set_oracles(s: Scene, index: Handle, mark: Handle):
    s.d.market.set_oracles(index.oracle, mark.oracle, sender=s.d.owner)
    record(s.d.market)
    s.d.model.set_oracles(s.d.owner, index.feed, mark.feed)


def use_scripted(s: Scene):
    """The owner points the market at two ScriptedOracles showing the fixture's answers."""
    set_oracles(s, scripted_handle(s, INDEX_ANSWER), scripted_handle(s, MARK_ANSWER))
    s.in_step()


def samples(s: Scene):
    m = s.d.market
    return (m.sampled_price(), m.sampled_premium())


def accrued_reading(event, which: str) -> Reading:
    price, round_id, status = (getattr(event, f"{which}_{x}") for x in ("price", "round", "status"))
    return Reading(price, round_id, FeedStatus(status))


# ---------------------------------------------------------------- the rows


def _stale(s, handle):
    s.d.advance(MAX_AGE + 1)  # no new round: the latest is now max_age + 1 old


def _normalises_to_zero(s, handle):
    handle.set_decimals(20)
    handle.round(99, s.now, s.now)  # 99e-20: below one wei once normalised to 18 decimals


def _answered_earlier(s, handle):
    handle.round(INDEX_ANSWER, s.now, s.now, answered_in_round=handle.feed.round_id)


# An 8-decimal answer whose WAD price exceeds price_feed.MAX_PRICE (1e36).
OUT_OF_RANGE_ANSWER = 10**26 + 1


@dataclass(frozen=True)
class Row:
    name: str
    status: FeedStatus
    reason: str  # after "price_feed: <feed> "
    make: Callable  # (scene, handle): leaves that feed's reading faulty
    scripted: bool = False  # needs a ScriptedOracle: MockOracle cannot show it


ROWS = [
    Row(
        "answer zero",
        FeedStatus.NOT_POSITIVE,
        "answer not positive",
        lambda s, h: h.round(0, s.now, s.now),
    ),
    Row(
        "answer negative",
        FeedStatus.NOT_POSITIVE,
        "answer not positive",
        lambda s, h: h.round(-1, s.now, s.now),
    ),
    Row(
        "answer below one wei once normalised",
        FeedStatus.NOT_POSITIVE,
        "answer not positive",
        _normalises_to_zero,
        scripted=True,
    ),
    Row(
        "round from the future",
        FeedStatus.FROM_FUTURE,
        "round from the future",
        lambda s, h: h.round(INDEX_ANSWER, s.now + 1, s.now + 1),
    ),
    Row(
        "round incomplete: updatedAt 0",
        FeedStatus.INCOMPLETE,
        "round incomplete",
        lambda s, h: h.round(INDEX_ANSWER, s.now, 0),
    ),
    Row(
        "round incomplete: answeredInRound < roundId",
        FeedStatus.INCOMPLETE,
        "round incomplete",
        _answered_earlier,
        scripted=True,
    ),
    Row("answer stale", FeedStatus.STALE, "answer stale", _stale),
    Row(
        "price out of range",
        FeedStatus.OUT_OF_RANGE,
        "answer out of range",
        lambda s, h: h.round(OUT_OF_RANGE_ANSWER, s.now, s.now),
    ),
    Row(
        "call fails: latestRoundData reverts",
        FeedStatus.CALL_FAILED,
        "feed unreadable",
        lambda s, h: h.set_reverts(True, False),
        scripted=True,
    ),
    Row(
        "call fails: decimals reverts",
        FeedStatus.CALL_FAILED,
        "feed unreadable",
        lambda s, h: h.set_reverts(False, True),
        scripted=True,
    ),
    Row(
        "call fails: not a contract",
        FeedStatus.CALL_FAILED,
        "feed unreadable",
        lambda s, h: h.remove_code(),
        scripted=True,
    ),
    Row(
        "decimals above 36",
        FeedStatus.CALL_FAILED,
        "feed unreadable",
        lambda s, h: h.set_decimals(37),
        scripted=True,
    ),
]


@pytest.mark.parametrize("which", ["index", "mark"])
@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_fault_row(scene, row, which):
    s, d = scene, scene.d
    if row.scripted:
        use_scripted(s)
    other = OTHER[which]
    d.advance(600)
    held = samples(s)
    assert held == (INDEX_ANSWER * 10**10, HELD_PREMIUM)
    row.make(s, s.handle(which))
    s.answer(other, MOVED[other])  # the healthy feed moves, and is fresh
    assert s.reading(which).status == row.status and s.reading(other).ok
    reason = f"price_feed: {which} {row.reason}"
    index_before = d.market.funding_index()

    # accrue: charges the gap with the held samples, logs the reading, holds the sample.
    assert call(d, s.keeper, "accrue") == (None, True)
    (event,) = events("Accrued")
    assert event.funding_index == d.market.funding_index() > index_before
    for feed in ("index", "mark"):
        assert accrued_reading(event, feed) == s.reading(feed)
    assert accrued_reading(event, which).price == 0
    if which == "index":
        assert samples(s) == held  # nothing sampled: the premium needs both feeds
    else:
        assert samples(s) == (MOVED["index"] * 10**10, HELD_PREMIUM)  # the index only
    s.in_step()

    # trade needs both feeds; withdraw with a position needs the index.
    trade_price = MOVED["mark"] * 10**10 if which == "index" else MARK_ANSWER * 10**10
    trade = (s.short, s.long, SIZE // 2, trade_price)
    reject(d, d.operator, "trade", *trade, reason=reason, accounts=s.accounts)
    # liquidate needs the index too: a faulty mark lets it reach the margin check.
    if which == "index":
        reject(d, s.long, "withdraw", USD, reason=reason, accounts=s.accounts)
        reject(d, s.keeper, "liquidate", s.long, reason=reason, accounts=s.accounts)
    else:
        call(d, s.long, "withdraw", USD)
        assert d.market.accounts(s.long).position == SIZE
        healthy = "market: account is above maintenance margin"
        reject(d, s.keeper, "liquidate", s.long, reason=healthy, accounts=s.accounts)

    # deposit, fund_insurance, withdraw while flat, settle: work.
    call(d, s.newcomer, "deposit", 1_000 * USD)
    call(d, s.newcomer, "fund_insurance", 1_000 * USD)
    assert d.market.accounts(d.market.address).margin == 1_000 * USD * 10**12
    call(d, s.flat, "withdraw", MARGIN * USD)
    assert d.token.balanceOf(s.flat) == MARGIN * USD
    d.advance(3 * 3_600)
    paid, _ = call(d, s.keeper, "settle", s.long)
    received, _ = call(d, s.keeper, "settle", s.short)
    assert paid > 0 > received  # funding was charged across the fault
    s.in_step()

    # Recovery: the feed answers again and the next accrual samples it.
    s.handle(which).heal(INDEX_ANSWER if which == "index" else MARK_ANSWER, s.now)
    s.answer(other, INDEX_ANSWER if other == "index" else MARK_ANSWER)
    d.advance(60)
    call(d, s.keeper, "accrue")
    (event,) = events("Accrued")
    assert (event.index_status, event.mark_status) == (0, 0)
    assert samples(s) == held
    call(d, d.operator, "trade", s.short, s.long, SIZE // 2, MARK_ANSWER * 10**10)
    assert d.market.accounts(s.long).position == SIZE // 2
    s.in_step()


def test_every_fault_status_has_a_row():
    assert {row.status for row in ROWS} == set(FeedStatus) - {FeedStatus.OK}


def test_both_feeds_faulty_trade_names_the_index_first(scene):
    s, d = scene, scene.d
    d.advance(600)
    s.answer("mark", 0)
    _stale(s, s.handle("index"))
    call(d, s.keeper, "accrue")
    (event,) = events("Accrued")
    # A non-positive answer is reported as such, however old it is.
    assert (event.index_status, event.mark_status) == (FeedStatus.STALE, FeedStatus.NOT_POSITIVE)
    reject(
        d,
        d.operator,
        "trade",
        s.short,
        s.long,
        SIZE,
        MARK_ANSWER * 10**10,
        reason="price_feed: index answer stale",
        accounts=s.accounts,
    )
    s.in_step()


# ---------------------------------------------------------------- the owner replaces the oracles


@pytest.mark.parametrize("old_feeds", ["fresh", "stale"])
def test_replacing_the_oracles_charges_old_samples_up_to_the_change_and_new_after(scene, old_feeds):
    """Charged to the wei: the samples held from the old feeds up to the change,
    the new feeds' first readings from it on; the same whether the old feeds
    still answer or have gone stale (then the change is how the owner recovers)."""
    s, d = scene, scene.d
    params, p_old = d.model.params, d.market.sampled_price()
    t0, index0, state0 = d.market.last_accrual(), d.market.funding_index(), d.model.interval_state
    if old_feeds == "fresh":
        d.advance(5_000)
        s.answer("index", 45_000 * 10**8)  # read by the change's accrual, replaced at once
        s.answer("mark", 45_100 * 10**8)
    else:
        d.advance(MAX_AGE + 1)
    t1 = s.now
    new_index, new_mark = scripted_handle(s, 60_000 * 10**8), scripted_handle(s, 59_400 * 10**8)
    set_oracles(s, new_index, new_mark)

    rate_time, state1 = project(params, state0, HELD_PREMIUM, t0, t1)
    index1 = index0 + funding_delta(p_old, rate_time, params.interval)
    assert d.market.funding_index() == index1 == d.model.funding_index
    (accrued,), (changed,) = events("Accrued"), events("OraclesChanged")
    assert accrued.index_status == (FeedStatus.OK if old_feeds == "fresh" else FeedStatus.STALE)
    assert (changed.index_price, changed.mark_price) == (60_000 * WAD, 59_400 * WAD)
    p_new, premium_new = 60_000 * WAD, premium(59_400 * WAD, 60_000 * WAD)
    assert samples(s) == (p_new, premium_new) and premium_new == -(10**16)

    d.advance(40_000)  # crosses an interval end: the new premium sets the next rate
    snapshot = d.market.accounts(s.long).index_snapshot
    paid, _ = call(d, s.keeper, "settle", s.long)
    rate_time, _ = project(params, state1, premium_new, t1, s.now)
    index2 = index1 + funding_delta(p_new, rate_time, params.interval)
    assert d.market.funding_index() == index2
    assert paid == index2 - snapshot  # one base: owed = dF
    new_index.round(60_000 * 10**8, s.now, s.now)
    new_mark.round(59_400 * 10**8, s.now, s.now)
    call(d, d.operator, "trade", s.short, s.long, SIZE, 59_400 * WAD)  # the new feeds serve trades
    assert d.market.accounts(s.long).position == 0
    s.in_step()


SCRIPTED_FAULTS = [row for row in ROWS if row.scripted]


@pytest.mark.parametrize("which", ["index", "mark"])
@pytest.mark.parametrize("row", SCRIPTED_FAULTS, ids=lambda r: r.name)
def test_replacing_with_an_unusable_feed_is_rejected(scene, row, which):
    """The new feeds must both be usable at the change (MockOracle's faults:
    test_market_unit's TestSetOracles)."""
    s, d = scene, scene.d
    d.advance(60)
    handles = {"index": scripted_handle(s, INDEX_ANSWER), "mark": scripted_handle(s, MARK_ANSWER)}
    row.make(s, handles[which])
    reject(
        d,
        d.owner,
        "set_oracles",
        handles["index"].oracle,
        handles["mark"].oracle,
        reason=f"price_feed: {which} {row.reason}",
        accounts=s.accounts,
        model_args=(d.owner, handles["index"].feed, handles["mark"].feed),
    )


# ---------------------------------------------------------------- decimals


@pytest.mark.parametrize("which", ["index", "mark"])
@pytest.mark.parametrize("decimals, extra", [(6, 0), (18, 0), (20, 99), (36, 10**18 - 1)])
def test_decimals_change_with_the_answer_rescaled_changes_nothing(scene, which, decimals, extra):
    """A feed (e.g. behind a proxy) moves to other decimals and rescales its
    answer in the same round: every reading normalises with the decimals read
    in the same call, so the price is the same (finer digits round down)."""
    s, d = scene, scene.d
    use_scripted(s)
    d.advance(600)
    answer = INDEX_ANSWER if which == "index" else MARK_ANSWER
    handle = s.handle(which)
    handle.set_decimals(decimals)
    handle.round(answer * 10**decimals // 10**8 + extra, s.now, s.now)
    s.answer(OTHER[which], INDEX_ANSWER if which == "mark" else MARK_ANSWER)
    call(d, s.keeper, "accrue")
    (event,) = events("Accrued")
    assert (event.index_status, event.mark_status) == (0, 0)
    assert samples(s) == (INDEX_ANSWER * 10**10, HELD_PREMIUM)
    call(d, d.operator, "trade", s.short, s.long, SIZE // 2, MARK_ANSWER * 10**10)
    s.in_step()


def test_decimals_change_without_rescaling_is_read_at_face_value(scene):
    """The market cannot tell a wrong price from a right one: a mark whose
    decimals drop from 8 to 6 with its answer unchanged reads 100 times higher.
    What it can do is bound the damage: the premium sample is at most +1,000 %
    (MAX_PREMIUM), the rate at most the cap."""
    s, d = scene, scene.d
    use_scripted(s)
    d.advance(600)
    s.handle("mark").set_decimals(6)
    s.answer("mark", MARK_ANSWER)
    s.answer("index", INDEX_ANSWER)
    call(d, s.keeper, "accrue")
    assert s.reading("mark").price == MARK_ANSWER * 10**12
    assert samples(s) == (INDEX_ANSWER * 10**10, MAX_PREMIUM)
    d.advance(d.market.interval())
    call(d, s.keeper, "accrue")
    assert d.market.current_rate() == d.market.cap() == d.model.current_rate()
    s.in_step()


# ---------------------------------------------------------------- the stale stretch, attacked


INTERVAL = 8 * 3_600
FAVOURABLE_MARK = 49_500 * 10**8  # -1 %: longs would receive, were it ever sampled


def run_stale_stretch(s: Scene, *, attacker: bool) -> dict:
    """Both feeds stop answering for more than three intervals, then recover.
    Only the mark answers once, midway, with a price the long would love to
    see sampled (the index is stale by then, so it is not). With `attacker`,
    the long pokes `accrue` around every interval end and right after that
    mark answer, settles itself midway, and tries to trade out and to
    withdraw; otherwise nobody calls the market until the feeds recover."""
    d = s.d
    start, t0 = d.market.interval_start(), d.market.last_accrual()
    ends = [start + k * INTERVAL for k in (1, 2, 3)]
    pokes = {t for end in ends for t in (end - 1, end, end + 1)} | {t0 + MAX_AGE + 7}
    mark_update, recovery = ends[1] + 100, ends[2] + 5_000
    moments = sorted(pokes | {mark_update}) if attacker else [mark_update]
    tries = []
    for t in moments:
        d.set_time(t)
        if t == mark_update:
            s.answer("mark", FAVOURABLE_MARK)
        if not attacker:
            continue
        call(d, s.long, "accrue")
        (event,) = events("Accrued")
        assert event.index_status == FeedStatus.STALE
        assert samples(s) == (INDEX_ANSWER * 10**10, HELD_PREMIUM)
        if t == ends[1]:
            call(d, s.long, "settle", s.long)
            stale = "price_feed: index answer stale"
            trade = (s.short, s.long, SIZE, FAVOURABLE_MARK * 10**10)
            reject(d, d.operator, "trade", *trade, reason=stale, accounts=s.accounts)
            reject(d, s.long, "withdraw", USD, reason=stale, accounts=s.accounts)
            tries += ["trade", "withdraw"]
    d.set_time(recovery)
    stretch_index = d.market.current_funding_index()
    s.answer("index", INDEX_ANSWER)
    s.answer("mark", FAVOURABLE_MARK)
    call(d, s.keeper, "accrue")  # integrates up to now with the held samples, then samples
    assert d.market.funding_index() == stretch_index
    call(d, s.keeper, "settle", s.long)
    call(d, s.keeper, "settle", s.short)
    s.in_step()
    m = d.market
    return dict(
        accruals=len(moments) if attacker else 0,  # accruals inside the stretch
        tries=tries,
        index=m.funding_index(),
        state=(m.interval_start(), m.premium_sum(), m.last_premium_average()),
        samples=samples(s),
        rates=(m.current_rate(), m.next_rate()),
        margins=(m.accounts(s.long).margin, m.accounts(s.short).margin),
        t0=t0,
        recovery=recovery,
    )


def test_stale_stretch_cannot_be_gamed_by_poking_settling_or_leaving(scene):
    """The rule: the last good samples stand for the whole stale stretch, and
    the interval sums integrate them second by second whoever accrues. So a
    long who pokes around every interval end, settles midway, and tries to
    trade out or withdraw ends in exactly the interval state of a market nobody
    touched, at the same rate in force and predicted: no rate was locked in.
    The index differs only by the documented truncation, at most one wei per
    extra accrual and toward zero: on one base, that many wei of funding."""
    s, d = scene, scene.d
    params, p, state0 = d.model.params, d.market.sampled_price(), d.model.interval_state
    index0 = d.market.funding_index()
    margins0 = (d.market.accounts(s.long).margin, d.market.accounts(s.short).margin)
    with rolled_back(d.model):
        quiet = run_stale_stretch(s, attacker=False)
    attacked = run_stale_stretch(s, attacker=True)

    assert attacked["tries"] == ["trade", "withdraw"] and attacked["accruals"] == 11
    # The rule, computed directly: one gap, the held samples throughout.
    rate_time, state = project(params, state0, HELD_PREMIUM, quiet["t0"], quiet["recovery"])
    assert quiet["index"] == index0 + funding_delta(p, rate_time, params.interval)
    assert quiet["state"] == astuple(state)
    # Poking locked in nothing: the same interval state, samples and rates.
    for key in ("state", "samples", "rates"):
        assert attacked[key] == quiet[key], key
    assert quiet["samples"] == (INDEX_ANSWER * 10**10, premium(FAVOURABLE_MARK, INDEX_ANSWER))
    # The index: only each extra accrual's truncation, toward zero.
    gained = quiet["index"] - attacked["index"]
    assert 0 <= gained <= attacked["accruals"]
    # One base: each wei of index is one wei of funding, however it was settled.
    for world in (quiet, attacked):
        paid = margins0[0] - world["margins"][0]
        received = world["margins"][1] - margins0[1]
        assert paid == received == world["index"] - index0 > 0


def test_settling_during_a_stale_stretch_pays_what_settling_after_pays(scene):
    """A payer who settles while the feed is stale, hoping to close its books at
    a convenient moment, pays in total what it pays settling after: funding
    keeps accruing with the held samples, and the extra settlement moves the
    index by at most the one wei of its accrual's truncation, toward zero."""
    s, d = scene, scene.d
    margin0 = d.market.accounts(s.long).margin
    paid = {}
    for during in (False, True):
        with rolled_back(d.model):
            if during:
                d.advance(MAX_AGE + 100)
                call(d, s.long, "settle", s.long)
                assert events("Accrued")[0].index_status == FeedStatus.STALE
                d.advance(INTERVAL - MAX_AGE - 100)
            else:
                d.advance(INTERVAL)
            s.answer("index", INDEX_ANSWER)
            s.answer("mark", MARK_ANSWER)
            call(d, s.long, "settle", s.long)
            s.in_step()
            paid[during] = (margin0 - d.market.accounts(s.long).margin, d.market.funding_index())
    (after, index_after), (during, index_during) = paid[False], paid[True]
    assert after > 0
    assert after - during == index_after - index_during
    assert index_after - index_during in (0, 1)
