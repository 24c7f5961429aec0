"""Drive the recorded market along a price path: traders, an operator, a keeper, a feeder.

Run ``ape run deploy`` first, then for example::

    ape run simulate                                   # 30 days of the 'negative' regime
    ape run simulate --regime flip --days 10 --traders 20 --seed 7
    ape run simulate --replay ../shared/data/funding.csv --days 60
    ape run simulate --network http://127.0.0.1:8545 --no-time-travel --days 1

The price path is either synthetic (``--regime``: positive, negative, flip, crash,
spike, stale; seeded, one point an hour -- see ``oracles.synthetic``) or replayed from a
published funding history (``--replay CSV``: prices that make the market pay the
published rates -- see ``oracles.replay``).

On the path, through ``fundingkit.scripting.run_simulation``:

* the feeder (the record's feeder) pushes every point's index and mark answers, and
  re-pushes them when points are further apart than the feeds' freshness limit (no
  index answer during an index outage);
* ``--traders`` fresh accounts receive collateral from the owner (the token's minter),
  approve the market and deposit; every ``--trade-every`` seconds or so the operator
  matches two of them near the mark, inside the market's price band, within its own
  leverage limit and only while both feeds are fresh;
* a keeper accrues every ``--keeper-every`` seconds and settles every trader at the end.

Every transaction is an ordinary call from the account whose role it is; on a
development node the node signs for them (the roles' accounts, the traders and the
keeper are impersonated). Each call is first played on the reference model of the live
market, which is also compared with the chain at the end.

On a local network or a development node (anvil) time moves with the path: blocks are
mined at the path's timestamps, several transactions a block, and receipts are checked
in batches -- the throughput is printed. With ``--no-time-travel`` (for any other node)
the points are pushed one after another at the node's own time, each transaction
awaited. On Ape's own anvil (the default local network) the run starts from the market
as deployed and its transactions end with it (see ``ape run deploy --help`` for a
session that keeps its state).

At the end: funding paid or received per trader, the rates seen (min, max,
time-weighted mean of ``current_rate``, per interval and annualised), the surplus, the
transaction count and rate. Exit status 1 if any transaction failed or the chain and
the reference disagree.
"""

from __future__ import annotations

from pathlib import Path

import click
from ape.logging import LogLevel, logger

from fundingkit.scripting import MarketCommand, ctrl_c_interrupts, open_recorded_market
from fundingkit.simulation import print_simulation_summary, run_simulation

logger.set_level(LogLevel.WARNING)

DAY = 86_400
HOUR = 3_600


def price_path(regime: str | None, replay: Path | None, days: float, seed: int, interval: int):
    """The points to push and a name for them; one-line errors for unusable choices."""
    if regime and replay:
        raise click.BadParameter("give --regime or --replay, not both", param_hint="--replay")
    if replay is not None:
        from oracles.replay import replay_path

        limit = max(1, round(days * DAY / interval))
        try:
            points = replay_path(replay, limit=limit, start_time=0)
        except (ValueError, OSError) as err:
            raise click.BadParameter(str(err), param_hint="--replay") from None
        return points, f"replay of {replay.name}"
    from oracles.synthetic import REGIMES, synthetic_path

    regime = regime or "negative"
    if regime not in REGIMES:
        raise click.BadParameter(
            f"unknown regime '{regime}'; choose one of: {', '.join(REGIMES)}",
            param_hint="--regime",
        )
    try:
        points = synthetic_path(regime, days=days, seed=seed, start_time=0, step=HOUR)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--days") from None
    return points, f"'{regime}' regime, seed {seed}"


@click.command(cls=MarketCommand, short_help="traders, keeper and feeder on a price path")
@click.option("--regime", default=None, help="Synthetic regime [default: negative].")
@click.option(
    "--replay",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A published funding history (CSV) to replay instead.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Length of the path.",
)
@click.option(
    "--traders",
    type=click.IntRange(min=2),
    default=10,
    show_default=True,
    help="How many fresh trader accounts.",
)
@click.option(
    "--trade-every",
    type=click.IntRange(min=1),
    default=2 * HOUR,
    show_default=True,
    help="Mean seconds between trades.",
)
@click.option(
    "--keeper-every",
    type=click.IntRange(min=1),
    default=HOUR,
    show_default=True,
    help="Seconds between the keeper's accruals.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Seeds the path and the traders."
)
@click.option(
    "--no-time-travel",
    is_flag=True,
    help="Push the prices at the node's own time (for nodes that cannot move time).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def cli(
    network,
    regime,
    replay,
    days,
    traders,
    trade_every,
    keeper_every,
    seed,
    no_time_travel,
    no_progress,
):
    """Traders, an operator, a keeper and a feeder on the recorded market along a price
    path (a synthetic regime or a replayed funding history), checked against the
    reference; ends with funding per trader, the rates seen, the surplus and tx/s."""
    market = open_recorded_market()
    points, name = price_path(regime, replay, days, seed, market.record.config.interval)
    try:
        with ctrl_c_interrupts():
            summary = run_simulation(
                market,
                points,
                traders=traders,
                trade_every=trade_every,
                keeper_every=keeper_every,
                seed=seed,
                progress=not no_progress,
                time_travel=not no_time_travel,
                path_name=name,
            )
    except KeyboardInterrupt:
        raise click.ClickException("simulation interrupted (Ctrl-C)") from None
    print_simulation_summary(summary)
    if market.ephemeral_note:
        print(market.ephemeral_note)
    if not summary.ok:
        raise click.ClickException(
            f"{len(summary.failures)} failed transactions, "
            f"{len(summary.mismatches)} values differ from the reference"
        )
