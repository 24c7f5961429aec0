"""Deploying a fundingkit market with Ape, recording it, and mirroring it in the reference.

The one place that deploys: scripts and the Ape tests all go through ``deploy``.

* ``MarketConfig`` -- the market's parameters and the feeds' first answers.
* ``deploy(deployer, config)`` -- CollateralToken (6 decimals, "Test USD"/"TUSD"),
  two MockOracles (8 decimals, "BTC / USD" index and "BTC-PERP / USD" mark, fed by
  the deployer) with their first answers, then FundingMarket. Returns a
  ``Deployment``: the Ape contract instances, the roles, and when each step landed.
* ``Deployment.reference_model()`` -- a ``MarketModel`` in the state the fresh
  market is in (its feeds hold the first answers at the block timestamps they were
  submitted at).
* ``InStep`` -- a deployment and its model driven together: every transaction is
  sent on chain, and the model replays it with ``now`` set to the receipt's block
  timestamp. ``InStep.compare()`` lists every chain value next to the model's.
* ``record_deployment`` / ``load_deployment`` -- ``<network>.json`` (addresses, roles,
  block, parameters) in ``deployments/`` for public networks and in the git-ignored
  ``.ape/deployments/`` for machine-local ones (``default_directory``); loading raises
  ``NoDeploymentRecorded`` when the network has none.
* ``deploy_market`` -- what ``ape run deploy`` does: deploy, then record, refusing to
  replace a record unless forced; on Ape's own anvil (which stops with the process) it
  also saves the node's state, which ``restore_node_state`` loads into the next run's
  anvil.
* ``read_market_config`` -- a ``MarketConfig`` from a TOML file (``config/market.toml``).
* ``model_from_chain`` -- a reference model of a live market's current state, which
  predicts exactly what the market does with accounts that were empty when it was read.

Ape is imported inside the functions that need it, so ``import fundingkit`` (and even
``import fundingkit.deployment`` for reading a record) works without Ape.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
import tomllib
from dataclasses import asdict, astuple, dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

from fundingkit.feeds import FeedStatus, MockFeed, Reading, Round, read_round
from fundingkit.market import ZERO_ADDRESS, Account, MarketModel, Rejected, RiskParameters
from fundingkit.rates import FORMULAS, HOUR, PREMIUM_CLAMP, IntervalState, RateParameters

TOKEN_NAME = "Test USD"
TOKEN_SYMBOL = "TUSD"
TOKEN_DECIMALS = 6
FEED_DECIMALS = 8
INDEX_DESCRIPTION = "BTC / USD"
MARK_DESCRIPTION = "BTC-PERP / USD"

ROOT = Path(__file__).resolve().parents[1]
#: Where records of public networks live (meant to be committed): <repo>/deployments/.
DEPLOYMENTS_DIR = ROOT / "deployments"
#: Where records of machine-local networks live (git-ignored): <repo>/.ape/deployments/.
LOCAL_DEPLOYMENTS_DIR = ROOT / ".ape" / "deployments"
#: An environment variable naming a directory that replaces both (tests use it).
DEPLOYMENTS_ENV = "FUNDINGKIT_DEPLOYMENTS"
RECORD_FORMAT = 1


@dataclass(frozen=True)
class MarketConfig:
    """FundingMarket's constructor parameters and the feeds' first answers.

    Rates are WAD fractions per interval; the answers have ``FEED_DECIMALS`` digits.
    """

    interval: int = 8 * HOUR
    interest: int = 10**14  # 0.01 % per interval
    dampener: int = 5 * 10**14  # 0.05 %
    cap: int = 75 * 10**14  # 0.75 %
    max_age: int = 3_600
    initial_margin_ratio: int = 10**17  # 10 %
    maintenance_margin_ratio: int = 5 * 10**16  # 5 %
    price_band: int = 10**16  # 1 %
    liquidation_fee: int = 5 * 10**15  # 0.5 % of the liquidated notional
    funding_horizon: int = 0  # seconds of forecast funding in the margin checks
    formula: int = PREMIUM_CLAMP  # or LINEAR, PREMIUM_ONLY (fundingkit.rates)
    index_answer: int = 50_000 * 10**FEED_DECIMALS  # USD per BTC
    mark_answer: int = 50_050 * 10**FEED_DECIMALS

    @property
    def rate_parameters(self) -> RateParameters:
        return RateParameters(
            self.interval, self.interest, self.dampener, self.cap, formula=self.formula
        )

    @property
    def risk_parameters(self) -> RiskParameters:
        return RiskParameters(
            self.initial_margin_ratio,
            self.maintenance_margin_ratio,
            self.price_band,
            self.liquidation_fee,
            self.funding_horizon,
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarketConfig:
        return cls(**{name: int(value) for name, value in data.items()})


@dataclass(frozen=True)
class MarketAccount:
    """One account's state in the market, as ``FundingMarket.accounts`` returns it."""

    margin: int
    position: int
    index_snapshot: int


