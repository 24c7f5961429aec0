"""Audit a deployed FundingMarket's funding from its events, with the Python reference.

    ape run audit [--network CHOICE] [--market ADDRESS] [--from-block N] [--report-dir DIR]

What it does, in order:

1. Finds the market. Without ``--market``, it reads the deployment record of the
   connected network with ``fundingkit.deployment.load_deployment`` (``<network>.json``,
   written when the market was deployed). With ``--market``, it audits that address.
   The audit starts at the market's deployment block: ``--from-block``, else the
   record's block, else the block the contract was created in (a binary search on
   ``eth_getCode``, or the block of its ``MarketInitialised`` log).
2. Fixes the last block to audit: the chain's head when the command starts.
3. Streams the market's logs with ``eth_getLogs`` in pages of blocks (``--page``),
   decodes them with eth_abi from the contract's ABI, and replays them one transaction
   at a time through ``fundingkit.market.MarketModel`` (``fundingkit.audit``): every
   accrual's funding index, every settlement's amount, every margin after a deposit or
   withdrawal, and every call the chain accepted are recomputed and compared.
4. Reads every account the events mention, and the market's stored rate state and
   totals, at that last block, and compares them with the reference's.
5. Writes the report -- ``index.html`` and PNG plots, readable offline -- to
   ``reports/<network>-<market address>/`` (or ``--report-dir``).
6. Prints ``PASS: N events, M transactions, K accounts, C checks, E events/s`` and the
   report's path; or each mismatch on one line (block, transaction, account, quantity,
   the reference's value, the chain's), then ``FAIL: ...``, and exits with status 1.

What the audit cannot check (no event records it) is listed in the report and in
``fundingkit/audit.py``: who sent each call, the token's side, and the margin check of a
withdrawal that kept a position without accruing.

Run it locally first. A plain ``ape run`` starts its own anvil, which is empty and stops
when the command ends. Two ways to audit what an earlier command did:

* one long-running anvil for every command -- this always works:

      anvil                                              # terminal 1 (port 8545)
      ape run deploy --network ethereum:local:node       # terminal 2; records the market
      ...                                                # drive it on the same network
      ape run audit --network ethereum:local:node        # or add --market 0x...

* Ape's own anvil, when the deployment code saved that anvil's chain next to the
  network's record (``fundingkit.deployment``'s node-state helpers): the audit then loads
  it into its fresh anvil before it reads anything, so ``ape run deploy`` followed by
  ``ape run audit`` audits the recorded market.

On another network, pass Ape's choice for it, e.g. ``--network ethereum:sepolia:node``,
or a node's URL. The node must answer ``eth_getLogs`` for the market's whole life (lower
``--page`` if it limits the block range); without ``--from-block`` or a record it must
also serve old state for the search of the deployment block, else the audit looks for
the market's ``MarketInitialised`` log from block 0.

Errors of use -- no deployment recorded for the network, an address that is not one or
has no contract, a node that does not answer -- end with one line on stderr and a
non-zero status.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand
from ape.logging import LogLevel, logger

from fundingkit.audit import (
    AuditError,
    audit_market,
    checksum,
    find_deployment_block,
    head_block,
)
from fundingkit.deployment import NoDeploymentRecorded, load_deployment, network_key
from fundingkit.report import report_dir_for, write_report

logger.set_level(LogLevel.WARNING)


def _node_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the node went away or refused a request."""
    from ape.exceptions import ProviderNotConnectedError
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout

    return (ProviderNotConnectedError, RequestsConnectionError, Timeout, ConnectionError)


def _restore_saved_chain(network: str) -> bool:
    """On the anvil this very command started (empty), loads the chain saved with the
    network's deployment record, where the deployment code keeps one (``ape run deploy``
    on Ape's own anvil saves it, as the node stops with that process)."""
    from fundingkit import deployment

    restore = getattr(deployment, "restore_node_state", None)
    state_path = getattr(deployment, "state_path", None)
    if restore is None or state_path is None:
        return False
    return bool(restore(state_path(deployment.record_path(network))))


