"""Fixtures for the Ape layer: one market on anvil per module, and its reference model.

Everything is deployed through ``fundingkit.deployment`` (as the scripts do). Each test
starts from the freshly deployed market: the chain is snapshotted before the test and
restored after it with ``chain.snapshot()`` / ``chain.restore()`` (not
``chain.isolate()``, which swallows exceptions), and the test gets a new
``InStep`` whose model is built from the deployment.
"""

import pytest

from fundingkit.deployment import InStep, MarketConfig, deploy


@pytest.fixture(scope="module")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def operator(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def traders(accounts):
    return [accounts[2], accounts[3], accounts[4]]


@pytest.fixture(scope="module")
def keeper(accounts):
    return accounts[5]


@pytest.fixture(scope="module")
def config():
    return MarketConfig()


@pytest.fixture(scope="module")
def deployment(deployer, operator, config):
    return deploy(deployer, config, operator=operator)


@pytest.fixture
def in_step(chain, deployment):
    """The deployed market and a fresh reference model of it; rolled back afterwards."""
    snapshot = chain.snapshot()
    try:
        yield InStep(deployment)
    finally:
        chain.restore(snapshot)


@pytest.fixture
def market(deployment):
    return deployment.market
