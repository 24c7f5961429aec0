"""The ``oracles`` package: synthetic regimes, the replay of published rates, answers.

Pure Python (no EVM). The replay tests read ../shared/data and skip, with a message,
where that folder is absent (a user's fresh clone); the rest run anywhere.

The replay claim under test: for every published rate, the premium computed from the
replayed mark and index integers (``fundingkit.rates.premium``, truncating like the
contract) gives back the published rate through the premium-clamp formula, to the wei --
and so does the reference market when it is fed the path and accrues at each point.

Parameters for Binance BTCUSDT 2020-2023: Binance's own (I = 0.01 %, d = 0.05 %,
cap = 0.75 % per 8 h), which are ``RateParameters()``'s defaults. No published rate
exceeds that cap: the extremes are exactly +0.3 % (2020-02-12) and -0.3 % (2020-03-13),
where Binance's cap was then 0.3 %. Under the 0.75 % cap those rows are not capped; they
invert to the least premium that would have bound Binance's cap (+-0.35 %).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundingkit.feeds import MockFeed
from fundingkit.market import MarketModel
from fundingkit.rates import HOUR, RateParameters, premium, premium_clamp_rate
from fundingkit.vyper_math import WAD
from oracles import REGIMES, path_summary, synthetic_path, to_answer
from oracles.feeder import answers
from oracles.paths import ANSWER_UNIT, NamedPath, PricePath, PricePoint
from oracles.replay import (
    implied_premium,
    index_answer_for,
    mark_answer_for,
    published_rates,
    replay_path,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
BINANCE_BTC = "binance_btcusdt_funding_8h_2020_2023.csv"
START = 1_700_000_000
PCT = WAD // 100  # 1 % in WAD
BINANCE_PARAMS = RateParameters(interval=8 * HOUR, interest=PCT // 100, dampener=PCT // 20)


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found: the published funding data is not beside this clone")
    return path


def path_of(regime: str, seed: int = 7, days: float = 10, **kwargs) -> list[PricePoint]:
    return synthetic_path(regime, days=days, seed=seed, start_time=START, **kwargs)


# ---- synthetic paths: reproducible, well formed ------------------------------


@pytest.mark.parametrize("regime", REGIMES)
def test_same_seed_gives_the_same_path_and_another_seed_another(regime):
    assert path_of(regime, seed=11) == path_of(regime, seed=11)
    assert path_of(regime, seed=11) != path_of(regime, seed=12)


@pytest.mark.parametrize("regime", REGIMES)
def test_paths_are_evenly_timed_and_on_the_answer_grid(regime):
    points = path_of(regime, days=2, step=1_800)
    assert [p.time for p in points] == [START + k * 1_800 for k in range(97)]
    for point in points:
        assert point.index > 0 and point.mark > 0
        # 8-decimal answers carry every price exactly: the chain sees this premium.
        assert point.index % ANSWER_UNIT == 0 and point.mark % ANSWER_UNIT == 0
        assert to_answer(point.mark) * ANSWER_UNIT == point.mark


def test_unknown_regime_names_the_choices():
    with pytest.raises(ValueError) as error:
        path_of("sideways")
    assert str(error.value) == (
        "unknown regime 'sideways'; choose one of: positive, negative, flip, crash, spike, stale"
    )


@pytest.mark.parametrize(
    "kwargs",
    [dict(days=0), dict(days=1, step=0), dict(days=1, start_price=0), dict(days=1 / 24)],
)
def test_unusable_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        synthetic_path("crash", seed=1, start_time=START, **kwargs)


# ---- each regime's signature -------------------------------------------------


def premiums(points):
    return [p.premium for p in points]


def test_positive_regime_has_longs_paying():
    values = premiums(path_of("positive"))
    assert all(value > 0 for value in values)
    mean = sum(values) // len(values)
    assert 5 * PCT // 100 <= mean <= 15 * PCT // 100  # 0.05 % .. 0.15 %


def test_negative_regime_stays_in_backwardation_for_weeks():
    points = path_of("negative", days=21)
    summary = path_summary(points)
    assert summary["mean_premium"] < 0
    assert -30 * PCT // 100 <= summary["mean_premium"] <= -10 * PCT // 100
    assert summary["negative_premium_points"] == len(points)


def test_flip_regime_changes_sign_at_least_twice():
    signs = [value > 0 for value in premiums(path_of("flip")) if value != 0]
    changes = sum(1 for before, after in pairwise(signs) if before != after)
    assert changes >= 2


def test_crash_drops_spot_over_a_third_within_an_hour_at_a_deep_discount():
    points = path_of("crash")
    drops = [
        (after.index - before.index) * WAD // before.index
        for before, after in pairwise(points)
        if after.time - before.time <= HOUR
    ]
    worst = min(drops)
    assert worst <= -35 * PCT
    crash = drops.index(worst) + 1
    assert points[crash].premium <= -15 * PCT // 10  # the perp at a deep discount
    assert points[-1].premium > -PCT // 2  # ... that recovers by the end


def test_spike_is_a_single_point_excursion():
    points = path_of("spike")
    large = [k for k, value in enumerate(premiums(points)) if value > PCT]
    assert len(large) == 1
    (k,) = large
    assert points[k].premium >= 4 * PCT
    assert abs(points[k - 1].premium) < PCT // 2 and abs(points[k + 1].premium) < PCT // 2


def test_stale_regime_has_a_stretch_without_index_updates():
    points = path_of("stale")
    stale = [k for k, point in enumerate(points) if point.stale_index]
    assert stale == list(range(stale[0], stale[-1] + 1))  # one unbroken stretch
    first, last = stale[0], stale[-1]
    # Longer than the market's 1 h max_age: the last pushed answer goes stale.
    assert points[last + 1].time - points[first - 1].time > HOUR
    assert {points[k].index for k in range(first - 1, last + 1)} == {points[first - 1].index}
    assert not points[-1].stale_index
    assert all(answers(points[k])[0] is None for k in stale)
    assert answers(points[last + 1])[0] == to_answer(points[last + 1].index)


def test_path_summary_and_named_path():
    points = path_of("positive", days=1)
    path = NamedPath("positive", tuple(points))
    assert isinstance(path, PricePath) and list(path) == points and len(path) == 25
    summary = path_summary(path)
    assert summary["points"] == 25 and summary["duration"] == 24 * HOUR
    assert summary["min_premium"] <= summary["mean_premium"] <= summary["max_premium"]
    assert path_summary([]) == {"points": 0}


# ---- answers -----------------------------------------------------------------


def test_to_answer_rounds_half_up():
    assert to_answer(50_000 * WAD) == 50_000 * 10**8
    assert to_answer(ANSWER_UNIT // 2 - 1) == 0
    assert to_answer(ANSWER_UNIT // 2) == 1  # the tie goes up
    assert to_answer(3 * ANSWER_UNIT + ANSWER_UNIT // 2) == 4
    assert to_answer(WAD, decimals=18) == WAD and to_answer(WAD, decimals=20) == 100 * WAD
    with pytest.raises(ValueError):
        to_answer(-1)


def test_answers_skip_the_index_only_when_stale():
    point = PricePoint(START, 50_000 * WAD, 50_050 * WAD)
    assert answers(point) == (50_000 * 10**8, 50_050 * 10**8)
    stale = PricePoint(START, 50_000 * WAD, 50_050 * WAD, stale_index=True)
    assert answers(stale) == (None, 50_050 * 10**8)


# ---- inverting the rate ------------------------------------------------------


def test_implied_premium_picks_documented_solutions():
    p = BINANCE_PARAMS
    assert implied_premium(p.interest, p) == p.interest  # inside the band: P = I
    assert implied_premium(5 * PCT // 100, p) == 10 * PCT // 100  # r > I: r + d
    assert implied_premium(-5 * PCT // 100, p) == -10 * PCT // 100  # r < I: r - d
    assert implied_premium(p.cap, p) == p.cap + p.dampener  # capped: the least binding P
    with pytest.raises(ValueError, match="exceeds the cap"):
        implied_premium(p.cap + 1, p)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(-4 * PCT, 4 * PCT),
    interest=st.integers(-PCT // 10, PCT // 10),
    dampener=st.integers(0, PCT),
)
def test_implied_premium_reproduces_every_rate_within_the_cap(rate, interest, dampener):
    params = RateParameters(interest=interest, dampener=dampener, cap=4 * PCT)
    assert params.rate(implied_premium(rate, params)) == rate


@settings(max_examples=400, deadline=None)
@given(
    units=st.integers(-500_000, 500_000),  # premium in units of 1e-8 (Binance's decimals)
    dollars=st.integers(1_000, 200_000),
)
def test_whole_dollar_index_makes_every_eight_decimal_premium_exact(units, dollars):
    """With P a multiple of 1e10 wei and the index a whole dollar, P * a is a multiple of
    WAD, so the mark ``a + P * a / WAD`` gives exactly P through the truncating premium."""
    target = units * 10**10
    index_answer = dollars * 10**8
    mark_answer = mark_answer_for(index_answer, target)
    assert mark_answer == index_answer + target * index_answer // WAD
    assert premium(mark_answer * ANSWER_UNIT, index_answer * ANSWER_UNIT) == target


@settings(max_examples=400, deadline=None)
@given(
    units=st.integers(-5 * 10**8, 5 * 10**8),  # a premium within +-5 %, in units of 1e-10
    decimals=st.integers(8, 10),  # ... published with this many decimals
    wanted=st.integers(10**12, 2 * 10**13),  # 10,000 .. 200,000 quote per base
)
def test_premiums_of_up_to_ten_decimals_are_exact_near_any_realistic_index(units, decimals, wanted):
    coarser = 10 ** (10 - decimals)
    target = units // coarser * coarser * 10**8  # WAD, a multiple of 10**(18 - decimals)
    index_answer = index_answer_for(target, wanted)
    assert abs(index_answer - wanted) * 100 <= wanted  # moved by at most 1 %
    mark_answer = mark_answer_for(index_answer, target)
    assert premium(mark_answer * ANSWER_UNIT, index_answer * ANSWER_UNIT) == target


@settings(max_examples=300, deadline=None)
@given(target=st.integers(-5 * PCT, 5 * PCT), wanted=st.integers(10**12, 10**14))
def test_any_exact_mark_found_is_exact_and_snapping_stays_near(target, wanted):
    mark_answer = mark_answer_for(wanted, target)
    if mark_answer is not None:
        assert premium(mark_answer * ANSWER_UNIT, wanted * ANSWER_UNIT) == target
    try:
        index_answer = index_answer_for(target, wanted)
    except ValueError:
        return  # too many decimals to be exact near this index: refused, never inexact
    assert abs(index_answer - wanted) * 100 <= wanted
    mark_answer = mark_answer_for(index_answer, target)
    assert premium(mark_answer * ANSWER_UNIT, index_answer * ANSWER_UNIT) == target


# ---- replaying published histories -------------------------------------------


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_replay_reads_hyperliquid_columns_and_jittered_times(tmp_path):
    base = 1_717_200_000_000
    rates = ["0.0000125", "-0.00004", "0.0001"]
    history = write_csv(
        tmp_path / "hl.csv",
        ["time_ms", "coin", "premium", "funding_rate"],
        [
            [str(base + k * 3_600_000 + jitter), "BTC", "0", rate]
            for k, (jitter, rate) in enumerate(zip([73, -54, 12], rates, strict=True))
        ],
    )
    assert published_rates(history) == [
        (base // 1000 + k * HOUR, int(Decimal(rate) * WAD)) for k, rate in enumerate(rates)
    ]
    points = replay_path(history, spot=60_000)
    params = RateParameters(interval=HOUR)
    assert [p.time for p in points] == [base // 1000 - HOUR + k * HOUR for k in range(4)]
    assert [params.rate(p.premium) for p in points[:3]] == [int(Decimal(r) * WAD) for r in rates]


def test_replay_errors_are_one_clear_sentence(tmp_path):
    with pytest.raises(ValueError, match="no funding history file at"):
        replay_path(tmp_path / "absent.csv")
    wrong = write_csv(tmp_path / "wrong.csv", ["time", "rate"], [["1", "0.0001"]])
    with pytest.raises(ValueError, match="wrong.csv has columns time, rate; expected"):
        replay_path(wrong)
    header = ["funding_time_ms_utc", "funding_time_utc", "symbol", "funding_rate"]
    rows = [[str(k * 28_800_000), "", "BTCUSDT", "0.0001"] for k in range(1, 4)]
    history = write_csv(tmp_path / "ok.csv", header, rows)
    with pytest.raises(ValueError, match="pays every 28800 s but params.interval is 3600 s"):
        replay_path(history, params=RateParameters(interval=HOUR))
    rows[1][3] = "0.01"  # 1 %: beyond the 0.75 % cap
    with pytest.raises(ValueError, match="exceeds the cap"):
        replay_path(write_csv(tmp_path / "big.csv", header, rows))
    rows[1][3] = "abc"
    with pytest.raises(ValueError, match="line 3: funding_rate 'abc' is not a number"):
        replay_path(write_csv(tmp_path / "bad.csv", header, rows))


@pytest.mark.parametrize("seed", [None, 2024])
def test_replay_reproduces_every_published_binance_btc_rate_exactly(seed):
    history = data_file(BINANCE_BTC)
    rates = published_rates(history)
    assert max(abs(rate) for _, rate in rates) <= BINANCE_PARAMS.cap  # nothing to un-cap
    points = replay_path(history, params=BINANCE_PARAMS, seed=seed)
    assert len(points) == len(rates) + 1
    p = BINANCE_PARAMS
    for point, (funding_time, rate) in zip(points, rates, strict=False):
        # The point opens the interval whose average sets the rate published at its end.
        assert point.time + p.interval == funding_time
        assert point.index % ANSWER_UNIT == 0 and point.mark % ANSWER_UNIT == 0
        average = premium(point.mark, point.index)
        assert premium_clamp_rate(average, p.interest, p.dampener, p.cap) == rate


def test_reference_market_fed_the_replay_pays_the_published_rates():
    history = data_file(BINANCE_BTC)
    rows = 300  # 2020-01-01 .. 2020-04-10: both 0.3 % extremes and the March crash
    rates = [rate for _, rate in published_rates(history)[:rows]]
    points = replay_path(history, params=BINANCE_PARAMS, limit=rows, seed=5)
    index_feed, mark_feed = MockFeed(8), MockFeed(8)

    def push(point):
        index_answer, mark_answer = answers(point)
        index_feed.submit(index_answer, point.time)
        mark_feed.submit(mark_answer, point.time)

    push(points[0])  # deployed at the first point: intervals start on the points
    model = MarketModel(
        now=points[0].time,
        owner="owner",
        operator="operator",
        index_feed=index_feed,
        mark_feed=mark_feed,
        params=BINANCE_PARAMS,
    )
    paid = []
    for point in points[1:]:
        model.now = point.time
        push(point)
        model.accrue()  # closes the interval that the previous point's premium filled
        paid.append(model.current_rate())
    assert paid == rates
