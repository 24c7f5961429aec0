"""The volatility-linked rate cap, as pure functions on integers.

The market keeps an O(1) exponentially weighted estimate of the index price's realised
variance, updated at each accrual that samples the index, and caps the funding rate at

    cap = clamp(k * sigma_T, cap_min, cap_max)

where ``sigma_T`` is the estimated volatility of the index over one funding interval
``T``. Every function mirrors ``contracts/modules/volatility_cap.vy`` to the wei,
including snekmate's ``_wad_ln`` and ``_wad_exp`` (ported here with the EVM's
wrapping, truncating and shifting semantics); docs/MATH.md ("Volatility-linked cap")
states the estimator. Units:

* prices: WAD quote per base (1 .. 1e36 wei, the market's feed range);
* ``log_price``: ``wad_ln(price)``, the natural log of the price in WAD;
* ``variance``: the variance rate of the log price, in WAD**2 per second (1e36 = a
  variance of 1 per second); ``sigma_T = isqrt(variance * T)`` is then WAD per interval;
* caps and ``k`` (``multiplier``): WAD, caps per interval as in ``fundingkit.rates``.

``VolatilityCapSource`` is ``contracts/VolatilityCap.vy``: the estimator as a cap
source bound to one market, which ``fundingkit.market.MarketModel.set_cap_source``
takes (docs/MATH.md §14.9).

``capped_path`` is the thin glue that runs a price path through the premium-clamp
model (``fundingkit.rates``) with the cap replaced, accrual by accrual, by the
effective cap of the estimator (or held at the fixed cap, for comparison), the way a
market that integrates the module does (docs/MATH.md §14.5). ``compare_regime`` and
``compare_history`` run a synthetic regime or a published history under both caps, and
``summarise`` condenses each into the rows of ``ape run volatility_cap``'s table.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fundingkit import rates
from fundingkit.rates import MAX_INTERVAL, MIN_INTERVAL, IntervalState, RateParameters
from fundingkit.vyper_math import WAD, div_trunc
from oracles.replay import detect_interval, published_rates, replay_path
from oracles.synthetic import DEFAULT_DAILY_VOLATILITY, synthetic_path

HOUR = 3_600
DAY = 86_400
YEAR = 365 * DAY

# ---------------------------------------------------------------- bounds (volatility_cap.vy)

LN2 = 693_147_180_559_945_309  # floor(ln 2 * 1e18)
MAX_PRICE = 10**36  # the market's feed range: 1 wei .. 1e36 (1e18 quote per base)
MIN_HALF_LIFE = 1 * HOUR
MAX_HALF_LIFE = 30 * DAY
MIN_MULTIPLIER = 10**16  # k = 0.01
MAX_MULTIPLIER = 10**19  # k = 10
MIN_CAP = rates.MIN_CAP  # 0.01 % per interval
MAX_CAP = rates.MAX_CAP  # 4 % per interval
MAX_INITIAL_SIGMA = WAD  # 100 % per interval
# Below this exponent snekmate's _wad_exp returns 0: the decay weight of a gap of
# about 59.8 half-lives or more is exactly 0.
EXP_ZERO_BELOW = 41_446_531_673_892_822_313

# The packed state word: variance (bits 0..135), time (136..183), log price (signed, 184..255).
VARIANCE_BITS = 136
TIME_BITS = 48
MAX_LOG_PRICE = 41_446_531_673_892_822_313  # -wad_ln(1); wad_ln(1e36) is one less


# ---------------------------------------------------------------- EVM integer semantics

_MASK = 2**256 - 1


def _int256(x: int) -> int:
    """Wraps ``x`` to int256, as the EVM's unsafe arithmetic does."""
    x &= _MASK
    return x - 2**256 if x >= 2**255 else x


def _bits(x: int) -> int:
    """The two's complement bits of an int256 as a uint256 (``convert(bytes32)``)."""
    return x & _MASK


def _sdiv(x: int, y: int) -> int:
    """The EVM's SDIV (``unsafe_div`` on int256): truncates toward zero, wraps."""
    return _int256(div_trunc(x, y))


def _log2_floor(x: int) -> int:
    """snekmate ``_log2(x, False)``: floor(log2(x)), and 0 for 0."""
    return max(x.bit_length() - 1, 0)


