"""The model lab: one price-and-skew path through every rate model, side by side.

Every model runs off-chain through its own exact reference (integer WAD math, the
functions the contracts are tested equal to): ``fundingkit.rates`` for the
premium-clamp model and its two formula options, ``fundingkit.models`` for velocity,
skew-proportional and bounded external rates. Nothing here re-implements a model; this
module only feeds them the same inputs and measures what comes out. docs/MATH.md
("Model lab") states every definition below with its units.

**The path.** A sequence of ``LabPoint``: time, index price, mark price and the open
interest of each side (long ``L``, short ``S``; skew ``L - S``). Prices come from
``oracles``: a seeded synthetic regime (``synthetic_lab_path``, one point an hour) or a
published funding history (``replay_lab_path``: premiums rebuilt so that the
premium-clamp model pays the published rates exactly, spot a seeded 3 %-a-day walk;
one point per interval). Neither source has positions, so the skew is derived:

    skew share  q = clamp(P / SKEW_PREMIUM + noise, -1, 1)      (SKEW_PREMIUM = 2 %)
    skew        s = trunc(OI * q)      L = floor((OI + s) / 2)      S = OI - L

Traders lean into the premium: a perp 0.1 % over spot has 5 % of its open interest
net long, one 2 % over spot has all of it. ``noise`` is a seeded normal draw of
standard deviation ``SKEW_NOISE`` (1 % of the open interest) per point. The open
interest ``OI`` is constant, 10,000 base. While the index feed is stale the skew is
held, because trades need a fresh index.

**The models and their calibration** (``calibrated_models``), for an interval ``T``
(the premium-clamp model's, 8 h by default):

* premium-clamp, linear, premium-only: ``RateParameters`` defaults (I 0.01 %, d 0.05 %,
  cap 0.75 % per interval) with formula 0, 1, 2;
* velocity: ``skew_scale = OI / SKEW_PREMIUM`` (500,000 base), so that
  ``skew / skew_scale = P``; ``max_velocity = DAY / T`` per day per day (3, SIP-279's
  300 %, for 8 h): a steady premium ``P`` brings the rate to ``P`` per interval after
  one day; cap: the premium-clamp cap, per day;
* skew-proportional (``e = 1``): ``factor = SKEW_PREMIUM / T`` per second, so that a
  steady premium pays ``P`` per interval at once; cap: the premium-clamp cap, per second;
* external: a rate provider (a keeper) reads the premium-clamp market's rate in force at
  the first accrual of each interval and requests it per second (truncated toward
  zero); the module bounds it as dYdX's P1FundingOracle does: ``|R| <= 2 %`` a day and
  a change of at most that limit per hour since the last setting.

Every model accrues at every point of the path (the left-point rule: the gap before a
point is charged with what the previous point set, then the point is sampled).

**What is reported, per model.**

* *Rate in force* after each point, normalised to WAD **per 8 h** (``PERIOD``),
  truncated toward zero, whatever the model's own unit; *annualised* = per 8 h x 1,095.
  *Mean |rate|* is its time-weighted mean over the path, each point's rate held until
  the next point (for velocity, whose rate moves between points, the left-point value).
* *Funding per unit of base*: the model's funding index ``F`` (quote per 1 base; what
  one long paid, negative when it received), 0 at the first point.
* *Response*: the **premium half-life under funding feedback** (``premium_response``).
  On a flat index, after ``3 T`` at premium 0 (every model at rest), the premium steps
  to ``P0`` (``STEP_PREMIUM``, +0.5 %) at an interval start. Every ``FEEDBACK_STEP``
  (15 minutes) the model accrues, and the premium then shrinks by the funding it just
  charged, as a fraction of the index: ``P <- P - trunc(k * dF / p)`` with ``k = 1``
  (``FEEDBACK``); the skew follows the premium by the rule above (no noise). The
  half-life is the time from the step to the first accrual at which ``P <= P0 / 2``,
  or None when it does not come within ``FEEDBACK_HORIZON`` (30 days). It depends on
  the model and its parameters, not on the path, so it compares models across paths.
* *Manipulation*: at the attack time ``t_m`` (an interval start a quarter into the
  path), two attacks that push the rate up: a **spike** raises the mark of the point at
  ``t_m`` by ``X`` (``mark * (1 + X)``, floored) and one block later (``BLOCK_TIME``,
  12 s) an accrual samples the unspiked mark again; a **burst** adds ``B`` base to the
  long open interest (skew and open interest both grow by ``B``) from ``t_m`` for
  ``N`` minutes, when an accrual samples the path's open interest again. The **rate
  move** is the largest rise of the rate in force (per 8 h) over the horizon
  ``[t_m, t_m + 2 T]``, attacked minus unattacked, sampled at every accrual of either
  run. The **smallest attack** that moves the rate by ``MOVE`` (1 bp per 8 h) is found
  by bisection on the size (the move never falls as the size grows): a spike for the
  models that read the mark (premium-clamp, linear, premium-only, external), a burst
  for those that read the skew (velocity, skew-proportional). Its **cost per unit of
  base**: for a spike, ``X * p`` quote, the premium paid over the index on each unit
  bought at the spiked mark (a lower bound: how many units it takes to push the mark
  there depends on the book, which the lab does not model); for a burst, the funding
  one unit of base held through the burst paid (its trading costs are not modelled).
  *Extra funding* is what the attack made one long pay over the horizon.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from fundingkit import rates
from fundingkit.models import external_rate, skew_rate, velocity_rate
from fundingkit.models.external_rate import ExternalParameters, ExternalState
from fundingkit.models.skew_rate import SkewParameters, SkewState
from fundingkit.models.velocity_rate import VelocityParameters, VelocityState
from fundingkit.rates import LINEAR, PREMIUM_CLAMP, PREMIUM_ONLY, IntervalState, RateParameters
from fundingkit.vyper_math import WAD, div_trunc
from oracles.replay import detect_interval, published_rates, replay_path
from oracles.synthetic import REGIME_DESCRIPTIONS, check_regime, synthetic_path

HOUR = 3_600
DAY = 86_400
YEAR = 365 * DAY
PERIOD = 8 * HOUR  # the common unit of every reported rate: WAD per 8 h
PERIODS_PER_YEAR = YEAR // PERIOD  # 1,095
BP = 10**14  # one basis point (0.01 %) of notional, WAD
PERCENT = 10**16

LAB_START = 1_704_067_200  # 2024-01-01 00:00 UTC: where synthetic paths start

# The skew rule and the market's size.
OPEN_INTEREST = 10_000 * WAD  # long + short, base, constant
SKEW_PREMIUM = 2 * PERCENT  # the premium at which all open interest is on one side
SKEW_NOISE = 0.01  # standard deviation of the skew share's noise (1 % of OI)

# The manipulations (defaults of ``ape run compare``).
BLOCK_TIME = 12  # seconds a one-block spike stands
SPIKE = 5 * PERCENT  # +5 % on the mark for one block
BURST = 1_000 * WAD  # 1,000 base (10 % of the open interest) ...
BURST_DURATION = 10 * 60  # ... for 10 minutes
MOVE = BP  # the move the smallest attack must achieve: 1 bp per 8 h
MAX_BURST = 1_000 * OPEN_INTEREST  # the largest burst the bisection tries
MAX_SPIKE = 11 * WAD  # +1,100 %: beyond it the premium sample is capped at +1,000 %

# The response measure.
STEP_PREMIUM = 5 * 10**15  # +0.5 %
FEEDBACK = WAD  # k = 1: the premium shrinks by the funding charged, as a fraction
FEEDBACK_STEP = 15 * 60
FEEDBACK_HORIZON = 30 * DAY
WARM_UP_INTERVALS = 3

# The external model's bounds: dYdX's P1FundingOracle (2 % a day; 0 to it in an hour).
EXTERNAL_MAX_RATE = 2 * PERCENT // DAY  # per second
EXTERNAL_MAX_CHANGE = EXTERNAL_MAX_RATE // HOUR  # per second, per second
RATE_PROVIDER = "0x" + "0" * 39 + "1"

MODELS = (
    "premium-clamp",
    "linear",
    "premium-only",
    "velocity",
    "skew-proportional",
    "external",
)
FORMULA_OF = {"premium-clamp": PREMIUM_CLAMP, "linear": LINEAR, "premium-only": PREMIUM_ONLY}
#: The attack that can move each model: a mark spike or a skew burst.
ATTACK_OF = {
    "premium-clamp": "spike",
    "linear": "spike",
    "premium-only": "spike",
    "velocity": "burst",
    "skew-proportional": "burst",
    "external": "spike",
}


# ---------------------------------------------------------------- the path


@dataclass(frozen=True)
class LabPoint:
    """What the market sees at one moment: both feeds and the open interest."""

    time: int  # unix seconds
    index: int  # WAD quote per base
    mark: int  # WAD quote per base
    long_open_interest: int  # base (WAD)
    short_open_interest: int  # base (WAD)
    stale_index: bool = False  # the index feed is in an outage: nothing is sampled

    @property
    def premium(self) -> int:
        return rates.premium(self.mark, self.index)

    @property
    def skew(self) -> int:
        return self.long_open_interest - self.short_open_interest

    @property
    def open_interest(self) -> int:
        return self.long_open_interest + self.short_open_interest


@dataclass(frozen=True)
class LabPath:
    """A named path and the premium-clamp interval its models are calibrated to."""

    name: str
    description: str
    points: tuple[LabPoint, ...]
    interval: int  # seconds


def skew_share(premium: int, noise: int = 0) -> int:
    """``clamp(P / SKEW_PREMIUM + noise, -1, 1)`` in WAD, the division truncated."""
    return max(-WAD, min(WAD, div_trunc(premium * WAD, SKEW_PREMIUM) + noise))


def split_open_interest(open_interest: int, share: int) -> tuple[int, int]:
    """(long, short) for a skew of ``trunc(open_interest * share)``: long rounds down."""
    skew = div_trunc(open_interest * share, WAD)
    long = (open_interest + skew) // 2
    return long, open_interest - long


def _normals(seed: int) -> Callable[[], float]:
    """Standard normal draws from ``random.Random(...).random()`` (Box-Muller, one draw
    per call), a stream of its own so the skew noise never reuses the price path's."""
    uniform = random.Random(f"fundingkit.lab skew noise {seed}").random

    def draw() -> float:
        radius = math.sqrt(-2.0 * math.log(1.0 - uniform()))
        return radius * math.cos(2.0 * math.pi * uniform())

    return draw


