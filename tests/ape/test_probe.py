from ape import accounts


def test_probe_deploys(project):
    c = project._Probe.deploy(sender=accounts.test_accounts[0])
    assert c.value() == 3
    assert c.cbrt(27 * 10**18) == 3 * 10**18


def test_probe_provider():
    import ape
    assert ape.chain.provider.name == "foundry"
    print("PROVIDER", ape.chain.provider.uri, accounts.test_accounts[0].address)
