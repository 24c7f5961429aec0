"""Three simulated days of a fundingkit market on a local anvil, replayed by the reference.

Run with ``ape run demo`` (or ``make demo``). Local networks only: every ``ape run``
starts its own anvil (``foundry: host: auto``), so nothing outlives the run.

What it does:

1. Deploys through ``fundingkit.deployment.deploy``: the 6-decimal collateral token
   "TUSD", the "BTC / USD" index feed and the "BTC-PERP / USD" mark feed (8 decimals,
   fed by the deployer), and FundingMarket with ``MarketConfig()``'s defaults
   (8 h interval, premium-clamp rate, index 50,000 / mark 50,050 USD).
2. Five traders get TUSD and deposit it. Every four simulated hours for three days
   (time moves with ``chain.pending_timestamp``), the feeder moves the index and the
   mark -- the perp first trades at a premium, then at a clear discount (about
   -0.4 %, so shorts pay longs) and then at a clear premium (about +0.35 %, so longs
   pay shorts) -- the operator matches a trade near the mark, and someone accrues.
3. A keeper settles every trader at the end.
4. Every input -- each oracle answer with the block timestamp it was submitted at,
   each deposit, withdrawal, trade, accrual and settlement with its receipt's block
   timestamp -- is replayed in ``fundingkit.market.MarketModel``, the Python
   reference (through ``fundingkit.deployment.InStep``).

It prints, per trader, the funding paid (+) or received (-) over the run (summed
from the FundingSettled events), the margin and the position; then the audit-style
check: the funding index, the rate state, every trader's margin, position, index
snapshot and wallet, the total collateral and the surplus, read from the chain,
against the reference's values. It prints ``PASS: reference reproduces N values
exactly`` or each mismatch, and exits non-zero on any mismatch.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict

import click
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand
from ape.logging import LogLevel, logger

from fundingkit.deployment import (
    FEED_DECIMALS,
    TOKEN_DECIMALS,
    InStep,
    MarketConfig,
    account_state,
    deploy,
)

# Ape logs every confirmed transaction at INFO; the demo prints its own summary.
logger.set_level(LogLevel.WARNING)

HOUR = 3_600
STEP = 4 * HOUR  # the feeder moves the prices every four hours
STEPS = 18  # 3 days
WAD = 10**18
TOKEN = 10**TOKEN_DECIMALS
NAMES = [f"trader{i}" for i in range(1, 6)]
DEPOSITS = [30_000, 25_000, 40_000, 20_000, 35_000]  # TUSD

# (buyer, seller, size in 1/100 BTC) per step; every trader stays well within 10x.
TRADES = [
    (0, 1, 100),
    (2, 3, 60),
    (4, 1, 50),
    (3, 0, 30),
    (1, 2, 40),
    (0, 4, 20),
    (3, 1, 50),
    (2, 4, 30),
    (1, 0, 60),
    (4, 3, 40),
    (0, 2, 30),
    (3, 4, 20),
    (1, 3, 50),
    (2, 0, 40),
    (4, 1, 30),
    (0, 3, 20),
    (3, 2, 30),
    (1, 4, 20),
]


def premium_bps(step: int) -> int:
    """The mark's premium over the index, in 1/100 %: positive, negative, positive."""
    hours = step * STEP // HOUR
    if hours < 16:
        return 10
    if hours < 40:
        return -40  # the perp at a discount: the rate turns negative, shorts pay
    if hours < 64:
        return 35  # at a premium: longs pay
    return 2


def usd(wad: int) -> str:
    return f"{wad / WAD:,.2f}"


@click.command(
    cls=ConnectedProviderCommand, short_help="3 simulated days, checked by the reference"
)
def cli(network):
    if not network.is_local:
        raise click.UsageError("the demo runs on the local network only (--network ethereum:local)")
    test = accounts.test_accounts
    deployer, operator, keeper = test[0], test[1], test[7]
    traders = [test[2 + i] for i in range(len(NAMES))]
    config = MarketConfig()
    d = deploy(deployer, config, operator=operator)
    s = InStep(d)
    print(f"Deployed FundingMarket {d.market.address} at block {d.block}, t={d.timestamp}")

    for trader, amount in zip(traders, DEPOSITS, strict=True):
        s.fund(trader, 100_000 * TOKEN)
        s.deposit(trader, amount * TOKEN)

    rng = random.Random(20240607)
    index_answer = config.index_answer
    for step in range(STEPS):
        chain.pending_timestamp += STEP - HOUR
        index_answer = index_answer * (10_000 + rng.randint(-40, 40)) // 10_000
        mark_answer = index_answer * (10_000 + premium_bps(step)) // 10_000
        s.submit(index_answer, mark_answer)
        buyer, seller, size = TRADES[step]
        mark = mark_answer * 10 ** (18 - FEED_DECIMALS)
        price = mark + (mark // 5_000) * (1 if step % 2 else -1)  # 0.02 % off the mark
        s.trade(traders[buyer], traders[seller], size * WAD // 100, price)
        if step == 9:
            s.withdraw(traders[1], 1_000 * TOKEN)
        if step == 12:
            s.deposit(traders[3], 5_000 * TOKEN)
        chain.mine(deltatime=HOUR)  # an hour later, anyone accrues
        s.accrue(traders[step % len(traders)] if step % 3 else keeper)

    chain.pending_timestamp += STEP - HOUR
    s.submit(index_answer, index_answer)
    for trader in traders:
        s.settle(keeper, trader)

    paid = defaultdict(int)
    for receipt in s.receipts:
        for log in receipt.decode_logs(d.market.FundingSettled):
            paid[str(log.account)] += log.owed
    days = (s.model.now - d.timestamp) / 86_400
    print(
        f"{len(s.receipts)} transactions over {days:.1f} simulated days; "
        f"funding index {usd(d.market.funding_index())} USD per BTC\n"
    )
    index_price = d.market.sampled_price()
    print(
        f"{'account':<8}{'funding paid (+) / received (-)':>33}{'margin USD':>13}"
        f"{'position BTC':>14}{'equity USD':>13}"
    )
    for name, trader in zip(NAMES, traders, strict=True):
        state = account_state(d.market, trader)
        equity = state.margin + state.position * index_price // WAD
        print(
            f"{name:<8}{usd(paid[str(trader.address)]):>33}{usd(state.margin):>13}"
            f"{state.position / WAD:>14.2f}{usd(equity):>13}"
        )
    print(
        f"(margin = cash: deposits, trade proceeds, funding; equity = margin + position x index "
        f"{usd(index_price)})"
    )
    print(f"surplus kept by the market (rounding, favouring it): {d.market.surplus()} wei\n")

    rows = s.compare(traders)
    mismatches = [row for row in rows if row[1] != row[2]]
    for name, on_chain, reference in mismatches:
        print(f"MISMATCH {name}: chain {on_chain} != reference {reference}")
    if mismatches:
        print(f"FAIL: {len(mismatches)} of {len(rows)} values differ")
        sys.exit(1)
    print(f"PASS: reference reproduces {len(rows)} values exactly")
