"""A mark spike that stands for one block moves the interval average by at most
spike x block time / T (plus the one wei the average's truncation can add)."""

import boa
import pytest
from conftest import INDEX_PRICE, MARK_PRICE, deploy
from hypothesis import given
from hypothesis import strategies as st

from fundingkit.rates import premium


@pytest.fixture(scope="module")
def calm_market():
    with boa.env.anchor():
        yield deploy()


@given(
    offset=st.integers(1, 8 * 3_600 - 30),  # where in the interval the spike lands
    block_time=st.integers(1, 12),
    spike_bps=st.integers(-9_000, 90_000),  # the mark jumps by -90 % .. +900 %
)
def test_one_block_spike_moves_the_average_by_its_share_of_the_interval(
    calm_market, offset, block_time, spike_bps
):
    d = calm_market
    market, interval = d.market, d.market.interval()
    spiked = MARK_PRICE * (10_000 + spike_bps) // 10_000
    start = d.market.last_accrual()

    def average_after_interval(with_spike: bool) -> int:
        with boa.env.anchor():
            # Both feeds stay fresh, so every accrual takes a sample.
            d.set_time(start + offset)
            d.submit(INDEX_PRICE, spiked if with_spike else MARK_PRICE)
            market.accrue()  # samples the spike (or the calm mark)
            d.set_time(start + offset + block_time)
            d.submit(INDEX_PRICE, MARK_PRICE)
            market.accrue()  # the next block: the spike is gone
            d.set_time(start + interval)
            market.accrue()  # closes the interval
            average = market.last_premium_average()
            d.set_time(start)
        return average

    calm, spike = average_after_interval(False), average_after_interval(True)
    size = abs(
        premium(spiked * 10**10, INDEX_PRICE * 10**10)
        - premium(MARK_PRICE * 10**10, INDEX_PRICE * 10**10)
    )
    assert abs(spike - calm) <= size * block_time // interval + 1