# _wad_ln's last step: "k * ln 2" and "ln(2**96 / 1e18)", scaled by 2**174 / (5**18 >> 78).
_LN_TWO_SCALED = int(
    "16_597_577_552_685_614_221_487_285_958_193_947_469_193_820_559_219_878_177_908_093_499_208_371"
)
_LN_OFFSET = int(
    "600_920_179_829_731_861_736_702_779_321_621_459_595_472_258_049_074_101_567_377_883_020_018_308"
)


def wad_ln(x: int) -> int:
    """snekmate 0.1.2 ``math._wad_ln``: ln(x / 1e18) * 1e18, bit for bit.

    Raises ValueError for a negative ``x`` (the contract reverts with
    ``math: wad_ln undefined``); returns 0 for 0.
    """
    if x < 0:
        raise ValueError("math: wad_ln undefined")
    if x == 0:
        return 0
    k = _log2_floor(x) - 96
    shifted = _bits(x << (159 - k))  # SHL wraps; the top bit is bit 255
    x = shifted >> 159  # in [2**96, 2**97)

    def step(acc: int, constant: int) -> int:
        return _int256((_int256(acc * x)) >> 96) + constant

    p = _int256((_int256((x + 3_273_285_459_638_523_848_632_254_066_296) * x)) >> 96)
    p = _int256(p + 24_828_157_081_833_163_892_658_089_445_524)
    p = _int256(step(p, 43_456_485_725_739_037_958_740_375_743_393))
    p = _int256(step(p, -11_111_509_109_440_967_052_023_855_526_967))
    p = _int256(step(p, -45_023_709_667_254_063_763_336_534_515_857))
    p = _int256(step(p, -14_706_773_417_378_608_786_704_636_184_526))
    p = _int256(_int256(p * x) - (795_164_235_651_350_426_258_249_787_498 << 96))

    q = _int256((_int256((x + 5_573_035_233_440_673_466_300_451_813_936) * x)) >> 96)
    q = _int256(q + 71_694_874_799_317_883_764_090_561_454_958)
    q = _int256(step(q, 283_447_036_172_924_575_727_196_451_306_956))
    q = _int256(step(q, 401_686_690_394_027_663_651_624_208_769_553))
    q = _int256(step(q, 204_048_457_590_392_012_362_485_061_816_622))
    q = _int256(step(q, 31_853_899_698_501_571_402_653_359_427_138))
    q = _int256(step(q, 909_429_971_244_387_300_277_376_558_375))

    r = _sdiv(p, q)
    total = _int256(
        _int256(
            _int256(r * 1_677_202_110_996_718_588_342_820_967_067_443_963_516_166)
            + _int256(k * _LN_TWO_SCALED)
        )
        + _LN_OFFSET
    )
    return total >> 174


def wad_exp(x: int) -> int:
    """snekmate 0.1.2 ``math._wad_exp``: exp(x / 1e18) * 1e18, bit for bit.

    Returns 0 at or below -41.45e18; raises OverflowError at or above 135.3e18 (the
    contract reverts with ``math: wad_exp overflow``).
    """
    if x <= -EXP_ZERO_BELOW:
        return 0
    if x >= 135_305_999_368_893_231_589:
        raise OverflowError("math: wad_exp overflow")
    x = _sdiv(x << 78, 5**18)
    ln2_96 = 54_916_777_467_707_473_351_141_471_128
    k = _int256(_sdiv(x << 96, ln2_96) + 2**95) >> 96
    x = _int256(x - _int256(k * ln2_96))

    y = _int256(_int256((x + 1_346_386_616_545_796_478_920_950_773_328) * x) >> 96)
    y = _int256(y + 57_155_421_227_552_351_082_224_309_758_442)
    p = _int256(_int256((y + x) - 94_201_549_194_550_492_254_356_042_504_812) * y) >> 96
    p = _int256(p + 28_719_021_644_029_726_153_956_944_680_412_240)
    p = _int256(_int256(p * x) + (4_385_272_521_454_847_904_659_076_985_693_276 << 96))

    q = _int256(_int256((x - 2_855_989_394_907_223_263_936_484_059_900) * x) >> 96)
    q = _int256(q + 50_020_603_652_535_783_019_961_831_881_945)
    q = _int256((_int256(q * x) >> 96) - 533_845_033_583_426_703_283_633_433_725_380)
    q = _int256((_int256(q * x) >> 96) + 3_604_857_256_930_695_427_073_651_918_091_429)
    q = _int256((_int256(q * x) >> 96) - 14_423_608_567_350_463_180_887_372_962_807_573)
    q = _int256((_int256(q * x) >> 96) + 26_449_188_498_355_588_339_934_803_723_976_023)

    r = _sdiv(p, q)
    scaled = (_bits(r) * 3_822_833_074_963_236_453_042_738_258_902_158_003_155_416_615_667) & _MASK
    result = scaled >> _bits(195 - k)
    if result >= 2**255:  # convert(uint256 -> int256) is checked
        raise OverflowError("convert overflow")
    return result


