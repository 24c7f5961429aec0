import boa


def test_probe_boa():
    c = boa.load_partial("contracts/_Probe.vy").deploy()
    assert c.value() == 3
    assert c.cbrt(27 * 10**18) == 3 * 10**18
