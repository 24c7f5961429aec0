"""The recorded market at a glance.

Run ``ape run deploy`` first, then::

    ape run inspect
    ape run inspect --account 0x... --account 0x...
    ape run inspect --network http://127.0.0.1:8545
    ape run inspect --size 2.5

It reads, without sending anything:

* **prices** -- for the index (spot) and the mark (perp) feed: the sample the market
  holds (the index price; the premium, with the mark it implies) and a fresh read of
  the feed now, classified as the market would (ok, stale, from the future...) with
  its age and round;
* **rates** -- the time-weighted premium average of the interval in progress so far,
  the rate in force now (``current_rate``) and the rate the interval in progress will
  set if the held premium stands (``next_rate``), per interval and annualised
  (rate x intervals per year);
* **trader's view** -- with ``fundingkit.carry``, for a position of ``--size`` BTC
  (default 1) at the held index price: the funding a long and a short pay (+) or receive
  (-) per interval, per day and per year (per interval x intervals in a 365-day year,
  simple), at the rate in force and at the next rate; and the cash-and-carry (long spot +
  short perp of that size): its annualised funding yield at each rate, and its funding
  break-even -- how many intervals of funding flipped against the short, at the size of
  the recent rates' average, give back one year of carry at that rate
  (``fundingkit.carry.CarryView``). The "recent rates" are the rate in force and the next
  rate: the market logs no rate in its events, so no history is read;
* **funding and books** -- the funding index as stored at the last accrual and as an
  accrual now would leave it, the collateral held, the sum of margins, the surplus;
* **accounts** -- every account named in the market's ``Deposited`` and ``Traded``
  events since deployment, and any given with ``--account``: margin, position, the
  funding a settlement now would charge (+) or pay (-), and equity at the held index.

Amounts are USD (the collateral, TUSD), positions BTC; rates are WAD fractions shown in
percent.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from ape.logging import LogLevel, logger
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table

from fundingkit.carry import CarryView, cash_and_carry, funding_cost, to_wad
from fundingkit.deployment import read_feed, read_view
from fundingkit.scripting import (
    MarketCommand,
    accounts_seen,
    annualised,
    open_recorded_market,
    percent,
    usd,
    wide_console,
)

logger.set_level(LogLevel.WARNING)

WAD = 10**18
STATUS = {
    0: "ok",
    1: "unreadable",
    2: "not positive",
    3: "incomplete",
    4: "from the future",
    5: "stale",
    6: "out of range",
}


def checked_addresses(values: tuple[str, ...]) -> list[str]:
    for value in values:
        if not is_address(value):
            raise click.BadParameter(f"'{value}' is not an address", param_hint="--account")
    return [to_checksum_address(value) for value in values]


def clock(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def positive_size(ctx: click.Context, param: click.Parameter, text: str) -> int:
    """A click callback: ``--size`` as an exact, positive WAD amount of base."""
    try:
        size = to_wad(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--size") from None
    if size <= 0:
        raise click.BadParameter(f"must be positive (got {text})", param_hint="--size")
    return size


def base_amount(wad: int) -> str:
    """A WAD amount of base as its exact decimal: ``1``, ``2.5``."""
    whole, fraction = divmod(wad, WAD)
    return f"{whole:,}" + (f".{fraction:018d}".rstrip("0") if fraction else "")


def signed_usd(wad: int) -> str:
    return f"{wad / WAD:+,.2f}"


def breakeven_text(carry: CarryView) -> str:
    """A ``CarryView``'s break-even in words, for a table cell."""
    if carry.breakeven_intervals is None:
        return "never: the recent rates average 0"
    if carry.breakeven_intervals == 0:
        return "now: this rate does not pay the short"
    return (
        f"{carry.breakeven_whole_intervals:,} intervals, {float(carry.breakeven_days):,.1f} "
        f"days, at {percent(round(carry.stress_rate))}"
    )


def trader_view(
    console: Console, size: int, index_price: int, interval: int, rates: dict[str, int]
) -> None:
    """The funding of a long and a short of ``size`` at ``index_price``, and the
    cash-and-carry, at each of ``rates`` (name -> WAD rate per interval)."""
    hours = f"{interval / 3600:g} h"
    table = Table(
        title=f"trader's view: {base_amount(size)} BTC at the held index, {usd(index_price)} USD",
        title_justify="left",
    )
    for name in ("position", "rate", f"per interval ({hours})", "per day", "per year"):
        table.add_column(name, justify="left" if name == "position" else "right")
    for rate_name, rate in rates.items():
        for side, signed_size in (("long", size), ("short", -size)):
            cost = funding_cost(rate, signed_size, index_price, interval)
            table.add_row(
                f"{side}, {rate_name}",
                percent(rate),
                signed_usd(cost.per_interval),
                signed_usd(cost.per_day),
                signed_usd(cost.per_year),
            )
    table.caption = (
        "USD; + the position pays, - it receives; per year = per interval x "
        f"{365 * 86_400 / interval:,.6g} intervals (365 days), simple"
    )
    console.print(table)

    recent = list(rates.values())
    btc = f"{base_amount(size)} BTC"
    carry = Table(title=f"cash and carry: long {btc} spot + short {btc} perp", title_justify="left")
    carry.add_column("")
    for rate_name in rates:
        carry.add_column(f"at the {rate_name}", justify="right")
    views = [cash_and_carry(rate, interval, recent_rates=recent) for rate in recent]
    carry.add_row("funding yield, annualised", *(percent(v.annualised_yield, 2) for v in views))
    carry.add_row(
        "funding collected a year (USD)",
        *(signed_usd(-funding_cost(r, -size, index_price, interval).per_year) for r in recent),
    )
    carry.add_row("funding break-even", *(breakeven_text(v) for v in views))
    carry.caption = (
        "break-even: intervals at -|average of the rate in force and the next rate| (funding "
        "flipped against the short at the recent rates' size) that give back one year of "
        "funding at this rate; simple yields, spot leg earns nothing"
    )
    console.print(carry)


