"""Unit tests of MockOracle.vy: rounds, roles and the AggregatorV3 read side."""

import boa
import pytest
from deployers import ORACLE

from fundingkit.feeds import FeedStatus, MockFeed
from fundingkit.market import ZERO_ADDRESS

ANSWER = 50_000 * 10**8
NO_DATA = "mock_oracle: no data present"
NOT_FEEDER = "mock_oracle: caller is not the feeder"
NOT_OWNER = "ownable: caller is not the owner"


@pytest.fixture
def oracle(deployment, owner, feeder):
    """A fresh oracle with no round yet, owned by `owner`, fed by `feeder`."""
    with boa.env.prank(owner):
        return ORACLE.deploy(8, "BTC / USD", feeder)


def state(oracle):
    return (oracle.owner(), oracle.feeder(), oracle.latest_round())


def named(contract, name):
    return [log for log in contract.get_logs() if type(log).__name__ == name]


class TestDeployment:
    def test_metadata(self, oracle, owner, feeder):
        assert oracle.decimals() == 8
        assert oracle.description() == "BTC / USD"
        assert oracle.version() == 4
        assert (oracle.owner(), oracle.feeder(), oracle.latest_round()) == (owner, feeder, 0)

    def test_logs_the_feeder(self, owner, feeder):
        with boa.env.prank(owner):
            oracle = ORACLE.deploy(18, "ETH / USD", feeder)
        (event,) = named(oracle, "FeederChanged")
        assert event.feeder == feeder
        assert oracle.decimals() == 18


class TestReadsBeforeTheFirstRound:
    def test_latest_round_data_reverts(self, oracle):
        with boa.reverts(NO_DATA):
            oracle.latestRoundData()

    @pytest.mark.parametrize("round_id", [0, 1])
    def test_get_round_data_reverts(self, oracle, round_id):
        with boa.reverts(NO_DATA):
            oracle.getRoundData(round_id)


class TestSubmit:
    def test_feeder_records_a_round_now(self, oracle, feeder, deployment):
        now = deployment.model.now
        assert oracle.submit(ANSWER, sender=feeder) == 1
        (event,) = named(oracle, "AnswerUpdated")
        assert (event.current, event.roundId, event.updatedAt) == (ANSWER, 1, now)
        assert oracle.latest_round() == 1
        assert oracle.latestRoundData() == (1, ANSWER, now, now, 1)

    def test_round_ids_increase_and_past_rounds_stay(self, oracle, feeder, deployment):
        oracle.submit(ANSWER, sender=feeder)
        deployment.advance(60)
        assert oracle.submit(ANSWER + 1, sender=feeder) == 2
        now = deployment.model.now
        assert oracle.latestRoundData() == (2, ANSWER + 1, now, now, 2)
        assert oracle.getRoundData(1) == (1, ANSWER, now - 60, now - 60, 1)
        assert oracle.getRoundData(2) == oracle.latestRoundData()

    def test_mirrors_the_reference_feed(self, oracle, feeder, deployment):
        feed = MockFeed(8)
        now = deployment.model.now
        for answer in (ANSWER, ANSWER - 7):
            assert oracle.submit(answer, sender=feeder) == feed.submit(answer, now)
        reading = feed.read(now, 3_600)
        assert reading.status == FeedStatus.OK
        assert reading.price == oracle.latestRoundData()[1] * 10**10

    @pytest.mark.parametrize("caller", ["owner", "non_owner"])
    def test_rejects_non_feeder(self, oracle, owner, non_owner, caller):
        sender = {"owner": owner, "non_owner": non_owner}[caller]
        before = state(oracle)
        with boa.reverts(NOT_FEEDER):
            oracle.submit(ANSWER, sender=sender)
        assert state(oracle) == before


class TestSubmitRound:
    @pytest.mark.parametrize(
        "answer, started_at, updated_at", [(ANSWER, 5, 0), (-1, 10**12, 10**12), (0, 1, 2)]
    )
    def test_feeder_records_chosen_timestamps(self, oracle, feeder, answer, started_at, updated_at):
        assert oracle.submit_round(answer, started_at, updated_at, sender=feeder) == 1
        (event,) = named(oracle, "AnswerUpdated")
        assert (event.current, event.roundId, event.updatedAt) == (answer, 1, updated_at)
        assert oracle.latestRoundData() == (1, answer, started_at, updated_at, 1)

    def test_rejects_non_feeder(self, oracle, non_owner):
        before = state(oracle)
        with boa.reverts(NOT_FEEDER):
            oracle.submit_round(ANSWER, 1, 1, sender=non_owner)
        assert state(oracle) == before


