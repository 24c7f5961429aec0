"""The trader's view of funding: ``fundingkit.carry`` and ``fundingkit.funding_history``.

Pure Python (no EVM). Hand-computed examples, the sign conventions, the annualisation,
the break-even's definition on a small case and the drawdown on a constructed series;
then the Binance BTCUSDT 2020-2023 history in ../shared/data, which skips with a message
where that folder is absent (a user's fresh clone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from fundingkit.carry import (
    DAY,
    YEAR,
    annualised_rate,
    cash_and_carry,
    funding_cost,
    funding_per_interval,
    intervals_per_year,
    to_wad,
)
from fundingkit.funding_history import (
    Drawdown,
    collected_by_short,
    short_funding_from_csv,
    short_funding_history,
    short_funding_steps,
    worst_drawdown,
)
from fundingkit.vyper_math import WAD
from oracles.replay import published_rates

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BINANCE_BTC = "binance_btcusdt_funding_8h_2020_2023.csv"
HOUR = 3_600
EIGHT_HOURS = 8 * HOUR
BPS = WAD // 10_000  # 0.01 % in WAD
BTC = WAD  # 1 BTC in base WAD
USD = WAD  # 1 USD in quote WAD
PRICE = 50_000 * USD


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found: the published funding data is not beside this clone")
    return path


# ---- funding_cost: the hand-computed example and its signs -------------------


def test_one_bp_per_8h_on_one_btc_at_50k_is_5_usd_an_interval():
    cost = funding_cost(BPS, BTC, PRICE, EIGHT_HOURS)
    # 50,000 x 0.0001 = 5 USD; 3 intervals a day; 1,095 a year.
    assert cost.per_interval == 5 * USD
    assert cost.per_day == 15 * USD
    assert cost.per_year == 5_475 * USD
    assert cost.interval == EIGHT_HOURS


def test_sign_conventions():
    long, short = BTC, -BTC
    # A positive rate: longs pay (+), shorts receive (-), the same amount.
    assert funding_cost(BPS, long, PRICE, EIGHT_HOURS).per_interval == 5 * USD
    assert funding_cost(BPS, short, PRICE, EIGHT_HOURS).per_interval == -5 * USD
    # A negative rate: the short pays, the long receives.
    assert funding_cost(-3 * BPS, short, PRICE, EIGHT_HOURS).per_interval == 15 * USD
    assert funding_cost(-3 * BPS, long, PRICE, EIGHT_HOURS).per_year == -15 * 1_095 * USD
    # Nothing is paid by a flat position, or at a zero rate.
    assert funding_cost(BPS, 0, PRICE, EIGHT_HOURS) == funding_cost(0, long, PRICE, EIGHT_HOURS)
    assert funding_cost(0, long, PRICE, EIGHT_HOURS).per_year == 0
    # The short's receipt, seen from the short's side.
    assert collected_by_short(BPS, BTC, PRICE) == 5 * USD
    assert collected_by_short(-BPS, BTC, PRICE) == -5 * USD


def test_rounding_is_once_and_up():
    # 1 wei of base at 1 wei of quote per base, 1 wei per interval: exactly 1e-54 quote.
    assert funding_per_interval(1, 1, 1) == 1  # a payer pays the 1 wei rounded up
    assert funding_per_interval(1, -1, 1) == 0  # a receiver receives 0, rounded toward +inf
    # A 7 h interval does not divide a day: per day = 24/7 x per interval, rounded once.
    cost = funding_cost(7 * BPS, BTC, PRICE, 7 * HOUR)  # 35 USD per interval, exact
    assert cost.per_interval == 35 * USD
    assert cost.per_day == 120 * USD  # 35 x 24 / 7, exact
    assert cost.per_year == 35 * USD * YEAR // (7 * HOUR)  # 43,800 USD: 1,251.43 intervals
    # Each period is scaled from the exact amount, then rounded: 1e-18 wei an hour is
    # shown as 1 wei an hour and 1 wei a year (8,760e-18 wei, rounded up), not 8,760 wei.
    tiny = funding_cost(1, 1, WAD, HOUR)
    assert (tiny.per_interval, tiny.per_day, tiny.per_year) == (1, 1, 1)
    assert funding_cost(1, -1, WAD, HOUR).per_year == 0  # the receiver's side rounds to 0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="interval"):
        funding_cost(BPS, BTC, PRICE, 0)
    with pytest.raises(ValueError, match="negative"):
        funding_cost(BPS, BTC, -1, EIGHT_HOURS)
    with pytest.raises(ValueError, match="at least one recent rate"):
        cash_and_carry(BPS, EIGHT_HOURS, recent_rates=[])


def test_to_wad_is_exact():
    assert to_wad("1") == WAD and to_wad("0.5") == WAD // 2 and to_wad(50_000) == PRICE
    assert to_wad("123456789012345.123456789012345678") == 123456789012345123456789012345678
    for text in ("1e-19", "abc", "nan", "inf"):
        with pytest.raises(ValueError):
            to_wad(text)


# ---- annualisation -----------------------------------------------------------


def test_annualised_rate_is_simple_rate_times_intervals_a_year():
    assert intervals_per_year(EIGHT_HOURS) == 1_095 and intervals_per_year(HOUR) == 8_760
    assert annualised_rate(BPS, EIGHT_HOURS) == 1_095 * BPS  # 10.95 % a year
    assert annualised_rate(BPS, HOUR) == 8_760 * BPS  # 87.6 %: not compounded
    assert annualised_rate(-BPS, EIGHT_HOURS) == -1_095 * BPS
    # 7 h does not divide a year: truncated toward zero, symmetric in sign.
    assert annualised_rate(1, 7 * HOUR) == 1_251
    assert annualised_rate(-1, 7 * HOUR) == -1_251
    # The yearly amount of funding_cost is the per-interval amount x intervals a year.
    cost = funding_cost(BPS, BTC, PRICE, HOUR)
    assert cost.per_year == cost.per_interval * 8_760 and cost.per_day == cost.per_interval * 24


# ---- cash and carry: yield and break-even ------------------------------------


def test_carry_yield_is_the_short_perps_funding():
    view = cash_and_carry(BPS, EIGHT_HOURS, recent_rates=[BPS])
    assert view.annualised_yield == annualised_rate(BPS, EIGHT_HOURS) == 1_095 * BPS
    # Per unit of notional: what the short collects in a year on 1 USD of spot.
    short_year = -funding_cost(BPS, -BTC, PRICE, EIGHT_HOURS).per_year
    assert Fraction(short_year, PRICE) * WAD == view.annualised_yield


def test_breakeven_on_a_small_case():
    # Collecting 0.01 % per 8 h: a year holds 1,095 x 0.01 % = 10.95 %. The recent rates
    # average 0.03 %; flipped against the short that is -0.03 % per interval, which takes
    # back the 10.95 % in 10.95 / 0.03 = 365 intervals = 121 2/3 days.
    view = cash_and_carry(BPS, EIGHT_HOURS, recent_rates=[2 * BPS, 3 * BPS, 4 * BPS])
    assert view.recent_average == 3 * BPS
    assert view.stress_rate == -3 * BPS
    assert view.breakeven_intervals == 365
    assert view.breakeven_whole_intervals == 365
    assert view.breakeven_days == Fraction(365, 3)
    # By definition: the year collected at the rate equals the intervals x |stress rate|.
    year = annualised_rate(view.rate, EIGHT_HOURS)
    assert view.breakeven_intervals * -view.stress_rate == year

    # A recent average that is already negative is the stress rate itself; an inexact
    # count of intervals is kept exact, and rounded up to whole intervals.
    view = cash_and_carry(2 * BPS, EIGHT_HOURS, recent_rates=[-BPS, -2 * BPS, -4 * BPS])
    assert view.stress_rate == Fraction(-7 * BPS, 3)
    assert view.breakeven_intervals == Fraction(2 * 1_095 * 3, 7)  # 938.57...
    assert view.breakeven_whole_intervals == 939
    assert view.breakeven_days == Fraction(2 * 1_095 * 3, 7) * EIGHT_HOURS / DAY

    # Nothing to give back at a rate that does not pay the short; never, at a zero average.
    assert cash_and_carry(-BPS, EIGHT_HOURS, recent_rates=[BPS]).breakeven_intervals == 0
    assert cash_and_carry(0, EIGHT_HOURS, recent_rates=[BPS]).breakeven_whole_intervals == 0
    never = cash_and_carry(BPS, EIGHT_HOURS, recent_rates=[BPS, -BPS])
    assert never.breakeven_intervals is None and never.breakeven_days is None


# ---- history: cumulative funding and the worst drawdown ----------------------


def test_drawdown_of_a_constructed_series():
    # Collected +1, +1, -3, +1: totals 1, 2, -1, 0; from the peak 2 down to -1.
    worst = worst_drawdown([(1, 1), (2, 2), (3, -1), (4, 0)])
    assert worst == Drawdown(peak_time=2, peak=2, trough_time=3, trough=-1, recovered_time=None)
    assert worst.amount == 3
    # Back at the peak later: dated; a smaller later fall does not replace the worst.
    worst = worst_drawdown([(1, 1), (2, 2), (3, -1), (4, 2), (5, 5), (6, 4)])
    assert (worst.amount, worst.recovered_time) == (3, 4)
    # The series starts at 0: an opening loss is a drawdown from the first time.
    assert worst_drawdown([(10, -2), (11, -1)]) == Drawdown(10, 0, 10, -2)
    assert worst_drawdown([(1, 0), (2, 1), (3, 1)]) is None


def test_history_of_a_short_through_constructed_rates():
    day = 1_700_000_000
    rows = [(day + k * EIGHT_HOURS, rate) for k, rate in enumerate((1, 1, -3, 1))]
    rows = [(time, rate * BPS) for time, rate in rows]
    history = short_funding_history(rows, price=PRICE)
    assert history.collected == [5 * USD, 5 * USD, -15 * USD, 5 * USD]
    assert history.cumulative == [5 * USD, 10 * USD, -5 * USD, 0]
    assert history.interval == EIGHT_HOURS and history.negative_intervals == 1
    worst = history.worst_drawdown
    assert (worst.peak_time, worst.trough_time, worst.amount) == (rows[1][0], rows[2][0], 15 * USD)
    # Net 0 collected: 0 yield. A constant 1 bp would annualise to 10.95 %.
    assert history.total == 0 and history.annualised_yield == 0
    steady = short_funding_history([(t, BPS) for t, _ in rows], price=PRICE, size=2 * BTC)
    assert steady.total == 4 * 10 * USD and steady.annualised_yield == 1_095 * BPS
    assert steady.worst_drawdown is None
    # A price path: each interval charged at its own price.
    path = short_funding_history(rows, price=lambda time: PRICE if time < rows[2][0] else PRICE * 2)
    assert path.collected == [5 * USD, 5 * USD, -30 * USD, 10 * USD]
    # Lazy: steps come one at a time.
    steps = short_funding_steps(iter(rows), price=PRICE)
    assert next(steps).cumulative == 5 * USD


# ---- the Binance BTCUSDT history ---------------------------------------------


def test_binance_btcusdt_short_collects_the_sum_of_rate_times_price():
    path = data_file(BINANCE_BTC)
    rows = published_rates(path)
    history = short_funding_from_csv(path, price=PRICE, size=BTC)
    assert len(history.times) == len(rows) == 4_383 and history.interval == EIGHT_HOURS
    # Exact in WAD: rate x 50,000 is a whole number of wei for every published rate.
    products = [rate * PRICE for _, rate in rows]
    assert all(product % WAD == 0 for product in products)
    assert history.total == sum(products) // WAD
    assert history.cumulative[-1] == history.total == sum(history.collected)
    # Annualised: the mean rate x 1,095, over 4,383 intervals of 8 h (4 years and a day).
    mean_rate = Fraction(sum(rate for _, rate in rows), len(rows))
    assert history.annualised_yield_exact == mean_rate * 1_095


def test_binance_btcusdt_worst_drawdown_is_a_negative_stretch():
    history = short_funding_from_csv(data_file(BINANCE_BTC), price=PRICE)
    worst = history.worst_drawdown
    assert worst is not None and worst.amount > 0 and worst.trough < worst.peak
    start, end = history.times.index(worst.peak_time), history.times.index(worst.trough_time)
    assert start < end
    stretch = history.rates[start + 1 : end + 1]
    assert sum(stretch) < 0  # funding ran against the short from peak to trough
    assert history.rates[end] < 0  # the trough is a payment by the short
    first, last = (datetime(year, 1, 1, tzinfo=UTC).timestamp() for year in (2020, 2024))
    assert first <= worst.peak_time < worst.trough_time < last
