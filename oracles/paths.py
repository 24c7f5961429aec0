"""Price paths: what the index (spot) and mark (perp) feeds should say, and when.

A path is a sequence of ``PricePoint`` in strictly increasing time. Prices are WAD
integers (1e18 = 1 quote unit per 1 base unit), the scale ``fundingkit`` reads feeds
into. The paths this package builds keep every price on the grid of an 8-decimal feed
answer (a multiple of ``ANSWER_UNIT``), so ``to_answer`` is exact for them and the chain
sees the very premium the path was built with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol, runtime_checkable

from fundingkit.rates import premium
from fundingkit.vyper_math import WAD, div_trunc

FEED_DECIMALS = 8  # the decimals of every MockOracle in our deployments
ANSWER_UNIT = 10 ** (18 - FEED_DECIMALS)  # one 8-decimal answer unit, in WAD


@dataclass(frozen=True)
class PricePoint:
    """Both feeds' prices at one moment.

    ``index`` is the price the index feed holds at ``time``. When ``stale_index`` is set
    the index feed is in an outage: do NOT push an index answer at this point (pushing
    one, even of the same price, would refresh the round and hide the outage). ``index``
    then repeats the last pushed index price, so it stays "what the feed holds".
    """

    time: int  # unix seconds
    index: int  # WAD quote per base
    mark: int  # WAD quote per base
    stale_index: bool = False

    @property
    def premium(self) -> int:
        """P = (mark - index) / index in WAD, truncated as the contract does."""
        return premium(self.mark, self.index)


@runtime_checkable
class PricePath(Protocol):
    """A named, iterable sequence of ``PricePoint`` in strictly increasing time."""

    name: str

    def __iter__(self) -> Iterator[PricePoint]: ...


@dataclass(frozen=True)
class NamedPath:
    """A ready-made ``PricePath``: a name and its points."""

    name: str
    points: tuple[PricePoint, ...]

    def __iter__(self) -> Iterator[PricePoint]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)


def to_answer(price_wad: int, decimals: int = FEED_DECIMALS) -> int:
    """A WAD price as a feed answer with ``decimals`` digits, rounded half up.

    Half up (ties go to the larger answer) is the plain "nearest" a reader expects; for
    prices on the answer grid (all paths built here) the conversion is exact. Reading
    the answer back (``fundingkit.feeds``) multiplies by 10**(18 - decimals), so a price
    off the grid moves by less than half an answer unit.
    """
    if price_wad < 0:
        raise ValueError(f"a feed price cannot be negative (got {price_wad})")
    if decimals >= 18:
        return price_wad * 10 ** (decimals - 18)
    unit = 10 ** (18 - decimals)
    return (price_wad + unit // 2) // unit


def answer_to_wad(answer: int, decimals: int = FEED_DECIMALS) -> int:
    """The WAD price a feed answer normalises to (``decimals`` <= 18, exact)."""
    return answer * 10 ** (18 - decimals)


def check_increasing(points: Iterable[PricePoint]) -> list[PricePoint]:
    """The points as a list; raises ValueError unless their times strictly increase."""
    listed = list(points)
    for before, after in pairwise(listed):
        if after.time <= before.time:
            raise ValueError(
                f"path times must strictly increase: {after.time} follows {before.time}"
            )
    return listed


def path_summary(points: Iterable[PricePoint]) -> dict[str, int]:
    """Counts, span and extremes of a path; prices and premiums in WAD, times in seconds.

    The mean premium is the plain mean over the points (truncated toward zero), not a
    time-weighted one; over an evenly sampled path they agree.
    """
    listed = list(points)
    if not listed:
        return {"points": 0}
    premiums = [point.premium for point in listed]
    indices = [point.index for point in listed]
    marks = [point.mark for point in listed]
    return {
        "points": len(listed),
        "start": listed[0].time,
        "end": listed[-1].time,
        "duration": listed[-1].time - listed[0].time,
        "first_index": indices[0],
        "last_index": indices[-1],
        "min_index": min(indices),
        "max_index": max(indices),
        "min_mark": min(marks),
        "max_mark": max(marks),
        "min_premium": min(premiums),
        "max_premium": max(premiums),
        "mean_premium": div_trunc(sum(premiums), len(premiums)),
        "negative_premium_points": sum(1 for p in premiums if p < 0),
        "stale_index_points": sum(1 for point in listed if point.stale_index),
    }


__all__ = [
    "ANSWER_UNIT",
    "FEED_DECIMALS",
    "NamedPath",
    "PricePath",
    "PricePoint",
    "WAD",
    "answer_to_wad",
    "check_increasing",
    "path_summary",
    "to_answer",
]
