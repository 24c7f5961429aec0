"""Deploy a fundingkit market and record where it is.

Run ``ape run deploy`` (local anvil), or on another network::

    ape run deploy --network ethereum:sepolia:node --account my-alias
    ape run deploy --config my-market.toml --operator 0x...   # other parameters, operator
    ape run deploy --force                                     # replace the record

What it sends, in this order, from the deploying account (the owner):

1. ``CollateralToken`` -- a 6-decimal test collateral, "Test USD" (TUSD); the owner is
   its minter;
2. two ``MockOracle`` feeds with 8 decimals, "BTC / USD" (the index, spot) and
   "BTC-PERP / USD" (the mark, perp); the owner is their feeder;
3. each feed's first answer (``[feeds]`` in the configuration);
4. ``FundingMarket`` with the configuration's rate and risk parameters, reading both
   feeds, with the operator that will submit matched trades.

The parameters come from ``config/market.toml`` (the shipped defaults, equal to
``fundingkit.deployment.MarketConfig()``) or ``--config``; a value the contract would
refuse is refused here, with the contract's reason, before anything is sent.

Then it records the addresses, the deployment block and time, the parameters and the
roles (owner, operator, feeder) in ``<network>.json``: under ``deployments/`` for a
public network, meant to be committed; under ``.ape/deployments/`` (git-ignored) for a
local network or a development node, whose records mean nothing on another machine.
An existing record is never replaced unless ``--force`` is given. The other scripts
(``simulate``, ``keeper``, ``inspect``, ``audit``) find the market through this record.

Locally first. Every ``ape run`` starts its own anvil and stops it at the end, so on the
local network the deployment also saves that anvil's chain next to the record
(``local.state``), and each later script loads it into its own fresh anvil: each starts
from the market as deployed, and what it does ends with its run::

    ape run deploy
    ape run simulate --regime negative --days 30   # 30 days on the deployed market
    ape run inspect                                # the market as deployed

For a session whose state carries over from script to script, run an anvil yourself
and reach it by URL (a development chain, so test accounts and time travel still
work)::

    anvil &
    ape run deploy --network http://127.0.0.1:8545
    ape run simulate --network http://127.0.0.1:8545 --days 30
    ape run inspect --network http://127.0.0.1:8545
    ape run keeper --network http://127.0.0.1:8545 --every 5 --max-runs 3

On a development chain the owner defaults to the first test account and the operator
to the second; elsewhere choose the owner with ``--account`` (an Ape account alias), and
the operator defaults to the owner.
"""

from __future__ import annotations

from pathlib import Path

import click
from ape.cli import account_option
from ape.logging import LogLevel, logger

from fundingkit.deployment import FEED_DECIMALS, ROOT, deploy_market, read_market_config
from fundingkit.scripting import (
    MarketCommand,
    default_account,
    is_development_chain,
    network_label,
    percent,
)

logger.set_level(LogLevel.WARNING)

DEFAULT_CONFIG = ROOT / "config" / "market.toml"


@click.command(cls=MarketCommand, short_help="deploy a market and record it")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default="config/market.toml",
    help="Market parameters (TOML).",
)
@click.option("--force", is_flag=True, help="Replace an existing record for this network.")
@click.option(
    "--operator",
    default=None,
    help="Who submits trades [development chain: the second test account; else the owner].",
)
@account_option(prompt=False)
def cli(network, config_path, force, operator, account):
    """Deploy the collateral token, the index and mark feeds and a FundingMarket, and
    record them for this network (refuses to replace a record without --force).

    The module docstring of scripts/deploy.py tells the order and a local session.
    """
    config = read_market_config(config_path)
    owner = default_account(network, account)
    if operator is None and is_development_chain(network):
        from ape import accounts

        operator = accounts.test_accounts[1]
    deployment, path = deploy_market(owner, config, operator=operator, force=force)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    answer = 10**FEED_DECIMALS
    print(f"FundingMarket {deployment.market.address} on {network_label(network)}")
    print(f"  deployed at block {deployment.block}, time {deployment.timestamp}")
    print(f"  token        {deployment.token.address}  (TUSD, 6 decimals)")
    print(f"  index feed   {deployment.index_oracle.address}  (BTC / USD)")
    print(f"  mark feed    {deployment.mark_oracle.address}  (BTC-PERP / USD)")
    print(f"  owner+feeder {deployment.deployer.address}")
    print(f"  operator     {deployment.operator.address}")
    print(
        f"  interval {config.interval // 3600} h, interest {percent(config.interest)}, "
        f"dampener {percent(config.dampener)}, cap {percent(config.cap)}; "
        f"index {config.index_answer / answer:,.2f}, mark {config.mark_answer / answer:,.2f}"
    )
    print(f"recorded in {shown}")
