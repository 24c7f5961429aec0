"""What a short perp would have collected through a published funding history.

    ape run funding_report
    ape run funding_report --file ../shared/data/binance_ethusdt_funding_8h_2020_2023.csv \\
        --size 10 --price 2000 --out reports/eth-carry

A short of ``--size`` base units (default 1) at a constant ``--price`` (quote per base,
default 50,000), held through every row of ``--file`` (published rates with Binance,
dYdX or Hyperliquid columns; see ``oracles.replay``). The default file is
``../shared/data/binance_btcusdt_funding_8h_2020_2023.csv``, beside the project, when
it is there. It prints, one line each: the history read, the total the short collected,
its annualised average yield and its worst drawdown (the basis-flip risk: the longest
fall of the collected total while funding ran negative); and it writes
``index.html`` + ``funding.png`` (cumulative funding with the worst drawdown shaded,
and the rate per interval) into ``--out`` (default ``reports/funding-<symbol>/``).

It needs no network and no chain. It is an Ape script for consistency with the others,
written as a plain ``click`` command, which ``ape run`` runs without connecting to any
provider (no anvil is started). The computation is ``fundingkit.funding_history``. A
user error (no file, an unreadable one, a bad option) ends with one line, ``Error: ...``.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import click

from fundingkit.carry import intervals_per_year, to_wad
from fundingkit.funding_history import ShortFundingHistory, history_symbol, short_funding_from_csv
from fundingkit.scripting import OfflineCommand

WAD = 10**18
PERCENT = 10**16  # a WAD fraction in %
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_HISTORY = "binance_btcusdt_funding_8h_2020_2023.csv"
QUOTE_SUFFIXES = ("USDT", "USDC", "BUSD", "USD")


def positive_amount(ctx: click.Context, param: click.Parameter, text: str) -> int:
    """A click callback: a positive decimal amount as an exact WAD integer."""
    try:
        value = to_wad(text)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if value <= 0:
        raise click.BadParameter(f"must be positive (got {text})")
    return value


def base_asset(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC``, ``BTC-USD`` -> ``BTC``, ``BTC`` -> ``BTC``."""
    head = re.split(r"[-/_]", symbol)[0]
    for suffix in QUOTE_SUFFIXES:
        if head.endswith(suffix) and len(head) > len(suffix):
            return head[: -len(suffix)]
    return head


def day_and_hour(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def amount(wad: int | float) -> str:
    return f"{wad / WAD:,.2f}"


def decimal_text(wad: int) -> str:
    """A WAD amount as a plain decimal, without trailing zeros: ``1``, ``0.5``."""
    whole, fraction = divmod(wad, WAD)
    return f"{whole:,}" + (f".{fraction:018d}".rstrip("0") if fraction else "")


def summary_lines(history: ShortFundingHistory, symbol: str, source: str) -> list[str]:
    """The lines the script prints: the history, total, yield, worst drawdown."""
    base = base_asset(symbol)
    price = history.prices[0]
    count = len(history.times)
    span = f"{day_and_hour(history.times[0])} .. {day_and_hour(history.times[-1])} UTC"
    lines = [
        f"funding history: {symbol}, {count:,} intervals of {history.interval / 3600:g} h, "
        f"{span} ({source})",
        f"total collected by a {decimal_text(history.size)} {base} short at "
        f"{amount(price)} USD: {history.total / WAD:+,.2f} USD "
        f"(the short paid in {history.negative_intervals:,} of {count:,} intervals)",
        f"annualised average yield: {history.annualised_yield / PERCENT:+.2f} % a year "
        f"(simple, on the {amount(history.size * price // WAD)} USD notional, "
        f"over {float(history.years):.2f} years)",
    ]
    worst = history.worst_drawdown
    if worst is None:
        lines.append("worst drawdown: none, the collected total never fell")
    else:
        recovered = (
            f"back at the peak {day_and_hour(worst.recovered_time)}"
            if worst.recovered_time is not None
            else "not recovered by the end of the history"
        )
        lines.append(
            f"worst drawdown: {amount(worst.amount)} USD, from {amount(worst.peak)} USD on "
            f"{day_and_hour(worst.peak_time)} to {amount(worst.trough)} USD on "
            f"{day_and_hour(worst.trough_time)} UTC ({recovered})"
        )
    return lines


# ---------------------------------------------------------------- the report


def write_plot(history: ShortFundingHistory, symbol: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = [datetime.fromtimestamp(time, UTC) for time in history.times]
    cumulative = [value / WAD for value in history.cumulative]
    rates = [rate / PERCENT for rate in history.rates]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 7), dpi=100, sharex=True, height_ratios=(3, 2)
    )
    top.set_title(
        f"{symbol}: funding collected by a {decimal_text(history.size)} {base_asset(symbol)} "
        f"short at {amount(history.prices[0])} USD"
    )
    top.step(dates, cumulative, where="post", color="tab:blue", lw=1.3, label="cumulative funding")
    worst = history.worst_drawdown
    if worst is not None:
        top.axvspan(
            datetime.fromtimestamp(worst.peak_time, UTC),
            datetime.fromtimestamp(worst.trough_time, UTC),
            color="tab:red",
            alpha=0.18,
            label=f"worst drawdown: {amount(worst.amount)} USD",
        )
    top.axhline(0, color="grey", lw=0.8)
    top.set_ylabel("USD collected (cumulative)")
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize=8)

    # Positive and negative parts filled separately, so a lone interval still shows.
    for part, color in (
        ([max(rate, 0) for rate in rates], "tab:green"),
        ([min(rate, 0) for rate in rates], "tab:red"),
    ):
        bottom.fill_between(dates, part, 0, step="post", color=color, lw=0.6, edgecolor=color)
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_ylabel(f"% per {history.interval / 3600:g} h interval")
    bottom.set_title("published rate (> 0: the short receives; < 0: it pays)", fontsize=10)
    bottom.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1150px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.92em; }
