"""The trader's view of funding: what a position pays or earns, and the cash-and-carry.

Pure functions on WAD integers (``1e18`` = 1), the units of ``docs/MATH.md`` §1:

* a **rate** is a fraction per funding interval (``1e14`` = 0.01 % per interval);
* a **size** is in base units and signed: positive is long, negative is short;
* a **price** is quote per 1 base (the index price: funding is charged on it, §5);
* an **interval** is in seconds (a plain integer);
* an **amount** of funding is in quote units: **positive when the position pays**,
  negative when it receives. Longs pay when the rate is positive (§5).

Every figure is computed exactly (integers, ``Fraction``) and rounded at most once, at
the end, in the direction its docstring names. Annualising is simple, never compounded:
a year is 365 days, and a yearly figure is the per-interval figure times the number of
intervals in that year (``31,536,000 / interval``; 1,095 for 8 h, 8,760 for 1 h).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction

from fundingkit.vyper_math import WAD, div_ceil, div_trunc

DAY = 86_400  # seconds
YEAR = 365 * DAY  # seconds; annualised figures use a 365-day year


def _check_interval(interval: int) -> None:
    if interval <= 0:
        raise ValueError(f"the funding interval must be a positive number of seconds ({interval})")


def _check_price(price: int) -> None:
    if price < 0:
        raise ValueError(f"a price cannot be negative ({price})")


def intervals_per_year(interval: int) -> Fraction:
    """How many ``interval``-second funding intervals a 365-day year holds (exact)."""
    _check_interval(interval)
    return Fraction(YEAR, interval)


def to_wad(amount: str | int | Decimal) -> int:
    """A decimal amount (``"0.5"``, ``50000``) as a WAD integer, exactly.

    Raises ValueError for text that is not a finite number or has more than 18 decimals.
    """
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a finite number")
    with localcontext() as exact:
        exact.prec = len(value.as_tuple().digits) + 20  # enough that scaling cannot round
        scaled = value.scaleb(18)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount!r} has more than 18 decimals")
    return int(scaled)


# ---------------------------------------------------------------- what a position pays


def funding_per_interval(rate: int, size: int, price: int) -> int:
    """Funding (quote, WAD) that a position of ``size`` pays over one whole interval at
    ``rate``, at a constant ``price``: ``size * price * rate / WAD**2``.

    Positive: the position pays; negative: it receives. Rounded once, up (toward +inf),
    the direction the market settles in (``ledger._owed``): a payer is shown at most 1
    wei more than the exact amount, a receiver at most 1 wei less. The market's own
    charge can differ from this by the index step's truncation as well (MATH.md §5, §7).
    """
    _check_price(price)
    return div_ceil(size * price * rate, WAD * WAD)


@dataclass(frozen=True)
class FundingCost:
    """Funding a position pays (+) or receives (-), in quote units (WAD).

    Each figure is the exact per-interval amount scaled to its period and rounded once,
    up: ``per_day`` and ``per_year`` are NOT the rounded ``per_interval`` multiplied,
    so they may differ from that product by less than one wei per interval counted.
    """

    per_interval: int
    per_day: int  # per-interval amount x 86,400 / interval
    per_year: int  # per-interval amount x intervals in a 365-day year (simple)
    interval: int  # seconds


def funding_cost(rate: int, size: int, price: int, interval: int) -> FundingCost:
    """What a position of signed ``size`` (base, WAD; long > 0) pays at ``rate`` (per
    interval, WAD) on ``price`` (quote per base, WAD) every ``interval`` seconds.

    Positive amounts are paid, negative received: a long pays when ``rate > 0``, a short
    pays when ``rate < 0``. The yearly figure is the per-interval amount times the
    intervals in a 365-day year (``31,536,000 / interval``), not compounded; the daily one
    uses ``86,400 / interval``. Each is rounded once, up (toward +inf), from the exact value.

    Example: 0.01 % per 8 h on 1 BTC long at 50,000 USD pays 5 USD an interval, 15 a day
    and 5,475 a year.
    """
    _check_interval(interval)
    _check_price(price)
    exact_per_interval = size * price * rate  # quote x WAD**2 per interval, exact
    scale = WAD * WAD * interval
    return FundingCost(
        per_interval=div_ceil(exact_per_interval, WAD * WAD),
        per_day=div_ceil(exact_per_interval * DAY, scale),
        per_year=div_ceil(exact_per_interval * YEAR, scale),
        interval=interval,
    )


def annualised_rate(rate: int, interval: int) -> int:
    """A rate per interval (WAD) as a simple rate per 365-day year (WAD):
    ``rate * 31,536,000 / interval``, not compounded.

    Exact whenever the interval divides a year (1, 2, 3, 4, 5, 6 or 8 h); otherwise
    truncated toward zero, so a rate and its opposite annualise to opposite values.
    (``fundingkit.scripting.annualised``, used for display, floors instead.)
    """
    _check_interval(interval)
    return div_trunc(rate * YEAR, interval)


# ---------------------------------------------------------------- cash and carry


@dataclass(frozen=True)
class CarryView:
    """Long spot + short perp of the same size: the funding side of the trade.

    The spot leg earns and pays nothing; the short perp receives ``rate`` of the notional
    every interval (it pays when ``rate < 0``). So, per unit of notional, whatever the
    size and price:

    * ``annualised_yield`` -- the funding yield a year at ``rate`` gives (WAD, simple:
      ``annualised_rate(rate, interval)``, truncated toward zero);
    * ``recent_average`` -- the mean of the recent rates given (WAD per interval, exact);
    * ``stress_rate`` -- the flip: funding turns against the short at the recent
      average's size, ``-|recent_average|`` per interval. (If the recent average is
      already negative it is that average; if it is positive, its mirror image.)
    * ``breakeven_intervals`` -- the **funding break-even**: how many intervals at
      ``stress_rate`` give back exactly one year of funding collected at ``rate``:

          breakeven_intervals = rate x (intervals per year) / |recent_average|

      (exact). ``0`` when ``rate <= 0`` (at that rate the carry collects nothing, so
      there is nothing to give back: it already pays). ``None`` when the recent average
      is 0 (a flip to it never costs anything).

    Example: collecting 0.01 % per 8 h (10.95 % a year) with a recent average of 0.03 %,
    a flip to -0.03 % undoes the year in 1,095 / 3 = 365 intervals, 121.67 days.
    """

    rate: int  # WAD per interval, the rate the short collects now
    interval: int  # seconds
    annualised_yield: int  # WAD per year, simple
    recent_average: Fraction  # WAD per interval
    stress_rate: Fraction  # WAD per interval, -|recent_average|
    breakeven_intervals: Fraction | None  # intervals at stress_rate that undo a year

    @property
    def breakeven_whole_intervals(self) -> int | None:
        """``breakeven_intervals`` rounded up: the first whole interval at which the
        year's funding is fully given back."""
        if self.breakeven_intervals is None:
            return None
        return -(-self.breakeven_intervals.numerator // self.breakeven_intervals.denominator)

    @property
    def breakeven_days(self) -> Fraction | None:
        """``breakeven_intervals`` in days (exact)."""
        if self.breakeven_intervals is None:
            return None
        return self.breakeven_intervals * self.interval / DAY


def cash_and_carry(rate: int, interval: int, *, recent_rates: Sequence[int]) -> CarryView:
    """The funding side of long spot + short perp at ``rate`` (WAD per ``interval``
    seconds), with the break-even against a flip to the average of ``recent_rates``
    (WAD per interval, the last N intervals' rates, any order). See ``CarryView`` for
    each field's definition, units and rounding.

    Raises ValueError when ``recent_rates`` is empty or the interval is not positive.
    """
    _check_interval(interval)
    if not recent_rates:
        raise ValueError("the break-even needs at least one recent rate")
    recent_average = Fraction(sum(recent_rates), len(recent_rates))
    stress_rate = -abs(recent_average)
    if rate <= 0:
        breakeven: Fraction | None = Fraction(0)
    elif stress_rate == 0:
        breakeven = None
    else:
        one_year_collected = rate * intervals_per_year(interval)  # WAD, per unit notional
        breakeven = one_year_collected / -stress_rate
    return CarryView(
        rate=rate,
        interval=interval,
        annualised_yield=annualised_rate(rate, interval),
        recent_average=recent_average,
        stress_rate=stress_rate,
        breakeven_intervals=breakeven,
    )


__all__ = [
    "DAY",
    "YEAR",
    "CarryView",
    "FundingCost",
    "annualised_rate",
    "cash_and_carry",
    "funding_cost",
    "funding_per_interval",
    "intervals_per_year",
    "to_wad",
]
