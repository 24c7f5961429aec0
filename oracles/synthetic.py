"""Seeded synthetic price paths, one per named market regime.

Spot (the index) is a geometric random walk; the premium of the perp over spot is a
mean-reverting (Ornstein-Uhlenbeck) process around the regime's target; the mark is
``index * (1 + premium)``. Both are sampled every ``step`` seconds.

The same arguments always give the same path, on any machine and Python version: the
only source of randomness is ``random.Random(seed).random()`` (whose sequence Python
guarantees), turned into normal draws here by Box-Muller rather than by
``random.gauss``, whose algorithm may change.

Prices are WAD integers on the 8-decimal answer grid (``paths.ANSWER_UNIT``), so the
premium a market computes from the pushed answers is exactly ``PricePoint.premium``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from oracles.paths import ANSWER_UNIT, FEED_DECIMALS, PricePoint

DAY = 86_400
HOUR = 3_600

REGIME_DESCRIPTIONS = {
    "positive": "contango: the perp trades 0.05-0.15 % over spot, longs pay",
    "negative": "backwardation: the perp trades 0.1-0.3 % under spot for weeks, shorts pay",
    "flip": "the premium changes sign every two days",
    "crash": "spot falls 40 % within one hour mid-path, the perp at a 2 % discount, recovering",
    "spike": "a single-step +5 % mark spike mid-path, then back: the average absorbs it",
    "stale": "the index feed stops updating for six hours mid-path (stale_index points)",
}
REGIMES: tuple[str, ...] = tuple(REGIME_DESCRIPTIONS)

DEFAULT_DAILY_VOLATILITY = 0.03  # 3 % a day, a calm BTC
FLIP_PERIOD = 2 * DAY  # the flip regime's target changes sign this often
CRASH_DROP = 0.40  # the crash takes 40 % off spot, in one step of at most an hour
CRASH_PREMIUM = -0.02  # ... and the perp trades 2 % under the new spot
SPIKE_PREMIUM = 0.05  # the spike adds +5 % to the mark for one point
STALE_STRETCH = 6 * HOUR  # the index outage lasts this long (well beyond a 1 h max_age)


@dataclass(frozen=True)
class _PremiumProcess:
    """Ornstein-Uhlenbeck parameters of the premium (fractions, not WAD)."""

    target: float  # the level the premium reverts to
    spread: float  # its stationary standard deviation
    reversion: float  # mean-reversion speed, per day (half-life ln 2 / reversion days)


_PROCESSES = {
    "positive": _PremiumProcess(target=0.0010, spread=0.0002, reversion=6.0),
    "negative": _PremiumProcess(target=-0.0020, spread=0.0004, reversion=6.0),
    "flip": _PremiumProcess(target=0.0010, spread=0.0002, reversion=6.0),
    "crash": _PremiumProcess(target=0.0003, spread=0.0002, reversion=2.0),
    "spike": _PremiumProcess(target=0.0010, spread=0.0002, reversion=6.0),
    "stale": _PremiumProcess(target=0.0010, spread=0.0002, reversion=6.0),
}


def check_regime(regime: str) -> str:
    """``regime`` if it is known; otherwise a ValueError naming the choices."""
    if regime not in REGIME_DESCRIPTIONS:
        raise ValueError(f"unknown regime {regime!r}; choose one of: {', '.join(REGIMES)}")
    return regime


class _Normals:
    """Standard normal draws from ``random.Random(seed).random()`` by Box-Muller."""

    def __init__(self, seed: int):
        self._uniform = random.Random(seed).random
        self._spare: float | None = None

    def draw(self) -> float:
        if self._spare is not None:
            value, self._spare = self._spare, None
            return value
        radius = math.sqrt(-2.0 * math.log(1.0 - self._uniform()))  # 1 - u lies in (0, 1]
        angle = 2.0 * math.pi * self._uniform()
        self._spare = radius * math.sin(angle)
        return radius * math.cos(angle)


def _answer(price: float) -> int:
    """A positive float price as an 8-decimal answer (at least one unit)."""
    return max(1, round(price * 10**FEED_DECIMALS))


def synthetic_path(
    regime: str,
    *,
    days: float,
    seed: int,
    start_time: int,
    start_price: float = 50_000,
    step: int = HOUR,
    daily_volatility: float = DEFAULT_DAILY_VOLATILITY,
) -> list[PricePoint]:
    """A reproducible path of ``days`` days in ``regime``, one point every ``step`` s.

    Points lie at ``start_time + k * step`` for k = 0 .. round(days * 86400 / step).
    ``start_price`` is spot in quote per base; ``daily_volatility`` is spot's daily
    log-return standard deviation. Regimes (``REGIMES``): see ``REGIME_DESCRIPTIONS``.
    The event of ``crash`` and ``spike`` and the outage of ``stale`` start at the
    middle point. Raises ValueError for an unknown regime or unusable arguments.
    """
    check_regime(regime)
    if step <= 0:
        raise ValueError(f"step must be a positive number of seconds (got {step})")
    if not days > 0:
        raise ValueError(f"days must be positive (got {days})")
    if not start_price > 0:
        raise ValueError(f"start_price must be positive (got {start_price})")
    if daily_volatility < 0:
        raise ValueError(f"daily_volatility cannot be negative (got {daily_volatility})")
    steps = max(1, round(days * DAY / step))
    if regime in ("crash", "spike", "stale") and steps < 2:
        raise ValueError(f"the {regime!r} regime needs at least 3 points; raise days")
    if regime == "crash" and step > HOUR:
        raise ValueError("the 'crash' regime drops spot within one hour: use step <= 3600")

    process = _PROCESSES[regime]
    normals = _Normals(seed)
    step_days = step / DAY
    spot_sigma = daily_volatility * math.sqrt(step_days)  # per-step log-return std
    # Exact OU transition over one step: keep `carry` of the distance to the target.
    carry = math.exp(-process.reversion * step_days)
    shock = process.spread * math.sqrt(1.0 - carry * carry)
    event = steps // 2  # the point where crash / spike / outage begin
    outage_end = min(event + max(1, STALE_STRETCH // step), steps)  # last point stays fresh

    spot = float(start_price)
    deviation = process.spread * normals.draw()  # start in the stationary distribution
    pushed_index: int | None = None
    points: list[PricePoint] = []
    for k in range(steps + 1):
        if k > 0:
            spot *= math.exp(spot_sigma * normals.draw() - spot_sigma * spot_sigma / 2)
            deviation = deviation * carry + shock * normals.draw()
        target = process.target
        if regime == "flip" and (k * step // FLIP_PERIOD) % 2 == 1:
            target = -target
        if regime == "crash" and k == event:
            spot = points[-1].index / 10**18 * (1.0 - CRASH_DROP)  # exactly -40 % this step
            deviation = CRASH_PREMIUM - target  # the perp gaps to a deep discount
        level = target + deviation
        if regime == "spike" and k == event:
            level += SPIKE_PREMIUM  # this point only: the process state is untouched

        index_answer = _answer(spot)
        mark_answer = max(1, index_answer + round(index_answer * level))
        stale = regime == "stale" and event <= k < outage_end
        if stale and pushed_index is not None:
            index_answer = pushed_index  # the feed still holds the last pushed price
        else:
            pushed_index = index_answer
        points.append(
            PricePoint(
                time=start_time + k * step,
                index=index_answer * ANSWER_UNIT,
                mark=mark_answer * ANSWER_UNIT,
                stale_index=stale,
            )
        )
    return points


__all__ = [
    "DEFAULT_DAILY_VOLATILITY",
    "REGIMES",
    "REGIME_DESCRIPTIONS",
    "check_regime",
    "synthetic_path",
]
