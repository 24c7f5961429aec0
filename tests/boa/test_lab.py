"""The model lab (fundingkit.lab, ape run compare): no chain.

Short hand-built paths whose numbers can be worked out by hand: a premium step through
the premium-clamp family, the velocity rate's linear ramp to its cap and SIP-279's
worked example, the skew-proportional and external rates, the premium half-life under
funding feedback (closed forms: a geometric decay, a harmonic oscillator), the cost of
a one-block spike (its weight is block time / interval) and of a skew burst, the skew
rule, and the script writing its report.
"""

import importlib.util
import math
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from fundingkit import lab
from fundingkit.models.external_rate import ExternalParameters
from fundingkit.models.skew_rate import SkewParameters
from fundingkit.models.velocity_rate import VelocityParameters
from fundingkit.rates import LINEAR, PREMIUM_CLAMP, PREMIUM_ONLY, RateParameters, formula_rate
from fundingkit.vyper_math import WAD

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "compare.py"
HOUR, DAY = 3_600, 86_400
T = 8 * HOUR
START = lab.LAB_START
OI = lab.OPEN_INTEREST
RATES = RateParameters()  # I 0.01 %, d 0.05 %, cap 0.75 % per 8 h
MODELS = lab.calibrated_models()


def point(time, index, mark, long=OI // 2, short=OI // 2, stale=False):
    return lab.LabPoint(time, index, mark, long, short, stale)


def flat_path(premium_mark, *, hours, index=50_000, long=OI // 2, short=OI // 2, step=HOUR):
    """Points every ``step`` s for ``hours`` h at a constant index and mark (quote)."""
    return [
        point(START + k, index * WAD, premium_mark * WAD, long, short)
        for k in range(0, hours * HOUR + 1, step)
    ]


def by_time(run, time):
    return run.rates[run.times.index(time)], run.funding[run.times.index(time)]


# ---------------------------------------------------------------- the skew rule


def test_skew_rule_leans_into_the_premium():
    # 0.1 % over spot: 5 % of the open interest net long.
    assert lab.skew_share(10**15) == 5 * 10**16
    assert lab.split_open_interest(OI, 5 * 10**16) == (5_250 * WAD, 4_750 * WAD)
    # 2 % and beyond: all of it on one side; the noise adds before the clamp.
    assert lab.skew_share(3 * 10**16) == WAD and lab.skew_share(-3 * 10**16) == -WAD
    assert lab.skew_share(10**15, noise=10**16) == 6 * 10**16
    assert lab.skew_share(-(10**15)) == -5 * 10**16
    # The skew truncates toward zero, both signs alike (a floor would give -1 below);
    # an odd open interest puts the extra wei on the short side.
    assert lab.split_open_interest(3, WAD // 3) == lab.split_open_interest(3, -(WAD // 3))
    assert lab.split_open_interest(3, -(WAD // 3)) == (1, 2)
    assert lab.split_open_interest(3, -WAD) == (0, 3)


def test_lab_points_follow_the_rule_and_hold_the_skew_while_stale():
    path = lab.synthetic_lab_path("stale", hours=48, seed=3)
    points = path.points
    assert path.interval == T and len(points) == 49
    assert all(p.open_interest == OI for p in points)
    stale = [k for k, p in enumerate(points) if p.stale_index]
    assert len(stale) == 6  # the regime's six-hour outage
    for k in stale:
        assert (points[k].long_open_interest, points[k].skew) == (
            points[k - 1].long_open_interest,
            points[k - 1].skew,
        )
    # Without noise the skew is the rule's own; the noise is seeded, so reproducible.
    exact = lab.lab_points(points, seed=3, noise=0)
    fresh = [p for p in exact if not p.stale_index]
    assert all(
        (p.long_open_interest, p.short_open_interest)
        == lab.split_open_interest(OI, lab.skew_share(p.premium))
        for p in fresh
    )
    assert lab.synthetic_lab_path("stale", hours=48, seed=3).points == points
    assert lab.synthetic_lab_path("stale", hours=48, seed=4).points != points


# ---------------------------------------------------------------- one path, every model


def test_premium_step_pays_formula_rate_after_one_interval():
    """The premium steps to +0.2 % at deployment and stays: interval 0 pays I (no
    interval has closed), every later one the formula's rate at 0.2 %."""
    points = flat_path(50_100, hours=16)  # mark 0.2 % over the index
    assert points[0].premium == 2 * 10**15
    for name, formula in (
        ("premium-clamp", PREMIUM_CLAMP),
        ("linear", LINEAR),
        ("premium-only", PREMIUM_ONLY),
    ):
        run, _ = lab.run_model(name, MODELS, points)
        first = formula_rate(formula, 0, RATES.interest, RATES.dampener, RATES.cap)
        after = formula_rate(formula, 2 * 10**15, RATES.interest, RATES.dampener, RATES.cap)
        assert set(run.rates[:8]) == {first}  # hours 0..7
        assert set(run.rates[8:]) == {after}  # from 8 h on
        # 50,000 quote * (first + after) per unit of base over the two intervals.
        assert run.funding[-1] == 50_000 * (first + after)
    clamp, _ = lab.run_model("premium-clamp", MODELS, points)
    assert clamp.rates[8] == 15 * 10**14  # 0.2 % - d
    assert clamp.funding[-1] == 80 * WAD  # 50,000 * (0.01 % + 0.15 %)
    assert clamp.mean_abs_rate == (10**14 + 15 * 10**14) // 2


def test_velocity_rate_ramps_linearly_to_its_cap():
    """Skew at the scale, max velocity 2 % per day per day, cap 1 % per day, price
    2,000: the rate grows by 2 %/24 per hour, reaches the cap at 12 h and stays; one
    accrual over the day pays 2,000 * (1 % * 0.5 / 2 + 1 % * 0.5) = 15 per unit."""
    models = replace(MODELS, velocity=VelocityParameters(WAD, 2 * 10**16, 10**16))
    points = flat_path(2_000, hours=24, index=2_000, long=WAD, short=0)
    run, _ = lab.run_model("velocity", models, points)
    for hour in range(25):
        per_day = min(2 * 10**16 * hour // 24, 10**16)
        assert run.rates[hour] == per_day // 3  # per 8 h
    # Hour by hour, each piece truncates once (MATH.md §13.1): within 24 wei.
    assert abs(run.funding[-1] - 15 * WAD) < 24
    whole, _ = lab.run_model("velocity", models, [points[0], points[-1]])
    assert whole.funding[-1] == 15 * WAD


def test_sip_279_example_through_the_lab():
    """SIP-279: ETH at 2,000, skew scale 1,000,000 ETH, 300 % a day per day; a long of
    100 ETH for a day pays 30 USD (0.3 per ETH), the rate is then 0.03 % a day and,
    with the skew back at 0, stays there: the second day pays 0.6 per ETH."""
    models = replace(MODELS, velocity=VelocityParameters(10**6 * WAD, 3 * WAD, WAD))
    long = lab.LabPoint(START, 2_000 * WAD, 2_000 * WAD, 100 * WAD, 0)
    points = [long, replace(long, time=START + DAY, long_open_interest=0)]
    points.append(replace(points[1], time=START + 2 * DAY))
    run, _ = lab.run_model("velocity", models, points)
    assert run.funding[1] == 3 * 10**17
    assert 100 * run.funding[1] == 30 * WAD * WAD // WAD  # user #1 pays 30 USD
    assert run.rates[1] == run.rates[2] == 10**14  # 0.03 % a day = 0.01 % per 8 h
    assert run.funding[2] - run.funding[1] == 6 * 10**17


def test_skew_proportional_and_external_rates():
    # GMX-style, e = 1: longs 300, shorts 100, factor 1e12 per second -> 5e11 per second.
    models = replace(MODELS, skew=SkewParameters(10**12, 1, 10**13))
    points = flat_path(2_000, hours=1, index=2_000, long=300 * WAD, short=100 * WAD)
    run, _ = lab.run_model("skew-proportional", models, points)
    assert run.rates == (5 * 10**11 * T, 5 * 10**11 * T)
    assert run.funding[-1] == 2_000 * 5 * 10**11 * HOUR  # 3.6 quote per unit

    # External: interval 0 pays 0 (the provider cannot move the rate in the second it
    # is deployed); at 8 h it requests the premium-clamp rate, 0.15 % per 8 h, per second.
    run, _ = lab.run_model("external", MODELS, flat_path(50_100, hours=16))
    assert set(run.rates[:8]) == {0}
    assert set(run.rates[8:]) == {15 * 10**14 // T * T}
    # A 1 % premium asks for the 0.75 % cap; dYdX's bound gives 2 % a day at most.
    run, _ = lab.run_model("external", MODELS, flat_path(50_500, hours=16))
    assert run.rates[8] == lab.EXTERNAL_MAX_RATE * T == 2 * 10**16 // DAY * T
    # A tighter change bound lets it move only so far in the 8 h since it was set.
    slow = replace(MODELS, external=ExternalParameters(10**13, 10**6))
    run, _ = lab.run_model("external", slow, flat_path(50_100, hours=16))
    assert run.rates[8] == 10**6 * T * T


# ---------------------------------------------------------------- the response measure


def test_premium_half_life_under_funding_feedback():
    p0 = lab.STEP_PREMIUM  # +0.5 %
    # Premium only: nothing is charged for a whole interval (the rate in force is that
    # of the last interval at rest, 0), then P0 per 8 h: P0 / 32 per 15 minutes.
    only = lab.premium_response("premium-only", MODELS)
    assert set(only.premiums[:33]) == {p0}
    for k in range(17):
        assert only.premiums[32 + k] == p0 - k * p0 // 32
    assert only.half_life == 12 * HOUR
    # Premium-clamp: P0 - d = 0.45 % per 8 h after the first interval, which pays I.
    clamp = lab.premium_response("premium-clamp", MODELS)
    assert clamp.premiums[32] == p0 - 10**14  # I for a whole interval
    assert clamp.half_life == 12 * HOUR + 30 * 60
    # Linear: I for an interval (to P0 - I at 8 h), then A + I = 0.505 % per 8 h with
    # A = P0 - 15.5 * I / 32 (the interval's left-point average): 2.4e15 / 1.58e14 ->
    # 16 more steps. External asks premium-clamp's rate per second: the same 18 steps.
    linear = lab.premium_response("linear", MODELS)
    assert linear.premiums[32] == p0 - 10**14 and linear.half_life == 12 * HOUR
    assert lab.premium_response("external", MODELS).half_life == clamp.half_life
    # Skew-proportional charges P per 8 h at once: P shrinks by 1/32 per step,
    # the first (31/32)^k <= 1/2 is k = 22 (continuously: 8 h * ln 2 = 5.55 h).
    skew = lab.premium_response("skew-proportional", MODELS)
    assert min(k for k in range(64) if 2 * 31**k <= 32**k) == 22
    assert skew.half_life == 22 * 15 * 60
    # Velocity: dR/dt = 3 P per day, dP/dt = -R: P0 cos(sqrt(3) t), so half at
    # t = pi / (3 sqrt 3) days = 14.51 h, within a step; then it overshoots below 0.
    velocity = lab.premium_response("velocity", MODELS)
    assert abs(velocity.half_life - math.pi / (3 * math.sqrt(3)) * DAY) <= 15 * 60
    assert min(velocity.premiums) < -0.9 * p0
    # A step inside the dampener band pays I whatever the premium: 0.04 % loses
    # 0.01 % per 8 h, so it halves in 16 h exactly, and not within a 12 h horizon.
    small = lab.premium_response("premium-clamp", MODELS, step_premium=4 * 10**14)
    assert small.half_life == 16 * HOUR and small.premiums[64] == 2 * 10**14
    short = lab.premium_response(
        "premium-clamp", MODELS, step_premium=4 * 10**14, horizon=12 * HOUR
    )
    assert short.half_life is None and short.premiums[-1] == 4 * 10**14 - 15 * 10**13


# ---------------------------------------------------------------- manipulation


def attack_setup(name, mark, **kwargs):
    points = flat_path(mark, hours=72, **kwargs)
    at = lab.attack_time(points, T)
    run, before = lab.run_model(name, MODELS, points, keep_before=at)
    segment = [p for p in points if at <= p.time <= at + 2 * T]
    return at, before, segment


def test_spike_moves_premium_clamp_by_its_time_weight():
    """A one-block spike stands 12 s of an 8 h interval: it moves the average, and the
    next rate outside the dampener band, by (P_spike - P) * 12 / 28,800."""
    at, before, segment = attack_setup("premium-clamp", 50_100)  # P = 0.2 %
    assert at == START + 24 * HOUR  # a quarter into 72 h, rounded up to an interval start
    spiked = 50_100 * WAD + 50_100 * lab.SPIKE  # mark * (1 + 5 %)
    p_spike = (spiked - 50_000 * WAD) * WAD // (50_000 * WAD)
    result = lab.outcome(before, segment, lab.Attack("spike", lab.SPIKE, 12))
    assert result.rate_move == (p_spike - 2 * 10**15) * 12 // T == 20_875_000_000_000
    assert result.extra_funding == 50_000 * result.rate_move  # for the whole next interval
    # The smallest spike for +1 bp: P_spike - P >= 1 bp * 28,800 / 12 = 24 %, i.e.
    # floor((100 + 50,100 X) / 50,000) >= 0.242, X >= 12,000 / 50,100.
    smallest = lab.smallest_attack(before, segment, "spike", 12)
    assert smallest == -(-12 * 10**21 // 50_100)
    for size, enough in ((smallest, True), (smallest - 1, False)):
        move = lab.outcome(before, segment, lab.Attack("spike", size, 12)).rate_move
        assert (move >= lab.BP) is enough
    hit = lab.manipulate(
        "premium-clamp",
        before,
        segment,
        spike=lab.Attack("spike", lab.SPIKE, 12),
        burst=lab.Attack("burst", lab.BURST, 600),
    )
    assert hit.kind == "spike" and hit.smallest == smallest
    assert hit.cost_per_unit == smallest * 50_000  # X * index, quote per base
    assert hit.burst.rate_move == 0  # a burst of open interest does not reach the mark
    # A block twice as long weighs twice as much.
    assert lab.smallest_attack(before, segment, "spike", 24) == -(-6 * 10**21 // 50_100)


def test_dampener_band_absorbs_a_spike():
    """At P = 0.02 % the average sits inside [I - d, I + d]: the rate is I, and a spike
    must lift the average to I + d + 1 bp = 0.07 % before the rate moves by 1 bp."""
    _, before, segment = attack_setup("premium-clamp", 50_010)
    assert lab.outcome(before, segment, lab.Attack("spike", lab.SPIKE, 12)).rate_move == 0
    # floor((10 + 50,010 X) / 50,000) - 0.02 % >= (0.07 % - 0.02 %) * 2,400
    assert lab.smallest_attack(before, segment, "spike", 12) == -(-6 * 10**22 // 50_010)
    _, before, segment = attack_setup("premium-only", 50_010)
    assert lab.smallest_attack(before, segment, "spike", 12) == -(-12 * 10**21 // 50_010)


def test_burst_moves_velocity_for_good_and_skew_rate_while_it_lasts():
    # Velocity at rest (premium 0, balanced): 1,000 base for 10 min adds
    # v = 1,000 / 500,000 * 3 = 0.6 % a day per day for 600 s.
    at, before, segment = attack_setup("velocity", 50_000)
    burst = lab.outcome(before, segment, lab.Attack("burst", 1_000 * WAD, 600))
    velocity = 1_000 * WAD * 3 * WAD // (500_000 * WAD)
    assert burst.rate_move == velocity * 600 // DAY // 3 == 13_888_888_888_888
    # The smallest burst for 1 bp per 8 h (3 bp a day): v * 600 / 86,400 >= 3e14.
    assert lab.smallest_attack(before, segment, "burst", 600) == 7_200 * WAD
    hit = lab.manipulate(
        "velocity",
        before,
        segment,
        spike=lab.Attack("spike", lab.SPIKE, 12),
        burst=lab.Attack("burst", lab.BURST, 600),
    )
    # A unit held through the burst pays the ramp from 0: p * v * g^2 / (2 DAY^2).
    v = 7_200 * WAD * 3 * WAD // (500_000 * WAD)
    assert hit.cost_per_unit == 50_000 * WAD * v * 600**2 // (2 * DAY * DAY * WAD)
    assert hit.spike.rate_move == 0  # velocity does not read the mark
    # The move lasts: the rate stays raised after the burst, to the horizon's end.
    assert hit.smallest_outcome.extra_funding > 0

    # Skew-proportional, balanced: the rate is factor * 1,000 / 11,000 during the
    # burst only, back to 0 when it ends.
    _, before, segment = attack_setup("skew-proportional", 50_000)
    factor = 2 * 10**16 // T
    burst = lab.outcome(before, segment, lab.Attack("burst", 1_000 * WAD, 600))
    assert burst.rate_move == factor * 1_000 // 11_000 * T
    assert burst.extra_funding == 50_000 * (factor * 1_000 // 11_000) * 600
    smallest = lab.smallest_attack(before, segment, "burst", 600)
    for size, enough in ((smallest, True), (smallest - 1, False)):
        move = lab.outcome(before, segment, lab.Attack("burst", size, 600)).rate_move
        assert (move >= lab.BP) is enough


def test_attacks_and_attack_time_reject_what_cannot_be_run():
    points = flat_path(50_100, hours=72)
    segment = [p for p in points if START + 24 * HOUR <= p.time <= START + 40 * HOUR]
    spiked = lab.attacked(segment, lab.Attack("spike", 10**17, 12))
    assert [p.time - segment[0].time for p in spiked[:3]] == [0, 12, HOUR]
    assert spiked[0].mark == segment[0].mark * 11 // 10 and spiked[1].mark == segment[0].mark
    burst = lab.attacked(segment, lab.Attack("burst", WAD, 90 * 60))
    assert [p.time - segment[0].time for p in burst[:4]] == [0, HOUR, 90 * 60, 2 * HOUR]
    assert [p.skew for p in burst[:4]] == [WAD, WAD, 0, 0]
    with pytest.raises(ValueError, match="does not fit before the path's next point"):
        lab.attacked(segment, lab.Attack("spike", 10**17, HOUR))
    with pytest.raises(ValueError, match="must end within the 16 h horizon"):
        lab.attacked(segment, lab.Attack("burst", WAD, 16 * HOUR))
    with pytest.raises(ValueError, match="unknown attack"):
        lab.attacked(segment, lab.Attack("flood", WAD, 60))
    assert lab.attack_time(points, T, at=START + 30 * HOUR) == START + 32 * HOUR
    with pytest.raises(ValueError, match="needs a point at an interval start"):
        lab.attack_time(points, T, at=START + 60 * HOUR)
    with pytest.raises(ValueError, match="unknown model"):
        lab.deploy("funding-by-vibes", MODELS, points[0])


# ---------------------------------------------------------------- compare and the script


def test_compare_runs_every_model_on_the_same_path(tmp_path):
    path = lab.synthetic_lab_path("positive", hours=48, seed=2)
    ticks = []
    report = lab.compare(path, on_step=lambda: ticks.append(1))
    assert len(ticks) == 3 * len(lab.MODELS)
    assert [run.name for run in report.runs] == list(lab.MODELS)
    assert all(run.times == tuple(p.time for p in path.points) for run in report.runs)
    clamp, external = report.runs[0], report.runs[-1]
    # External requests premium-clamp's rate each interval (per second, truncated):
    # from 8 h on it pays what premium-clamp pays, up to that truncation.
    for a, b, time in zip(clamp.rates, external.rates, clamp.times, strict=True):
        if time >= START + T:
            assert abs(a - b) < T and abs(b) <= abs(a)
    files = lab.write_report(report, tmp_path)
    assert sorted(p.name for p in files) == sorted(
        ["rates.png", "funding.png", "response.png", "manipulation.png", "summary.md", "index.html"]
    )
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"| {name} |" in summary for name in lab.MODELS)
    with pytest.raises(ValueError, match="interval"):
        lab.compare(path, lab.calibrated_models(HOUR))


def load_script():
    spec = importlib.util.spec_from_file_location("compare_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_the_report(tmp_path):
    from click.testing import CliRunner

    script = load_script()
    out = tmp_path / "crash"
    result = CliRunner().invoke(
        script.cli, ["--regime", "crash", "--hours", "48", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    for name in ("rates.png", "funding.png", "response.png", "manipulation.png"):
        assert (out / name).stat().st_size > 10_000
    html = (out / "index.html").read_text()
    assert all(f'<img src="{name}"' in html for name in ("rates.png", "manipulation.png"))
    rows = [line for line in result.output.splitlines() if line.startswith("premium-only ")]
    assert len(rows) == 1 and "12.00 h" in rows[0] and "spike +" in rows[0]

    missing = tmp_path / "missing.csv"
    skipped = CliRunner().invoke(script.cli, ["--replay", str(missing), "--out", str(out / "r")])
    assert skipped.exit_code == 0 and skipped.output.strip().startswith("replay skipped")
    assert not (out / "r").exists()
    both = CliRunner().invoke(script.cli, ["--regime", "flip", "--replay", str(missing)])
    assert both.exit_code == 1 and "give either --regime or --replay" in both.output


def test_script_replays_a_history_at_its_published_rates(tmp_path):
    """A replay's premiums make premium-clamp pay the published rates, each from the
    interval after the one it was computed over."""
    from click.testing import CliRunner

    published = ["0.0001", "0.0003", "-0.0002", "0.0001", "0.00025", "-0.0001"]
    csv = tmp_path / "venue_btc_8h.csv"
    rows = ["funding_time_ms_utc,funding_time_utc,symbol,funding_rate"]
    for k, rate in enumerate(published, start=1):
        rows.append(f"{(START + k * T) * 1000},t,BTCUSDT,{rate}")
    csv.write_text("\n".join(rows) + "\n")
    path = lab.replay_lab_path(csv, seed=1)
    assert path.interval == T and len(path.points) == len(published) + 1
    run, _ = lab.run_model("premium-clamp", lab.calibrated_models(T), path.points)
    wanted = [int(Decimal(rate) * WAD) for rate in published]
    assert list(run.rates[1:]) == wanted

    result = CliRunner().invoke(
        load_script().cli, ["--replay", str(csv), "--out", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "venue_btc_8h: 6 published rates" in (tmp_path / "out" / "summary.md").read_text()