@dataclass
class Deployment:
    """A deployed market: Ape contract instances, roles, and when each step landed."""

    token: Any
    index_oracle: Any
    mark_oracle: Any
    market: Any
    deployer: Any  # owner of everything, minter, feeder
    operator: Any
    config: MarketConfig
    block: int  # the market's deployment block
    timestamp: int  # ... and its timestamp
    index_submitted_at: int  # block timestamp of the index feed's first answer
    mark_submitted_at: int
    # A rate model contract the market was deployed with (MATH.md §18), its
    # parameters, its deployment time and (external model) its rate provider.
    rate_model: Any = None
    rate_model_parameters: Any = None
    rate_model_deployed_at: int = 0
    rate_provider: Any = None

    @property
    def feeder(self):
        return self.deployer

    def addresses(self) -> dict[str, str]:
        return {
            "token": str(self.token.address),
            "index_oracle": str(self.index_oracle.address),
            "mark_oracle": str(self.mark_oracle.address),
            "market": str(self.market.address),
            "owner": str(self.deployer.address),
            "operator": str(self.operator.address),
            "feeder": str(self.deployer.address),
        }

    def reference_model(self) -> MarketModel:
        """The reference market in the state this market was deployed in.

        Addresses in the model are checksummed strings (``str(account)``).
        """
        index_feed, mark_feed = MockFeed(FEED_DECIMALS), MockFeed(FEED_DECIMALS)
        index_feed.submit(self.config.index_answer, self.index_submitted_at)
        mark_feed.submit(self.config.mark_answer, self.mark_submitted_at)
        c = self.config
        return MarketModel(
            now=self.timestamp,
            owner=str(self.deployer.address),
            operator=str(self.operator.address),
            index_feed=index_feed,
            mark_feed=mark_feed,
            params=c.rate_parameters,
            collateral_decimals=TOKEN_DECIMALS,
            max_age=c.max_age,
            risk=c.risk_parameters,
            insurance=str(self.market.address),
            vault=str(self.market.VAULT()),
            rate_model=self.rate_model_reference(),
        )

    def rate_model_reference(self):
        """The reference of the rate model contract as deployed (None without one)."""
        from fundingkit.models import deployed

        if self.rate_model_parameters is None:
            return None
        return deployed.reference(
            self.rate_model_parameters,
            str(self.market.address),
            str(self.deployer.address),
            self.rate_model_deployed_at,
            str(self.rate_provider.address),
        )


def market_constructor_args(
    collateral,
    index_oracle,
    mark_oracle,
    operator,
    params: RateParameters,
    *,
    max_age: int,
    risk: RiskParameters,
    vault: str = ZERO_ADDRESS,
    rate_model: str = ZERO_ADDRESS,
) -> tuple:
    """FundingMarket's constructor arguments, in its order: the one place that knows it
    (the Ape deployment here and the titanoboa tests both use it)."""
    return (
        collateral,
        index_oracle,
        mark_oracle,
        params.interval,
        params.interest,
        params.dampener,
        params.cap,
        max_age,
        risk.initial_margin_ratio,
        risk.maintenance_margin_ratio,
        risk.price_band,
        risk.liquidation_fee,
        risk.funding_horizon,
        operator,
        vault,
        params.formula,
        rate_model,
    )


def deploy(
    deployer,
    config: MarketConfig = MarketConfig(),
    *,
    operator=None,
    vault=None,
    market_container=None,
    rate_model=None,
    rate_provider=None,
) -> Deployment:
    """Deploys token, both oracles (with first answers) and the market, from ``deployer``.

    ``deployer`` owns everything, mints the token and feeds both oracles; ``operator``
    (default: the deployer) submits trades; ``vault`` (default: none) makes it a pool-mode
    market whose every trade is against that account. Six transactions.
    ``market_container`` (default: the project's FundingMarket) lets a test deploy a
    variant built elsewhere. ``rate_model`` (``VelocityParameters``, ``SkewParameters`` or
    ``ExternalParameters`` from ``fundingkit.models``) first deploys that rate model
    contract for the market's address-to-be, then the market with it (MATH.md §18);
    ``rate_provider`` (default: the deployer) sets an external model's rate.
    """
    from ape import project

    operator = operator or deployer
    token = project.CollateralToken.deploy(
        TOKEN_NAME, TOKEN_SYMBOL, TOKEN_DECIMALS, sender=deployer
    )
    index_oracle = project.MockOracle.deploy(
        FEED_DECIMALS, INDEX_DESCRIPTION, deployer, sender=deployer
    )
    mark_oracle = project.MockOracle.deploy(
        FEED_DECIMALS, MARK_DESCRIPTION, deployer, sender=deployer
    )
    index_receipt = index_oracle.submit(config.index_answer, sender=deployer)
    mark_receipt = mark_oracle.submit(config.mark_answer, sender=deployer)
    model = None
    if rate_model is not None:
        rate_provider = rate_provider or deployer
        model = deploy_rate_model(deployer, rate_model, rate_provider)
    market = (market_container or project.FundingMarket).deploy(
        *market_constructor_args(
            token,
            index_oracle,
            mark_oracle,
            operator,
            config.rate_parameters,
            max_age=config.max_age,
            risk=config.risk_parameters,
            vault=vault or ZERO_ADDRESS,
            rate_model=model.address if model else ZERO_ADDRESS,
        ),
        sender=deployer,
    )
    receipt = market.creation_metadata.receipt
    return Deployment(
        token=token,
        index_oracle=index_oracle,
        mark_oracle=mark_oracle,
        market=market,
        deployer=deployer,
        operator=operator,
        config=config,
        block=receipt.block_number,
        timestamp=receipt.timestamp,
        index_submitted_at=index_receipt.timestamp,
        mark_submitted_at=mark_receipt.timestamp,
        rate_model=model,
        rate_model_parameters=rate_model,
        rate_model_deployed_at=model.creation_metadata.receipt.timestamp if model else 0,
        rate_provider=rate_provider if model else None,
    )


