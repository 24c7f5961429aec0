"""A pool-mode market deployed with each rate model contract on anvil, through
``fundingkit.deployment.deploy``: trades against the vault, time, a parameter change
(and for the external model a provider's rate), with chain and reference compared to
the wei after every step. The random sequences run on titanoboa
(tests/boa/test_market_stateful.py); this is the same deployment path the scripts use."""

import pytest

from fundingkit.deployment import InStep, MarketConfig, deploy
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
    finally:
        chain.restore(snapshot)


def test_the_audit_refuses_a_rate_model_market_in_one_line(accounts, chain):
    from fundingkit.audit import AuditError, audit_market

    snapshot = chain.snapshot()
    try:
        params = MODELS["velocity"][0]
        d = deploy(accounts[0], MarketConfig(), vault=accounts[2], rate_model=params)
        with pytest.raises(AuditError, match="rate model contract .* does not check"):
            audit_market(str(d.market.address))
    finally:
        chain.restore(snapshot)