def lab_points(
    price_points: Iterable,
    *,
    seed: int,
    open_interest: int = OPEN_INTEREST,
    noise: float = SKEW_NOISE,
) -> list[LabPoint]:
    """``oracles`` price points with the skew the rule derives (module docstring).

    A stale point keeps the open interest of the point before it.
    """
    if open_interest <= 0:
        raise ValueError(f"the open interest must be positive (got {open_interest})")
    if noise < 0:
        raise ValueError(f"the skew noise cannot be negative (got {noise})")
    draw = _normals(seed)
    points: list[LabPoint] = []
    for point in price_points:
        jitter = round(noise * draw() * WAD) if noise else 0
        if point.stale_index and points:
            long, short = points[-1].long_open_interest, points[-1].short_open_interest
        else:
            premium = rates.premium(point.mark, point.index)
            long, short = split_open_interest(open_interest, skew_share(premium, jitter))
        points.append(LabPoint(point.time, point.index, point.mark, long, short, point.stale_index))
    return points


def synthetic_lab_path(
    regime: str,
    *,
    hours: float,
    seed: int,
    interval: int = 8 * HOUR,
    open_interest: int = OPEN_INTEREST,
    noise: float = SKEW_NOISE,
) -> LabPath:
    """A seeded synthetic regime (``oracles.synthetic``), one point an hour."""
    check_regime(regime)
    if not hours > 0:
        raise ValueError(f"hours must be positive (got {hours})")
    prices = synthetic_path(regime, days=hours / 24, seed=seed, start_time=LAB_START)
    return LabPath(
        name=regime,
        description=f"synthetic '{regime}' ({REGIME_DESCRIPTIONS[regime]}), {hours:g} h, "
        f"seed {seed}, one point an hour",
        points=tuple(lab_points(prices, seed=seed, open_interest=open_interest, noise=noise)),
        interval=interval,
    )


