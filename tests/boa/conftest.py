"""Fixtures for the titanoboa layer: actors, a deployed market, its reference model.

Hypothesis profiles: ``ci`` (default, keeps ``make test`` well under 10 minutes on
2 cores), ``quick`` (edit-test loops), ``deep`` (long campaigns; run with
``HYPOTHESIS_PROFILE=deep make test-deep``) and ``mutation`` (``make mutate``: the
quick profile's examples, the same ones every run, and no shrinking, so a
mutant's first failure ends its run).
"""

import copy
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boa
import pytest
from hypothesis import HealthCheck, Phase, settings

sys.path.insert(0, str(Path(__file__).parent))

from deployers import MARKET, ORACLE, RATE_MODELS, TOKEN  # noqa: E402
from eth._utils.address import generate_contract_address  # noqa: E402

from fundingkit.deployment import market_constructor_args  # noqa: E402
from fundingkit.feeds import MockFeed  # noqa: E402
from fundingkit.market import ZERO_ADDRESS, MarketModel, Rejected, RiskParameters  # noqa: E402
from fundingkit.models import deployed  # noqa: E402
from fundingkit.models.external_rate import ExternalParameters  # noqa: E402
from fundingkit.models.skew_rate import SkewParameters  # noqa: E402
from fundingkit.models.velocity_rate import VelocityParameters  # noqa: E402
from fundingkit.rates import RateParameters  # noqa: E402

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.register_profile("quick", max_examples=30, **_COMMON)
settings.register_profile("ci", max_examples=300, **_COMMON)
settings.register_profile("deep", max_examples=10_000, **_COMMON)
settings.register_profile(
    "mutation",
    max_examples=30,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    **_COMMON,
)
settings.load_profile(PROFILE)

# Per kind of test, examples per profile: pure formulas are cheap (a view call),
# a stateful sequence runs ~40 transactions on the EVM interpreter.
EXAMPLES = {
    "math": {"quick": 100, "ci": 2_000, "deep": 100_000, "mutation": 100},
    "stateful": {"quick": 10, "ci": 80, "deep": 10_000, "mutation": 10},
}


# A campaign can set the number of stateful sequences and their length directly.
if os.environ.get("FUNDINGKIT_STATEFUL_EXAMPLES"):
    EXAMPLES["stateful"][PROFILE] = int(os.environ["FUNDINGKIT_STATEFUL_EXAMPLES"])
STATEFUL_STEPS = int(os.environ.get("FUNDINGKIT_STATEFUL_STEPS", "40"))


class Campaign:
    """Progress of a long stateful campaign: with FUNDINGKIT_CAMPAIGN_LOG set, a
    line per 100 sequences (count, minutes) is appended to that file, so a run of
    hours shows how far it got. Hypothesis itself reports only at the end."""

    def __init__(self, path: str | None, every: int = 100):
        self.path, self.every = path, every
        self.sequences = 0
        self.started = time.monotonic()

    def sequence_done(self) -> None:
        self.sequences += 1
        if self.path and self.sequences % self.every == 0:
            minutes = (time.monotonic() - self.started) / 60
            with open(self.path, "a") as log:
                log.write(f"{self.sequences} sequences, {minutes:.1f} min, no failure so far\n")


campaign = Campaign(os.environ.get("FUNDINGKIT_CAMPAIGN_LOG"))


def examples(kind: str) -> settings:
    """Settings for one kind of property test under the active profile."""
    return settings(max_examples=EXAMPLES[kind][PROFILE])


START_TIME = 1_700_000_000
# One set of actors for every deployment. A deployment inside a rolled-back anchor then
# lands at the same addresses each time: py-evm keeps a journal per account ever
# touched and checkpoints all of them at every message call, so fresh addresses per
# deployment would make each call slower than the last over a long campaign.
OWNER = boa.env.generate_address("owner")
OPERATOR = boa.env.generate_address("operator")
FEEDER = boa.env.generate_address("feeder")
RATE_PROVIDER = boa.env.generate_address("rate provider")
INDEX_PRICE = 50_000 * 10**8  # 8-decimal feed answers, as Chainlink's BTC / USD
MARK_PRICE = 50_050 * 10**8
TOKEN_DECIMALS = 6
DEFAULTS = dict(
    params=RateParameters(),
    max_age=3_600,
    risk=RiskParameters(),
)


@dataclass
class Deployment:
    """A market on titanoboa and its reference model, in step."""

    token: object
    index_oracle: object
    mark_oracle: object
    market: object
    model: MarketModel
    owner: str
    operator: str
    feeder: str
    rate_model: object = None  # the rate model contract, if the market has one
    rate_provider: str | None = None  # an external rate model's provider

    def set_time(self, timestamp: int) -> None:
        boa.env.evm.patch.timestamp = timestamp
        self.model.now = timestamp

    def advance(self, seconds: int) -> None:
        self.set_time(self.model.now + seconds)

    def submit(self, index_answer: int | None = None, mark_answer: int | None = None) -> None:
        """Feeder pushes new answers to the chain's oracles and the model's."""
        with boa.env.prank(self.feeder):
            if index_answer is not None:
                self.index_oracle.submit(index_answer)
                self.model.index_feed.submit(index_answer, self.model.now)
            if mark_answer is not None:
                self.mark_oracle.submit(mark_answer)
                self.model.mark_feed.submit(mark_answer, self.model.now)

    def fund(self, trader: str, amount: int) -> None:
        """Mints `amount` tokens to `trader` and approves the market for all."""
        self.token.mint(trader, amount, sender=self.owner)
        self.token.approve(self.market, 2**256 - 1, sender=trader)
        self.model.mint(trader, amount)
        self.model.approve(trader, 2**256 - 1)


