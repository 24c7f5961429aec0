"""Replaying a published funding history through the premium-clamp model.

Given a venue's published rates ``r_0, r_1, ...`` (one per interval), ``replay_path``
builds feed prices under which the model pays exactly those rates, to the wei:

* for each rate it finds a premium ``P_k`` with ``R(P_k) = r_k`` (``implied_premium``);
* point ``k`` (at ``start_time + k * T``) prices the mark so that ``premium(mark, index)``
  is exactly ``P_k``. A market that accrues at every point holds ``P_k`` for the whole
  interval ``[start + kT, start + (k+1)T)``, whose average is therefore exactly ``P_k``;
  when it closes, the rate in force becomes ``R(P_k) = r_k``;
* one extra point at ``start + nT`` closes the last interval (it repeats the last
  premium), so ``n`` rates give ``n + 1`` points.

A market replaying the path must be deployed at the first point's time, so that its
intervals (anchored at deployment) start on the points. Published timestamps jitter by
a few milliseconds and histories have holes; the path uses a regular grid of the
detected interval and takes the rows in order (a hole closes up).

Inverting R = clamp(P + clamp(I - P, -d, d), -cap, cap) (rates, I, d, cap in WAD):

* r == I: any P in [I - d, I + d] pays I; we choose P = I (the mark sits exactly
  ``I`` over the index, the centre of the band).
* r > I: P = r + d, the only solution (R = P - d there). r < I: P = r - d.
* |r| == cap: every P at or beyond cap + d (or -cap - d) pays the cap, so the true
  premium cannot be recovered; we choose the least one, r + d (or r - d), the same
  formula. |r| > cap is impossible under the model: ValueError.

Exactness: the mark is built from the index with integers and checked through
``fundingkit.rates.premium`` (which truncates toward zero); see ``mark_answer_for``.
"""

from __future__ import annotations

import csv
import math
import random
from collections import Counter
from decimal import Decimal, InvalidOperation, localcontext
from itertools import pairwise
from pathlib import Path

from fundingkit.rates import MAX_INTERVAL, MIN_INTERVAL, RateParameters, premium
from fundingkit.vyper_math import WAD
from oracles.paths import ANSWER_UNIT, FEED_DECIMALS, PricePoint

#: Column sets accepted (extra columns are ignored).
BINANCE_COLUMNS = ("funding_time_ms_utc", "funding_time_utc", "symbol", "funding_rate")
HYPERLIQUID_COLUMNS = ("time_ms", "coin", "premium", "funding_rate")

#: How far the index may be moved from the spot asked for to make a premium exact.
MAX_INDEX_ADJUSTMENT = Decimal("0.01")  # 1 %
DEFAULT_SPOT_VOLATILITY = 0.03  # daily, for the optional seeded spot walk


# ---------------------------------------------------------------- reading a history


def _time_column(path: Path, columns: list[str]) -> str:
    if all(name in columns for name in BINANCE_COLUMNS):
        return "funding_time_ms_utc"
    if all(name in columns for name in HYPERLIQUID_COLUMNS):
        return "time_ms"
    raise ValueError(
        f"{path.name} has columns {', '.join(columns) or '(none)'}; expected "
        f"{', '.join(BINANCE_COLUMNS)} (Binance, dYdX) or {', '.join(HYPERLIQUID_COLUMNS)} "
        "(Hyperliquid)"
    )


def _rate_wad(text: str, path: Path, line: int) -> int:
    """A published rate (a plain fraction, 0.0001 = 0.01 %) as an exact WAD integer."""
    try:
        rate = Decimal(text.strip())
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite():
        raise ValueError(f"{path.name} line {line}: funding_rate {text!r} is not a number")
    with localcontext() as exact:
        exact.prec = len(text) + 40  # enough digits that scaling by 1e18 cannot round
        scaled = rate * WAD
    if scaled != scaled.to_integral_value():
        raise ValueError(
            f"{path.name} line {line}: funding_rate {text!r} has more than 18 decimals"
        )
    return int(scaled)