# ---------------------------------------------------------------- parameters and state


@dataclass(frozen=True)
class VolatilityParameters:
    """The estimator's and the cap's parameters (volatility_cap.vy's CapParameters)."""

    half_life: int = DAY  # seconds
    multiplier: int = 25 * 10**16  # k = 0.25 (WAD)
    cap_min: int = 5 * 10**15  # 0.5 % per interval (WAD)
    cap_max: int = 4 * 10**16  # 4 % per interval (WAD)

    def rejection(self) -> str | None:
        """The contract's revert reason for these parameters, or None (same order)."""
        if not MIN_HALF_LIFE <= self.half_life <= MAX_HALF_LIFE:
            return "volatility_cap: half-life outside 1 h..30 days"
        if not MIN_MULTIPLIER <= self.multiplier <= MAX_MULTIPLIER:
            return "volatility_cap: k outside 0.01..10"
        if not MIN_CAP <= self.cap_min <= MAX_CAP:
            return "volatility_cap: cap_min outside 0.01 %..4 %"
        if not self.cap_min <= self.cap_max <= MAX_CAP:
            return "volatility_cap: cap_max outside cap_min..4 %"
        return None


class Rejected(ValueError):
    """An input the contract rejects. The message is its revert reason, or, for the
    invariants the market guarantees (bare asserts), the ``# dev:`` comment."""


@dataclass(frozen=True)
class VolatilityState:
    """The estimator as of its last sample (volatility_cap.vy's packed word)."""

    log_price: int  # wad_ln(price) at the last sample (WAD)
    updated_at: int  # unix seconds
    variance: int  # variance rate of the log price, WAD**2 per second

    def pack(self) -> int:
        """The storage word ``packed_volatility``; OverflowError where the contract's
        bare ``assert`` reverts (unreachable within the documented bounds)."""
        if not -MAX_LOG_PRICE <= self.log_price <= MAX_LOG_PRICE:
            raise OverflowError("log price outside the log of 1..1e36 wei")
        if not 0 <= self.updated_at < 2**TIME_BITS:
            raise OverflowError("time does not fit 48 bits")
        if not 0 <= self.variance < 2**VARIANCE_BITS:
            raise OverflowError("variance does not fit 136 bits")
        return (
            ((self.log_price << (VARIANCE_BITS + TIME_BITS)) & _MASK)
            | self.updated_at << VARIANCE_BITS
            | self.variance
        )

    @classmethod
    def unpack(cls, word: int) -> VolatilityState:
        return cls(
            log_price=_int256(word) >> (VARIANCE_BITS + TIME_BITS),
            updated_at=(word >> VARIANCE_BITS) & (2**TIME_BITS - 1),
            variance=word & (2**VARIANCE_BITS - 1),
        )


