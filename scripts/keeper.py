"""Keep the recorded market's funding index current: accrue on a cadence.

Run ``ape run deploy`` first, then::

    ape run keeper                              # every 60 s until Ctrl-C
    ape run keeper --every 5 --max-runs 3       # three accruals, five seconds apart
    ape run keeper --network ethereum:sepolia:node --account keeper-alias

Anyone may call ``accrue()``: it brings the funding index to now with the samples held
since the last accrual, then samples both feeds for the next stretch. A keeper on a
fixed cadence bounds how long any sample stands (docs/MATH.md, section 6).

Each run sends ``accrue()`` from ``--account`` (on a development chain: the first test
account) through Ape, and logs the block, its time, the funding index and the rate in
force (per interval and annualised) from the ``Accrued`` event and the market's views.
A call in a block where the market already accrued changes nothing, and is logged so.

Transient node errors (a dropped connection, a timeout) are retried with exponential
backoff (``--retries`` times, 1 s doubling to 30 s); anything else stops the keeper with
one line. Ctrl-C stops it cleanly: ``keeper stopped after N accruals``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from ape.cli import account_option
from ape.logging import LogLevel, logger

from fundingkit.deployment import read_view
from fundingkit.scripting import (
    MarketCommand,
    annualised,
    ctrl_c_interrupts,
    default_account,
    open_recorded_market,
    percent,
    retrying,
)

logger.set_level(LogLevel.WARNING)


def accrue_once(address: str, market, keeper, retries: int, interval: int, number: int) -> bool:
    """Sends one ``accrue()`` and logs it; False when the market had already accrued in
    that block (nothing changed)."""
    receipt = retrying(lambda: market.accrue(sender=keeper), retries=retries, what="accrue")
    logs = list(receipt.decode_logs(market.Accrued))
    when = datetime.fromtimestamp(receipt.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if not logs:
        print(f"block {receipt.block_number}, {when}: already accrued, nothing to do", flush=True)
        return False
    rate = retrying(
        lambda: read_view(address, "current_rate()", "int256"), retries=retries, what="read"
    )
    print(
        f"accrual {number}: block {receipt.block_number}, {when}, funding index "
        f"{logs[0].funding_index / 10**18:,.6f} USD per BTC, rate {percent(rate)} per "
        f"{interval / 3600:g} h ({percent(annualised(rate, interval), 2)} a year)",
        flush=True,
    )
    return True


@click.command(cls=MarketCommand, short_help="accrue the funding index on a cadence")
@click.option(
    "--every", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Seconds."
)
@click.option(
    "--max-runs", type=click.IntRange(min=1), default=None, help="Stop after this many runs."
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Retries of a transient node error.",
)
@account_option(prompt=False)
def cli(network, every, max_runs, retries, account):
    """Accrue the recorded market every --every seconds, logging each accrual; transient
    node errors are retried with backoff; Ctrl-C stops cleanly."""
    recorded = open_recorded_market()
    keeper = default_account(network, account)
    from ape import project

    market = project.FundingMarket.at(recorded.market)
    interval = recorded.record.config.interval
    print(
        f"keeper {keeper.address} accruing market {recorded.market} on {recorded.network} "
        f"every {every:g} s" + (f", {max_runs} runs" if max_runs else "") + " (Ctrl-C stops)",
        flush=True,
    )
    accruals = runs = 0
    try:
        with ctrl_c_interrupts():
            while max_runs is None or runs < max_runs:
                if runs:
                    time.sleep(every)
                runs += 1
                if accrue_once(recorded.market, market, keeper, retries, interval, accruals + 1):
                    accruals += 1
    except KeyboardInterrupt:
        print(f"keeper stopped after {accruals} accruals", flush=True)
        return
    print(f"keeper stopped after {accruals} accruals ({runs} runs)")
    if recorded.ephemeral_note:
        print(recorded.ephemeral_note)