def replay_lab_path(
    csv_path: str | Path,
    *,
    seed: int,
    hours: float | None = None,
    open_interest: int = OPEN_INTEREST,
    noise: float = SKEW_NOISE,
) -> LabPath:
    """A published funding history (``oracles.replay``): premiums that make the
    premium-clamp model pay the published rates exactly, spot a seeded walk of 3 % a
    day, one point per interval; ``hours`` keeps the first intervals only. Raises
    ValueError for an unusable file."""
    csv_path = Path(csv_path)
    rows = published_rates(csv_path)
    interval = detect_interval([time for time, _ in rows])
    limit = None if hours is None else max(1, int(hours * HOUR) // interval)
    prices = replay_path(csv_path, seed=seed, limit=limit)
    used = len(prices) - 1
    first, last = rows[0][0], rows[used - 1][0]
    return LabPath(
        name=csv_path.stem,
        description=f"{csv_path.stem}: {used:,} published rates, {_day(first)} .. "
        f"{_day(last)}, replayed (premiums that make the premium-clamp model pay them; "
        f"spot a 3 %-a-day walk, seed {seed}), one point per {interval / HOUR:g} h interval",
        points=tuple(lab_points(prices, seed=seed, open_interest=open_interest, noise=noise)),
        interval=interval,
    )


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


# ---------------------------------------------------------------- the models


@dataclass(frozen=True)
class LabModels:
    """The parameters every model runs with."""

    rate: RateParameters  # premium-clamp (its formula is replaced for linear, premium-only)
    velocity: VelocityParameters
    skew: SkewParameters
    external: ExternalParameters

    def rejection(self) -> str | None:
        return (
            self.rate.rejection()
            or self.velocity.rejection()
            or self.skew.rejection()
            or self.external.rejection()
        )


def calibrated_models(
    interval: int = 8 * HOUR,
    open_interest: int = OPEN_INTEREST,
    rate: RateParameters | None = None,
) -> LabModels:
    """Every model calibrated to the premium-clamp model at ``interval`` (module
    docstring): a steady premium ``P`` with the skew the rule gives it pays about ``P``
    per interval under skew-proportional at once, under velocity after a day."""
    rate = rate or RateParameters(interval=interval)
    interval = rate.interval
    return LabModels(
        rate=rate,
        velocity=VelocityParameters(
            skew_scale=open_interest * WAD // SKEW_PREMIUM,
            max_velocity=DAY * WAD // interval,
            cap=rate.cap * DAY // interval,
        ),
        skew=SkewParameters(factor=SKEW_PREMIUM // interval, exponent=1, cap=rate.cap // interval),
        external=ExternalParameters(
            max_rate=EXTERNAL_MAX_RATE, max_change_per_second=EXTERNAL_MAX_CHANGE
        ),
    )


def per_period(rate: int, seconds: int) -> int:
    """A rate per ``seconds`` as WAD per 8 h, truncated toward zero."""
    return div_trunc(rate * PERIOD, seconds)


# Each run is a frozen snapshot of one model's market: ``accrue(time)`` charges the gap
# since the last accrual with what is held and returns the index step (WAD quote per
# base) and the new snapshot; ``sample(point)`` takes the point's inputs (nothing when
# its index is stale); ``rate_at(time)`` is the rate in force at ``time`` (WAD per 8 h),
# projected as the contracts' views do.


@dataclass(frozen=True)
class _PremiumRun:
    params: RateParameters
    intervals: IntervalState
    premium: int
    price: int
    since: int

    @classmethod
    def deploy(cls, params: RateParameters, point: LabPoint) -> _PremiumRun:
        return cls(params, IntervalState(point.time, 0, 0), point.premium, point.index, point.time)

    def accrue(self, time: int) -> tuple[int, _PremiumRun]:
        rate_time, intervals = rates.project(
            self.params, self.intervals, self.premium, self.since, time
        )
        step = rates.funding_delta(self.price, rate_time, self.params.interval)
        return step, replace(self, intervals=intervals, since=time)

    def sample(self, point: LabPoint) -> _PremiumRun:
        if point.stale_index:
            return self
        return replace(self, premium=point.premium, price=point.index)

    def rate_per_interval(self, time: int) -> int:
        intervals = self.intervals
        if time != self.since:
            intervals = rates.project(self.params, intervals, self.premium, self.since, time)[1]
        return self.params.rate(intervals.last_premium_average)

    def rate_at(self, time: int) -> int:
        return per_period(self.rate_per_interval(time), self.params.interval)


@dataclass(frozen=True)
class _VelocityRun:
    params: VelocityParameters
    state: VelocityState
    price: int

    @classmethod
    def deploy(cls, params: VelocityParameters, point: LabPoint) -> _VelocityRun:
        state = velocity_rate.start(params, point.time)
        return cls(params, velocity_rate.set_skew(state, point.skew, point.time), point.index)

    def accrue(self, time: int) -> tuple[int, _VelocityRun]:
        step, state = velocity_rate.accrue(self.params, self.state, self.price, time)
        return step, replace(self, state=state)

    def sample(self, point: LabPoint) -> _VelocityRun:
        if point.stale_index:
            return self
        state = velocity_rate.set_skew(self.state, point.skew, point.time)
        return replace(self, state=state, price=point.index)

    def rate_at(self, time: int) -> int:
        return per_period(velocity_rate.rate_now(self.params, self.state, time), DAY)


@dataclass(frozen=True)
class _SkewRun:
    params: SkewParameters
    state: SkewState
    price: int

    @classmethod
    def deploy(cls, params: SkewParameters, point: LabPoint) -> _SkewRun:
        state = skew_rate.start(params, point.time)
        return cls(params, _open_interest(state, point), point.index)

    def accrue(self, time: int) -> tuple[int, _SkewRun]:
        step, state = skew_rate.accrue(self.params, self.state, self.price, time)
        return step, replace(self, state=state)

    def sample(self, point: LabPoint) -> _SkewRun:
        if point.stale_index:
            return self
        return replace(self, state=_open_interest(self.state, point), price=point.index)

    def rate_at(self, time: int) -> int:
        return per_period(skew_rate.rate_now(self.params, self.state), 1)


def _open_interest(state: SkewState, point: LabPoint) -> SkewState:
    return skew_rate.set_open_interest(
        state, point.long_open_interest, point.short_open_interest, point.time
    )


@dataclass(frozen=True)
class _ExternalRun:
    params: ExternalParameters
    state: ExternalState
    shadow: _PremiumRun  # the premium-clamp market whose rate the provider requests
    price: int
    set_for: int  # the shadow's interval start at the provider's last setting

    @classmethod
    def deploy(
        cls, params: ExternalParameters, rate: RateParameters, point: LabPoint
    ) -> _ExternalRun:
        shadow = _PremiumRun.deploy(rate, point)
        state = external_rate.start(params, RATE_PROVIDER, point.time)
        return cls(params, state, shadow, point.index, shadow.intervals.interval_start)

    def accrue(self, time: int) -> tuple[int, _ExternalRun]:
        step, state = external_rate.accrue(self.state, self.price, time)
        _, shadow = self.shadow.accrue(time)
        set_for = self.set_for
        if shadow.intervals.interval_start != set_for:  # the first accrual of an interval
            per_interval = shadow.params.rate(shadow.intervals.last_premium_average)
            requested = div_trunc(per_interval, shadow.params.interval)
            state = external_rate.set_rate(self.params, state, requested, RATE_PROVIDER, time)
            set_for = shadow.intervals.interval_start
        return step, replace(self, state=state, shadow=shadow, set_for=set_for)

    def sample(self, point: LabPoint) -> _ExternalRun:
        if point.stale_index:
            return self
        return replace(self, shadow=self.shadow.sample(point), price=point.index)

    def rate_at(self, time: int) -> int:
        return per_period(external_rate.rate_now(self.state), 1)


Run = _PremiumRun | _VelocityRun | _SkewRun | _ExternalRun


def deploy(name: str, models: LabModels, point: LabPoint) -> Run:
    """Model ``name``'s market deployed at ``point`` (its first sample)."""
    if name in FORMULA_OF:
        return _PremiumRun.deploy(replace(models.rate, formula=FORMULA_OF[name]), point)
    if name == "velocity":
        return _VelocityRun.deploy(models.velocity, point)
    if name == "skew-proportional":
        return _SkewRun.deploy(models.skew, point)
    if name == "external":
        return _ExternalRun.deploy(models.external, models.rate, point)
    raise ValueError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}")


def advance(run: Run, point: LabPoint) -> tuple[int, Run]:
    """Accrues up to ``point`` and samples it: the index step and the new market."""
    step, run = run.accrue(point.time)
    return step, run.sample(point)


# ---------------------------------------------------------------- running a path


@dataclass(frozen=True)
class ModelRun:
    """One model through a path: after each point, the rate in force and ``F``."""

    name: str
    times: tuple[int, ...]
    rates: tuple[int, ...]  # WAD per 8 h
    funding: tuple[int, ...]  # F: WAD quote per 1 base, 0 at the first point

    @property
    def mean_abs_rate(self) -> int:
        """Time-weighted mean of |rate in force| (WAD per 8 h), floored."""
        duration = self.times[-1] - self.times[0]
        if duration == 0:
            return abs(self.rates[0])
        weighted = sum(
            abs(rate) * (after - before)
            for rate, before, after in zip(self.rates, self.times, self.times[1:], strict=False)
        )
        return weighted // duration


def _check_times(points: Sequence[LabPoint]) -> None:
    if not points:
        raise ValueError("the path has no points")
    for before, after in zip(points, points[1:], strict=False):
        if after.time <= before.time:
            raise ValueError(
                f"path times must strictly increase: {after.time} follows {before.time}"
            )


def run_model(
    name: str, models: LabModels, points: Sequence[LabPoint], *, keep_before: int | None = None
) -> tuple[ModelRun, Run | None]:
    """Model ``name`` through ``points``, deployed at the first. Also returns the market
    just before the point at ``keep_before`` (None if no point is there)."""
    _check_times(points)
    run = deploy(name, models, points[0])
    index, kept = 0, None
    times, rates_, funding = [points[0].time], [run.rate_at(points[0].time)], [0]
    for point in points[1:]:
        if point.time == keep_before:
            kept = run
        step, run = advance(run, point)
        index += step
        times.append(point.time)
        rates_.append(run.rate_at(point.time))
        funding.append(index)
    return ModelRun(name, tuple(times), tuple(rates_), tuple(funding)), kept


# ---------------------------------------------------------------- the response measure


@dataclass(frozen=True)
class Response:
    """The premium after a step, pulled back by the funding the model charges."""

    name: str
    half_life: int | None  # seconds from the step to P <= P0 / 2; None: not in the horizon
    times: tuple[int, ...]  # seconds since the step
    premiums: tuple[int, ...]  # WAD


def feedback_point(time: int, price: int, premium: int, open_interest: int) -> LabPoint:
    """A point on a flat index ``price`` (whole quote units, so the premium is exact)
    with the premium ``premium`` and the rule's skew without noise."""
    mark = price + div_trunc(price * premium, WAD)
    long, short = split_open_interest(open_interest, skew_share(premium))
    return LabPoint(time, price, mark, long, short)


def premium_response(
    name: str,
    models: LabModels,
    *,
    price: int = 50_000 * WAD,
    step_premium: int = STEP_PREMIUM,
    feedback: int = FEEDBACK,
    step: int = FEEDBACK_STEP,
    horizon: int = FEEDBACK_HORIZON,
    open_interest: int = OPEN_INTEREST,
) -> Response:
    """The premium half-life under funding feedback (module docstring)."""
    if step_premium <= 0:
        raise ValueError(f"the premium step must be positive (got {step_premium})")
    if price <= 0 or price % WAD:
        raise ValueError("the feedback index must be a positive whole number of quote units")
    start = LAB_START
    stepped = start + WARM_UP_INTERVALS * models.rate.interval
    run = deploy(name, models, feedback_point(start, price, 0, open_interest))
    time = start
    while time + step < stepped:  # at rest: premium 0, skew 0
        time += step
        run = advance(run, feedback_point(time, price, 0, open_interest))[1]
    run = advance(run, feedback_point(stepped, price, step_premium, open_interest))[1]
    premium, half_life = step_premium, None
    times, premiums = [0], [premium]
    for time in range(stepped + step, stepped + horizon + 1, step):
        charged, run = run.accrue(time)
        premium -= div_trunc(charged * feedback, price)
        run = run.sample(feedback_point(time, price, premium, open_interest))
        times.append(time - stepped)
        premiums.append(premium)
        if half_life is None and 2 * premium <= step_premium:
            half_life = time - stepped
    return Response(name, half_life, tuple(times), tuple(premiums))


# ---------------------------------------------------------------- manipulation


@dataclass(frozen=True)
class Attack:
    kind: str  # "spike" (the mark) or "burst" (the long open interest)
    size: int  # spike: X, a WAD fraction of the mark; burst: base (WAD)
    duration: int  # seconds: one block for a spike, N minutes for a burst


@dataclass(frozen=True)
class Outcome:
    """What an attack did to one model, against the same path unattacked."""

    rate_move: int  # the largest rise of the rate in force over the horizon (WAD per 8 h)
    extra_funding: int  # what one long paid more over the horizon (WAD quote per base)
    funding_during: int  # what one unit of base held through the attack paid (WAD quote)


def attacked(segment: Sequence[LabPoint], attack: Attack) -> list[LabPoint]:
    """``segment`` (starting at the attack) with the attack applied; see the module
    docstring. Raises ValueError when the attack does not end before the next point
    (a spike) or within the segment (a burst)."""
    if attack.size < 0 or attack.duration <= 0:
        raise ValueError("an attack needs a size >= 0 and a positive duration")
    first, end = segment[0], segment[0].time + attack.duration
    if end >= segment[-1].time:
        raise ValueError(
            f"the {attack.kind} ({attack.duration:,} s) must end within the "
            f"{(segment[-1].time - first.time) / HOUR:g} h horizon after the attack"
        )
    if attack.kind == "spike":
        if len(segment) > 1 and end >= segment[1].time:
            raise ValueError(
                f"a {attack.duration} s block does not fit before the path's next point"
            )
        spike = first.mark + first.mark * attack.size // WAD
        return [replace(first, mark=spike), replace(first, time=end), *segment[1:]]
    if attack.kind == "burst":
        during = [p for p in segment if p.time < end]
        after = [p for p in segment if p.time >= end]
        points = [replace(p, long_open_interest=p.long_open_interest + attack.size) for p in during]
        if after[0].time != end:
            points.append(replace(during[-1], time=end))  # the path's open interest again
        return points + after
    raise ValueError(f"unknown attack {attack.kind!r}: 'spike' or 'burst'")


def _trace(run: Run, points: Sequence[LabPoint]) -> list[tuple[int, Run, int]]:
    """(time, market after the point, F since the start) for each point."""
    trace, index = [], 0
    for point in points:
        step, run = advance(run, point)
        index += step
        trace.append((point.time, run, index))
    return trace


def _at(trace: list[tuple[int, Run, int]], time: int) -> tuple[Run, int]:
    position = bisect_right([entry[0] for entry in trace], time) - 1
    return trace[position][1], trace[position][2]


def outcome(
    before: Run,
    segment: Sequence[LabPoint],
    attack: Attack,
    baseline: list[tuple[int, Run, int]] | None = None,
) -> Outcome:
    """The attack's effect on the market ``before`` (just before ``segment[0]``)."""
    baseline = baseline or _trace(before, segment)
    hit = _trace(before, attacked(segment, attack))
    times = sorted({entry[0] for entry in baseline} | {entry[0] for entry in hit})
    move = max(_at(hit, t)[0].rate_at(t) - _at(baseline, t)[0].rate_at(t) for t in times)
    start, end = segment[0].time, segment[0].time + attack.duration
    return Outcome(
        rate_move=move,
        extra_funding=hit[-1][2] - baseline[-1][2],
        funding_during=_at(hit, end)[1] - _at(hit, start)[1],
    )


def smallest_attack(
    before: Run,
    segment: Sequence[LabPoint],
    kind: str,
    duration: int,
    move: int = MOVE,
    upper: int | None = None,
) -> int | None:
    """The smallest size (wei) of a ``kind`` attack whose rate move is at least
    ``move``, by bisection; None if even ``upper`` falls short."""
    if move <= 0:
        raise ValueError(f"the target move must be positive (got {move})")
    upper = upper or (MAX_SPIKE if kind == "spike" else MAX_BURST)
    baseline = _trace(before, segment)

    def enough(size: int) -> bool:
        return outcome(before, segment, Attack(kind, size, duration), baseline).rate_move >= move

    if not enough(upper):
        return None
    low, high = 0, upper  # enough(high); not enough(0): an attack of size 0 moves nothing
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high


def attack_time(points: Sequence[LabPoint], interval: int, at: int | None = None) -> int:
    """The first interval start (intervals anchored at the first point) at or after
    ``at`` (default: a quarter into the path) that is a point of the path, with two
    whole intervals of path after it. Raises ValueError when there is none."""
    start, end = points[0].time, points[-1].time
    if at is None:
        at = start + (end - start) // 4
    candidate = start + max(1, -(-(at - start) // interval)) * interval
    times = {point.time for point in points}
    while candidate + 2 * interval <= end:
        if candidate in times:
            return candidate
        candidate += interval
    raise ValueError(
        f"the path needs a point at an interval start with {2 * interval / HOUR:g} h of path "
        "after it for the manipulation: make it longer"
    )


@dataclass(frozen=True)
class Manipulation:
    """One model under both attacks, and the smallest attack that moves it."""

    name: str
    spike: Outcome
    burst: Outcome
    kind: str  # the attack that can move the model
    smallest: int | None  # its size (wei): None if no size moves the rate that far
    smallest_outcome: Outcome | None
    cost_per_unit: int | None  # WAD quote per base (module docstring)


def manipulate(
    name: str,
    before: Run,
    segment: Sequence[LabPoint],
    *,
    spike: Attack,
    burst: Attack,
    move: int = MOVE,
) -> Manipulation:
    baseline = _trace(before, segment)
    kind = ATTACK_OF[name]
    duration = spike.duration if kind == "spike" else burst.duration
    size = smallest_attack(before, segment, kind, duration, move)
    found = cost = None
    if size is not None:
        found = outcome(before, segment, Attack(kind, size, duration), baseline)
        cost = size * segment[0].index // WAD if kind == "spike" else found.funding_during
    return Manipulation(
        name=name,
        spike=outcome(before, segment, spike, baseline),
        burst=outcome(before, segment, burst, baseline),
        kind=kind,
        smallest=size,
        smallest_outcome=found,
        cost_per_unit=cost,
    )


# ---------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class LabSettings:
    spike: int = SPIKE
    block_time: int = BLOCK_TIME
    burst: int = BURST
    burst_duration: int = BURST_DURATION
    move: int = MOVE
    step_premium: int = STEP_PREMIUM
    attack_at: int | None = None  # unix seconds; default: a quarter into the path


@dataclass(frozen=True)
class LabReport:
    path: LabPath
    models: LabModels
    settings: LabSettings
    attack_time: int
    runs: tuple[ModelRun, ...]
    responses: tuple[Response, ...]
    manipulations: tuple[Manipulation, ...]


def compare(
    path: LabPath,
    models: LabModels | None = None,
    settings: LabSettings | None = None,
    *,
    names: Sequence[str] = MODELS,
    on_step: Callable[[], object] | None = None,
) -> LabReport:
    """Every model in ``names`` through ``path``: the runs, the response measure and the
    manipulations. ``on_step`` is called after each of the 3 x len(names) stages (a
    progress bar). Raises ValueError for unusable parameters or a path too short."""
    models = models or calibrated_models(path.interval)
    settings = settings or LabSettings()
    reason = models.rejection()
    if reason:
        raise ValueError(f"the market would reject these parameters ({reason})")
    if models.rate.interval != path.interval:
        raise ValueError(
            f"the models' interval is {models.rate.interval} s, the path's {path.interval} s"
        )
    points = path.points
    _check_times(points)
    at = attack_time(points, path.interval, settings.attack_at)
    segment = [p for p in points if at <= p.time <= at + 2 * path.interval]
    spike = Attack("spike", settings.spike, settings.block_time)
    burst = Attack("burst", settings.burst, settings.burst_duration)
    for attack in (spike, burst):  # a bad attack fails before the runs
        attacked(segment, attack)
    price = max(WAD, (points[0].index + WAD // 2) // WAD * WAD)
    tick = on_step or (lambda: None)
    runs, responses, manipulations = [], [], []
    for name in names:
        run, before = run_model(name, models, points, keep_before=at)
        runs.append(run)
        tick()
        responses.append(
            premium_response(name, models, price=price, step_premium=settings.step_premium)
        )
        tick()
        manipulations.append(
            manipulate(name, before, segment, spike=spike, burst=burst, move=settings.move)
        )
        tick()
    return LabReport(
        path, models, settings, at, tuple(runs), tuple(responses), tuple(manipulations)
    )


# ---------------------------------------------------------------- the report

TABLE_HEADER = (
    "model",
    "mean |rate| (% per 8 h)",
    "annualised",
    "paid by 1 long (quote)",
    "premium half-life",
    "rate move: spike / burst (bp per 8 h)",
    "smallest attack for +{move} bp",
    "its cost per unit (quote per base)",
)


def _hours(seconds: int | None, horizon: int = FEEDBACK_HORIZON) -> str:
    if seconds is None:
        return f"> {horizon / DAY:g} d"
    return f"{seconds / HOUR:.2f} h"


def _quote(wad: int) -> str:
    """A signed quote amount to 4 decimals; "0.0000" for a few wei either way (an extra
    accrual may move F by a wei, docs/MATH.md §5)."""
    text = f"{wad / WAD:+,.4f}"
    return "0.0000" if text in ("+0.0000", "-0.0000") else text


def _bp(wad: int) -> str:
    return f"{wad / BP:.3f}"


def attack_text(kind: str, size: int | None, duration: int) -> str:
    if size is None:
        return f"no {kind} can"  # settings_lines says why this can happen
    if kind == "spike":
        return f"spike +{size / PERCENT:,.2f} % for {duration} s"
    return f"burst {size / WAD:,.1f} base for {duration / 60:g} min"


def table_rows(report: LabReport) -> list[tuple[str, ...]]:
    rows = []
    settings = report.settings
    for run, response, hit in zip(report.runs, report.responses, report.manipulations, strict=True):
        mean = run.mean_abs_rate
        duration = settings.block_time if hit.kind == "spike" else settings.burst_duration
        rows.append(
            (
                run.name,
                f"{mean / PERCENT:.4f}",
                f"{mean * PERIODS_PER_YEAR / PERCENT:.2f} %",
                f"{run.funding[-1] / WAD:+,.2f}",
                _hours(response.half_life),
                f"{_bp(hit.spike.rate_move)} / {_bp(hit.burst.rate_move)}",
                attack_text(hit.kind, hit.smallest, duration),
                "-" if hit.cost_per_unit is None else f"{hit.cost_per_unit / WAD:,.2f}",
            )
        )
    return rows


DETAIL_HEADER = (
    "model",
    "spike: rate move (bp) / extra paid by 1 long (quote)",
    "burst: rate move (bp) / extra paid by 1 long (quote)",
    "smallest attack: rate move (bp) / extra paid by 1 long (quote)",
)


def detail_rows(report: LabReport) -> list[tuple[str, ...]]:
    """The manipulations in full: each attack's rate move and the extra funding it
    made one long pay over the horizon."""

    def cell(result: Outcome | None) -> str:
        if result is None:
            return "-"
        return f"{_bp(result.rate_move)} / {_quote(result.extra_funding)}"

    return [
        (hit.name, cell(hit.spike), cell(hit.burst), cell(hit.smallest_outcome))
        for hit in report.manipulations
    ]


def _header(report: LabReport) -> tuple[str, ...]:
    move = report.settings.move / BP
    return tuple(cell.replace("{move}", f"{move:g}") for cell in TABLE_HEADER)


def _markdown_rows(header: Sequence[str], rows: list[tuple[str, ...]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [line(header), "|" + "---|" * len(header)]
    lines += [line(cells) for cells in rows]
    return "\n".join(lines) + "\n"


def markdown_table(report: LabReport) -> str:
    return _markdown_rows(_header(report), table_rows(report))


def text_table(report: LabReport) -> str:
    cells = [_header(report), *table_rows(report)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def settings_lines(report: LabReport) -> list[str]:
    """The report's legend: the path, the rule, the parameters, the attacks."""
    m, s, path = report.models, report.settings, report.path
    T = m.rate.interval
    points = path.points
    skews = [p.skew * 100 / p.open_interest for p in points if p.open_interest]
    attack_hours = (report.attack_time - points[0].time) / HOUR
    return [
        f"Path: {path.description}; {len(points):,} points.",
        f"Skew rule: skew = clamp(premium / {SKEW_PREMIUM / PERCENT:g} % + noise, -1, 1) x open "
        f"interest; noise: seeded normal, sd {SKEW_NOISE * 100:g} % of the open interest; the open "
        f"interest constant at {points[0].open_interest / WAD:,.0f} base; held while the "
        f"index is stale. On this path the skew ranged {min(skews):+.1f} % .. "
        f"{max(skews):+.1f} % of the open interest.",
        f"premium-clamp / linear / premium-only: interval {T / HOUR:g} h, I "
        f"{m.rate.interest / PERCENT:g} %, d {m.rate.dampener / PERCENT:g} %, cap "
        f"{m.rate.cap / PERCENT:g} % per interval.",
        f"velocity: skew scale {m.velocity.skew_scale / WAD:,.0f} base, max velocity "
        f"{m.velocity.max_velocity / PERCENT:g} % per day per day, cap "
        f"{m.velocity.cap / PERCENT:g} % per day.",
        f"skew-proportional: factor {m.skew.factor / WAD:.4g} per second (e = "
        f"{m.skew.exponent}), cap {m.skew.cap * DAY / PERCENT:.4g} % per day.",
        f"external: the provider requests the premium-clamp rate in force at the first "
        f"accrual of each interval; |rate| <= {m.external.max_rate * DAY / PERCENT:.4g} % per "
        f"day, change <= {m.external.max_change_per_second * HOUR * DAY / PERCENT:.4g} % per "
        "day per hour since the last setting.",
        "Rates: rate in force, % per 8 h (annualised x 1,095). Paid by 1 long: the funding "
        "index at the end, quote per unit of base (negative: received).",
        f"Premium half-life: after a step to +{s.step_premium / PERCENT:g} % at an interval "
        f"start, every {FEEDBACK_STEP // 60} min the premium shrinks by the funding the model "
        f"charged (as a fraction of the index); the time until it is at most half the step "
        f"(same for every path).",
        f"Manipulation at {attack_hours:g} h into the path, horizon {2 * T / HOUR:g} h: spike "
        f"+{s.spike / PERCENT:g} % on the mark for one {s.block_time} s block; burst "
        f"{s.burst / WAD:,.0f} base long for {s.burst_duration / 60:g} min. Rate move: the "
        "largest rise of the rate in force, attacked minus not. Smallest attack: bisection on "
        "the size; a spike's cost per unit is its size times the index (the premium paid on "
        "each unit bought at the spike; the book is not modelled), a burst's the funding one "
        "unit held through it paid. 'no spike can' / 'no burst can': not even a "
        f"+{MAX_SPIKE // PERCENT:,} % spike or a burst of {MAX_BURST // OPEN_INTEREST:,} times "
        "the open interest raises the rate that far (it is at its cap, or bounded).",
    ]


def write_report(report: LabReport, out_dir: Path) -> list[Path]:
    """Writes rates.png, funding.png, response.png, manipulation.png, summary.md and
    index.html into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _plots(report, out_dir)
    summary = out_dir / "summary.md"
    summary.write_text(_markdown(report, plots), encoding="utf-8")
    page = out_dir / "index.html"
    page.write_text(_html(report, plots), encoding="utf-8")
    return [*plots, summary, page]


PLOT_TITLES = {
    "rates.png": "The path and the rate in force under each model",
    "funding.png": "Funding paid by one long, per unit of base",
    "response.png": "Premium under funding feedback after a step",
    "manipulation.png": "Rate moved by the spike and by the burst",
}
#: Plot styles: premium-clamp wide and pale underneath, since external (which
#: requests its rate) often lies exactly on it.
STYLES = {
    "premium-clamp": {"color": "tab:blue", "lw": 2.8, "alpha": 0.45},
    "linear": {"color": "tab:cyan", "lw": 1.1},
    "premium-only": {"color": "tab:purple", "lw": 1.1},
    "velocity": {"color": "tab:red", "lw": 1.1},
    "skew-proportional": {"color": "tab:orange", "lw": 1.1},
    "external": {"color": "tab:green", "lw": 1.1},
}


def _plots(report: LabReport, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = report.path.points
    start = points[0].time
    hours = [(p.time - start) / HOUR for p in points]
    attack = (report.attack_time - start) / HOUR
    written = []

    def save(figure, name: str) -> None:
        figure.tight_layout()
        figure.savefig(out_dir / name)
        plt.close(figure)
        written.append(out_dir / name)

    figure, (top, middle) = plt.subplots(
        2, 1, figsize=(11, 7.5), dpi=100, sharex=True, height_ratios=(1, 2)
    )
    top.set_title(f"{PLOT_TITLES['rates.png']}: {report.path.name}", fontsize=10)
    top.step(hours, [p.premium / PERCENT for p in points], where="post", lw=0.9, label="premium")
    top.set_ylabel("premium (%)")
    skew_axis = top.twinx()
    skew_axis.step(
        hours,
        [p.skew * 100 / p.open_interest for p in points],
        where="post",
        lw=0.7,
        color="tab:grey",
        alpha=0.7,
        label="skew",
    )
    skew_axis.set_ylabel("skew (% of open interest)", color="tab:grey")
    top.legend(loc="upper left", fontsize=8)
    for run in report.runs:
        middle.step(
            [(t - start) / HOUR for t in run.times],
            [r / PERCENT for r in run.rates],
            where="post",
            label=run.name,
            **STYLES.get(run.name, {}),
        )
    middle.axhline(0, color="black", lw=0.6)
    middle.axvline(attack, color="grey", ls=":", lw=0.8, label="manipulation")
    middle.set_ylabel("rate in force (% per 8 h)")
    middle.set_xlabel("hours since the path's start")
    middle.legend(loc="best", fontsize=8)
    for axis in (top, middle):
        axis.grid(True, alpha=0.3)
    save(figure, "rates.png")

    figure, axis = plt.subplots(figsize=(11, 4.5), dpi=100)
    axis.set_title(PLOT_TITLES["funding.png"], fontsize=10)
    for run in report.runs:
        axis.plot(
            [(t - start) / HOUR for t in run.times],
            [f / WAD for f in run.funding],
            label=run.name,
            **STYLES.get(run.name, {}),
        )
    axis.axhline(0, color="black", lw=0.6)
    axis.set_ylabel("quote per 1 base (negative: received)")
    axis.set_xlabel("hours since the path's start")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    save(figure, "funding.png")

    figure, axis = plt.subplots(figsize=(11, 4.5), dpi=100)
    step = report.settings.step_premium
    axis.set_title(
        f"{PLOT_TITLES['response.png']} to +{step / PERCENT:g} % (first 3 days)", fontsize=10
    )
    for response in report.responses:
        shown = [
            (t / HOUR, p / PERCENT)
            for t, p in zip(response.times, response.premiums, strict=True)
            if t <= 3 * DAY
        ]
        axis.plot(
            *zip(*shown, strict=True),
            label=f"{response.name} (half-life {_hours(response.half_life)})",
            **STYLES.get(response.name, {}),
        )
    axis.axhline(step / 2 / PERCENT, color="grey", ls=":", lw=0.8, label="half the step")
    axis.axhline(0, color="black", lw=0.6)
    axis.set_ylabel("premium (%)")
    axis.set_xlabel("hours since the step")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    save(figure, "response.png")

    figure, axis = plt.subplots(figsize=(11, 4.5), dpi=100)
    s = report.settings
    axis.set_title(
        f"{PLOT_TITLES['manipulation.png']}: spike +{s.spike / PERCENT:g} % for "
        f"{s.block_time} s, burst {s.burst / WAD:,.0f} base for {s.burst_duration / 60:g} min",
        fontsize=10,
    )
    names = [hit.name for hit in report.manipulations]
    x = range(len(names))
    spikes = [hit.spike.rate_move / BP for hit in report.manipulations]
    bursts = [hit.burst.rate_move / BP for hit in report.manipulations]
    for offset, moves, color, label in (
        (-0.2, spikes, "tab:blue", "mark spike"),
        (0.2, bursts, "tab:orange", "skew burst"),
    ):
        bars = axis.bar([i + offset for i in x], moves, width=0.4, color=color, label=label)
        axis.bar_label(bars, labels=[f"{move:.3g}" for move in moves], fontsize=8)
    axis.set_xticks(list(x), names, fontsize=9)
    axis.set_ylabel("largest rise of the rate (bp per 8 h)")
    axis.grid(True, axis="y", alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    save(figure, "manipulation.png")
    return written


def _attack_where(report: LabReport) -> str:
    hours = (report.attack_time - report.path.points[0].time) / HOUR
    return f"at {hours:g} h into the path, horizon {2 * report.path.interval / HOUR:g} h"


def _markdown(report: LabReport, plots: list[Path]) -> str:
    lines = [f"# Model lab: {report.path.name}", ""]
    lines += [f"- {line}" for line in settings_lines(report)]
    lines += ["", markdown_table(report)]
    lines += [
        f"Manipulation in detail ({_attack_where(report)}):",
        "",
        _markdown_rows(DETAIL_HEADER, detail_rows(report)),
    ]
    lines += [f"![{PLOT_TITLES[p.name]}]({p.name})\n" for p in plots]
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1150px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-family: ui-monospace, monospace; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0 1em; }
li { margin: 0.2em 0; }
"""


def _html(report: LabReport, plots: list[Path]) -> str:
    import html

    e = html.escape

    def table(header: Sequence[str], rows: list[tuple[str, ...]]) -> str:
        head = "".join(f"<th>{e(cell)}</th>" for cell in header)
        body = "\n".join(
            "<tr>"
            + "".join(
                f"<td>{e(cell)}</td>" if i == 0 else f"<td class=num>{e(cell)}</td>"
                for i, cell in enumerate(row)
            )
            + "</tr>"
            for row in rows
        )
        return f"<table><tr>{head}</tr>\n{body}\n</table>"

    legend = "\n".join(f"<li>{e(line)}</li>" for line in settings_lines(report))
    images = "\n".join(
        f'<h2>{e(PLOT_TITLES[p.name])}</h2>\n<img src="{e(p.name)}" alt="{e(PLOT_TITLES[p.name])}">'
        for p in plots
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Model lab: {e(report.path.name)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Model lab: {e(report.path.name)}</h1>
<ul>
{legend}
</ul>
<h2>Summary</h2>
{table(_header(report), table_rows(report))}
<h2>Manipulation in detail</h2>
<p>{e(_attack_where(report))}</p>
{table(DETAIL_HEADER, detail_rows(report))}
<p>Definitions: docs/MATH.md, "Model lab".</p>
{images}
</body>
</html>
"""
