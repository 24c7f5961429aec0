"""Counterexamples found by the stateful campaigns, pinned.

Each test replays the shrunk sequence's essence and states the behaviour that is
right; the machine's rule was corrected where its assumption was wrong."""

import boa


def _index_state(market):
    return (
        market.funding_index(),
        market.interval_start(),
        market.premium_sum(),
        market.last_premium_average(),
        market.sampled_premium(),
        market.sampled_price(),
    )


def test_a_round_from_the_future_is_sampled_only_once_its_time_has_come(deployment):
    """Deep campaign, seed 2: "a gap accrued in pieces lands where one accrual does"
    failed after the feeder published an index round dated 60 s ahead. The pieces
    that fall after that moment read the round as usable and sample it; a single
    accrual at the end of the gap samples it only then. Right behaviour: a round
    counts from its own time, never before, and accruing at any moment cannot pull
    it earlier. The machine's rule now starts from fresh rounds."""
    d = deployment
    d.advance(1)
    d.market.accrue()
    d.model.accrue()
    now = d.model.now
    answer = 52_000 * 10**8  # a new index price, dated 60 s ahead
    with boa.env.prank(d.feeder):
        d.index_oracle.submit_round(answer, now, now + 60)
    d.model.index_feed.submit_round(answer, now, now + 60)

    with boa.env.anchor():
        d.set_time(now + 30)
        d.market.accrue()  # the round is still from the future: nothing sampled
        assert d.market.sampled_price() == 50_000 * 10**18
        d.set_time(now + 1_023)
        d.market.accrue()
        in_pieces = _index_state(d.market)
    with boa.env.anchor():
        d.set_time(now + 1_023)
        d.market.accrue()
        at_once = _index_state(d.market)
    d.set_time(now)
    # Both end holding the new price; only the premium path in between differs.
    assert in_pieces[5] == at_once[5] == 52_000 * 10**18
    assert in_pieces == at_once  # the piece at +30 s sampled nothing


def test_pieces_that_straddle_a_future_round_sample_it_at_its_time(deployment):
    """The same round with a piece after its time: that piece samples it, so the
    interval sums differ from one accrual's by exactly the stretch it was held."""
    d = deployment
    d.advance(1)
    d.market.accrue()
    d.model.accrue()
    now = d.model.now
    with boa.env.prank(d.feeder):
        d.index_oracle.submit_round(52_000 * 10**8, now, now + 60)
        d.mark_oracle.submit(52_100 * 10**8)
    with boa.env.anchor():
        d.set_time(now + 90)
        d.market.accrue()  # the round's time has come: sampled here
        sampled_at_90 = d.market.sampled_premium()
        d.set_time(now + 1_023)
        d.market.accrue()
        pieces_sum = d.market.premium_sum()
    with boa.env.anchor():
        d.set_time(now + 1_023)
        d.market.accrue()
        once_sum = d.market.premium_sum()
    d.set_time(now)
    held_before = d.market.sampled_premium()
    assert sampled_at_90 != held_before
    assert pieces_sum - once_sum == (sampled_at_90 - held_before) * (1_023 - 90)
