"""Chainlink-shaped price feeds: the reading rules of ``price_feed.vy``.

``read_feed`` classifies a round exactly as the contract does and normalises its
answer to WAD. ``MockFeed`` mirrors ``MockOracle.vy`` (its rounds), so a test or
scenario can drive the contract's oracle and the reference's in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class FeedStatus(IntEnum):
    """A reading's classification; only OK readings are sampled or trusted."""

    OK = 0
    CALL_FAILED = 1
    NOT_POSITIVE = 2
    INCOMPLETE = 3
    FROM_FUTURE = 4
    STALE = 5
    OUT_OF_RANGE = 6


MAX_FEED_DECIMALS = 36
MAX_PRICE = 10**36  # WAD: 1e18 quote per base

_REASONS = {
    FeedStatus.CALL_FAILED: "feed unreadable",
    FeedStatus.NOT_POSITIVE: "answer not positive",
    FeedStatus.INCOMPLETE: "round incomplete",
    FeedStatus.FROM_FUTURE: "round from the future",
    FeedStatus.STALE: "answer stale",
    FeedStatus.OUT_OF_RANGE: "answer out of range",
}


@dataclass(frozen=True)
class Reading:
    price: int  # WAD, 0 unless OK
    round_id: int
    status: FeedStatus

    @property
    def ok(self) -> bool:
        return self.status == FeedStatus.OK

    def rejection(self, name: str) -> str | None:
        """The contract's revert reason when this reading must be usable."""
        if self.ok:
            return None
        return f"price_feed: {name} {_REASONS[self.status]}"


@dataclass(frozen=True)
class Round:
    answer: int
    started_at: int
    updated_at: int


def read_round(round_id: int, rnd: Round, decimals: int, now: int, max_age: int) -> Reading:
    """Classifies and normalises one round (answeredInRound == roundId)."""
    if decimals > MAX_FEED_DECIMALS:
        return Reading(0, round_id, FeedStatus.CALL_FAILED)
    if rnd.answer <= 0:
        status = FeedStatus.NOT_POSITIVE
    elif rnd.updated_at == 0:
        status = FeedStatus.INCOMPLETE
    elif rnd.updated_at > now:
        status = FeedStatus.FROM_FUTURE
    elif now - rnd.updated_at > max_age:
        status = FeedStatus.STALE
    else:
        status = FeedStatus.OK
    if status != FeedStatus.OK:
        return Reading(0, round_id, status)
    if decimals <= 18:
        if rnd.answer > MAX_PRICE // 10 ** (18 - decimals):
            return Reading(0, round_id, FeedStatus.OUT_OF_RANGE)
        price = rnd.answer * 10 ** (18 - decimals)
    else:
        price = rnd.answer // 10 ** (decimals - 18)
        if price > MAX_PRICE:
            return Reading(0, round_id, FeedStatus.OUT_OF_RANGE)
    if price == 0:
        return Reading(0, round_id, FeedStatus.NOT_POSITIVE)
    return Reading(price, round_id, FeedStatus.OK)


@dataclass
class MockFeed:
    """The reference's copy of a MockOracle: its decimals and rounds."""

    decimals: int = 8
    rounds: list[Round] = field(default_factory=list)

    def submit(self, answer: int, now: int) -> int:
        return self.submit_round(answer, now, now)

    def submit_round(self, answer: int, started_at: int, updated_at: int) -> int:
        self.rounds.append(Round(answer, started_at, updated_at))
        return len(self.rounds)

    def read(self, now: int, max_age: int) -> Reading:
        if not self.rounds:
            return Reading(0, 0, FeedStatus.CALL_FAILED)  # latestRoundData reverts
        return read_round(len(self.rounds), self.rounds[-1], self.decimals, now, max_age)
