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
* ``record_deployment`` / ``load_deployment`` -- ``deployments/<network>.json``
  (addresses, block, parameters); loading raises ``NoDeploymentRecorded`` when the
  network has none.

Ape is imported inside the functions that need it, so ``import fundingkit`` (and even
``import fundingkit.deployment`` for reading a record) works without Ape.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fundingkit.feeds import MockFeed
from fundingkit.market import MarketModel
from fundingkit.rates import HOUR, RateParameters

TOKEN_NAME = "Test USD"
TOKEN_SYMBOL = "TUSD"
TOKEN_DECIMALS = 6
FEED_DECIMALS = 8
INDEX_DESCRIPTION = "BTC / USD"
MARK_DESCRIPTION = "BTC-PERP / USD"

#: Where ``record_deployment`` writes, by default: <repo>/deployments/.
DEPLOYMENTS_DIR = Path(__file__).resolve().parents[1] / "deployments"
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
    price_band: int = 10**16  # 1 %
    index_answer: int = 50_000 * 10**FEED_DECIMALS  # USD per BTC
    mark_answer: int = 50_050 * 10**FEED_DECIMALS

    @property
    def rate_parameters(self) -> RateParameters:
        return RateParameters(self.interval, self.interest, self.dampener, self.cap)

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
            initial_margin_ratio=c.initial_margin_ratio,
            price_band=c.price_band,
        )


def deploy(deployer, config: MarketConfig = MarketConfig(), *, operator=None) -> Deployment:
    """Deploys token, both oracles (with first answers) and the market, from ``deployer``.

    ``deployer`` owns everything, mints the token and feeds both oracles; ``operator``
    (default: the deployer) submits trades. Six transactions.
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
    market = project.FundingMarket.deploy(
        token,
        index_oracle,
        mark_oracle,
        config.interval,
        config.interest,
        config.dampener,
        config.cap,
        config.max_age,
        config.initial_margin_ratio,
        config.price_band,
        operator,
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
    )


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


def network_key(network=None) -> str:
    """The record name of the connected (or given) Ape network: ``local``, ``sepolia``...

    Networks of an ecosystem other than Ethereum are prefixed: ``arbitrum-sepolia``.
    """
    if network is None:
        from ape import chain

        network = chain.provider.network
    if network.ecosystem.name == "ethereum":
        return network.name
    return f"{network.ecosystem.name}-{network.name}"


def record_path(network: str, directory: Path | None = None) -> Path:
    return (directory or DEPLOYMENTS_DIR) / f"{network}.json"


def record_deployment(
    deployment: Deployment, *, network: str | None = None, directory: Path | None = None
) -> Path:
    """Writes ``deployments/<network>.json`` for ``deployment``; returns its path."""
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


__all__ = [
    "account_state",
    "Deployment",
    "DeploymentRecord",
    "InStep",
    "MarketConfig",
    "NoDeploymentRecorded",
    "attach",
    "deploy",
    "load_deployment",
    "network_key",
    "record_deployment",
]
