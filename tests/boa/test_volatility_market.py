"""The volatility-linked cap as a deployment option: contracts/VolatilityCap.vy as a
FundingMarket's cap source, against fundingkit.market.MarketModel with
fundingkit.volatility.VolatilityCapSource, to the wei.

Layers: random price paths (crashes, calm, stale stretches, trades, settlements,
interest and interval changes, the source switched off and on) with the chain and the
reference equal after every step; the documented behaviour (the seed's cap at once, a
crash lifting the cap, calm holding cap_min, a source or parameter change charged from
the second it happens, the cap raised to |I|, stale readings asking nothing); sources
that revert, answer garbage or burn their gas never block an accrual, and cannot be
set; the gas stipend no caller can starve; access control; VolatilityCap on its own;
and the audit recomputing every cap from the market's logs.
"""

import copy
from dataclasses import astuple, dataclass, replace

import boa
import pytest
from conftest import deploy, examples, rolled_back
from eth_utils import event_abi_to_log_topic
from hypothesis import given
from hypothesis import strategies as st
from test_audit_replay import Tape, _tamper, final_state
from test_market_unit import assert_in_step, call, reject

from fundingkit.audit import (
    EventDecoder,
    audit_events,
    cap_source_reader,
    decode_logs,
    volatility_cap_source,
)
from fundingkit.market import NO_CAP_SOURCE, ZERO_ADDRESS, Rejected, cap_answer, owed
from fundingkit.rates import MAX_CAP, MIN_CAP, funding_delta, project
from fundingkit.volatility import (
    DAY,
    HOUR,
    MAX_HALF_LIFE,
    MAX_MULTIPLIER,
    MIN_HALF_LIFE,
    MIN_MULTIPLIER,
    VolatilityCapSource,
    VolatilityParameters,
    VolatilityState,
)
from fundingkit.volatility import Rejected as VolatilityRejected
from fundingkit.vyper_math import WAD

VOLATILITY_CAP = boa.load_partial("contracts/VolatilityCap.vy")

PARAMS = VolatilityParameters()  # half-life 1 day, k = 0.25, caps 0.5 % .. 4 %
SIGMA = 2 * 10**16  # 2 % per 8 h: k * sigma = 0.5 %, exactly cap_min
USD = 10**6
ANSWER = 10**8  # one USD in the feeds' 8 decimals
THIRD = 333_333_333_333_333_333
NOT_OWNER = "ownable: caller is not the owner"
CAP_SOURCE_GAS = 100_000  # FundingMarket.CAP_SOURCE_GAS
TOO_LITTLE_GAS = "market: too little gas for the cap source"


# ---------------------------------------------------------------- helpers


def deploy_volatility_cap(d, params=PARAMS, initial_sigma=SIGMA, interval=None, market=None):
    """A VolatilityCap for `d`'s market (or `market`), its first price the price the
    market holds, and its reference."""
    market = d.market.address if market is None else market
    interval = d.model.params.interval if interval is None else interval
    price = d.market.sampled_price()
    args = (params.half_life, params.multiplier, params.cap_min, params.cap_max)
    contract = VOLATILITY_CAP.deploy(market, price, *args, initial_sigma, interval, sender=d.owner)
    reference = VolatilityCapSource.deploy(
        contract.address, market, price, d.model.now, params, initial_sigma, interval
    )
    return contract, reference


def set_source(d, address, reference) -> list:
    """`set_cap_source` on the chain and the model (ZERO_ADDRESS and None: back to a
    fixed cap); returns the chain's logs."""
    d.market.set_cap_source(address, sender=d.owner)
    logs = d.market.get_logs()
    d.model.set_cap_source(d.owner, reference)
    return logs


def named(logs, name):
    return [log for log in logs if type(log).__name__ == name]


def state_of(contract) -> VolatilityState:
    return VolatilityState(*contract.volatility_state())


def assert_cap_in_step(d, contract=None):
    """The cap in force, the index and the source's estimator agree with the model."""
    m, model = d.market, d.model
    assert m.cap() == model.params.cap
    assert (m.funding_index(), m.last_accrual()) == (model.funding_index, model.last_accrual)
    source = model.cap_source
    expected = ZERO_ADDRESS if source is None else str(source.address).lower()
    assert str(m.cap_source()).lower() == expected
    if contract is not None and isinstance(source, VolatilityCapSource):
        assert state_of(contract) == source.state


def both(d, caller, name, *args, model_args=None):
    """One call on the chain and the model: both succeed, or both reject it with the
    same reason (and the model is left as it was). Returns whether it succeeded."""
    model_args = args if model_args is None else model_args
    if name not in ("accrue", "settle"):
        model_args = (caller, *model_args)
    saved = copy.deepcopy(d.model.__dict__)
    try:
        getattr(d.model, name)(*model_args)
    except Rejected as rejection:
        d.model.__dict__.clear()
        d.model.__dict__.update(saved)
        with boa.reverts(rejection.reason):
            getattr(d.market, name)(*args, sender=caller)
        return False
    getattr(d.market, name)(*args, sender=caller)
    return True


