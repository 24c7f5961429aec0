"""The model lab: one price-and-skew path through every rate model, side by side.

    ape run compare                       # the synthetic 'flip' regime, 480 h, seed 1
    ape run compare --regime crash --hours 720 --seed 7
    ape run compare --replay ../shared/data/binance_btcusdt_funding_8h_2020_2023.csv \\
        --hours 2000
    ape run compare --regime spike --spike 10 --burst 500 --burst-minutes 30

One path -- a seeded synthetic regime (``--regime``, one point an hour over ``--hours``;
see ``oracles.synthetic``) or a published funding history (``--replay``, a CSV with
Binance's, dYdX's or Hyperliquid's published columns, its first ``--hours`` only when
given; see ``oracles.replay``) -- runs off-chain through the premium-clamp model, its
linear and premium-only formulas, the velocity, skew-proportional and bounded external
models, each with its own exact reference (``fundingkit.rates``,
``fundingkit.models``). The skew the skew models need is derived from the premium by a
documented rule (traders lean into the premium, with seeded noise); the models are
calibrated against the premium-clamp model; ``fundingkit.lab`` and docs/MATH.md
("Model lab") state the rule, the calibration and every measure.

It prints one table -- per model: mean |rate| (% per 8 h) and annualised, what one long
paid over the path, the premium half-life under funding feedback, how far a one-block
mark spike (``--spike``) and a short skew burst (``--burst`` for ``--burst-minutes``)
raise the rate, and the smallest attack that raises it by ``--move-bp`` with its cost
per unit of base -- and writes ``rates.png``, ``funding.png``, ``response.png``,
``manipulation.png``, ``summary.md`` and ``index.html`` into ``--out`` (default
``reports/compare/<regime or file name>/``).

It needs no chain: it is an Ape script for consistency with the others, a plain
``click`` command that ``ape run`` runs without connecting to any provider. A user
error ends with one line, ``Error: ...``; a ``--replay`` file that is not there is
skipped with one line.
"""

from __future__ import annotations

from pathlib import Path

import click

from fundingkit import lab
from fundingkit.carry import to_wad
from fundingkit.scripting import OfflineCommand, progress
from oracles.synthetic import REGIMES

ROOT = Path(__file__).resolve().parents[1]
HOUR = 3_600


def _amount(ctx: click.Context, param: click.Parameter, text: str) -> int:
    """A positive decimal option as an exact WAD integer; a percentage for the options
    whose metavar says PERCENT (``"5"`` -> 5e16)."""
    try:
        value = to_wad(text)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if value <= 0:
        raise click.BadParameter(f"must be positive (got {text})")
    if param.metavar == "PERCENT":
        if value % 100:
            raise click.BadParameter(f"{text} % has more decimals than a WAD fraction holds")
        value //= 100
    return value


@click.command(cls=OfflineCommand, short_help="every rate model on one path, side by side")
@click.option(
    "--regime",
    type=click.Choice(REGIMES),
    default=None,
    help="A synthetic regime (default: flip, unless --replay is given).",
)
@click.option(
    "--replay",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="CSV",
    help="A published funding history instead of a synthetic regime.",
)
@click.option(
    "--hours",
    type=click.FloatRange(min=24),
    default=None,
    help="Length of the path: synthetic (default 480), or the first hours of a replay "
    "(default: all of it).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed of the synthetic prices (or the replay's spot walk) and of the skew noise.",
)
@click.option(
    "--interval",
    type=click.IntRange(1, 8),
    default=8,
    show_default=True,
    help="Funding interval of a synthetic path, in hours (a replay uses its own).",
)
@click.option(
    "--spike",
    default="5",
    show_default=True,
    metavar="PERCENT",
    callback=_amount,
    help="The one-block mark spike, % over the mark.",
)
@click.option(
    "--block-time",
    type=click.IntRange(min=1),
    default=lab.BLOCK_TIME,
    show_default=True,
    help="Seconds the spike stands (one block).",
)
@click.option(
    "--burst",
    default="1000",
    show_default=True,
    metavar="BASE",
    callback=_amount,
    help="The skew burst: base units of long open interest added.",
)
@click.option(
    "--burst-minutes",
    type=click.FloatRange(min=1 / 60),
    default=lab.BURST_DURATION / 60,
    show_default=True,
    help="How long the burst stands, in minutes.",
)
@click.option(
    "--move-bp",
    default="1",
    show_default=True,
    metavar="BP",
    callback=_amount,
    help="The rate move (bp per 8 h) the smallest attack must achieve.",
)
@click.option(
    "--step-premium",
    default="0.5",
    show_default=True,
    metavar="PERCENT",
    callback=_amount,
    help="The premium step of the half-life measure, %.",
)
@click.option(
    "--attack-hour",
    type=click.FloatRange(min=0),
    default=None,
    help="Hours into the path at or after which the manipulation starts, at an interval "
    "start (default: a quarter into the path).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Where to write the report (default: reports/compare/<regime or file name>/).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def cli(
    regime: str | None,
    replay: Path | None,
    hours: float | None,
    seed: int,
    interval: int,
    spike: int,
    block_time: int,
    burst: int,
    burst_minutes: float,
    move_bp: int,
    step_premium: int,
    attack_hour: float | None,
    out_dir: Path | None,
    no_progress: bool,
) -> None:
    """Runs one path through every rate model with the exact references; prints a
    summary table and writes plots, summary.md and index.html."""
    if regime is not None and replay is not None:
        raise click.ClickException("give either --regime or --replay, not both")
    if replay is not None and not replay.is_file():
        click.echo(f"replay skipped: no file at {replay} (pass a published funding history)")
        return
    try:
        if replay is not None:
            path = lab.replay_lab_path(replay, seed=seed, hours=hours)
        else:
            path = lab.synthetic_lab_path(
                regime or "flip", hours=hours or 480, seed=seed, interval=interval * HOUR
            )
        start = path.points[0].time
        settings = lab.LabSettings(
            spike=spike,
            block_time=block_time,
            burst=burst,
            burst_duration=max(1, round(burst_minutes * 60)),
            move=move_bp * lab.BP // 10**18,
            step_premium=step_premium,
            attack_at=None if attack_hour is None else start + round(attack_hour * HOUR),
        )
        if settings.move == 0:
            raise ValueError("--move-bp is below 1e-14 bp")
        stages = 3 * len(lab.MODELS)
        with progress(
            stages, f"{path.name}: {len(lab.MODELS)} models", enabled=not no_progress
        ) as (advance):
            report = lab.compare(path, settings=settings, on_step=advance)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise click.ClickException(str(err).splitlines()[0]) from None

    out_dir = out_dir or ROOT / "reports" / "compare" / path.name
    written = lab.write_report(report, out_dir)
    for line in lab.settings_lines(report):
        click.echo(f"- {line}")
    click.echo(lab.text_table(report))
    click.echo(f"report: {_relative(out_dir / 'index.html')} ({len(written)} files)")


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path