def deploy_rate_model(deployer, params, rate_provider):
    """Deploys the rate model contract for ``params`` for the address of ``deployer``'s
    next contract after it: deploy the market right after, from the same account."""
    from ape import project

    from fundingkit.models import deployed

    market = deployer.get_deployment_address(deployer.nonce + 1)
    name, args = deployed.constructor(params, market, rate_provider)
    return getattr(project, name).deploy(*args, sender=deployer)


# ---------------------------------------------------------------- chain and reference in step


@dataclass
class InStep:
    """A deployment and its reference model, driven together.

    Each method sends one transaction, then replays it in the model with ``now`` set
    to the receipt's block timestamp; it returns the receipt, and keeps the model's
    return value (e.g. what ``settle`` charged) in ``last_result``. A transaction that
    reverts on chain raises (Ape's error) before the model is touched; a model that
    rejects what the chain accepted raises ``fundingkit.market.Rejected``.
    """

    deployment: Deployment
    model: MarketModel = field(init=False)
    receipts: list = field(default_factory=list)
    last_result: Any = None

    def __post_init__(self):
        self.model = self.deployment.reference_model()

    @property
    def market(self):
        return self.deployment.market

    def _sync(self, receipt) -> int:
        self.receipts.append(receipt)
        self.model.now = receipt.timestamp
        return receipt.timestamp

    def submit(self, index_answer: int | None = None, mark_answer: int | None = None) -> list:
        """The feeder submits new answers (one transaction per feed)."""
        d, receipts = self.deployment, []
        for answer, oracle, feed in (
            (index_answer, d.index_oracle, self.model.index_feed),
            (mark_answer, d.mark_oracle, self.model.mark_feed),
        ):
            if answer is None:
                continue
            receipt = oracle.submit(answer, sender=d.feeder)
            feed.submit(answer, self._sync(receipt))
            receipts.append(receipt)
        return receipts

    def fund(self, trader, amount: int) -> None:
        """Mints ``amount`` tokens to ``trader``, who approves the market for all."""
        d = self.deployment
        d.token.mint(trader, amount, sender=d.deployer)
        d.token.approve(d.market, 2**256 - 1, sender=trader)
        self.model.mint(str(trader.address), amount)
        self.model.approve(str(trader.address), 2**256 - 1)

    def deposit(self, trader, amount: int):
        receipt = self.market.deposit(amount, sender=trader)
        self._sync(receipt)
        self.last_result = self.model.deposit(str(trader.address), amount)
        return receipt

    def withdraw(self, trader, amount: int):
        receipt = self.market.withdraw(amount, sender=trader)
        self._sync(receipt)
        self.last_result = self.model.withdraw(str(trader.address), amount)
        return receipt

    def trade(self, buyer, seller, size: int, price: int):
        operator = self.deployment.operator
        receipt = self.market.trade(buyer, seller, size, price, sender=operator)
        self._sync(receipt)
        self.last_result = self.model.trade(
            str(operator.address), str(buyer.address), str(seller.address), size, price
        )
        return receipt

    def accrue(self, caller):
        receipt = self.market.accrue(sender=caller)
        self._sync(receipt)
        self.last_result = self.model.accrue()
        return receipt

    def settle(self, caller, account):
        receipt = self.market.settle(account, sender=caller)
        self._sync(receipt)
        self.last_result = self.model.settle(str(account.address))
        return receipt

    def set_rate_model_parameters(self, params):
        """The owner changes the rate model's parameters (the market accrues first)."""
        d = self.deployment
        receipt = d.rate_model.set_parameters(*astuple(params), sender=d.deployer)
        now, owner = self._sync(receipt), str(d.deployer.address)
        self.model.change_rate_model(lambda m: m.set_parameters(owner, params, now))
        return receipt

    def set_rate(self, requested: int):
        """The external model's provider sets a rate (the market accrues first)."""
        d = self.deployment
        receipt = d.rate_model.set_rate(requested, sender=d.rate_provider)
        now, provider = self._sync(receipt), str(d.rate_provider.address)
        self.model.change_rate_model(lambda m: m.set_rate(provider, requested, now))
        return receipt

    def compare(self, accounts=()) -> list[tuple[str, int, int]]:
        """(name, chain value, reference value) for the market's state and each account's."""
        m, model = self.market, self.model
        state = model.interval_state
        rows = [
            ("funding_index", m.funding_index(), model.funding_index),
            ("last_accrual", m.last_accrual(), model.last_accrual),
            ("sampled_price", m.sampled_price(), model.sampled_price),
            ("sampled_premium", m.sampled_premium(), model.sampled_premium),
            ("interval_start", m.interval_start(), state.interval_start),
            ("premium_sum", m.premium_sum(), state.premium_sum),
            ("last_premium_average", m.last_premium_average(), state.last_premium_average),
            ("total_collateral", m.total_collateral(), model.total_collateral),
            ("surplus", m.surplus(), model.surplus),
        ]
        for account in accounts:
            address = str(account.address)
            chain = account_state(m, address)
            ref = model.account(address)
            short = address[:8]
            rows += [
                (f"{short}.margin", chain.margin, ref.margin),
                (f"{short}.position", chain.position, ref.position),
                (f"{short}.index_snapshot", chain.index_snapshot, ref.index_snapshot),
                (
                    f"{short}.wallet",
                    self.deployment.token.balanceOf(address),
                    model.wallet.get(address, 0),
                ),
            ]
        return rows