def two_column_table(title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    return table


@click.command(cls=MarketCommand, short_help="the market at a glance")
@click.option(
    "--account",
    "extra_accounts",
    multiple=True,
    help="An account to show besides those in the market's events (repeatable).",
)
@click.option(
    "--size",
    default="1",
    show_default=True,
    metavar="BTC",
    callback=positive_size,
    help="The position size of the trader's view, in BTC.",
)
def cli(network, extra_accounts, size):
    """Show the recorded market: prices held and fresh, premium average, current and next
    rate (per interval and annualised), the trader's view of a --size position (funding
    per interval, day and year; cash-and-carry yield and break-even), funding index, books,
    and every account."""
    wanted = checked_addresses(extra_accounts)
    recorded = open_recorded_market()
    from ape import chain

    market = recorded.market
    view = lambda signature, kind, *args: read_view(market, signature, kind, *args)  # noqa: E731
    block = chain.provider.web3.eth.get_block("latest")
    now = block["timestamp"]
    interval = view("interval()", "uint256")
    max_age = view("max_age()", "uint256")
    console = wide_console()

    overview = two_column_table(f"FundingMarket {market} on {recorded.network}")
    overview.add_row("block", f"{block['number']}, {clock(now)}")
    overview.add_row(
        "deployed", f"block {recorded.record.block}, {clock(recorded.record.timestamp)}"
    )
    overview.add_row(
        "owner / operator", f"{view('owner()', 'address')} / {view('operator()', 'address')}"
    )
    overview.add_row("paused", str(view("paused()", "bool")))
    overview.add_row(
        "parameters",
        f"interval {interval / 3600:g} h, interest {percent(view('interest()', 'int256'))}, "
        f"dampener {percent(view('dampener()', 'int256'))}, "
        f"cap {percent(view('cap()', 'int256'))}, max age {max_age} s",
    )
    console.print(overview)

    held_index = view("sampled_price()", "uint256")
    held_premium = view("sampled_premium()", "int256")
    last_accrual = view("last_accrual()", "uint256")
    prices = Table(title="prices (USD per BTC)", title_justify="left")
    for name in ("feed", "held by the market", "fresh read now", "status", "age", "round"):
        prices.add_column(name, justify="left" if name in ("feed", "status") else "right")
    held_mark = held_index + held_index * held_premium // WAD
    for name, signature, held in (
        ("index (spot)", "index_oracle()", usd(held_index)),
        ("mark (perp)", "mark_oracle()", f"{usd(held_mark)} (premium {percent(held_premium)})"),
    ):
        feed = read_feed(view(signature, "address"))
        reading = feed.read(now, max_age)
        age = f"{now - feed.rounds[-1].updated_at:,} s" if feed.rounds else "-"
        prices.add_row(
            name,
            held,
            usd(reading.price) if reading.price else "-",
            STATUS.get(int(reading.status), str(reading.status)),
            age,
            str(reading.round_id),
        )
    prices.caption = (
        f"samples held since the last accrual, {clock(last_accrual)} ({now - last_accrual:,} s ago)"
    )
    console.print(prices)

    rates = Table(title="rates", title_justify="left")
    rates.add_column("")
    rates.add_column(f"per interval ({interval / 3600:g} h)", justify="right")
    rates.add_column("annualised", justify="right")
    start = view("interval_start()", "uint256")
    current_rate = view("current_rate()", "int256")
    next_rate = view("next_rate()", "int256")
    for name, value in (
        ("premium average, interval so far", view("premium_average()", "int256")),
        ("rate in force now", current_rate),
        ("next rate, if the held premium stands", next_rate),
    ):
        rates.add_row(name, percent(value), percent(annualised(value, interval), 2))
    rates.caption = (
        f"stored interval started {clock(start)}; annualised = rate x "
        f"{365 * 86_400 / interval:,.1f} intervals a year"
    )
    console.print(rates)

    trader_view(
        console,
        size,
        held_index,
        interval,
        {"rate in force": current_rate, "next rate": next_rate},
    )

    books = two_column_table("funding and books")
    books.add_row(
        "funding index at the last accrual",
        f"{view('funding_index()', 'int256') / WAD:,.6f} USD per BTC",
    )
    books.add_row(
        "funding index now", f"{view('current_funding_index()', 'int256') / WAD:,.6f} USD per BTC"
    )
    books.add_row("collateral held", f"{usd(view('total_collateral()', 'uint256'))} USD")
    books.add_row("total margin", f"{usd(view('total_margin()', 'int256'))} USD")
    books.add_row(
        "surplus", f"{view('surplus()', 'int256'):,} wei ({usd(view('surplus()', 'int256'))} USD)"
    )
    console.print(books)

    accounts = accounts_seen(market, recorded.record.block)
    accounts += [address for address in wanted if address not in accounts]
    table = Table(title=f"accounts ({len(accounts)})", title_justify="left")
    table.add_column("account", no_wrap=True)
    for name in ("margin", "position", "pending funding", "equity at held index"):
        table.add_column(name, justify="right")
    for address in accounts:
        margin, position, _ = view("accounts(address)", "(int256,int256,int256)", address)
        pending = view("pending_funding(address)", "int256", address)
        equity = margin - pending + position * held_index // WAD
        table.add_row(address, usd(margin), f"{position / WAD:+.4f}", usd(pending), usd(equity))
    if not accounts:
        table.caption = "no deposits or trades yet"
    else:
        table.caption = "pending funding: + the account pays, - it receives, on its next settlement"
    console.print(table)
