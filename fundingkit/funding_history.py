"""What a short perp would have collected through a published funding history.

A short of ``size`` base units, held through every published interval, collects
``rate x size x price`` each interval (it pays when the rate is negative: the
basis-flip risk of a cash-and-carry). From ``oracles.replay.published_rates`` rows
``(funding time, rate)`` this module gives, interval by interval, what was collected
and the running total, and the **worst drawdown** of that total: the largest fall from
a running peak to a later trough, with both dates.

Units as in ``fundingkit.carry``: rates WAD per interval, sizes base WAD (here the
short's size, positive), prices WAD quote per base, amounts WAD quote (positive:
collected by the short; negative: paid by it), times unix seconds (the published
funding time, when the interval's funding changes hands).

Streaming: ``short_funding_steps`` is a generator and ``DrawdownTracker`` takes one
point at a time, so a history of any length can be folded in constant memory;
``short_funding_history`` collects the series as well, for plots.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from fundingkit.carry import YEAR, funding_per_interval
from fundingkit.vyper_math import WAD, div_trunc
from oracles.replay import detect_interval, published_rates

#: A constant price (WAD quote per base), or the price at a funding time.
PriceSource = int | Callable[[int], int]


@dataclass(frozen=True)
class FundingStep:
    """One published interval, seen by the short."""

    time: int  # funding time, unix seconds
    rate: int  # WAD per interval; > 0: longs pay shorts
    price: int  # WAD quote per base, the price the interval's funding is charged on
    collected: int  # WAD quote the short received (< 0: paid) in this interval
    cumulative: int  # WAD quote, the running total up to and including this interval


def collected_by_short(rate: int, size: int, price: int) -> int:
    """Funding (quote, WAD) a short of ``size`` (base, WAD, positive) receives in one
    interval at ``rate``: ``rate * size * price / WAD**2``, rounded down (toward -inf),
    the market's way for whoever receives (and a payer pays the rounded-up amount).
    Exact whenever the product is a multiple of ``WAD**2``: always for a whole number of
    base units at a whole-unit price, whatever the rate."""
    return -funding_per_interval(rate, -size, price)


def _price_at(price: PriceSource, time: int) -> int:
    value = price(time) if callable(price) else price
    if value <= 0:
        raise ValueError(f"the price at {time} must be positive (got {value})")
    return value


def short_funding_steps(
    rows: Iterable[tuple[int, int]], *, price: PriceSource, size: int = WAD
) -> Iterator[FundingStep]:
    """Each ``(time, rate)`` row as a ``FundingStep`` of a short of ``size`` (base, WAD),
    at ``price``: a constant WAD price, or a function of the funding time. Lazy."""
    if size <= 0:
        raise ValueError(f"the short's size must be positive (got {size})")
    cumulative = 0
    for time, rate in rows:
        at = _price_at(price, time)
        collected = collected_by_short(rate, size, at)
        cumulative += collected
        yield FundingStep(time, rate, at, collected, cumulative)


# ---------------------------------------------------------------- drawdown


@dataclass(frozen=True)
class Drawdown:
    """A fall of the cumulative funding from a running peak to a later trough.

    The series starts at 0 before the first interval; a peak that is this start is
    dated at the first funding time. ``recovered_time`` is the first funding time after
    the trough at which the total is back at the peak (None: not within the history).
    """

    peak_time: int
    peak: int  # WAD quote, the cumulative funding at the peak
    trough_time: int
    trough: int  # WAD quote, at the trough
    recovered_time: int | None = None

    @property
    def amount(self) -> int:
        """How far the total fell, peak minus trough (WAD quote, positive)."""
        return self.peak - self.trough


@dataclass
class DrawdownTracker:
    """The worst drawdown of a running total, one point at a time (O(1) memory).

    Ties keep the earlier drawdown. A peak is the last point at which the running
    maximum was reached (a total that stays flat at its peak moves the peak later).
    """

    peak_value: int = 0  # the series starts at 0
    peak_time: int | None = None
    worst: Drawdown | None = None

    def add(self, time: int, total: int) -> None:
        if self.peak_time is None:
            self.peak_time = time  # the starting 0, dated at the first point
        worst = self.worst
        if (
            worst is not None
            and worst.recovered_time is None
            and time > worst.trough_time
            and total >= worst.peak
        ):
            self.worst = worst = Drawdown(
                worst.peak_time, worst.peak, worst.trough_time, worst.trough, time
            )
        if total >= self.peak_value:
            self.peak_value, self.peak_time = total, time
        elif worst is None or self.peak_value - total > worst.amount:
            self.worst = Drawdown(self.peak_time, self.peak_value, time, total)


def worst_drawdown(points: Iterable[tuple[int, int]]) -> Drawdown | None:
    """The worst drawdown of ``(time, running total)`` points, or None if it never falls
    below a previous high (including the starting 0)."""
    tracker = DrawdownTracker()
    for time, total in points:
        tracker.add(time, total)
    return tracker.worst


# ---------------------------------------------------------------- the whole history


@dataclass
class ShortFundingHistory:
    """A short held through a funding history: the series and its summary.

    ``collected`` and ``cumulative`` are WAD quote (positive: the short received);
    ``notional`` is the sum over intervals of ``size x price`` (WAD quote x intervals),
    the denominator of the yield.
    """

    size: int  # base, WAD
    interval: int  # seconds
    times: list[int] = field(default_factory=list)
    rates: list[int] = field(default_factory=list)
    prices: list[int] = field(default_factory=list)
    collected: list[int] = field(default_factory=list)
    cumulative: list[int] = field(default_factory=list)
    notional: Fraction = Fraction(0)
    worst_drawdown: Drawdown | None = None

    @property
    def total(self) -> int:
        """Funding collected over the whole history (WAD quote; < 0: paid)."""
        return self.cumulative[-1] if self.cumulative else 0

    @property
    def negative_intervals(self) -> int:
        """Intervals in which the short paid (rate < 0)."""
        return sum(1 for rate in self.rates if rate < 0)

    @property
    def years(self) -> Fraction:
        """The time the short was held, in 365-day years: from the opening of the first
        interval (its funding time minus ``interval``) to the last funding time. Times,
        not a count of rows, so a history whose interval changes (Hyperliquid 2023:
        8 h, then 1 h) is measured right."""
        if not self.times:
            return Fraction(0)
        return Fraction(self.times[-1] - self.times[0] + self.interval, YEAR)

    @property
    def annualised_yield_exact(self) -> Fraction:
        """The average funding yield, annualised (WAD per year, simple, not compounded):
        everything collected / the average notional (size x price over the intervals) /
        ``years``. With a constant price and a regular history it is the mean published
        rate x intervals per year."""
        if not self.notional:
            return Fraction(0)
        average_notional = self.notional / len(self.times)  # WAD quote
        return Fraction(self.total) * WAD / average_notional / self.years

    @property
    def annualised_yield(self) -> int:
        """``annualised_yield_exact`` as a WAD integer, truncated toward zero."""
        exact = self.annualised_yield_exact
        return div_trunc(exact.numerator, exact.denominator)


def short_funding_history(
    rows: Iterable[tuple[int, int]],
    *,
    price: PriceSource,
    size: int = WAD,
    interval: int | None = None,
) -> ShortFundingHistory:
    """A short of ``size`` (base, WAD) held through ``rows`` (``(time, rate WAD)``, as
    ``oracles.replay.published_rates`` gives) at ``price`` (constant WAD, or a function
    of the funding time). ``interval`` (seconds) annualises the yield; by default it is
    detected from the times (``oracles.replay.detect_interval``: two rows at least).
    """
    history = ShortFundingHistory(size=size, interval=interval or 0)
    tracker = DrawdownTracker()
    for step in short_funding_steps(rows, price=price, size=size):
        history.times.append(step.time)
        history.rates.append(step.rate)
        history.prices.append(step.price)
        history.collected.append(step.collected)
        history.cumulative.append(step.cumulative)
        history.notional += Fraction(size * step.price, WAD)
        tracker.add(step.time, step.cumulative)
    if not history.times:
        raise ValueError("the funding history holds no rows")
    history.interval = interval or detect_interval(history.times)
    history.worst_drawdown = tracker.worst
    return history


def history_symbol(csv_path: str | Path) -> str:
    """The instrument a published history is for: its first row's ``symbol`` (Binance,
    dYdX) or ``coin`` (Hyperliquid) column, else the file's name without extension."""
    path = Path(csv_path)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for column in ("symbol", "coin"):
                value = (row.get(column) or "").strip()
                if value:
                    return value
            break
    return path.stem


def short_funding_from_csv(
    csv_path: str | Path, *, price: PriceSource, size: int = WAD
) -> ShortFundingHistory:
    """``short_funding_history`` of a published file (``oracles.replay.published_rates``:
    Binance, dYdX or Hyperliquid columns). Raises ValueError with one sentence for a
    missing or malformed file."""
    return short_funding_history(published_rates(csv_path), price=price, size=size)


__all__ = [
    "Drawdown",
    "DrawdownTracker",
    "FundingStep",
    "PriceSource",
    "ShortFundingHistory",
    "collected_by_short",
    "history_symbol",
    "short_funding_from_csv",
    "short_funding_history",
    "short_funding_steps",
    "worst_drawdown",
]