"""


def write_html(
    history: ShortFundingHistory, symbol: str, source: str, lines: list[str], path: Path
) -> None:
    e = html.escape
    rows = "\n".join(
        f"<tr><th>{e(head)}</th><td>{e(rest.strip())}</td></tr>"
        for head, _, rest in (line.partition(":") for line in lines)
    )
    path.write_text(
        f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Funding collected by a short: {e(symbol)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Funding collected by a short perpetual: {e(symbol)}</h1>
<table>{rows}</table>
<h2>Cumulative funding and rate per interval</h2>
<img src="funding.png" alt="Cumulative funding of the short, worst drawdown shaded; the rate">
<h2>How these figures are computed</h2>
<p class=note>Source: the published rates of <code>{e(source)}</code>, one per interval. A short
of {e(decimal_text(history.size))} {e(base_asset(symbol))} at a constant
{e(amount(history.prices[0]))} USD receives rate &times; size &times; price every interval
(it pays when the rate is negative), rounded down to the wei, the market's way for a
receiver (<code>fundingkit.funding_history</code>, <code>fundingkit.carry</code>).</p>
<p class=note>Annualised average yield: everything collected divided by the notional held
through all intervals, times the {float(intervals_per_year(history.interval)):,.2f}
intervals of a 365-day year; simple, not compounded.</p>
<p class=note>Worst drawdown: the largest fall of the cumulative funding from a running peak
(the series starts at 0) to a later low, dated at the funding times of both. It is what a
cash-and-carry (long spot, short perp) gives back when funding turns negative.</p>
</body>
</html>
""",
        encoding="utf-8",
    )


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


@click.command(
    cls=OfflineCommand, short_help="funding a short collected through a published history"
)
@click.option(
    "--file",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="CSV",
    help=f"A published funding history (default: ../shared/data/{DEFAULT_HISTORY}).",
)
@click.option(
    "--size",
    default="1",
    show_default=True,
    metavar="BASE",
    callback=positive_amount,
    help="The short's size, in base units (BTC for BTCUSDT).",
)
@click.option(
    "--price",
    default="50000",
    show_default=True,
    metavar="PRICE",
    callback=positive_amount,
    help="The constant price the funding is charged on, quote (USD) per base.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Where to write index.html and funding.png (default: reports/funding-<symbol>/).",
)
def cli(csv_file: Path | None, size: int, price: int, out_dir: Path | None) -> None:
    """What a short of SIZE at PRICE would have collected, interval by interval, through a
    published funding history: total, annualised yield, worst drawdown; an HTML report."""
    if csv_file is None:
        csv_file = SHARED_DATA / DEFAULT_HISTORY
        if not csv_file.is_file():
            raise click.ClickException(
                f"no --file given and no shared funding data at ../shared/data/{DEFAULT_HISTORY}; "
                "pass --file CSV (a published funding history)"
            )
    try:
        history = short_funding_from_csv(csv_file, price=price, size=size)
        symbol = history_symbol(csv_file)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise click.ClickException(str(err).splitlines()[0]) from None

    safe_symbol = re.sub(r"[^A-Za-z0-9._-]", "_", symbol)
    out_dir = out_dir or ROOT / "reports" / f"funding-{safe_symbol}"
    lines = summary_lines(history, symbol, csv_file.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_plot(history, symbol, out_dir / "funding.png")
    page = out_dir / "index.html"
    write_html(history, symbol, csv_file.name, lines, page)
    for line in lines:
        click.echo(line)
    click.echo(f"report: {_relative(page)}")