def account_state(market, address) -> MarketAccount:
    """``market.accounts(address)`` as plain ints, read with a bare ``eth_call``.

    (Ape's traced calls under ``ape test --gas`` fail to decode this struct getter.)
    """
    from ape import chain
    from eth_abi import decode

    data = market.accounts.encode_input(address)
    raw = chain.provider.web3.eth.call({"to": str(market.address), "data": data})
    return MarketAccount(*decode(["int256", "int256", "int256"], bytes(raw)))


# ---------------------------------------------------------------- records per network


class NoDeploymentRecorded(LookupError):
    """No deployment is recorded for the network asked for."""


class DeploymentRecordExists(FileExistsError):
    """A deployment is already recorded for the network (deploy again with ``force``)."""


class ConfigError(ValueError):
    """A market configuration file that cannot be used, with the reason."""


@dataclass(frozen=True)
class DeploymentRecord:
    """What ``deployments/<network>.json`` holds."""

    network: str
    chain_id: int
    addresses: dict[str, str]
    block: int
    timestamp: int
    config: MarketConfig
    index_submitted_at: int
    mark_submitted_at: int

    @property
    def roles(self) -> dict[str, str]:
        """Who holds each role: owner (also the token's minter), operator, feeder."""
        return {role: self.addresses[role] for role in ("owner", "operator", "feeder")}

    def to_json(self) -> str:
        data = {
            "format": RECORD_FORMAT,
            "network": self.network,
            "chain_id": self.chain_id,
            "block": self.block,
            "timestamp": self.timestamp,
            "index_submitted_at": self.index_submitted_at,
            "mark_submitted_at": self.mark_submitted_at,
            "addresses": self.addresses,
            "roles": self.roles,
            # As strings: WAD values overflow JSON readers that use doubles.
            "parameters": {k: str(v) for k, v in self.config.to_dict().items()},
            "token": {"name": TOKEN_NAME, "symbol": TOKEN_SYMBOL, "decimals": TOKEN_DECIMALS},
            "feeds": {
                "decimals": FEED_DECIMALS,
                "index": INDEX_DESCRIPTION,
                "mark": MARK_DESCRIPTION,
            },
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DeploymentRecord:
        data = json.loads(text)
        return cls(
            network=data["network"],
            chain_id=int(data["chain_id"]),
            addresses=dict(data["addresses"]),
            block=int(data["block"]),
            timestamp=int(data["timestamp"]),
            config=MarketConfig.from_dict(data["parameters"]),
            index_submitted_at=int(data["index_submitted_at"]),
            mark_submitted_at=int(data["mark_submitted_at"]),
        )


#: Chain ids of development nodes (anvil, hardhat: 31337; geth --dev, ganache: 1337).
DEV_CHAIN_IDS = (31337, 1337)


def network_key(network=None) -> str:
    """The record name of the connected (or given) Ape network: ``local``, ``sepolia``...

    Networks of an ecosystem other than Ethereum are prefixed: ``arbitrum-sepolia``. A
    node reached by URL alone (Ape's ``custom`` network) is named with its chain id:
    ``custom-31337``.
    """
    if network is None:
        from ape import chain

        network = chain.provider.network
    name = network.name
    if name == "custom":
        from ape import chain

        name = f"custom-{chain.chain_id}"
    if network.ecosystem.name == "ethereum":
        return name
    return f"{network.ecosystem.name}-{name}"


def is_machine_local(network: str) -> bool:
    """True for a record that only means something on this machine: a local or forked
    network, or a development node reached by URL (``custom-31337``)."""
    if network == "local" or network.endswith(("-local", "-fork")):
        return True
    prefix, _, chain_id = network.rpartition("-")
    return prefix.endswith("custom") and chain_id in {str(i) for i in DEV_CHAIN_IDS}


def default_directory(network: str) -> Path:
    """Where a network's record lives unless a directory is given.

    ``$FUNDINGKIT_DEPLOYMENTS`` when set (tests point it at a temporary folder); else
    ``.ape/deployments/`` for machine-local networks (git-ignored: their addresses and
    node state mean nothing elsewhere); else ``deployments/``, meant to be committed.
    """
    override = os.environ.get(DEPLOYMENTS_ENV)
    if override:
        return Path(override)
    return LOCAL_DEPLOYMENTS_DIR if is_machine_local(network) else DEPLOYMENTS_DIR


def record_path(network: str, directory: Path | None = None) -> Path:
    return (directory or default_directory(network)) / f"{network}.json"


def record_deployment(
    deployment: Deployment, *, network: str | None = None, directory: Path | None = None
) -> Path:
    """Writes ``<network>.json`` for ``deployment`` (see ``default_directory``); returns its
    path."""
    from ape import chain

    network = network or network_key()
    record = DeploymentRecord(
        network=network,
        chain_id=chain.chain_id,
        addresses=deployment.addresses(),
        block=deployment.block,
        timestamp=deployment.timestamp,
        config=deployment.config,
        index_submitted_at=deployment.index_submitted_at,
        mark_submitted_at=deployment.mark_submitted_at,
    )
    path = record_path(network, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.to_json())
    return path


def load_deployment(
    network: str | None = None, *, directory: Path | None = None
) -> DeploymentRecord:
    """Reads the record for ``network`` (default: the connected one).

    Raises ``NoDeploymentRecorded`` when there is none.
    """
    network = network or network_key()
    path = record_path(network, directory)
    if not path.is_file():
        raise NoDeploymentRecorded(
            f"no fundingkit deployment recorded for network '{network}' (expected {path})"
        )
    return DeploymentRecord.from_json(path.read_text())


def attach(record: DeploymentRecord) -> dict[str, Any]:
    """Ape contract instances for a record's contracts (connected to its network)."""
    from ape import project

    a = record.addresses
    return {
        "token": project.CollateralToken.at(a["token"]),
        "index_oracle": project.MockOracle.at(a["index_oracle"]),
        "mark_oracle": project.MockOracle.at(a["mark_oracle"]),
        "market": project.FundingMarket.at(a["market"]),
    }


def deploy_market(
    owner,
    config: MarketConfig = MarketConfig(),
    *,
    operator=None,
    force: bool = False,
    directory: Path | None = None,
) -> tuple[Deployment, Path]:
    """Deploys a market from ``owner`` (see ``deploy``) and records it for the connected
    network; returns the deployment and the record's path.

    Refuses (``DeploymentRecordExists``, before sending anything) when the network
    already has a record, unless ``force``. On a node this process started (Ape's own
    anvil), the node's whole state is saved next to the record, so that later runs --
    each with a fresh anvil -- find the market again (``restore_node_state``).
    """
    network = network_key()
    path = record_path(network, directory)
    if path.exists() and not force:
        raise DeploymentRecordExists(
            f"a market is already recorded for network '{network}' in {path}; "
            "pass --force to deploy a new one and replace the record"
        )
    deployment = deploy(owner, config, operator=operator)
    path = record_deployment(deployment, network=network, directory=directory)
    state = state_path(path)
    if not save_node_state(state):
        state.unlink(missing_ok=True)
    return deployment, path


# ---------------------------------------------------------------- the market's configuration file

#: What a configuration file may set, by section: key -> (MarketConfig field, kind).
CONFIG_KEYS = {
    "rates": {
        "formula": ("formula", "formula"),
        "interval": ("interval", "seconds"),
        "interest": ("interest", "fraction"),
        "dampener": ("dampener", "fraction"),
        "cap": ("cap", "fraction"),
    },
    "risk": {
        "max_age": ("max_age", "seconds"),
        "initial_margin_ratio": ("initial_margin_ratio", "fraction"),
        "maintenance_margin_ratio": ("maintenance_margin_ratio", "fraction"),
        "price_band": ("price_band", "fraction"),
        "liquidation_fee": ("liquidation_fee", "fraction"),
        "funding_horizon": ("funding_horizon", "seconds"),
    },
    "feeds": {
        "index_price": ("index_answer", "price"),
        "mark_price": ("mark_answer", "price"),
    },
}
_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def _exact_integer(value: Decimal, scale: int, what: str) -> int:
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{what}: {value} is finer than the contract can hold")
    return int(scaled)


def parse_config_value(value: Any, kind: str, what: str) -> int:
    """One configuration value as the integer the contract takes.

    ``seconds``: an integer, or a string with a unit: ``"8h"``, ``"60m"``, ``"90s"``,
    ``"1d"``. ``fraction``: a WAD integer (1e18 = 100 %) or a percentage string,
    ``"0.01%"``. ``price``: USD per base as a number or decimal string, stored as a
    feed answer with ``FEED_DECIMALS`` digits. ``formula``: "premium-clamp", "linear"
    or "premium-only". Raises ``ConfigError``.
    """
    if kind == "formula":
        if value not in FORMULAS:
            raise ConfigError(f"{what}: unknown formula {value!r} (expected {', '.join(FORMULAS)})")
        return FORMULAS[value]
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ConfigError(f"{what}: expected a number or a string, got {value!r}")
    if isinstance(value, float):
        raise ConfigError(f'{what}: write {value} as a string, e.g. "{value}" (exact decimals)')
    try:
        if kind == "seconds":
            if isinstance(value, int):
                return value
            text = value.strip().lower()
            if text[-1:] in _UNITS:
                return _exact_integer(Decimal(text[:-1]), _UNITS[text[-1]], what)
            return _exact_integer(Decimal(text), 1, what)
        if kind == "fraction":
            if isinstance(value, int):
                return value
            text = value.strip()
            if text.endswith("%"):
                return _exact_integer(Decimal(text[:-1]), 10**16, what)
            return _exact_integer(Decimal(text), 10**18, what)
        return _exact_integer(Decimal(str(value).replace("_", "")), 10**FEED_DECIMALS, what)
    except InvalidOperation:
        raise ConfigError(f"{what}: cannot read {value!r} as a number") from None


def read_market_config(path: Path) -> MarketConfig:
    """A ``MarketConfig`` from a TOML file (sections ``rates``, ``risk``, ``feeds``; see
    ``config/market.toml``). Keys left out keep ``MarketConfig``'s defaults. Raises
    ``ConfigError`` for an unreadable file, an unknown key, or a value the contract
    would reject (with the contract's reason)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    values: dict[str, int] = {}
    for section, entries in data.items():
        known = CONFIG_KEYS.get(section)
        if known is None or not isinstance(entries, dict):
            raise ConfigError(
                f"{path}: unknown section [{section}] (expected {', '.join(CONFIG_KEYS)})"
            )
        for key, value in entries.items():
            if key not in known:
                raise ConfigError(
                    f"{path}: unknown key '{key}' in [{section}] (expected {', '.join(known)})"
                )
            name, kind = known[key]
            values[name] = parse_config_value(value, kind, f"{path}: [{section}] {key}")
    config = replace(MarketConfig(), **values)
    reason = config_rejection(config)
    if reason:
        raise ConfigError(f"{path}: {reason}")
    return config


def config_rejection(config: MarketConfig) -> str | None:
    """The contract's reason to reject ``config`` at deployment, or None."""
    index_feed, mark_feed = MockFeed(FEED_DECIMALS), MockFeed(FEED_DECIMALS)
    index_feed.submit(config.index_answer, 1)
    mark_feed.submit(config.mark_answer, 1)
    try:
        MarketModel(
            now=1,
            owner="owner",
            operator="operator",
            index_feed=index_feed,
            mark_feed=mark_feed,
            params=config.rate_parameters,
            collateral_decimals=TOKEN_DECIMALS,
            max_age=config.max_age,
            risk=config.risk_parameters,
        )
    except Rejected as err:
        return err.reason
    return None


# ---------------------------------------------------------------- raw calls

_SIGNATURE = re.compile(r"^(\w+)\((.*)\)$")


def calldata(signature: str, *args) -> str:
    """ABI-encoded call data (0x-hex) for ``signature``, e.g. ``"trade(address,address,
    uint256,uint256)"``, and its arguments."""
    from eth_abi import encode
    from eth_utils import keccak

    match = _SIGNATURE.match(signature)
    if match is None:
        raise ValueError(f"not a function signature: {signature}")
    types = [t for t in match.group(2).split(",") if t]
    return "0x" + (keccak(text=signature)[:4] + encode(types, list(args))).hex()


def read_view(address: str, signature: str, returns: str, *args, block="latest"):
    """Calls a view with a bare ``eth_call`` and decodes its result: one value when
    ``returns`` names one type (``"int256"``), else a tuple (``"(uint80,int256)"``)."""
    from ape import chain
    from eth_abi import decode
    from eth_utils import to_checksum_address

    raw = chain.provider.web3.eth.call(
        {"to": to_checksum_address(address), "data": calldata(signature, *args)},
        block_identifier=block,
    )
    types = [t for t in returns.strip("()").split(",") if t]
    values = tuple(
        to_checksum_address(value) if kind == "address" else value
        for kind, value in zip(types, decode(types, bytes(raw)), strict=True)
    )
    return values if returns.startswith("(") else values[0]


# ---------------------------------------------------------------- the reference, from a live market


@dataclass
class ChainFeed(MockFeed):
    """A ``MockFeed`` that starts from a MockOracle's latest round: the rounds before it
    are not kept, only counted (``rounds_before``), so round ids match the oracle's."""

    rounds_before: int = 0

    def submit_round(self, answer: int, started_at: int, updated_at: int) -> int:
        return self.rounds_before + super().submit_round(answer, started_at, updated_at)

    def read(self, now: int, max_age: int) -> Reading:
        if not self.rounds:
            return Reading(0, 0, FeedStatus.CALL_FAILED)
        return read_round(
            self.rounds_before + len(self.rounds), self.rounds[-1], self.decimals, now, max_age
        )


def read_feed(oracle: str) -> ChainFeed:
    """The oracle's decimals and latest round, as a ``ChainFeed``."""
    decimals = read_view(oracle, "decimals()", "uint8")
    latest = read_view(oracle, "latest_round()", "uint80")
    feed = ChainFeed(decimals, rounds_before=max(latest - 1, 0))
    if latest:
        _, answer, started_at, updated_at, _ = read_view(
            oracle, "latestRoundData()", "(uint80,int256,uint256,uint256,uint80)"
        )
        feed.rounds.append(Round(answer, started_at, updated_at))
    return feed


def model_from_chain(market: str, *, now: int | None = None) -> MarketModel:
    """A ``MarketModel`` in the state the deployed market at ``market`` holds now.

    Every stored value of the market is read (parameters, roles, the rate state, the
    funding index and its samples, the books' totals), both feeds' latest rounds, and a
    rate model contract's state (``rate_model_from_chain``). Accounts are not read but
    the vault's, whose position is the skew a rate model reads: the model knows only the
    accounts added to it afterwards, so it predicts exactly what the market does with
    accounts that were empty at the read (a simulation's fresh traders), and the
    market-wide state.
    """
    view = partial(read_view, market)
    index_feed = read_feed(str(view("index_oracle()", "address")))
    mark_feed = read_feed(str(view("mark_oracle()", "address")))
    if now is None:
        from ape import chain

        now = chain.provider.web3.eth.get_block("latest")["timestamp"]
    fresh = MockFeed(FEED_DECIMALS)
    fresh.submit(10**FEED_DECIMALS, now)
    params = RateParameters(
        view("interval()", "uint256"),
        view("interest()", "int256"),
        view("dampener()", "int256"),
        view("cap()", "int256"),
        formula=view("formula()", "uint8"),
    )
    scale = view("COLLATERAL_SCALE()", "uint256")
    model = MarketModel(
        now=now,
        owner=str(view("owner()", "address")),
        operator=str(view("operator()", "address")),
        index_feed=fresh,  # replaced below: the model checks feeds are usable when built
        mark_feed=fresh,
        params=params,
        collateral_decimals=18 - (len(str(scale)) - 1),
        max_age=view("max_age()", "uint256"),
        risk=RiskParameters(
            view("initial_margin_ratio()", "uint256"),
            view("maintenance_margin_ratio()", "uint256"),
            view("price_band()", "uint256"),
            view("liquidation_fee()", "uint256"),
            view("funding_horizon()", "uint256"),
        ),
        insurance=str(market),
        vault=str(view("VAULT()", "address")),
    )
    model.index_feed, model.mark_feed = index_feed, mark_feed
    model.paused = view("paused()", "bool")
    model.interval_state = IntervalState(
        view("interval_start()", "uint256"),
        view("premium_sum()", "int256"),
        view("last_premium_average()", "int256"),
    )
    model.sampled_premium = view("sampled_premium()", "int256")
    model.sampled_price = view("sampled_price()", "uint256")
    model.funding_index = view("funding_index()", "int256")
    model.last_accrual = view("last_accrual()", "uint256")
    model.total_collateral = view("total_collateral()", "uint256")
    model.surplus = view("surplus()", "int256")
    model.open_interest = view("open_interest()", "uint256")
    model.long_loss, model.short_loss = view("socialised_losses()", "(int256,int256)")
    # The vault's account: its position is the skew a rate model reads.
    if int(model.vault, 16) != 0:
        stored = view("accounts(address)", "(int256,int256,int256)", model.vault)
        model.accounts[model.vault] = Account(*stored)
    # Set after the model is built: its constructor would accrue a model from deployment.
    model.rate_model = rate_model_from_chain(_rate_model_address(market), str(market))
    return model


def _rate_model_address(market: str) -> str:
    """``RATE_MODEL()``; the zero address for a market built before rate models."""
    from web3.exceptions import ContractLogicError

    try:
        return str(read_view(market, "RATE_MODEL()", "address"))
    except ContractLogicError:
        return ZERO_ADDRESS


def rate_model_from_chain(address: str, market: str):
    """The reference of the rate model contract at ``address`` in the state it holds now
    (``fundingkit.models.deployed``), or None for the zero address (the premium formula)."""
    from web3.exceptions import ContractLogicError

    from fundingkit.models import deployed
    from fundingkit.models.external_rate import ExternalParameters, ExternalState
    from fundingkit.models.skew_rate import SkewParameters, SkewState
    from fundingkit.models.velocity_rate import VelocityParameters, VelocityState

    if int(address, 16) == 0:
        return None
    view = partial(read_view, address)
    owner, checkpoint = str(view("owner()", "address")), view("checkpoint_time()", "uint256")

    def uints(*getters: str) -> list[int]:
        return [view(getter, "uint256") for getter in getters]

    def has(getter: str) -> bool:
        try:
            view(getter, "uint256")
        except ContractLogicError:
            return False
        return True

    if has("skew_scale()"):
        params = VelocityParameters(*uints("skew_scale()", "max_velocity()", "cap()"))
        state = VelocityState(checkpoint, view("scaled_rate()", "int256"), view("skew()", "int256"))
        return deployed.VelocityRateModel(market, owner, params, state)
    if has("factor()"):
        params = SkewParameters(*uints("factor()", "exponent()", "cap()"))
        state = SkewState(checkpoint, *uints("long_open_interest()", "short_open_interest()"))
        return deployed.SkewRateModel(market, owner, params, state)
    params = ExternalParameters(*uints("max_rate()", "max_change_per_second()"))
    state = ExternalState(
        str(view("rate_provider()", "address")),
        checkpoint,
        view("rate_set_time()", "uint256"),
        view("rate()", "int256"),
    )
    return deployed.ExternalRateModel(market, owner, params, state)


# ---------------------------------------------------------------- node state on Ape's own anvil


def state_path(record: Path) -> Path:
    """Where the node state saved with a record lives: ``local.json`` -> ``local.state``."""
    return record.with_suffix(".state")


def node_is_ephemeral(provider=None) -> bool:
    """True when this process started the node it is connected to (Ape's own anvil, which
    stops when the process ends), so the chain must be saved to outlive the run."""
    if provider is None:
        from ape import chain

        provider = chain.provider
    return getattr(provider, "process", None) is not None


def save_node_state(path: Path) -> bool:
    """Saves the whole chain of an ephemeral anvil (``anvil_dumpState``: accounts, code,
    storage, blocks, receipts) to ``path``; returns False, saving nothing, on any other
    node."""
    from ape import chain

    if not node_is_ephemeral():
        return False
    dump = chain.provider.make_request("anvil_dumpState", [])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_without_steps(bytes.fromhex(str(dump).removeprefix("0x"))))
    return True


