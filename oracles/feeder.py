"""Pushing a price path into two MockOracle contracts through Ape, round by round.

``answers(point)`` is the pure part: the index and mark answers a point asks for
(``None`` for the index while the index feed is in an outage). ``Feeder`` sends them
from the feeder account. Scripts that need speed may send raw transactions with
``answers`` instead; the rules are the same.

Time: on a development chain (local or a fork) ``Feeder(move_time=True)`` sets the next
block's timestamp to the point's time before submitting, only ever forward, so both
answers land at ``point.time`` (anvil gives the mark's block the same timestamp unless a
wall-clock second passes in between; the receipts say). A point already in the chain's
past is submitted now. On any other network time cannot be moved: construct it with
``move_time=False``; ``push`` then waits for the chain's clock to reach a point up to
``max_wait`` seconds ahead, and refuses (ValueError) a point further ahead.

Ape is imported inside the methods, so ``answers`` works without a connection.
"""

from __future__ import annotations

import time as wall_clock
from typing import Any

from oracles.paths import FEED_DECIMALS, PricePoint, to_answer


def answers(point: PricePoint, decimals: int = FEED_DECIMALS) -> tuple[int | None, int]:
    """(index answer or None when ``point.stale_index``, mark answer), with ``decimals``."""
    index_answer = None if point.stale_index else to_answer(point.index, decimals)
    return index_answer, to_answer(point.mark, decimals)


class Feeder:
    """Submits each point's answers to the index and mark MockOracles."""

    def __init__(
        self,
        index_oracle: Any,
        mark_oracle: Any,
        account: Any,
        *,
        move_time: bool = True,
        max_wait: float = 0.0,
    ):
        """``index_oracle``/``mark_oracle``: Ape MockOracle instances; ``account``: their
        feeder. Raises ValueError when ``move_time`` is asked of a non-development network.
        """
        from ape import chain

        network = chain.provider.network
        if move_time and not network.is_dev:
            raise ValueError(
                f"cannot move time on network '{network.name}'; use Feeder(move_time=False)"
            )
        self.index_oracle = index_oracle
        self.mark_oracle = mark_oracle
        self.account = account
        self.move_time = move_time
        self.max_wait = max_wait
        self.index_decimals = int(index_oracle.decimals())
        self.mark_decimals = int(mark_oracle.decimals())
        self.last_time: int | None = None

    def push(self, point: PricePoint) -> list:
        """Brings the chain to ``point.time`` and submits its answers; returns the receipts.

        The index answer is skipped when ``point.stale_index`` is set. Points must come
        in strictly increasing time (ValueError otherwise).
        """
        if self.last_time is not None and point.time <= self.last_time:
            raise ValueError(f"point at {point.time} does not follow the last at {self.last_time}")
        self._reach(point.time)
        index_answer = None if point.stale_index else to_answer(point.index, self.index_decimals)
        mark_answer = to_answer(point.mark, self.mark_decimals)
        receipts = []
        if index_answer is not None:
            receipts.append(self.index_oracle.submit(index_answer, sender=self.account))
        receipts.append(self.mark_oracle.submit(mark_answer, sender=self.account))
        self.last_time = point.time
        return receipts

    def _reach(self, target: int) -> None:
        """Moves (or waits for) the chain's clock up to ``target``; never backwards."""
        from ape import chain

        if self.move_time:
            if target > chain.pending_timestamp:
                chain.pending_timestamp = target
            return
        ahead = target - chain.pending_timestamp  # a live chain's clock follows the wall's
        if ahead > self.max_wait:
            raise ValueError(
                f"point at {target} is {ahead:.0f} s in the future and time cannot be moved "
                f"on this network (max_wait={self.max_wait} s)"
            )
        if ahead > 0:
            wall_clock.sleep(ahead)


__all__ = ["Feeder", "answers"]