def set_rates(d, **changes) -> bool:
    """`set_rate_parameters` on the chain and the model: the parameters in force with
    `changes`."""
    new = replace(d.model.params, **changes)
    args = (new.interval, new.interest, new.dampener, new.cap)
    return both(d, d.owner, "set_rate_parameters", *args, model_args=(new,))


def move(d, index_usd: int, premium_bps: int = 0) -> None:
    """New answers on both feeds: the index, and the mark `premium_bps` above it."""
    index = index_usd * ANSWER
    d.submit(index, index * (10_000 + premium_bps) // 10_000)


def _assemble(*items) -> bytes:
    """EVM code from hex strings, ("label", name) and ("push", name) (PUSH1 offset)."""
    labels, offset = {}, 0
    for item in items:
        if isinstance(item, tuple):
            if item[0] == "label":
                labels[item[1]] = offset
            else:
                offset += 2
        else:
            offset += len(bytes.fromhex(item))
    code = b""
    for item in items:
        if not isinstance(item, tuple):
            code += bytes.fromhex(item)
        elif item[0] == "push":
            code += bytes([0x60, labels[item[1]]])
    return code


# A source that always returns what it is scripted to, in raw EVM code so that it can
# return any number of bytes. A call of 68 bytes (the market's `update(uint256,
# uint256)`) gets slot 0 as the length of an answer made of slots 1 and 2; slot 0 =
# 0xff reverts, 0xfe runs INVALID, which burns all the gas the call was given. Any
# other call stores its first three words in slots 0..2.
_SCRIPTED_RUNTIME = _assemble(
    "36604414", ("push", "serve"), "57",  # CALLDATASIZE == 68: serve
    "600035600055", "602035600155", "604035600255", "00",  # script: three words
    ("label", "serve"), "5b", "600054",  # L = slot 0
    "8060ff14", ("push", "revert"), "57",
    "8060fe14", ("push", "burn"), "57",
    "600154600052", "600254602052",  # memory: slot 1, slot 2
    "6000f3",  # return(0, L)
    ("label", "revert"), "5b", "600080fd",
    ("label", "burn"), "5b", "fe",
)  # fmt: skip
# Copies the runtime (after these 11 bytes) to memory and returns it.
_SCRIPTED_INIT = (
    bytes([0x60, len(_SCRIPTED_RUNTIME)]) + bytes.fromhex("80600b6000396000f3") + _SCRIPTED_RUNTIME
)
REVERTS, BURNS = "reverts", "burns its gas"


@dataclass(frozen=True)
class ScriptedSource:
    """The model's copy of a scripted source: returns `returned` (None: no answer)."""

    address: str
    returned: bytes | None

    def update(self, caller, price, now, interval):
        return self, self.returned


def scripted_source(behaviour):
    """A scripted source on the chain and its model copy. `behaviour`: the bytes it
    returns, REVERTS or BURNS."""
    address, _ = boa.env.deploy_code(bytecode=_SCRIPTED_INIT)
    return address, rescript(address, behaviour)


def rescript(address, behaviour) -> ScriptedSource:
    """Scripts the chain's source anew; returns its new model copy."""
    if behaviour == REVERTS:
        words, returned = (0xFF, 0, 0), None
    elif behaviour == BURNS:
        words, returned = (0xFE, 0, 0), None
    else:
        data = bytes(behaviour).ljust(64, b"\0")
        words = (len(behaviour), int.from_bytes(data[:32]), int.from_bytes(data[32:]))
        returned = bytes(behaviour)
    boa.env.execute_code(to_address=address, data=b"".join(w.to_bytes(32) for w in words))
    return ScriptedSource(address, returned)


def word(value: int) -> bytes:
    return (value % 2**256).to_bytes(32, "big")


# A Vyper source that records the gas it was given and answers 1 %.
GAS_PROBE = boa.loads_partial(
    """
# pragma version ~=0.4.3
gas_at_entry: public(uint256)

@external
def update(price: uint256, interval: uint256) -> uint256:
    self.gas_at_entry = msg.gas
    return 10**16
"""
)


# ---------------------------------------------------------------- the stage


@dataclass
class Stage:
    """The fixture's market with `long` long 1/3 base against `short` (20,000 USD of
    margin each, more in their wallets), and no cap source yet."""

    d: object
    long: str
    short: str


@pytest.fixture(scope="module")
def _stage(_deployment_module):
    d = _deployment_module
    with rolled_back(d.model):
        long, short = boa.env.generate_address("long"), boa.env.generate_address("short")
        for account in (long, short):
            d.fund(account, 100_000 * USD)
            call(d, account, "deposit", 20_000 * USD)
        call(d, d.operator, "trade", long, short, THIRD, 50_050 * WAD)
        yield Stage(d, long, short)


@pytest.fixture
def stage(_stage):
    """The staged market, rolled back (chain and model) after each test."""
    with rolled_back(_stage.d.model):
        yield _stage


def linked(stage, **kw):
    """A fresh VolatilityCap set as the stage's cap source; returns the contract."""
    d = stage.d
    contract, reference = deploy_volatility_cap(d, **kw)
    set_source(d, contract.address, reference)
    assert_cap_in_step(d, contract)
    return contract


# ---------------------------------------------------------------- random paths


@st.composite
def volatility_parameters(draw) -> VolatilityParameters:
    low, high = sorted(draw(st.lists(st.integers(MIN_CAP, MAX_CAP), min_size=2, max_size=2)))
    return VolatilityParameters(
        half_life=draw(
            st.sampled_from([MIN_HALF_LIFE, DAY, MAX_HALF_LIFE])
            | st.integers(MIN_HALF_LIFE, MAX_HALF_LIFE)
        ),
        multiplier=draw(st.integers(MIN_MULTIPLIER, MAX_MULTIPLIER)),
        cap_min=low,
        cap_max=high,
    )


gaps = st.one_of(
    st.sampled_from([0, 1, 60, 600, HOUR, 3 * HOUR, 8 * HOUR, DAY, 3 * DAY]),
    st.integers(1, 2 * DAY),
)
steps = st.tuples(
    gaps,
    # The index's move, parts per 10,000: none, small, a crash or a pump.
    st.just(0) | st.integers(-300, 300) | st.sampled_from([-4_000, -2_000, 5_000]),
    st.integers(-200, 200),  # the mark's premium over the index, basis points
    st.sampled_from(["fresh", "fresh", "fresh", "none", "index only"]),  # feed answers
    st.sampled_from(["accrue", "accrue", "settle", "trade", "parameters", "toggle"]),
    st.integers(-(10**15), 10**15),  # the interest a "parameters" step sets
    st.sampled_from([HOUR, 4 * HOUR, 8 * HOUR]),  # ... and its interval
)


@examples("stateful")
@given(
    params=volatility_parameters(),
    initial_sigma=st.integers(0, 10**17) | st.just(SIGMA),
    path=st.lists(steps, min_size=1, max_size=16),
)
def test_random_paths_equal_reference(_stage, params, initial_sigma, path):
    """After every step the chain and the reference hold the same cap, index and
    estimator; at the end, the same accounts and rate state. Stale stretches (no
    answer for more than max_age) ask the source nothing; interest changes make the
    cap rise to |I|; switching the source off and on again resumes its estimate."""
    stage, d = _stage, _stage.d  # rolled back example by example, below
    saved = copy.deepcopy(d.model.__dict__)
    try:
        with boa.env.anchor():
            run_path(stage, params, initial_sigma, path)
    finally:
        d.model.__dict__.clear()
        d.model.__dict__.update(saved)


def run_path(stage, params, initial_sigma, path):
    d = stage.d
    contract = linked(stage, params=params, initial_sigma=initial_sigma)
    kept = None  # the source's reference while it is switched off
    index = 50_000
    for gap, index_move, premium_bps, feeds, action, interest, interval in path:
        d.advance(gap)
        if feeds != "none":
            index = min(max(index * (10_000 + index_move) // 10_000, 1_000), 10**6)
            if feeds == "fresh":
                move(d, index, premium_bps)
            else:
                d.submit(index * ANSWER, None)
        if action == "accrue":
            both(d, d.owner, "accrue")
        elif action == "settle":
            both(d, d.owner, "settle", stage.long)
        elif action == "trade":
            price = d.market.sampled_price() * (10_000 + premium_bps) // 10_000
            both(d, d.operator, "trade", stage.long, stage.short, THIRD // 7, price)
        elif action == "parameters":
            cap = max(d.model.params.cap, abs(interest))
            set_rates(d, interval=interval, interest=interest, cap=cap)
        elif kept is None:  # "toggle": back to a fixed cap
            d.market.set_cap_source(ZERO_ADDRESS, sender=d.owner)
            kept = d.model.set_cap_source(d.owner, None)
        elif both(d, d.owner, "set_cap_source", contract.address, model_args=(kept,)):
            kept = None  # the same source again, its estimate where it was left
        assert_cap_in_step(d, contract)
        if kept is not None:
            assert state_of(contract) == kept.state
    assert_in_step(d, stage.long, stage.short)


# ---------------------------------------------------------------- documented behaviour


def test_the_seed_cap_is_in_force_from_the_second_the_source_is_set(stage):
    d = stage.d
    assert d.market.cap_source() == ZERO_ADDRESS and d.market.cap() == 75 * 10**14
    d.advance(600)
    move(d, 50_000)
    both(d, d.owner, "accrue")
    # Deployed and set in one second, at the price the market holds. A seed of 12 %
    # per 8 h: k * sigma = 3 %, between the clamps.
    contract, reference = deploy_volatility_cap(d, initial_sigma=12 * 10**16)
    logs = set_source(d, contract.address, reference)
    assert named(logs, "Accrued") == []  # the market accrued in this second already
    (changed,) = named(logs, "CapSourceChanged")
    assert changed.source == contract.address
    # sigma**2 = 1.44e34 divides by T = 28,800: the seed round-trips exactly.
    assert changed.cap == d.market.cap() == 3 * 10**16 == reference.effective_cap(8 * HOUR)
    assert state_of(contract) == reference.state  # a sample in its own second: nothing
    assert_cap_in_step(d, contract)

    # Set later, it samples the price the market holds then: 10 min of a flat price.
    later, reference = deploy_volatility_cap(d, initial_sigma=12 * 10**16)
    d.advance(600)
    move(d, 50_000)
    logs = set_source(d, later.address, reference)
    (accrued,), (changed,) = named(logs, "Accrued"), named(logs, "CapSourceChanged")
    # The accrual first, asking the old source: 10 min flat decay its estimate a little.
    assert accrued.cap == contract.effective_cap(8 * HOUR) < 3 * 10**16
    assert state_of(contract).updated_at == state_of(later).updated_at == d.model.now
    assert changed.cap == d.market.cap() == later.effective_cap(8 * HOUR) < 3 * 10**16
    assert_cap_in_step(d, later)
    assert_in_step(d, stage.long, stage.short)


def test_a_crash_lifts_the_cap_and_a_calm_stretch_holds_cap_min(stage):
    d = stage.d
    contract = linked(stage)
    assert d.market.cap() == PARAMS.cap_min  # the seed: k * sigma = exactly 0.5 %
    price = 50_000
    for hour in range(48):  # two calm days: hourly moves of +-0.1 %
        d.advance(HOUR)
        price = price * (1_001 if hour % 2 else 999) // 1_000
        move(d, price, 10)
        both(d, d.owner, "accrue")
        assert d.market.cap() == PARAMS.cap_min
        assert_cap_in_step(d, contract)
    calm = state_of(contract).variance
    d.advance(HOUR)
    move(d, price * 6 // 10, -200)  # -40 % within the hour, the perp 2 % below
    logs = [both(d, d.owner, "accrue"), d.market.get_logs()][1]
    assert named(logs, "Accrued")[0].cap == d.market.cap() == PARAMS.cap_max
    assert state_of(contract).variance > 100 * calm
    assert_cap_in_step(d, contract)
    # The next interval's rate reaches the damped premium, beyond the old fixed 0.75 %.
    d.advance(16 * HOUR)
    both(d, d.owner, "accrue")
    assert d.market.current_rate() == d.model.current_rate() < -75 * 10**14
    assert_in_step(d, stage.long, stage.short)


def test_a_source_change_is_charged_from_the_second_it_happens(stage):
    """The fixed cap (0.75 %) up to the change, the source's cap (4 %) from it: the
    index is the two pieces integrated apart, to the wei."""
    d, m = stage.d, stage.d.market
    d.advance(1)
    move(d, 50_000, 500)  # the perp 5 % above: the rate is capped, either cap
    both(d, d.owner, "accrue")
    d.advance(9 * HOUR)
    move(d, 50_000, 500)
    both(d, d.owner, "accrue")  # an interval closed near +5 %: the rate sits at the cap
    assert m.current_rate() == 75 * 10**14
    t0, index0, state0 = m.last_accrual(), m.funding_index(), d.model.interval_state
    price, held = m.sampled_price(), m.sampled_premium()
    params0 = d.model.params
    snapshot, margin = m.accounts(stage.long).index_snapshot, m.accounts(stage.long).margin

    d.advance(2 * HOUR)
    contract, reference = deploy_volatility_cap(d, initial_sigma=10**18)  # k * 100 %: cap_max
    set_source(d, contract.address, reference)
    t1 = d.model.now
    assert m.cap() == PARAMS.cap_max
    d.advance(3 * HOUR)
    both(d, d.owner, "settle", stage.long)
    t2 = d.model.now

    rate_time, state1 = project(params0, state0, held, t0, t1)
    expected = index0 + funding_delta(price, rate_time, params0.interval)
    linked_params = replace(params0, cap=PARAMS.cap_max)
    rate_time, _ = project(linked_params, state1, held, t1, t2)
    expected += funding_delta(price, rate_time, params0.interval)
    assert m.funding_index() == expected
    assert m.current_rate() == PARAMS.cap_max  # 4 %: no longer 0.75 %
    assert m.accounts(stage.long).index_snapshot == expected
    paid = owed(THIRD, snapshot, expected)
    assert m.accounts(stage.long).margin == margin - paid and paid > 0
    assert_in_step(d, stage.long, stage.short)

    # Back to a fixed cap: the cap in force stays until set_rate_parameters replaces it.
    d.advance(HOUR)
    logs = set_source(d, ZERO_ADDRESS, None)
    assert named(logs, "CapSourceChanged")[0].cap == m.cap() == PARAMS.cap_max
    move(d, 30_000, 500)
    d.advance(HOUR)
    both(d, d.owner, "accrue")
    assert m.cap() == PARAMS.cap_max and state_of(contract).updated_at == t1
    set_rates(d, cap=75 * 10**14)
    assert m.cap() == 75 * 10**14
    assert_in_step(d, stage.long, stage.short)


def test_a_cap_below_the_interest_is_raised_to_it(stage):
    d = stage.d
    p = d.model.params
    set_rates(d, interest=-(10**15))  # |I| = 0.1 %
    low = VolatilityParameters(cap_min=MIN_CAP, cap_max=MAX_CAP)
    contract = linked(stage, params=low, initial_sigma=0)  # the source answers 0.01 %
    assert contract.effective_cap(p.interval) == MIN_CAP
    assert d.market.cap() == 10**15
    d.advance(HOUR)
    move(d, 50_000)
    both(d, d.owner, "accrue")
    assert d.market.cap() == 10**15
    # A lower interest lets the source's own cap through at the next sample.
    set_rates(d, interest=0, cap=10**15)
    d.advance(HOUR)
    move(d, 50_000)
    both(d, d.owner, "accrue")
    assert d.market.cap() == contract.effective_cap(p.interval) == MIN_CAP
    assert_cap_in_step(d, contract)
    assert_in_step(d, stage.long, stage.short)


def test_rate_parameters_cap_stands_until_the_next_sample(stage):
    d, m = stage.d, stage.d.market
    contract = linked(stage)
    p = d.model.params
    d.advance(HOUR)
    set_rates(d, cap=2 * 10**16)
    assert m.cap() == 2 * 10**16  # the owner's cap, in force until the source answers
    both(d, d.owner, "accrue")  # the same second: nothing is sampled
    assert m.cap() == 2 * 10**16
    d.advance(HOUR)
    move(d, 50_000)
    both(d, d.owner, "accrue")
    assert m.cap() == contract.effective_cap(p.interval) == PARAMS.cap_min
    assert_cap_in_step(d, contract)


def test_an_interval_change_reprices_the_cap_at_the_next_sample(stage):
    d, m = stage.d, stage.d.market
    contract = linked(stage, initial_sigma=8 * 10**16)  # k * 8 % = 2 % per 8 h
    assert m.cap() == 2 * 10**16 - 1
    set_rates(d, interval=HOUR)
    d.advance(60)
    move(d, 50_000)
    both(d, d.owner, "accrue")
    # The same variance rate over 1 h: sqrt(8) times less, about 0.707 %.
    assert m.cap() == contract.effective_cap(HOUR) == d.model.params.cap
    assert 70 * 10**14 < m.cap() < 71 * 10**14
    assert_cap_in_step(d, contract)


def test_an_unusable_index_asks_the_source_nothing(stage):
    d, m = stage.d, stage.d.market
    contract = linked(stage)
    before = state_of(contract)
    d.advance(2 * HOUR)  # both answers are now older than max_age
    both(d, d.owner, "accrue")
    (accrued,) = named(m.get_logs(), "Accrued")
    assert accrued.index_status != 0 and accrued.cap == m.cap()
    assert state_of(contract) == before
    # The mark alone fresh: still no sample of the index.
    d.submit(None, 50_100 * ANSWER)
    d.advance(60)
    both(d, d.owner, "accrue")
    assert state_of(contract) == before
    # The index back: the return over the whole outage is one sample.
    d.submit(40_000 * ANSWER, None)
    d.advance(60)
    both(d, d.owner, "accrue")
    assert state_of(contract).updated_at == d.model.now
    assert m.cap() > PARAMS.cap_min
    assert_cap_in_step(d, contract)


# ---------------------------------------------------------------- sources that misbehave

GARBAGE = [
    pytest.param(REVERTS, id="reverts"),
    pytest.param(BURNS, id="burns its gas"),
    pytest.param(b"", id="no answer"),
    pytest.param(word(10**16)[:31], id="31 bytes"),
    pytest.param(word(0), id="zero"),
    pytest.param(word(MIN_CAP - 1), id="below 0.01 %"),
    pytest.param(word(MAX_CAP + 1), id="above 4 %"),
    pytest.param(word(2**256 - 1), id="uint256 max"),
    pytest.param(word(-(10**16)), id="a negative int256"),
    pytest.param(word(MAX_CAP + 1) + word(10**16), id="64 bytes, the first out of range"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_a_misbehaving_source_never_blocks_accrual(stage, garbage):
    """A source that answered 1 % starts to misbehave: every call that accrues still
    works, the cap stays at 1 %, and the chain and the reference agree."""
    d, m = stage.d, stage.d.market
    address, reference = scripted_source(word(10**16))
    set_source(d, address, reference)
    assert m.cap() == 10**16
    d.model.cap_source = rescript(address, garbage)
    for hour, (call_name, args) in enumerate(
        [
            ("accrue", ()),
            ("settle", (stage.long,)),
            ("trade", (stage.long, stage.short, THIRD // 3)),
            ("withdraw", (USD,)),
            ("deposit", (USD,)),
            ("liquidate", (stage.short,)),
        ]
    ):
        d.advance(HOUR)
        move(d, 50_000 - 10 * hour, 30)
        if call_name == "trade":
            args = (*args, d.market.sampled_price() * 10_030 // 10_000)
        caller = {"trade": d.operator, "withdraw": stage.long, "deposit": stage.long}
        succeeded = both(d, caller.get(call_name, d.owner), call_name, *args)
        assert succeeded == (call_name != "liquidate")  # the short is well margined
        assert m.cap() == 10**16
        assert_cap_in_step(d)
    assert_in_step(d, stage.long, stage.short)


def test_a_longer_answer_counts_by_its_first_word(stage):
    d, m = stage.d, stage.d.market
    address, reference = scripted_source(word(2 * 10**16) + word(7))
    set_source(d, address, reference)
    assert m.cap() == 2 * 10**16 == d.model.params.cap
    assert cap_answer(word(2 * 10**16) + word(7)) == 2 * 10**16


@pytest.mark.parametrize("garbage", GARBAGE)
def test_a_misbehaving_source_cannot_be_set(stage, garbage):
    d = stage.d
    address, reference = scripted_source(garbage)
    d.advance(HOUR)
    reject(
        d,
        d.owner,
        "set_cap_source",
        address,
        reason=NO_CAP_SOURCE,
        accounts=(stage.long, stage.short),
        model_args=(d.owner, reference),
    )
    assert d.market.cap_source() == ZERO_ADDRESS


def test_an_account_without_code_or_another_markets_source_cannot_be_set(stage):
    d = stage.d
    nobody = boa.env.generate_address("nobody")
    reject(
        d,
        d.owner,
        "set_cap_source",
        nobody,
        reason=NO_CAP_SOURCE,
        model_args=(d.owner, ScriptedSource(nobody, b"")),
    )
    elsewhere = boa.env.generate_address("another market")
    contract, reference = deploy_volatility_cap(d, market=elsewhere)
    reject(
        d,
        d.owner,
        "set_cap_source",
        contract.address,
        reason=NO_CAP_SOURCE,
        model_args=(d.owner, reference),
    )
    with boa.reverts("volatility_cap: caller is not the market"):
        contract.update(50_000 * WAD, 8 * HOUR, sender=d.owner)


def test_no_caller_can_starve_the_source():
    """Whatever gas a caller sends, an accrual that asks the source either gives it
    the whole stipend or reverts: it never goes on past a source that failed for want
    of gas. A source that burns its gas costs an accrual the stipend, no more."""
    with boa.env.anchor():
        d = deploy()
        probe = GAS_PROBE.deploy()
        d.market.set_cap_source(probe.address, sender=d.owner)
        outcomes = set()
        for limit in range(100_000, 200_001, 1_000):
            d.advance(60)
            move(d, 50_000)
            with boa.env.anchor():
                try:
                    d.market.accrue(sender=d.owner, gas=limit)
                except boa.BoaError as error:
                    outcomes.add(TOO_LITTLE_GAS if TOO_LITTLE_GAS in str(error) else "other")
                    continue
                outcomes.add("accrued")
                assert CAP_SOURCE_GAS - 200 <= probe.gas_at_entry() <= CAP_SOURCE_GAS
        # Too little gas is refused with a reason (or runs out elsewhere); every
        # accrual that went through gave the source its whole stipend.
        assert {TOO_LITTLE_GAS, "accrued"} <= outcomes <= {TOO_LITTLE_GAS, "other", "accrued"}

        address, _ = scripted_source(word(10**16))
        d.market.set_cap_source(address, sender=d.owner)
        used = []
        for behaviour in (word(10**16), BURNS):
            rescript(address, behaviour)
            d.advance(60)
            move(d, 50_000)
            d.market.accrue(sender=d.owner)
            used.append(d.market._computation.get_gas_used())
        answering, burning = used
        assert answering < burning <= answering + CAP_SOURCE_GAS
        assert d.market.cap() == 10**16


# ---------------------------------------------------------------- access control


def test_only_the_owner_sets_the_cap_source(stage):
    d = stage.d
    contract, reference = deploy_volatility_cap(d)
    for caller in (d.operator, d.feeder, stage.long, boa.env.generate_address("anyone")):
        reject(
            d,
            caller,
            "set_cap_source",
            contract.address,
            reason=NOT_OWNER,
            accounts=(stage.long, stage.short),
            model_args=(caller, reference),
        )
        reject(
            d,
            caller,
            "set_cap_source",
            ZERO_ADDRESS,
            reason=NOT_OWNER,
            accounts=(stage.long, stage.short),
            model_args=(caller, None),
        )
    assert d.market.cap_source() == ZERO_ADDRESS and state_of(contract) == reference.state
    set_source(d, contract.address, reference)
    assert d.market.cap_source() == contract.address
    assert_in_step(d, stage.long, stage.short)


# ---------------------------------------------------------------- VolatilityCap alone


def test_volatility_cap_is_bound_to_its_market(stage):
    d = stage.d
    contract, reference = deploy_volatility_cap(d)
    (initialised,) = contract.get_logs()
    assert (initialised.market, initialised.price) == (d.market.address, d.market.sampled_price())
    assert initialised.timestamp == d.model.now and initialised.initial_sigma == SIGMA
    assert contract.market() == d.market.address
    assert state_of(contract) == reference.state
    assert contract.effective_cap(8 * HOUR) == reference.effective_cap(8 * HOUR) == PARAMS.cap_min
    for caller in (d.owner, stage.long):
        with boa.reverts("volatility_cap: caller is not the market"):
            contract.update(40_000 * WAD, 8 * HOUR, sender=caller)
        assert reference.update(caller, 40_000 * WAD, d.model.now + 1, 8 * HOUR) == (
            reference,
            None,
        )
    assert state_of(contract) == reference.state
    d.advance(HOUR)
    after, returned = reference.update(d.market.address, 40_000 * WAD, d.model.now, 8 * HOUR)
    answer = contract.update(40_000 * WAD, 8 * HOUR, sender=d.market.address)
    assert returned == word(answer) and state_of(contract) == after.state
    assert cap_answer(returned) == after.effective_cap(8 * HOUR) == answer


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (dict(market=ZERO_ADDRESS), "volatility_cap: market is the zero address"),
        (dict(params=replace(PARAMS, half_life=MIN_HALF_LIFE - 1)), None),
        (dict(params=replace(PARAMS, multiplier=MAX_MULTIPLIER + 1)), None),
        (dict(params=replace(PARAMS, cap_min=MIN_CAP - 1)), None),
        (dict(params=replace(PARAMS, cap_max=PARAMS.cap_min - 1)), None),
        (dict(initial_sigma=WAD + 1), "volatility_cap: initial sigma above 100 %"),
        (dict(interval=HOUR - 1), "volatility_cap: interval outside 1 h..8 h"),
    ],
)
def test_volatility_cap_rejects_what_the_reference_rejects(stage, change, reason):
    d = stage.d
    kw = dict(params=PARAMS, initial_sigma=SIGMA, interval=8 * HOUR, market=d.market.address)
    kw |= change
    reason = reason or kw["params"].rejection()
    with pytest.raises(VolatilityRejected) as rejected:
        VolatilityCapSource.deploy(
            "source", kw["market"], WAD, 0, kw["params"], kw["initial_sigma"], kw["interval"]
        )
    assert str(rejected.value) == reason
    with boa.reverts(reason):
        deploy_volatility_cap(d, **kw)


# ---------------------------------------------------------------- the audit


def initialised_args(contract) -> dict:
    """The arguments of a just-deployed VolatilityCap's VolatilityCapInitialised."""
    ((_, address, topics, data),) = contract._computation.get_raw_log_entries()
    raw = {
        "topics": ["0x" + topic.to_bytes(32, "big").hex() for topic in topics],
        "data": "0x" + bytes(data).hex(),
        "blockNumber": "0x1",
        "transactionHash": "0x" + "00" * 32,
        "logIndex": "0x0",
    }
    return EventDecoder(contract.abi).decode(raw).args


def linked_market_run():
    """A market whose cap source is set, switched off, set again and replaced, through
    crashes, calm, a stale stretch and an interest change; its tape and its sources."""
    d = deploy()
    tape = Tape(d)
    long, short = boa.env.generate_address("long"), boa.env.generate_address("short")
    for account in (long, short):
        d.token.mint(account, 100_000 * USD, sender=d.owner)
        d.token.approve(d.market, 2**256 - 1, sender=account)
        tape.send("deposit", 20_000 * USD, sender=account)
    tape.send("trade", long, short, THIRD, 50_050 * WAD, sender=d.operator)
    sources = {}

    def new_source(**kw):
        contract, _ = deploy_volatility_cap(d, **kw)
        sources[contract.address] = (contract, initialised_args(contract))
        return contract

    first = new_source()
    tape.send("set_cap_source", first.address, sender=d.owner)
    price = 50_000
    for hour in range(1, 30):
        d.advance(HOUR)
        if hour == 10:
            price = price * 6 // 10  # a crash
        elif hour in (14, 15):
            continue  # the feeds fall silent: stale readings, nothing sampled
        else:
            price = price * (1_002 if hour % 2 else 999) // 1_000
        move(d, price, 40 - 5 * hour)
        tape.send(
            "accrue" if hour % 3 else "settle", *(() if hour % 3 else (long,)), sender=d.owner
        )
        if hour == 18:
            tape.send(
                "set_rate_parameters", 8 * HOUR, -(10**15), 5 * 10**14, 10**16, sender=d.owner
            )
        if hour == 20:
            tape.send("set_cap_source", ZERO_ADDRESS, sender=d.owner)
        if hour == 23:
            tape.send("set_cap_source", first.address, sender=d.owner)
        if hour == 26:
            tape.send("set_cap_source", new_source(initial_sigma=10**17).address, sender=d.owner)
    mark = d.mark_oracle.latestRoundData()[1] * 10**10  # 8 decimals to WAD
    tape.send("trade", short, long, THIRD // 2, mark, sender=d.operator)
    tape.send("settle", short, sender=d.owner)
    return d, tape, sources


def audit_linked(d, raw, sources, *, rebuild=True, params=None):
    account, totals = final_state(d.market)

    def cap_sources(address):
        contract, args = sources[address]
        if params is not None:
            args = dict(args) | {f: getattr(params, f) for f in ("multiplier",)}
        return volatility_cap_source(address, args)

    return audit_events(
        decode_logs(iter(raw), d.market.abi),
        account,
        final_market=totals,
        cap_sources=cap_sources if rebuild else None,
        final_sources=lambda address: tuple(sources[address][0].volatility_state()),
    )


@pytest.fixture
def linked_run():
    with boa.env.anchor():
        yield linked_market_run()


def test_the_audit_recomputes_every_cap(linked_run):
    d, tape, sources = linked_run
    result = audit_linked(d, tape.raw, sources)
    assert result.mismatches == [] and result.passed
    assert result.calls["set_cap_source"] == 4 and result.unchecked_caps == 0
    assert result.final_state_compared
    caps = {point.cap for point in result.accruals.items()}
    assert {PARAMS.cap_min, PARAMS.cap_max, 10**16} <= caps  # calm, crash, the owner's cap
    assert d.market.cap() == result.accruals.last.cap


@pytest.mark.parametrize(
    ("event", "word_index", "quantity"),
    [("Accrued", 8, "Accrued.cap"), ("CapSourceChanged", 1, "CapSourceChanged.cap")],
)
def test_a_cap_one_wei_off_is_named(linked_run, event, word_index, quantity):
    d, tape, sources = linked_run
    result = audit_linked(d, _tamper(tape.raw, event, d.market.abi, word_index, 1), sources)
    first = result.mismatches[0]
    assert (first.quantity, first.actual) == (quantity, first.expected + 1)


def test_a_source_rebuilt_wrong_shows_in_the_caps(linked_run):
    d, tape, sources = linked_run
    result = audit_linked(d, tape.raw, sources, params=replace(PARAMS, multiplier=3 * 10**17))
    quantities = {m.quantity for m in result.mismatches}
    assert "Accrued.cap" in quantities or "CapSourceChanged.cap" in quantities


def test_a_source_the_audit_cannot_rebuild_is_counted_unchecked(linked_run):
    d, tape, sources = linked_run
    result = audit_linked(d, tape.raw, sources, rebuild=False)
    assert result.mismatches == [] and result.passed
    assert result.unchecked_caps > 20
    # A pass that took caps on trust says so in its one line, and in the report.
    assert result.summary().endswith(f", {result.unchecked_caps} caps taken as logged")


def test_the_sources_are_read_from_a_node(stage):
    """cap_source_reader, as `audit_market` uses it over JSON-RPC: a VolatilityCap is
    rebuilt from the log of its deployment block, its stored state read by eth_call;
    a contract that never logged VolatilityCapInitialised gives None."""
    d = stage.d
    contract, reference = deploy_volatility_cap(d, initial_sigma=7 * 10**16)
    args = initialised_args(contract)
    scripted, _ = scripted_source(word(10**16))
    deployed, head = {contract.address: 300, scripted: 400}, 1_000
    entry = next(e for e in contract.abi if e.get("name") == "VolatilityCapInitialised")
    initialised = "0x" + event_abi_to_log_topic(entry).hex()

    def request(method, params):
        if method == "eth_getCode":
            address, block = params[0], int(params[1], 16)
            return "0x6001" if block >= deployed[address] else "0x"
        if method == "eth_call":
            call_ = boa.env.execute_code(
                to_address=params[0]["to"], data=bytes.fromhex(params[0]["data"][2:])
            )
            return "0x" + bytes(call_.output).hex()
        (query,) = params
        assert query["topics"] == [initialised]
        block = int(query["fromBlock"], 16)
        if query["address"] != contract.address or block != deployed[contract.address]:
            return []
        _, _, topics, data = contract._computation.get_raw_log_entries()[0]
        return [
            {
                "topics": ["0x" + t.to_bytes(32, "big").hex() for t in topics],
                "data": "0x" + bytes(data).hex(),
                "blockNumber": hex(block),
                "transactionHash": "0x" + "00" * 32,
                "logIndex": "0x0",
            }
        ]

    rebuild, state = cap_source_reader(request, head, abi=contract.abi)
    assert rebuild(contract.address) == reference == volatility_cap_source(contract.address, args)
    assert rebuild(scripted) is None
    assert state(contract.address) == astuple(reference.state)
