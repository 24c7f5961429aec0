"""The recorded market at a glance.

Run ``ape run deploy`` first, then::

    ape run inspect
    ape run inspect --account 0x... --account 0x...
    ape run inspect --network http://127.0.0.1:8545

It reads, without sending anything:

* **prices** -- for the index (spot) and the mark (perp) feed: the sample the market
  holds (the index price; the premium, with the mark it implies) and a fresh read of
  the feed now, classified as the market would (ok, stale, from the future...) with
  its age and round;
* **rates** -- the time-weighted premium average of the interval in progress so far,
  the rate in force now (``current_rate``) and the rate the interval in progress will
  set if the held premium stands (``next_rate``), per interval and annualised
  (rate x intervals per year);
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
from rich.table import Table

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
def cli(network, extra_accounts):
    """Show the recorded market: prices held and fresh, premium average, current and next
    rate (per interval and annualised), funding index, books, and every account."""
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
    for name, value in (
        ("premium average, interval so far", view("premium_average()", "int256")),
        ("rate in force now", view("current_rate()", "int256")),
        ("next rate, if the held premium stands", view("next_rate()", "int256")),
    ):
        rates.add_row(name, percent(value), percent(annualised(value, interval), 2))
    rates.caption = (
        f"stored interval started {clock(start)}; annualised = rate x "
        f"{365 * 86_400 / interval:,.1f} intervals a year"
    )
    console.print(rates)

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
