"""From nothing to a finished audit report, on a local anvil: ``make demo``.

Run with ``ape run demo`` (``make demo`` bootstraps first). Local networks only: Ape
starts an anvil for this run and stops it at the end, so nothing outlives the run.

In order, in this one process (so one chain carries through):

1. **deploy** -- ``fundingkit.deployment.deploy_market``: the 6-decimal collateral
   token, the "BTC / USD" index and "BTC-PERP / USD" mark feeds (8 decimals) and
   FundingMarket with the shipped defaults (8 h intervals, I = 0.01 %, d = 0.05 %,
   cap 0.75 %). The record goes to a temporary folder, so your own local record is
   left alone.
2. **simulate** -- ``fundingkit.simulation.run_simulation`` on 30 days of the seeded
   ``negative`` regime (the perp below spot for weeks: shorts pay longs): 10 traders
   deposit and trade through the operator near the mark about every two hours, the
   keeper accrues every hour and the feeder pushes hourly prices, moving chain time.
3. **audit** -- ``fundingkit.audit.audit_market``: every event of the market, from its
   deployment block, replayed through the Python reference; every funding figure and
   the final state of every account compared to the wei. The report (HTML and PNG
   plots, readable offline) goes to ``reports/<network>-<market>/index.html``.

It ends with ``PASS: ...`` and the report's path, or each mismatch and a non-zero exit.
The same steps, one script each, work on any network: see the README.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand
from ape.logging import LogLevel, logger

from fundingkit.audit import audit_market
from fundingkit.deployment import deploy_market, load_deployment, network_key
from fundingkit.report import report_dir_for, write_report
from fundingkit.scripting import RecordedMarket, network_label
from fundingkit.simulation import print_simulation_summary, run_simulation
from oracles.synthetic import synthetic_path

logger.set_level(LogLevel.WARNING)

REGIME, DAYS, TRADERS, SEED = "negative", 30, 10, 7
HOUR = 3_600


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


@click.command(cls=ConnectedProviderCommand, short_help="deploy, simulate 30 days, audit")
def cli(network):
    if not network.is_local:
        raise click.UsageError("the demo moves chain time: run it on the local network")
    started = time.perf_counter()
    owner = accounts.test_accounts[0]

    with tempfile.TemporaryDirectory() as records:
        deployment, path = deploy_market(owner, force=True, directory=Path(records))
        record = load_deployment(network_key(), directory=Path(records))
        market = RecordedMarket(record, path, network_label(), ephemeral=False)
        click.echo(f"1. deployed FundingMarket {deployment.market.address} at block {record.block}")
        points = synthetic_path(REGIME, days=DAYS, seed=SEED, start_time=0, step=HOUR)
        summary = run_simulation(
            market,
            points,
            traders=TRADERS,
            trade_every=2 * HOUR,
            keeper_every=HOUR,
            seed=SEED,
            progress=True,
            path_name=f"'{REGIME}' regime, seed {SEED}",
        )
    click.echo(f"2. simulated {DAYS} days of the '{REGIME}' regime with {TRADERS} traders")
    print_simulation_summary(summary)
    if not summary.ok:
        raise click.ClickException("the simulation did not complete cleanly")

    address = deployment.market.address
    result = audit_market(address, from_block=record.block, network=network_key())
    report = write_report(result, report_dir_for(network_key(), address))
    click.echo(f"3. audited {address} against the Python reference")
    for mismatch in result.mismatches:
        click.echo(mismatch.line())
    click.echo(result.summary())
    click.echo(f"report: {_relative(report)}")
    click.echo(
        f"demo finished in {time.perf_counter() - started:.0f} s (chain time: "
        f"{(chain.pending_timestamp - deployment.timestamp) / 86_400:.0f} days)"
    )
    if not result.passed:
        raise SystemExit(1)