def published_rates(csv_path: str | Path) -> list[tuple[int, int]]:
    """(funding time in unix seconds, published rate in WAD) for every row, in order.

    Times are the published milliseconds rounded to the nearest second. Raises
    ValueError with one sentence for a missing file, wrong columns, an unreadable
    value, an empty history or times that do not increase.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise ValueError(f"no funding history file at {path}")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        time_column = _time_column(path, [name.strip() for name in reader.fieldnames or []])
        rows: list[tuple[int, int]] = []
        for line, row in enumerate(reader, start=2):
            try:
                millis = int(row[time_column].strip())
            except (AttributeError, ValueError):
                raise ValueError(
                    f"{path.name} line {line}: {time_column} {row[time_column]!r} is not an integer"
                ) from None
            time = (millis + 500) // 1000
            if rows and time <= rows[-1][0]:
                raise ValueError(f"{path.name} line {line}: funding times must increase")
            rows.append((time, _rate_wad(row["funding_rate"] or "", path, line)))
    if not rows:
        raise ValueError(f"{path.name} holds no funding rows")
    return rows


def detect_interval(times: list[int]) -> int:
    """The funding interval in seconds: the most common gap, to the nearest minute.

    Raises ValueError when there are fewer than two times or the interval lies outside
    the market's 1 h..8 h.
    """
    if len(times) < 2:
        raise ValueError("a funding history needs two rows to show its interval")
    gaps = Counter(round((after - before) / 60) * 60 for before, after in pairwise(times))
    interval = gaps.most_common(1)[0][0]
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ValueError(
            f"the history's funding interval is {interval} s; the market supports 1 h..8 h"
        )
    return interval


# ---------------------------------------------------------------- inverting the rate


def implied_premium(rate: int, params: RateParameters) -> int:
    """A premium (WAD) whose interval average makes the model pay ``rate`` (WAD).

    See the module docstring for the choice where several premiums pay the same rate.
    Raises ValueError when ``|rate|`` exceeds ``params.cap``.
    """
    if abs(rate) > params.cap:
        raise ValueError(
            f"a published rate of {rate / WAD:.8%} exceeds the cap of {params.cap / WAD:.4%}; "
            "pass RateParameters with a larger cap"
        )
    if rate == params.interest:
        return params.interest
    if rate > params.interest:
        return rate + params.dampener
    return rate - params.dampener


def mark_answer_for(index_answer: int, target_premium: int) -> int | None:
    """An 8-decimal mark answer with ``premium(mark, index) == target_premium`` exactly.

    Works in answer units (the premium only depends on the two answers' ratio). With
    ``a`` the index answer, a mark ``a + D`` gives ``trunc(D * WAD / a)``; for
    ``P >= 0`` we need an integer D in ``[P * a / WAD, (P + 1) * a / WAD)``, which
    exists exactly when ``P * a`` is a multiple of WAD or its remainder exceeds
    ``WAD - a``; negative premiums mirror this (truncation is symmetric). Returns None
    when no such mark exists for this index.
    """
    size = abs(target_premium)
    whole, remainder = divmod(size * index_answer, WAD)
    if remainder == 0:
        distance = whole
    elif WAD - remainder < index_answer:
        distance = whole + 1
    else:
        return None
    mark_answer = index_answer + (distance if target_premium >= 0 else -distance)
    # The invariant, checked with the contract's own formula on the WAD prices.
    if mark_answer <= 0 or premium(mark_answer * ANSWER_UNIT, index_answer * ANSWER_UNIT) != (
        target_premium
    ):
        return None
    return mark_answer


def index_answer_for(target_premium: int, wanted_answer: int) -> int:
    """The index answer nearest ``wanted_answer`` under which ``target_premium`` is exact.

    ``wanted_answer`` itself when ``mark_answer_for`` finds a mark for it; otherwise the
    nearest multiple of ``M = WAD / gcd(P, WAD)``, for which ``P * a`` is a multiple of
    WAD, so the mark is exact. (A rate published with D decimals gives M <= 10**D: whole
    dollars for Binance's 8 decimals.) Raises ValueError when that moves the index by
    more than ``MAX_INDEX_ADJUSTMENT``.
    """
    if mark_answer_for(wanted_answer, target_premium) is not None:
        return wanted_answer
    grain = WAD // math.gcd(abs(target_premium), WAD)
    answer = max(grain, (wanted_answer + grain // 2) // grain * grain)
    if (
        abs(answer - wanted_answer) > MAX_INDEX_ADJUSTMENT * wanted_answer
        or mark_answer_for(answer, target_premium) is None
    ):
        raise ValueError(
            f"a premium of {target_premium} wei cannot be made exact with "
            f"{FEED_DECIMALS}-decimal answers near an index of {wanted_answer}; "
            "replay with a higher spot"
        )
    return answer


# ---------------------------------------------------------------- the path


def _spot_answers(spot: float, count: int, seed: int | None, interval: int) -> list[int]:
    """Index answers per point: constant, or a seeded geometric walk (3 % a day)."""
    start = int((Decimal(repr(float(spot))) * 10**FEED_DECIMALS).to_integral_value())
    if start <= 0:
        raise ValueError(f"spot must be positive (got {spot})")
    if seed is None:
        return [start] * count
    uniform = random.Random(seed).random
    sigma = DEFAULT_SPOT_VOLATILITY * math.sqrt(interval / 86_400)
    level, answers = float(start), []
    for _ in range(count):
        answers.append(max(1, round(level)))
        # Box-Muller from random() alone, whose sequence Python guarantees.
        normal = math.sqrt(-2.0 * math.log(1.0 - uniform())) * math.cos(2 * math.pi * uniform())
        level *= math.exp(sigma * normal - sigma * sigma / 2)
    return answers


def replay_path(
    csv_path: str | Path,
    *,
    params: RateParameters | None = None,
    spot: float = 50_000,
    limit: int | None = None,
    start_time: int | None = None,
    seed: int | None = None,
) -> list[PricePoint]:
    """Feed prices that make the premium-clamp model pay the published rates exactly.

    ``params``: the model's parameters (default: ``RateParameters`` with the detected
    interval); their interval must match the history's. ``spot``: the index in quote per
    base, constant unless ``seed`` is given (then a seeded walk from it). ``limit``: the
    first rows only. ``start_time``: the first point's time (default: the first
    published funding time minus one interval, i.e. the opening of the interval that
    rate was computed over). Returns ``len(rates) + 1`` points; see the module docstring.
    """
    rates = published_rates(csv_path)
    interval = detect_interval([time for time, _ in rates])
    if params is None:
        params = RateParameters(interval=interval)
    elif params.rejection():
        raise ValueError(f"the market would reject these parameters ({params.rejection()})")
    elif params.interval != interval:
        raise ValueError(
            f"{Path(csv_path).name} pays every {interval} s but params.interval is "
            f"{params.interval} s"
        )
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1 (got {limit})")
        rates = rates[:limit]
    if start_time is None:
        start_time = rates[0][0] - interval

    premiums = [implied_premium(rate, params) for _, rate in rates]
    premiums.append(premiums[-1])  # the closing point holds the last premium
    wanted = _spot_answers(spot, len(premiums), seed, interval)
    points = []
    for k, (target, wanted_answer) in enumerate(zip(premiums, wanted, strict=True)):
        index_answer = index_answer_for(target, wanted_answer)
        mark_answer = mark_answer_for(index_answer, target)
        if mark_answer is None:  # unreachable: index_answer_for checks it
            raise RuntimeError(f"no exact mark for premium {target} at index {index_answer}")
        points.append(
            PricePoint(
                time=start_time + k * interval,
                index=index_answer * ANSWER_UNIT,
                mark=mark_answer * ANSWER_UNIT,
            )
        )
    return points


__all__ = [
    "BINANCE_COLUMNS",
    "HYPERLIQUID_COLUMNS",
    "detect_interval",
    "implied_premium",
    "index_answer_for",
    "mark_answer_for",
    "published_rates",
    "replay_path",
]
