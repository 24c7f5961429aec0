"""What the Ape scripts share: one-line errors, the recorded market, progress.

* ``MarketCommand`` -- the ``click`` command class of every script: Ape's
  ``ConnectedProviderCommand`` (``--network``), except that a user error ends the run
  with ONE line (``Error: ...``) and a non-zero exit, never a traceback: an unreachable
  node, a network with no market recorded, a record from another node, a bad option or
  configuration value, an unknown regime. (A bug still shows its traceback.)
* ``open_recorded_market`` -- the connected network's record, checked against the node
  (on Ape's own anvil, the chain saved by ``ape run deploy`` is loaded first).
* ``progress`` -- a progress bar (rich) for long runs.

The simulation engine lives in ``fundingkit.simulation``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import requests
from ape.cli import ConnectedProviderCommand
from ape.exceptions import ApeException, ProviderNotConnectedError

from fundingkit.deployment import (
    DEV_CHAIN_IDS,
    FEED_DECIMALS,
    TOKEN_DECIMALS,
    ConfigError,
    DeploymentRecord,
    DeploymentRecordExists,
    NoDeploymentRecorded,
    load_deployment,
    network_key,
    node_is_ephemeral,
    record_path,
    restore_node_state,
    state_path,
)

WAD = 10**18
YEAR = 365 * 86_400
TOKEN = 10**TOKEN_DECIMALS
UINT256_MAX = 2**256 - 1


# ---------------------------------------------------------------- one-line errors


class MarketUnavailable(RuntimeError):
    """The recorded market cannot be used on the connected node (none recorded, another
    node's record, a reset node)."""


class SimulationError(RuntimeError):
    """A simulation cannot run as asked (wrong kind of node, bad settings)."""


class RpcError(RuntimeError):
    """The node answered a JSON-RPC request with an error."""


#: Errors that are the user's to fix: shown as one line, without a traceback.
USER_ERRORS = (
    MarketUnavailable,
    SimulationError,
    RpcError,
    NoDeploymentRecorded,
    DeploymentRecordExists,
    ConfigError,
)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    head, rest = lines[0], lines[1:]
    return f"{head} {', '.join(rest)}" if rest else head


def node_uri(provider) -> str:
    for name in ("uri", "http_uri"):
        try:
            value = getattr(provider, name, None)
        except Exception:  # noqa: BLE001 -- a provider that is not connected may raise here
            value = None
        if isinstance(value, str) and value and value != "auto":
            return value
    return "its configured address"


def _network_of(provider) -> str:
    try:
        network = provider.network
        return f"{network.ecosystem.name}:{network.name}"
    except Exception:  # noqa: BLE001
        return "the chosen network"


def _is_connection_error(err: BaseException) -> bool:
    if isinstance(err, requests.exceptions.ConnectionError | ConnectionError):
        return True
    if isinstance(err, ProviderNotConnectedError):
        return True
    text = str(err).lower()
    return isinstance(err, ApeException) and any(
        phrase in text
        for phrase in ("no (supported) node found", "failed to connect", "connection refused")
    )


class OfflineCommand(click.Command):
    """A plain click command (no provider: ``ape run`` connects to nothing) whose bad
    options end the run with one line, ``Error: ...``, like the other scripts'."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            message = " ".join(err.format_message().split())
            raise click.ClickException(
                f"{message} (see `ape run {ctx.info_name} --help`)"
            ) from None


class MarketCommand(ConnectedProviderCommand):
    """``ConnectedProviderCommand`` whose user errors end the run with one line.

    Bad options (click's usage errors), an unreachable node, Ape's own errors and this
    package's ``USER_ERRORS`` become ``click.ClickException``: ``Error: <one line>`` on
    stderr and exit status 1.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            raise click.ClickException(
                f"{_one_line(err.format_message())} (see `ape run {ctx.info_name} --help`)"
            ) from None

    def invoke(self, ctx: click.Context) -> Any:
        provider = ctx.params.get("network")
        try:
            return super().invoke(ctx)
        except click.UsageError as err:  # a BadParameter raised by the script itself
            raise click.ClickException(_one_line(err.format_message())) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except USER_ERRORS as err:
            raise click.ClickException(_one_line(str(err))) from None
        except requests.exceptions.Timeout:
            raise click.ClickException(
                f"the node at {node_uri(provider)} did not answer in time "
                f"(network {_network_of(provider)})"
            ) from None
        except Exception as err:
            if _is_connection_error(err):
                raise click.ClickException(
                    f"cannot reach a node at {node_uri(provider)} for network "
                    f"{_network_of(provider)}: nothing answered there"
                ) from None
            if isinstance(err, ApeException):
                raise click.ClickException(f"{type(err).__name__}: {_one_line(str(err))}") from None
            raise


def network_label(network=None) -> str:
    """``ecosystem:network`` of the connected (or given) network, e.g. ``ethereum:local``."""
    if network is None:
        from ape import chain

        network = chain.provider.network
    return f"{network.ecosystem.name}:{network.name}"


def is_development_chain(network=None) -> bool:
    """A local network, or a development node's chain (anvil, hardhat, geth --dev) reached
    by URL: its test accounts are funded, and blocks can be mined at chosen times."""
    from ape import chain

    network = network or chain.provider.network
    return network.is_local or chain.chain_id in DEV_CHAIN_IDS


def default_account(network, account=None):
    """The account given with ``--account``, else on a development chain the first test
    account; elsewhere there is no sensible default, so the user must choose."""
    if account is not None:
        return account
    if is_development_chain(network):
        from ape import accounts

        return accounts.test_accounts[0]
    raise click.ClickException(
        f"choose the account to send from with --account ALIAS "
        f"(network {network_label(network)} is not a development chain)"
    )


TRANSIENT_PHRASES = ("timed out", "timeout", "connection", "temporarily", "502", "503", "429")


def is_transient_error(err: BaseException) -> bool:
    """A node error worth retrying -- a dropped connection, a timeout, an overloaded
    node -- rather than a refusal of the call itself."""
    if isinstance(err, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return True
    text = str(err).lower()
    return any(phrase in text for phrase in TRANSIENT_PHRASES)


def retrying(
    action: Callable[[], Any],
    *,
    retries: int,
    what: str,
    first_pause: float = 1.0,
    longest_pause: float = 30.0,
    sleep: Callable[[float], Any] = time.sleep,
) -> Any:
    """``action()``; on a transient error (``is_transient_error``) tries again up to
    ``retries`` times, pausing ``first_pause`` seconds, doubling up to ``longest_pause``.
    Any other error, or the last transient one, is raised."""
    pause = first_pause
    for attempt in range(retries + 1):
        try:
            return action()
        except Exception as err:
            if attempt == retries or not is_transient_error(err):
                raise
            print(f"  {what}: {type(err).__name__}, retrying in {pause:g} s", flush=True)
            sleep(pause)
            pause = min(pause * 2, longest_pause)
    raise AssertionError("unreachable")


@contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C raises ``KeyboardInterrupt`` (Ape's own handler would
    stop the node and exit at once), so a script can end its work with a line."""
    ape_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, ape_handler)


# ---------------------------------------------------------------- the recorded market


@dataclass
class RecordedMarket:
    """The connected network's record, checked against the node."""

    record: DeploymentRecord
    path: Path
    network: str  # ecosystem:network
    ephemeral: bool  # the node is Ape's own anvil: its chain is saved next to the record

    @property
    def addresses(self) -> dict[str, str]:
        return self.record.addresses

    @property
    def market(self) -> str:
        return self.record.addresses["market"]

    @property
    def ephemeral_note(self) -> str:
        """What happens to a run's transactions on Ape's own anvil (empty elsewhere)."""
        if not self.ephemeral:
            return ""
        return (
            "note: this run used Ape's own anvil, loaded with the market as deployed; its "
            "transactions end with it. To keep a session, start `anvil` and pass "
            "--network http://127.0.0.1:8545 to every script."
        )


def open_recorded_market(directory: Path | None = None) -> RecordedMarket:
    """The record of the connected network's market, ready to use.

    On Ape's own anvil (started for this run) the chain saved with the record is loaded
    first. Raises ``MarketUnavailable`` (one line) when no market is recorded, or the
    record names another chain, or the node holds no market at the recorded address.
    """
    from ape import chain

    key, label = network_key(), network_label()
    try:
        record = load_deployment(key, directory=directory)
    except NoDeploymentRecorded:
        raise MarketUnavailable(
            f"no fundingkit market recorded for network '{label}'; "
            "run `ape run deploy` (with the same --network) first"
        ) from None
    path = record_path(key, directory)
    ephemeral = node_is_ephemeral()
    if ephemeral and not restore_node_state(state_path(path)):
        raise MarketUnavailable(
            f"the market recorded in {path} was deployed on an anvil that has stopped and "
            "its chain was not saved; run `ape run deploy --force` to deploy anew"
        )
    if record.chain_id != chain.chain_id:
        raise MarketUnavailable(
            f"the record {path} is for chain {record.chain_id}, but the node of network "
            f"'{label}' is chain {chain.chain_id}: wrong network or wrong node"
        )
    code = chain.provider.web3.eth.get_code(record.addresses["market"])
    if not code:
        raise MarketUnavailable(
            f"no FundingMarket at {record.addresses['market']} on the node of network "
            f"'{label}': the record {path} is from another node or the node was reset; "
            "run `ape run deploy --force` to deploy anew"
        )
    return RecordedMarket(record, path, label, ephemeral)


# Event signatures the scripts look up by topic.
FUNDING_SETTLED = "FundingSettled(address,int256,int256,int256)"
DEPOSITED = "Deposited(address,uint256,int256)"
TRADED = "Traded(address,address,uint256,uint256,uint256,uint256)"


def keccak_hex(text: str) -> str:
    from eth_utils import keccak

    return keccak(text=text).hex()


def accounts_seen(market: str, from_block: int, *, chunk: int = 10_000) -> list[str]:
    """Every account named in the market's ``Deposited`` and ``Traded`` events since
    ``from_block``, in order of first appearance (logs read ``chunk`` blocks at a time)."""
    from ape import chain
    from eth_utils import to_checksum_address

    topics = ["0x" + keccak_hex(DEPOSITED), "0x" + keccak_hex(TRADED)]
    web3 = chain.provider.web3
    latest = web3.eth.block_number
    seen: dict[str, None] = {}
    for start in range(from_block, latest + 1, chunk):
        logs = web3.eth.get_logs(
            {
                "address": to_checksum_address(market),
                "topics": [topics],
                "fromBlock": start,
                "toBlock": min(start + chunk - 1, latest),
            }
        )
        for log in logs:
            for topic in log["topics"][1:3]:
                seen.setdefault(to_checksum_address(bytes(topic)[-20:]), None)
    return list(seen)


# ---------------------------------------------------------------- progress and numbers


@contextmanager
def progress(total: int, description: str, *, enabled: bool = True) -> Iterator[Callable]:
    """A progress bar (on stderr) for ``total`` steps; yields ``advance(steps=1)``."""
    if not enabled:
        yield lambda steps=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda steps=1: bar.advance(task, steps)


def wide_console():
    """A rich console; 140 columns when the output is not a terminal (logs, pipes)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=140)


def usd(wad: int) -> str:
    """A WAD quote amount as dollars: ``12,345.67``."""
    return f"{wad / WAD:,.2f}"


def percent(wad: int, digits: int = 4) -> str:
    """A WAD fraction as a signed percentage: ``+0.0100 %``."""
    return f"{wad / 10**16:+.{digits}f} %"


def annualised(rate: int, interval: int) -> int:
    """A rate per interval as a rate per (365-day) year: rate x intervals per year."""
    return rate * YEAR // interval


def answer_of(price: int) -> int:
    """A WAD price as a feed answer with ``FEED_DECIMALS`` digits (rounded half up)."""
    unit = 10 ** (18 - FEED_DECIMALS)
    return (price + unit // 2) // unit