def deploy(
    *,
    params: RateParameters = DEFAULTS["params"],
    max_age: int = DEFAULTS["max_age"],
    risk: RiskParameters = DEFAULTS["risk"],
    vault: str = ZERO_ADDRESS,
    token_decimals: int = TOKEN_DECIMALS,
    index_answer: int = INDEX_PRICE,
    mark_answer: int = MARK_PRICE,
    rate_model: VelocityParameters | SkewParameters | ExternalParameters | None = None,
) -> Deployment:
    """A market (with its rate model contract, when `rate_model` gives its
    parameters) and its reference, in step at START_TIME."""
    owner, operator, feeder = OWNER, OPERATOR, FEEDER
    boa.env.evm.patch.timestamp = START_TIME
    with boa.env.prank(owner):
        token = TOKEN.deploy("Test USD", "TUSD", token_decimals)
        index_oracle = ORACLE.deploy(8, "BTC / USD", feeder)
        mark_oracle = ORACLE.deploy(8, "BTC-PERP / USD", feeder)
    index_feed, mark_feed = MockFeed(8), MockFeed(8)
    with boa.env.prank(feeder):
        index_oracle.submit(index_answer)
        mark_oracle.submit(mark_answer)
    index_feed.submit(index_answer, START_TIME)
    mark_feed.submit(mark_answer, START_TIME)
    model_contract, model_reference, rate_provider = None, None, None
    if rate_model is not None:
        rate_provider = RATE_PROVIDER
        model_contract, model_reference = _deploy_rate_model(rate_model, owner, rate_provider)
    with boa.env.prank(owner):
        market = MARKET.deploy(
            *market_constructor_args(
                token,
                index_oracle,
                mark_oracle,
                operator,
                params,
                max_age=max_age,
                risk=risk,
                vault=vault,
                rate_model=model_contract.address if model_contract else ZERO_ADDRESS,
            )
        )
    model = MarketModel(
        now=START_TIME,
        owner=owner,
        operator=operator,
        index_feed=index_feed,
        mark_feed=mark_feed,
        params=params,
        collateral_decimals=token_decimals,
        max_age=max_age,
        risk=risk,
        insurance=market.address,
        vault=vault,
        rate_model=model_reference,
    )
    return Deployment(
        token,
        index_oracle,
        mark_oracle,
        market,
        model,
        owner,
        operator,
        feeder,
        model_contract,
        rate_provider,
    )


def _deploy_rate_model(params, owner: str, rate_provider: str):
    """Deploys the rate model contract for the address the owner's next deployment
    (the market) will have; returns it and its reference."""
    nonce = boa.env.evm.vm.state.get_nonce(boa.environment.Address(owner).canonical_address)
    market = boa.environment.Address(
        generate_contract_address(boa.environment.Address(owner).canonical_address, nonce + 1)
    )
    name, args = deployed.constructor(params, market, rate_provider)
    with boa.env.prank(owner):
        contract = RATE_MODELS[name].deploy(*args)
    return contract, deployed.reference(params, market, owner, START_TIME, rate_provider)


@pytest.fixture(scope="module")
def _deployment_module():
    with boa.env.anchor():
        yield deploy()


@contextmanager
def rolled_back(model: MarketModel):
    """Everything the block changes on the chain and in ``model`` is undone after it."""
    saved = copy.deepcopy(model.__dict__)
    try:
        with boa.env.anchor():
            yield
    finally:
        model.__dict__.clear()
        model.__dict__.update(saved)


PROBE = "probe: roll back"


def reference_allows(model: MarketModel, name: str, *args) -> bool:
    """Whether the reference accepts the call now; nothing changes either way (the
    model's own rollback undoes it, far cheaper than a deep copy)."""
    try:
        with model._transaction():
            getattr(model, name)(*args)
            raise Rejected(PROBE)
    except Rejected as rejection:
        return rejection.reason == PROBE


@pytest.fixture
def deployment(_deployment_module):
    """A fresh market per test: every change is rolled back afterwards."""
    with rolled_back(_deployment_module.model):
        yield _deployment_module


@pytest.fixture
def market(deployment):
    return deployment.market


@pytest.fixture
def owner(deployment):
    return deployment.owner


@pytest.fixture
def operator(deployment):
    return deployment.operator


@pytest.fixture
def feeder(deployment):
    return deployment.feeder


@pytest.fixture
def trader():
    return boa.env.generate_address("trader")


@pytest.fixture
def counterparty():
    return boa.env.generate_address("counterparty")


@pytest.fixture
def non_owner():
    return boa.env.generate_address("non_owner")