class TestGetRoundData:
    @pytest.mark.parametrize("round_id", [0, 2, 2**80 - 1])
    def test_rejects_unknown_round(self, oracle, feeder, round_id):
        oracle.submit(ANSWER, sender=feeder)
        with boa.reverts(NO_DATA):
            oracle.getRoundData(round_id)


class TestSetFeeder:
    def test_owner_replaces_the_feeder(self, oracle, owner, feeder, non_owner):
        oracle.set_feeder(non_owner, sender=owner)
        (event,) = named(oracle, "FeederChanged")
        assert event.feeder == non_owner
        assert oracle.feeder() == non_owner
        with boa.reverts(NOT_FEEDER):
            oracle.submit(ANSWER, sender=feeder)
        assert oracle.submit(ANSWER, sender=non_owner) == 1

    def test_zero_feeder_stops_every_round(self, oracle, owner, feeder):
        oracle.set_feeder(ZERO_ADDRESS, sender=owner)
        for sender in (owner, feeder):
            with boa.reverts(NOT_FEEDER):
                oracle.submit(ANSWER, sender=sender)
        assert oracle.latest_round() == 0

    @pytest.mark.parametrize("caller", ["feeder", "non_owner"])
    def test_rejects_non_owner(self, oracle, feeder, non_owner, caller):
        sender = {"feeder": feeder, "non_owner": non_owner}[caller]
        before = state(oracle)
        with boa.reverts(NOT_OWNER):
            oracle.set_feeder(sender, sender=sender)
        assert state(oracle) == before


class TestOwnership:
    def test_owner_transfers_in_one_step(self, oracle, owner, non_owner):
        oracle.transfer_ownership(non_owner, sender=owner)
        assert oracle.owner() == non_owner
        oracle.set_feeder(non_owner, sender=non_owner)
        with boa.reverts(NOT_OWNER):
            oracle.set_feeder(owner, sender=owner)

    def test_rejects_non_owner(self, oracle, non_owner):
        before = state(oracle)
        with boa.reverts(NOT_OWNER):
            oracle.transfer_ownership(non_owner, sender=non_owner)
        assert state(oracle) == before

    def test_rejects_zero_new_owner(self, oracle, owner):
        before = state(oracle)
        with boa.reverts("ownable: new owner is the zero address"):
            oracle.transfer_ownership(ZERO_ADDRESS, sender=owner)
        assert state(oracle) == before

    def test_renounce_ownership_is_not_exposed(self, oracle):
        assert not hasattr(oracle, "renounce_ownership")


class TestRanges:
    """Rounds are packed in one word: an answer must fit int128, a time 64 bits."""

    def test_rejects_answer_outside_int128(self, oracle, feeder):
        with boa.reverts("mock_oracle: answer out of range"):
            oracle.submit(2**127, sender=feeder)
        with boa.reverts("mock_oracle: answer out of range"):
            oracle.submit(-(2**127), sender=feeder)
        assert oracle.latest_round() == 0

    def test_rejects_timestamp_beyond_64_bits(self, oracle, feeder):
        with boa.reverts("mock_oracle: timestamp out of range"):
            oracle.submit_round(1, 2**64, 1, sender=feeder)
        with boa.reverts("mock_oracle: timestamp out of range"):
            oracle.submit_round(1, 1, 2**64, sender=feeder)
        assert oracle.latest_round() == 0

    def test_extreme_answers_round_trip(self, oracle, feeder):
        for answer in (2**127 - 1, -(2**127) + 1, -1, 1):
            round_id = oracle.submit_round(answer, 2**64 - 1, 2**64 - 2, sender=feeder)
            assert oracle.getRoundData(round_id) == (
                round_id,
                answer,
                2**64 - 1,
                2**64 - 2,
                round_id,
            )