def initial_state(
    params: VolatilityParameters, price: int, now: int, initial_sigma: int, interval: int
) -> VolatilityState:
    """The first sample (the module's ``__init__``): ``price`` at ``now``, no return yet;
    the variance rate of a volatility of ``initial_sigma`` per ``interval`` seconds,
    ``initial_sigma**2 // interval``. Raises ``Rejected`` with the contract's reason."""
    reason = params.rejection()
    if reason:
        raise Rejected(reason)
    if not 0 <= initial_sigma <= MAX_INITIAL_SIGMA:
        raise Rejected("volatility_cap: initial sigma above 100 %")
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise Rejected("volatility_cap: interval outside 1 h..8 h")
    if not 1 <= price <= MAX_PRICE:
        raise Rejected("volatility_cap: price outside 1..1e36 wei")
    return VolatilityState(wad_ln(price), now, initial_sigma * initial_sigma // interval)


def decay(elapsed: int, half_life: int) -> int:
    """2**(-elapsed / half_life) in WAD: ``wad_exp(-(elapsed * LN2 // half_life))``,
    at most WAD; exactly 0 from about 59.8 half-lives on."""
    exponent = elapsed * LN2 // half_life
    if exponent >= EXP_ZERO_BELOW:
        return 0
    return min(wad_exp(-exponent), WAD)


def update(
    state: VolatilityState, price: int, now: int, params: VolatilityParameters
) -> VolatilityState:
    """The estimator after a sample of the index ``price`` at ``now`` (``_update``).

    Over the gap ``dt = now - updated_at`` with log return ``r``:
    ``v' = (w * v + (WAD - w) * (r**2 // dt)) // WAD``, ``w = decay(dt, half_life)``.
    A sample at the time of the last one changes nothing. Raises ``Rejected`` (the
    contract's ``# dev:`` reason) for a price outside 1..1e36 wei, a time before the
    last sample or beyond 2**48 s: invariants the market guarantees.
    """
    if not 1 <= price <= MAX_PRICE:
        raise Rejected("price outside 1..1e36")
    if now < state.updated_at:
        raise Rejected("time before the last sample")
    if now >= 2**TIME_BITS:
        raise Rejected("time beyond 2**48")
    if now == state.updated_at:
        return state
    elapsed = now - state.updated_at
    log_price = wad_ln(price)
    change = log_price - state.log_price
    sample = change * change // elapsed
    weight = decay(elapsed, params.half_life)
    variance = (weight * state.variance + (WAD - weight) * sample) // WAD
    after = VolatilityState(log_price, now, variance)
    after.pack()  # the bounds the contract relies on to pack without checks
    return after


def sigma(state: VolatilityState, interval: int) -> int:
    """The estimated volatility over ``interval`` seconds, ``isqrt(v * interval)`` (WAD)."""
    return math.isqrt(state.variance * interval)


def effective_cap(state: VolatilityState, params: VolatilityParameters, interval: int) -> int:
    """``clamp(k * sigma_T // WAD, cap_min, cap_max)``: the rate cap per interval (WAD)."""
    scaled = params.multiplier * sigma(state, interval) // WAD
    return min(max(scaled, params.cap_min), params.cap_max)


def sigma_for(daily_volatility: float, interval: int) -> int:
    """A daily volatility (a fraction) as sigma per ``interval`` seconds (WAD), e.g. a
    seed for ``initial_state``; for people, rounded."""
    return round(daily_volatility * math.sqrt(interval / DAY) * WAD)


# ---------------------------------------------------------------- the deployable cap source


def _same_address(a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower()


@dataclass(frozen=True)
class VolatilityCapSource:
    """``contracts/VolatilityCap.vy``: the estimator in a contract of its own, bound to
    one market, the only caller of ``update``. Immutable: ``update`` returns the source
    after the call, so a market model can roll it back with a rejected call.

    Its return data is what the market reads (``fundingkit.market.cap_answer``): the
    cap as one 32-byte word, or None when the call reverts (a caller other than the
    market; a sample the market never takes)."""

    address: str
    market: str
    params: VolatilityParameters
    state: VolatilityState

    @classmethod
    def deploy(
        cls,
        address: str,
        market: str,
        price: int,
        now: int,
        params: VolatilityParameters = VolatilityParameters(),
        initial_sigma: int = 0,
        interval: int = 8 * HOUR,
    ) -> VolatilityCapSource:
        """The constructor: ``price`` at ``now`` is the first sample. Raises
        ``Rejected`` with the contract's reason, checked in its order."""
        if _same_address(market, "0x" + "00" * 20):
            raise Rejected("volatility_cap: market is the zero address")
        state = initial_state(params, price, now, initial_sigma, interval)
        return cls(address, market, params, state)

    def update(
        self, caller: Any, price: int, now: int, interval: int
    ) -> tuple[VolatilityCapSource, bytes | None]:
        """``update(price, interval)`` from ``caller`` at block time ``now``: the source
        after the call, and the cap it returns (one word), or None when it reverts."""
        if not _same_address(caller, self.market):
            return self, None
        try:
            state = update(self.state, price, now, self.params)
        except Rejected:
            return self, None
        cap = effective_cap(state, self.params, interval)
        return replace(self, state=state), cap.to_bytes(32, "big")

    def effective_cap(self, interval: int) -> int:
        """The view ``effective_cap(interval)``: the cap of the estimate as of its last
        sample."""
        return effective_cap(self.state, self.params, interval)


# ---------------------------------------------------------------- a path under either cap


@dataclass(frozen=True)
class CappedStep:
    """The market just after accruing at one point of a path."""

    time: int  # unix seconds
    index_price: int  # the index sample held from now on (WAD)
    premium: int  # the premium sample held from now on (WAD)
    sigma: int  # the estimator's volatility per interval, after this sample (WAD)
    cap: int  # the cap in force from now on (WAD per interval)
    rate: int  # the rate in force from now on (WAD per interval)
    funding_index: int  # F after the accrual (WAD quote per unit of base)


def capped_path(
    points: Iterable,
    rate_params: RateParameters,
    vol_params: VolatilityParameters,
    initial_sigma: int,
    *,
    linked: bool = True,
) -> list[CappedStep]:
    """A market that accrues at every point of a price path, step by step.

    The first point deploys it (the first sample of both the premium and the
    estimator, seeded with ``initial_sigma`` per interval). At each later point it
    integrates from the previous one with the samples and the cap held since then
    (``rates.project``, ``rates.funding_delta``), then samples the point: the index
    price, the premium and the estimator, unless the point's index is stale (a feed
    outage beyond ``max_age``: nothing is sampled, as in the market). The cap in force
    from then on is ``effective_cap`` of the estimator when ``linked``, else
    ``rate_params.cap`` throughout (the estimator still runs, for comparison).

    ``points``: objects with ``time``, ``index``, ``mark`` and ``stale_index`` (the
    ``oracles`` paths' ``PricePoint``), in increasing time. Raises ValueError for
    parameters the contracts would reject, and when ``|interest| > cap_min`` under a
    linked cap (the rate model requires ``|I| <= cap`` at every moment).
    """
    reason = rate_params.rejection() or vol_params.rejection()
    if reason:
        raise ValueError(f"the market would reject these parameters ({reason})")
    if linked and abs(rate_params.interest) > vol_params.cap_min:
        raise ValueError("the interest exceeds cap_min: the linked cap could fall below |I|")
    interval = rate_params.interval
    iterator = iter(points)
    first = next(iterator, None)
    if first is None:
        raise ValueError("the path has no points")

    def cap_of(state: VolatilityState) -> int:
        return effective_cap(state, vol_params, interval) if linked else rate_params.cap

    estimator = initial_state(vol_params, first.index, first.time, initial_sigma, interval)
    price, held, since = first.index, rates.premium(first.mark, first.index), first.time
    cap = cap_of(estimator)
    intervals = IntervalState(interval_start=since, premium_sum=0, last_premium_average=0)
    index = 0
    first_rate = replace(rate_params, cap=cap).rate(0)  # no interval has closed yet
    steps = [CappedStep(since, price, held, sigma(estimator, interval), cap, first_rate, 0)]
    for point in iterator:
        if point.time < since:
            raise ValueError(f"the path goes back in time at {point.time}")
        if point.time == since:
            continue  # a second accrual in the same block does nothing
        in_force = replace(rate_params, cap=cap)
        rate_time, intervals = rates.project(in_force, intervals, held, since, point.time)
        index += rates.funding_delta(price, rate_time, interval)
        since = point.time
        if not point.stale_index:
            price, held = point.index, rates.premium(point.mark, point.index)
            estimator = update(estimator, price, since, vol_params)
        cap = cap_of(estimator)
        rate = replace(rate_params, cap=cap).rate(intervals.last_premium_average)
        steps.append(CappedStep(since, price, held, sigma(estimator, interval), cap, rate, index))
    return steps


# ---------------------------------------------------------------- fixed cap vs linked cap

COMPARISON_START = 1_704_067_200  # 2024-01-01 00:00 UTC: where the synthetic paths start


@dataclass(frozen=True)
class Comparison:
    """One price path under the fixed cap and under the volatility-linked cap."""

    name: str
    description: str
    fixed: list[CappedStep]
    linked: list[CappedStep]
    fixed_cap: int
    vol_params: VolatilityParameters
    interval: int


@dataclass(frozen=True)
class CapSummary:
    """One row of the summary table."""

    path: str
    cap: str  # "fixed" or "vol-linked"
    cap_low: int  # the cap in force: lowest, median and highest (WAD per interval)
    cap_median: int
    cap_high: int
    time_at_cap_min: float | None  # fractions of the path's time (None: a fixed cap)
    time_at_cap_max: float | None
    time_rate_capped: float  # |rate in force| == cap in force
    rate_low: int
    rate_high: int
    funding_per_base: int  # what one long paid over the path (WAD quote; < 0: received)


def compare(
    name: str,
    description: str,
    points: Sequence,
    rate_params: RateParameters,
    vol_params: VolatilityParameters,
    initial_sigma: int,
) -> Comparison:
    """``points`` through the model under the fixed cap ``rate_params.cap`` and under the
    volatility-linked cap of ``vol_params`` (same seed, same estimator)."""
    return Comparison(
        name=name,
        description=description,
        fixed=capped_path(points, rate_params, vol_params, initial_sigma, linked=False),
        linked=capped_path(points, rate_params, vol_params, initial_sigma, linked=True),
        fixed_cap=rate_params.cap,
        vol_params=vol_params,
        interval=rate_params.interval,
    )


def compare_regime(
    regime: str,
    *,
    days: float,
    seed: int,
    rate_params: RateParameters,
    vol_params: VolatilityParameters,
    initial_sigma: int,
) -> Comparison:
    """A seeded synthetic regime (one point an hour) under both caps."""
    points = synthetic_path(regime, days=days, seed=seed, start_time=COMPARISON_START)
    return compare(
        regime,
        f"synthetic '{regime}', {days:g} days",
        points,
        rate_params,
        vol_params,
        initial_sigma,
    )


def compare_history(
    csv_path: Path,
    *,
    seed: int,
    fixed_cap: int,
    vol_params: VolatilityParameters,
    daily_volatility: float = DEFAULT_DAILY_VOLATILITY,
) -> Comparison:
    """A published history under both caps; the premium-clamp parameters are the
    defaults at the history's own interval with the fixed cap. Its spot is a seeded
    walk of 3 % a day and the estimator is seeded with that volatility. Raises
    ValueError for an unusable file (``oracles.replay``)."""
    rows = published_rates(csv_path)
    interval = detect_interval([time for time, _ in rows])
    rate_params = RateParameters(interval=interval, cap=fixed_cap)
    # A published rate above the fixed cap is a ValueError that says so.
    points = replay_path(csv_path, params=rate_params, seed=seed)
    span = f"{_day(rows[0][0])} .. {_day(rows[-1][0])}"
    return compare(
        csv_path.stem,
        f"{csv_path.stem}: {len(rows):,} rates, {span}",
        points,
        rate_params,
        vol_params,
        sigma_for(daily_volatility, interval),
    )


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _time_shares(steps: list[CappedStep], test) -> float:
    """The fraction of the path's time for which ``test(step)`` held (each step's
    values stand until the next step)."""
    total = steps[-1].time - steps[0].time
    if total == 0:
        return float(test(steps[0]))
    held = sum(b.time - a.time for a, b in zip(steps, steps[1:], strict=False) if test(a))
    return held / total


def summarise(comparison: Comparison) -> list[CapSummary]:
    """The table's two rows for one path: fixed cap, then vol-linked cap."""
    rows = []
    low, high = comparison.vol_params.cap_min, comparison.vol_params.cap_max
    for label, steps in (("fixed", comparison.fixed), ("vol-linked", comparison.linked)):
        caps = [step.cap for step in steps]
        rates = [step.rate for step in steps]
        linked = steps is comparison.linked
        rows.append(
            CapSummary(
                path=comparison.name,
                cap=label,
                cap_low=min(caps),
                cap_median=statistics.median_low(caps),
                cap_high=max(caps),
                time_at_cap_min=_time_shares(steps, lambda s: s.cap == low) if linked else None,
                time_at_cap_max=_time_shares(steps, lambda s: s.cap == high) if linked else None,
                time_rate_capped=_time_shares(steps, lambda s: abs(s.rate) == s.cap),
                rate_low=min(rates),
                rate_high=max(rates),
                funding_per_base=steps[-1].funding_index,
            )
        )
    return rows
