"""Unit tests of CollateralToken.vy: decimals, the minter role, transfers."""

import boa
import pytest
from deployers import TOKEN

from fundingkit.market import ZERO_ADDRESS

MAX_UINT256 = 2**256 - 1
DENIED = "erc20: access is denied"
EXCEEDS_BALANCE = "erc20: transfer amount exceeds balance"


@pytest.fixture
def token(deployment, owner):
    with boa.env.prank(owner):
        return TOKEN.deploy("Test USD", "TUSD", 6)


@pytest.fixture
def funded(token, owner, trader):
    token.mint(trader, 1_000, sender=owner)
    return token


def balances(token, *accounts):
    return [token.balanceOf(a) for a in accounts] + [token.totalSupply()]


def named(contract, name):
    return [log for log in contract.get_logs() if type(log).__name__ == name]


class TestDeployment:
    def test_metadata_and_empty_supply(self, token, owner):
        assert (token.name(), token.symbol(), token.decimals()) == ("Test USD", "TUSD", 6)
        assert token.totalSupply() == 0
        assert token.owner() == owner and token.is_minter(owner)

    @pytest.mark.parametrize("decimals", [0, 18, 19])
    def test_any_decimals(self, owner, deployment, decimals):
        with boa.env.prank(owner):
            assert TOKEN.deploy("T", "T", decimals).decimals() == decimals


class TestMint:
    def test_minter_mints(self, token, owner, trader):
        token.mint(trader, 1_234, sender=owner)
        (event,) = named(token, "Transfer")
        assert (event.sender, event.receiver, event.value) == (ZERO_ADDRESS, trader, 1_234)
        assert balances(token, trader) == [1_234, 1_234]

    def test_granted_minter_mints(self, token, owner, non_owner, trader):
        token.set_minter(non_owner, True, sender=owner)
        token.mint(trader, 5, sender=non_owner)
        assert balances(token, trader) == [5, 5]

    def test_revoked_minter_is_denied(self, token, owner, non_owner, trader):
        token.set_minter(non_owner, True, sender=owner)
        token.set_minter(non_owner, False, sender=owner)
        with boa.reverts(DENIED):
            token.mint(trader, 5, sender=non_owner)
        assert balances(token, trader) == [0, 0]

    @pytest.mark.parametrize("caller", ["non_owner", "trader"])
    def test_rejects_non_minter(self, funded, non_owner, trader, caller):
        sender = {"non_owner": non_owner, "trader": trader}[caller]
        before = balances(funded, trader, sender)
        with boa.reverts(DENIED):
            funded.mint(sender, 1, sender=sender)
        assert balances(funded, trader, sender) == before

    def test_rejects_set_minter_by_non_owner(self, token, non_owner):
        with boa.reverts("ownable: caller is not the owner"):
            token.set_minter(non_owner, True, sender=non_owner)
        assert not token.is_minter(non_owner)


class TestTransfer:
    def test_moves_balance(self, funded, trader, counterparty):
        assert funded.transfer(counterparty, 400, sender=trader)
        (event,) = named(funded, "Transfer")
        assert (event.sender, event.receiver, event.value) == (trader, counterparty, 400)
        assert balances(funded, trader, counterparty) == [600, 400, 1_000]

    def test_rejects_more_than_balance(self, funded, trader, counterparty):
        with boa.reverts(EXCEEDS_BALANCE):
            funded.transfer(counterparty, 1_001, sender=trader)
        assert balances(funded, trader, counterparty) == [1_000, 0, 1_000]

    def test_rejects_zero_receiver(self, funded, trader):
        with boa.reverts("erc20: transfer to the zero address"):
            funded.transfer(ZERO_ADDRESS, 1, sender=trader)
        assert balances(funded, trader) == [1_000, 1_000]


class TestTransferFrom:
    def test_spends_allowance(self, funded, trader, counterparty, non_owner):
        funded.approve(non_owner, 300, sender=trader)
        assert funded.transferFrom(trader, counterparty, 200, sender=non_owner)
        assert funded.allowance(trader, non_owner) == 100
        assert balances(funded, trader, counterparty) == [800, 200, 1_000]

    def test_infinite_allowance_is_not_spent(self, funded, trader, counterparty, non_owner):
        funded.approve(non_owner, MAX_UINT256, sender=trader)
        funded.transferFrom(trader, counterparty, 1_000, sender=non_owner)
        assert funded.allowance(trader, non_owner) == MAX_UINT256

    def test_rejects_more_than_allowance(self, funded, trader, counterparty, non_owner):
        funded.approve(non_owner, 99, sender=trader)
        with boa.reverts("erc20: insufficient allowance"):
            funded.transferFrom(trader, counterparty, 100, sender=non_owner)
        assert funded.allowance(trader, non_owner) == 99
        assert balances(funded, trader, counterparty) == [1_000, 0, 1_000]

    def test_rejects_more_than_balance(self, funded, trader, counterparty, non_owner):
        funded.approve(non_owner, MAX_UINT256, sender=trader)
        with boa.reverts(EXCEEDS_BALANCE):
            funded.transferFrom(trader, counterparty, 1_001, sender=non_owner)
        assert balances(funded, trader, counterparty) == [1_000, 0, 1_000]