def _without_steps(state: bytes) -> bytes:
    """An anvil state dump (gzipped JSON) without the per-opcode steps of its transaction
    traces (Ape runs anvil with ``--steps-tracing``): a tenth of the size, the same chain.
    A dump of another shape is kept as it is."""
    try:
        data = json.loads(gzip.decompress(state))
        for transaction in data["transactions"]:
            for node in transaction["info"]["traces"]:
                node["trace"]["steps"] = []
    except (OSError, ValueError, KeyError, TypeError):
        return state
    return gzip.compress(json.dumps(data).encode())


def restore_node_state(path: Path) -> bool:
    """Loads a chain saved by ``save_node_state`` into the ephemeral anvil this process
    started, and moves its clock past the saved chain's last block (a simulation may have
    left it in the future). Returns False when there is nothing to load or the node is
    not ephemeral."""
    from ape import chain

    if not path.is_file() or not node_is_ephemeral():
        return False
    provider = chain.provider
    provider.make_request("anvil_loadState", ["0x" + path.read_bytes().hex()])
    latest = provider.web3.eth.get_block("latest")["timestamp"]
    if latest >= time.time():
        provider.make_request("anvil_setTime", [latest + 1])
    return True


__all__ = [
    "account_state",
    "calldata",
    "ChainFeed",
    "ConfigError",
    "Deployment",
    "DeploymentRecord",
    "DeploymentRecordExists",
    "InStep",
    "MarketConfig",
    "NoDeploymentRecorded",
    "attach",
    "default_directory",
    "deploy",
    "deploy_market",
    "is_machine_local",
    "load_deployment",
    "model_from_chain",
    "network_key",
    "node_is_ephemeral",
    "read_feed",
    "read_market_config",
    "read_view",
    "record_deployment",
    "record_path",
    "restore_node_state",
    "save_node_state",
    "state_path",
]
