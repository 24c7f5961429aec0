"""A pool-mode market deployed with each rate model contract on anvil, through
``fundingkit.deployment.deploy``: trades against the vault, time, a parameter change
(and for the external model a provider's rate), with chain and reference compared to
the wei after every step; then the audit of such a market from its logs (and one with
a reference one wei off, which it must catch). The random sequences run on titanoboa
(tests/boa/test_market_stateful.py); this is the same deployment path the scripts use."""

import pytest

from fundingkit.deployment import InStep, MarketConfig, deploy, model_from_chain
from fundingkit.models.external_rate import ExternalParameters
from fundingkit.models.skew_rate import SkewParameters
from fundingkit.models.velocity_rate import VelocityParameters

WAD = 10**18
HOUR = 3_600
TOKEN = 10**6
TO_WAD = 10**10  # 8-decimal feed answers to WAD
MODELS = {
    "velocity": (
        VelocityParameters(skew_scale=10**3 * WAD, max_velocity=3 * WAD, cap=WAD),
        VelocityParameters(skew_scale=10**2 * WAD, max_velocity=WAD, cap=WAD // 2),
    ),
    "skew": (
        SkewParameters(factor=10**12, exponent=1, cap=10**12),
        SkewParameters(factor=10**12, exponent=2, cap=5 * 10**11),
    ),
    "external": (
        ExternalParameters(max_rate=10**12, max_change_per_second=10**9),
        ExternalParameters(max_rate=10**11, max_change_per_second=10**8),
    ),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_rate_model_market_on_anvil_matches_its_reference(kind, accounts, chain):
    deployer, operator, vault, trader, keeper = (accounts[i] for i in range(5))
    params, new_params = MODELS[kind]
    snapshot = chain.snapshot()
    try:
        d = deploy(deployer, MarketConfig(), operator=operator, vault=vault, rate_model=params)
        assert d.market.RATE_MODEL() == d.rate_model.address
        assert d.rate_model.market() == d.market.address
        s = InStep(d)
        for account in (vault, trader):
            s.fund(account, 10**9 * TOKEN)
            s.deposit(account, 10**8 * TOKEN)

        def in_step():
            assert [row for row in s.compare([vault, trader]) if row[1] != row[2]] == []
            assert d.rate_model.checkpoint_time() == s.model.last_accrual
            assert d.market.current_rate() == s.model.current_rate()

        mark = d.config.mark_answer * TO_WAD
        s.trade(trader, vault, 20 * WAD, mark)
        if kind == "external":
            chain.pending_timestamp += 100
            s.set_rate(10**12)  # paced: 100 s at 1e9 per second
        chain.pending_timestamp += 6 * HOUR
        s.submit(d.config.index_answer, d.config.mark_answer)
        s.settle(keeper, trader)
        in_step()
        s.set_rate_model_parameters(new_params)
        chain.pending_timestamp += 6 * HOUR
        s.submit(d.config.index_answer, d.config.mark_answer)
        s.trade(vault, trader, 5 * WAD, mark)
        s.settle(keeper, vault)
        in_step()
        assert s.model.funding_index != 0
        # What the scripts predict from (simulate, inspect): the same model, read back
        # from the chain's views, predicts the market an hour later.
        predicted = model_from_chain(str(d.market.address))
        assert predicted.rate_model == s.model.rate_model
        chain.pending_timestamp += HOUR
        predicted.now = d.market.accrue(sender=keeper).timestamp
        predicted.accrue()
        assert predicted.funding_index == d.market.funding_index() != s.model.funding_index
        assert predicted.rate_model.state.checkpoint_time == d.rate_model.checkpoint_time()
    finally:
        chain.restore(snapshot)


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_audit_replays_a_rate_model_market(kind, accounts, chain):
    """The audit rebuilds the model from its deployment logs and replays its setters
    among the market's calls: every index step recomputed, nothing mismatched."""
    from fundingkit.audit import audit_market

    deployer, operator, vault, trader, keeper = (accounts[i] for i in range(5))
    params, new_params = MODELS[kind]
    snapshot = chain.snapshot()
    try:
        d = deploy(deployer, MarketConfig(), operator=operator, vault=vault, rate_model=params)
        s = InStep(d)
        for account in (vault, trader):
            s.fund(account, 10**9 * TOKEN)
            s.deposit(account, 10**8 * TOKEN)
        mark = d.config.mark_answer * TO_WAD
        s.trade(trader, vault, 20 * WAD, mark)
        chain.pending_timestamp += 100
        if kind == "external":
            s.set_rate(-(10**12))
        s.set_rate_model_parameters(new_params)
        chain.pending_timestamp += 3 * HOUR
        s.submit(d.config.index_answer, d.config.mark_answer)
        s.trade(vault, trader, 5 * WAD, mark)
        d.rate_model.transfer_ownership(keeper, sender=deployer)
        d.rate_model.accept_ownership(sender=keeper)
        chain.pending_timestamp += HOUR
        s.settle(keeper, trader)
        result = audit_market(str(d.market.address))
        assert result.mismatch_count == 0, [m.line() for m in result.mismatches]
        assert result.final_state_compared
        assert result.calls["set_rate_model_parameters"] == 1
        assert result.calls.get("set_rate", 0) == (kind == "external")
        assert result.checks > 40
    finally:
        chain.restore(snapshot)


def test_the_audit_catches_a_rate_model_that_charges_one_wei_more(accounts, chain, monkeypatch):
    """The same market audited with a reference whose velocity steps are one wei off:
    every accrual that moved time must show as a mismatch."""
    from fundingkit.audit import audit_market
    from fundingkit.models import velocity_rate

    deployer, operator, vault, trader, keeper = (accounts[i] for i in range(5))
    snapshot = chain.snapshot()
    try:
        velocity = MODELS["velocity"][0]
        d = deploy(deployer, MarketConfig(), operator=operator, vault=vault, rate_model=velocity)
        s = InStep(d)
        for account in (vault, trader):
            s.fund(account, 10**9 * TOKEN)
            s.deposit(account, 10**8 * TOKEN)
        s.trade(trader, vault, 20 * WAD, d.config.mark_answer * TO_WAD)
        chain.pending_timestamp += HOUR
        s.settle(keeper, trader)
        honest = velocity_rate.accrue

        def one_wei_more(params, state, price, now):
            step, state_after = honest(params, state, price, now)
            return (step + 1 if now != state.checkpoint_time else step), state_after

        monkeypatch.setattr(velocity_rate, "accrue", one_wei_more)
        result = audit_market(str(d.market.address))
        assert result.mismatch_count > 0
        assert any("funding_index" in m.quantity for m in result.mismatches)
    finally:
        chain.restore(snapshot)
