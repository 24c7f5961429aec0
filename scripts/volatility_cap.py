"""The volatility-linked rate cap next to a fixed cap, on synthetic regimes and a history.

    ape run volatility_cap
    ape run volatility_cap --regime crash --days 30 --k 0.3 --cap-min 0.25
    ape run volatility_cap --history ../shared/data/binance_ethusdt_funding_8h_2020_2023.csv

Each price path runs twice through the premium-clamp model, off-chain, exactly as a
market accruing at every point would (``fundingkit.volatility.capped_path``, built on
``fundingkit.rates``): once under the fixed cap ``--fixed-cap``, once under the
volatility-linked cap ``clamp(k * sigma_T, cap_min, cap_max)`` (docs/MATH.md,
"Volatility-linked cap"), where ``sigma_T`` is the exponentially weighted realised
volatility of the index over one funding interval, half-life ``--half-life``.

The paths: the seeded synthetic regimes given by ``--regime`` (default ``crash`` and
``flip``; one point an hour over ``--days``; see ``oracles.synthetic``), and a published
funding history (``--history``, a CSV with Binance's, dYdX's or Hyperliquid's published
columns; default ``../shared/data/binance_btcusdt_funding_8h_2020_2023.csv`` beside the
project). A history publishes rates, not prices: its premiums are rebuilt so that the
fixed cap pays the published rates exactly (``oracles.replay``), and its spot is a
seeded walk of 3 % a day (``--history-seed``), so the estimator there sees that walk,
not the venue's own market. Without the file the history is skipped with a message.

It prints a summary table and writes ``volatility-cap.png`` (per path: index price,
sigma per interval, the two caps, the rate in force under each) and ``summary.md``
into ``--out`` (default ``reports/volatility-cap/``). It needs no chain: it is an Ape
script for consistency with the others, a plain ``click`` command that ``ape run`` runs
without connecting to any provider. A user error ends with one line, ``Error: ...``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from fundingkit.carry import to_wad
from fundingkit.rates import RateParameters
from fundingkit.scripting import OfflineCommand
from fundingkit.volatility import (
    HOUR,
    CapSummary,
    Comparison,
    VolatilityParameters,
    compare_history,
    compare_regime,
    sigma_for,
    summarise,
)
from oracles.synthetic import DEFAULT_DAILY_VOLATILITY, REGIMES

WAD = 10**18
PERCENT = 10**16  # a WAD fraction in %
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_HISTORY = SHARED_DATA / "binance_btcusdt_funding_8h_2020_2023.csv"


def percent_wad(text: str) -> int:
    """A percentage (``"0.75"``) as a WAD fraction (``75 * 10**14``), exactly."""
    value = to_wad(text)
    if value % 100:
        raise ValueError(f"{text} % has more decimals than a WAD fraction holds")
    return value // 100


TABLE_HEADER = (
    "path",
    "cap",
    "cap in force: low / median / high (%)",
    "time at cap_min",
    "time at cap_max",
    "time the cap binds",
    "rate in force: low .. high (%)",
    "funding paid by 1 long (quote)",
)


def table_rows(rows: list[CapSummary]) -> list[tuple[str, ...]]:
    def pct(wad: int) -> str:
        return f"{wad / PERCENT:.3f}"

    return [
        (
            row.path,
            row.cap,
            f"{pct(row.cap_low)} / {pct(row.cap_median)} / {pct(row.cap_high)}",
            "-" if row.time_at_cap_min is None else f"{row.time_at_cap_min:.0%}",
            "-" if row.time_at_cap_max is None else f"{row.time_at_cap_max:.0%}",
            f"{row.time_rate_capped:.1%}",
            f"{pct(row.rate_low)} .. {pct(row.rate_high)}",
            f"{row.funding_per_base / WAD:+,.2f}",
        )
        for row in rows
    ]


def markdown_table(rows: list[CapSummary]) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    return "\n".join(lines) + "\n"


def text_table(rows: list[CapSummary]) -> str:
    cells = [TABLE_HEADER, *table_rows(rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(TABLE_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


# ---------------------------------------------------------------- the plot


def write_plot(comparisons: list[Comparison], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(comparisons)
    figure, axes = plt.subplots(
        4, columns, figsize=(6 * columns, 11), dpi=100, sharex="col", squeeze=False
    )
    for column, comparison in enumerate(comparisons):
        dates = [datetime.fromtimestamp(step.time, UTC) for step in comparison.linked]
        price, sigma, caps, rates = axes[:, column]
        price.set_title(comparison.description, fontsize=9)
        price.plot(dates, [s.index_price / WAD for s in comparison.linked], lw=0.9)
        price.set_ylabel("index price")
        sigma.step(
            dates,
            [s.sigma / PERCENT for s in comparison.linked],
            where="post",
            lw=0.9,
            color="tab:purple",
        )
        sigma.set_ylabel(f"sigma per {comparison.interval / HOUR:g} h (%)")
        # The fixed cap's lines are drawn wide and pale underneath: where the two
        # caps give the same rate, only the linked cap's line shows on top of it.
        for label, steps, color, width in (
            ("fixed cap", comparison.fixed, "tab:grey", 2.6),
            ("vol-linked cap", comparison.linked, "tab:red", 1.0),
        ):
            caps.step(
                dates,
                [s.cap / PERCENT for s in steps],
                where="post",
                color=color,
                lw=width,
                label=label,
                alpha=0.7 if width > 1 else 1.0,
            )
            rates.step(
                dates,
                [s.rate / PERCENT for s in steps],
                where="post",
                color=color,
                lw=width,
                label=f"rate under the {label}",
                alpha=0.7 if width > 1 else 1.0,
            )
        caps.set_ylabel("cap in force (% per interval)")
        rates.axhline(0, color="black", lw=0.6)
        rates.set_ylabel("rate in force (% per interval)")
        for axis in (price, sigma, caps, rates):
            axis.grid(True, alpha=0.3)
        caps.legend(fontsize=8, loc="upper left")
        rates.legend(fontsize=8, loc="lower left")
        rates.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


# ---------------------------------------------------------------- the command


def _percent_option(ctx: click.Context, param: click.Parameter, text: str | None) -> int | None:
    """A percentage option as a WAD fraction; positive, except the seed, which may be 0."""
    if text is None:
        return None
    try:
        value = percent_wad(text)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if value < 0 or (value == 0 and param.name != "initial_sigma"):
        raise click.BadParameter(f"must be positive (got {text})")
    return value


def _wad_option(ctx: click.Context, param: click.Parameter, text: str) -> int:
    try:
        return to_wad(text)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@click.command(cls=OfflineCommand, short_help="the volatility-linked cap next to a fixed cap")
@click.option(
    "--regime",
    "regimes",
    type=click.Choice(REGIMES),
    multiple=True,
    help="A synthetic regime to run (repeatable; default: crash and flip).",
)
@click.option(
    "--days",
    type=click.FloatRange(min=1),
    default=20,
    show_default=True,
    help="Length of each synthetic path, in days.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Synthetic paths' seed.")
@click.option(
    "--history",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="CSV",
    help="A published funding history (default: ../shared/data/"
    f"{DEFAULT_HISTORY.name}, skipped when absent).",
)
@click.option("--no-history", is_flag=True, help="Run the synthetic regimes only.")
@click.option(
    "--history-seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed of the history's spot walk (3 % a day).",
)
@click.option(
    "--interval",
    type=click.IntRange(1, 8),
    default=8,
    show_default=True,
    help="Funding interval of the synthetic paths, in hours.",
)
@click.option(
    "--fixed-cap",
    default="0.75",
    show_default=True,
    metavar="PERCENT",
    callback=_percent_option,
    help="The fixed cap, % per interval.",
)
@click.option(
    "--half-life",
    type=click.FloatRange(min=0),
    default=24,
    show_default=True,
    help="The estimator's half-life, in hours.",
)
@click.option(
    "--k",
    "multiplier",
    default="0.25",
    show_default=True,
    metavar="K",
    callback=_wad_option,
    help="The cap is k times sigma per interval.",
)
@click.option(
    "--cap-min",
    default="0.5",
    show_default=True,
    metavar="PERCENT",
    callback=_percent_option,
    help="The lowest vol-linked cap, % per interval.",
)
@click.option(
    "--cap-max",
    default="4",
    show_default=True,
    metavar="PERCENT",
    callback=_percent_option,
    help="The highest vol-linked cap, % per interval.",
)
@click.option(
    "--initial-sigma",
    default=None,
    metavar="PERCENT",
    callback=_percent_option,
    help="The estimator's seed, sigma per interval in % (default: 3 % a day, the "
    "synthetic spot's own volatility, scaled to the interval).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "reports" / "volatility-cap",
    show_default="reports/volatility-cap",
    metavar="DIR",
    help="Where to write volatility-cap.png and summary.md.",
)
def cli(
    regimes: tuple[str, ...],
    days: float,
    seed: int,
    history: Path | None,
    no_history: bool,
    history_seed: int,
    interval: int,
    fixed_cap: int,
    half_life: float,
    multiplier: int,
    cap_min: int,
    cap_max: int,
    initial_sigma: int | None,
    out_dir: Path,
) -> None:
    """Runs synthetic regimes and a published history through the premium-clamp model
    under a fixed cap and under the volatility-linked cap; prints a summary table and
    writes a plot."""
    rate_params = RateParameters(interval=interval * HOUR, cap=fixed_cap)
    vol_params = VolatilityParameters(round(half_life * HOUR), multiplier, cap_min, cap_max)
    reason = rate_params.rejection() or vol_params.rejection()
    if reason:
        raise click.ClickException(f"the market would reject these parameters ({reason})")
    if initial_sigma is None:
        initial_sigma = sigma_for(DEFAULT_DAILY_VOLATILITY, rate_params.interval)

    comparisons = []
    try:
        for regime in regimes or ("crash", "flip"):
            comparisons.append(
                compare_regime(
                    regime,
                    days=days,
                    seed=seed,
                    rate_params=rate_params,
                    vol_params=vol_params,
                    initial_sigma=initial_sigma,
                )
            )
    except ValueError as err:
        raise click.ClickException(str(err)) from None

    if not no_history:
        csv_path = history or DEFAULT_HISTORY
        if not csv_path.is_file():
            click.echo(
                f"history skipped: no file at {csv_path} (pass --history CSV, a published "
                "funding history, or --no-history)"
            )
        else:
            try:
                comparisons.append(
                    compare_history(
                        csv_path, seed=history_seed, fixed_cap=fixed_cap, vol_params=vol_params
                    )
                )
            except (ValueError, OSError, UnicodeDecodeError) as err:
                raise click.ClickException(str(err).splitlines()[0]) from None

    rows = [row for comparison in comparisons for row in summarise(comparison)]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_plot(comparisons, out_dir / "volatility-cap.png")
    settings = (
        f"fixed cap {fixed_cap / PERCENT:g} %; vol-linked cap = clamp(k * sigma, "
        f"{cap_min / PERCENT:g} %, {cap_max / PERCENT:g} %) with k = {multiplier / WAD:g}, "
        f"half-life {vol_params.half_life / HOUR:g} h; rates and caps per interval"
    )
    (out_dir / "summary.md").write_text(
        "# Volatility-linked cap vs fixed cap\n\n"
        + settings
        + "\n\n"
        + "\n".join(f"- {c.name}: {c.description}" for c in comparisons)
        + "\n\n"
        + markdown_table(rows)
        + "\n![rates, sigma and caps](volatility-cap.png)\n",
        encoding="utf-8",
    )
    click.echo(settings)
    click.echo(text_table(rows))
    click.echo(f"plot: {_relative(out_dir / 'volatility-cap.png')}")
    click.echo(f"table: {_relative(out_dir / 'summary.md')}")


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path