def _start_block(request, address: str, recorded: int | None, head: int, page: int) -> int:
    """The deployment block: the record's when it holds, else searched for."""
    if recorded is not None and recorded > head:
        raise click.ClickException(
            f"the record puts the market's deployment in block {recorded}, after this "
            f"chain's head ({head}): it is another chain's (an anvil that has stopped?)"
        )
    if recorded is not None:
        try:
            code_at = len(request("eth_getCode", [address, hex(recorded)])) > 2
            code_before = (
                recorded > 0 and len(request("eth_getCode", [address, hex(recorded - 1)])) > 2
            )
        except Exception:  # a node without old state: trust the record
            return recorded
        if code_at and not code_before:
            return recorded
    found = find_deployment_block(request, address, head, page=page)
    if found is None:
        raise click.ClickException(
            f"no contract at {address} on network '{network_key()}' (as of block {head})"
            + (
                "; the record may be from an anvil that has stopped since"
                if recorded is not None
                else ""
            )
        )
    return found


class AuditCommand(ConnectedProviderCommand):
    """Ape's connected-provider command; a node it cannot connect to is one line on stderr
    (Ape would print a traceback)."""

    def invoke(self, ctx: click.Context):
        from ape.exceptions import ProviderError, ProviderNotConnectedError

        try:
            return super().invoke(ctx)
        except (ProviderError, ProviderNotConnectedError) as error:
            raise click.ClickException(f"the node does not answer: {error}") from None


@click.command(cls=AuditCommand, short_help="Audit a market's funding from its events")
@click.option(
    "--market",
    "market_address",
    default=None,
    metavar="ADDRESS",
    help="The market to audit (default: the one recorded for this network).",
)
@click.option(
    "--from-block",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="The market's deployment block (default: recorded, or searched for).",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Where to write index.html and the plots (default: reports/<network>-<market>/).",
)
@click.option(
    "--page",
    type=click.IntRange(min=1),
    default=5_000,
    show_default=True,
    help="Blocks per eth_getLogs request.",
)
def cli(market_address, from_block, report_dir, page):
    from ape import chain

    try:
        network = network_key()
        _restore_saved_chain(network)
        request = chain.provider.make_request
        head = head_block(request)
        recorded = None
        if market_address is None:
            try:
                record = load_deployment(network)
            except NoDeploymentRecorded as error:
                raise click.ClickException(
                    f"{error}; deploy a market first or pass --market ADDRESS"
                ) from None
            address = checksum(record.addresses["market"])
            recorded = record.block
        else:
            from eth_utils import is_address

            if not is_address(market_address):
                raise click.ClickException(
                    f"--market {market_address!r} is not an address (0x and 40 hex digits, "
                    "lower case or with a valid checksum)"
                )
            address = checksum(market_address)
        if from_block is None:
            from_block = _start_block(request, address, recorded, head, page)
        elif from_block > head:
            raise click.ClickException(f"--from-block {from_block} is after the head ({head})")

        try:
            result = audit_market(
                address, from_block=from_block, to_block=head, network=network, page=page
            )
        except AuditError as error:
            raise click.ClickException(f"cannot audit {address}: {error}") from None
    except _node_errors() as error:
        raise click.ClickException(f"the node does not answer: {error}") from None

    started = time.perf_counter()
    path = write_report(result, report_dir or report_dir_for(network, address))
    report_seconds = time.perf_counter() - started
    for mismatch in result.mismatches:
        click.echo(mismatch.line())
    if result.mismatch_count > len(result.mismatches):
        click.echo(f"... and {result.mismatch_count - len(result.mismatches)} more mismatches")
    click.echo(
        f"market {address} on {network}, blocks {from_block}..{head}: {result.events} events "
        f"read, decoded, replayed and checked with the final state in {result.seconds:.2f} s; "
        f"report written in {report_seconds:.2f} s"
    )
    click.echo(result.summary())
    click.echo(f"report: {path}")
    if not result.passed:
        sys.exit(1)
