def test_fixture_deploys_in_step(deployment):
    assert deployment.market.funding_index() == deployment.model.funding_index == 0
    assert deployment.market.sampled_premium() == deployment.model.sampled_premium
