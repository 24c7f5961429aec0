"""Auditing a deployed ``FundingMarket`` from its events alone, with the reference.

The audit reads nothing but the market's own logs (and, for a market deployed with
a rate model contract, that contract's), from its deployment on, and replays them
through ``fundingkit.market.MarketModel``. Every funding figure is
recomputed by the reference; the chain's figures are only ever *compared*:

* ``MarketInitialised`` (with the ``OwnershipTransferred``, ``RiskParametersChanged``
  and ``OperatorChanged`` of the same transaction) builds the model: parameters, the
  first index and mark prices, the deployment time, the collateral scale.
* The model's feeds are *scripted*: before each call they are set to the readings the
  events recorded -- ``Accrued`` carries both feeds' prices, round ids and statuses,
  ``Traded`` the index and mark prices the trade used, ``OraclesChanged`` the new
  feeds' first prices. The model classifies nothing itself; it samples exactly what
  the market sampled.
* Logs are grouped by transaction and cut into calls. An ``Accrued`` starts a call and
  sets the model's clock (``now``); a call with no ``Accrued`` ran in the second of the
  last accrual. ``Deposited``, ``Withdrawn``, ``Traded``, ``Liquidated``,
  ``InsuranceUnwound``, the ``*Changed`` events, ``Paused``/``Unpaused`` and the
  ownership events end one; ``FundingSettled`` events of
  the accounts that call settles belong to it, any other ``FundingSettled`` is a
  ``settle(account)`` of its own, and an ``Accrued`` with nothing after it is an
  ``accrue()``. The accrual is replayed first, then the call.
* A cap source (``set_cap_source``, logged as ``CapSourceChanged``) is replayed too: a
  ``VolatilityCap`` is rebuilt from its own deployment event
  (``VolatilityCapInitialised``: its market, parameters, seed and first price, read
  once per source through ``cap_sources``), then fed the index price of every
  ``Accrued`` whose index reading was usable, exactly as the market feeds it, so every
  cap is *recomputed* from the logged prices. A source the audit cannot rebuild (not a
  ``VolatilityCap``, or no ``cap_sources`` given) answers the cap the market logged, and
  each such cap is counted in ``AuditResult.unchecked_caps`` instead of checked.
* A rate model contract (MATH.md §18) is rebuilt from its own deployment logs
  (parameters, owner, rate provider) and its block's time; its later logs are merged
  into the market's in chain order, each setter replayed at the second of its
  accrual, so every index step is *recomputed* by the model's reference; the
  external model's ``FundingRateSet.rate`` is checked against the bounded rate.
* Compared, one *check* each: ``Accrued.funding_index`` with the model's index;
  ``Accrued.cap`` and ``CapSourceChanged.cap`` with the cap the model has in force;
  every ``FundingSettled`` (owed, funding index, position) with the settlement the
  model made (and that the model settled exactly the accounts the chain did); every
  step of the loss waterfall (``ShortfallCovered``, in a liquidation or an unwind: the
  account, the side charged and each amount) with the steps the model took (MATH.md §16);
  ``Deposited.margin``/``Withdrawn.margin`` with the model's margin; that the readings a
  trade logged are the ones its accrual logged; that the model accepts every call the
  chain accepted (a rejection is a mismatch, with the reference's reason). At the end,
  given the final on-chain state, every account's margin and position -- and its index
  snapshot where its position is not zero (a flat account's snapshot moves silently on
  a settlement that logs nothing) -- and the market's stored totals and rate state, and
  (``final_sources``) the stored estimator of every cap source the model replayed, and
  (``final_rate_model``) the rate model contract's stored state and parameters.

Not re-checked, because no event records what they need: who sent a call (the owner's
and the operator's rights are assumed: an admin event is replayed as sent by the owner,
a trade as sent by the operator), the token's side of a deposit (the model is given
whatever tokens and allowance the deposit needs), and the margin check of a withdrawal
that keeps a position when that withdrawal did not accrue (it read an index price that
no event records; a withdrawal that accrued read the same price its ``Accrued`` logged,
so that one is re-checked). Such withdrawals are counted in
``AuditResult.unchecked_withdrawals``; their effect on the margin is still checked.

Memory is O(accounts): logs are consumed one at a time (one transaction's logs are
held at once), and the time series kept for the report are thinned to a bounded number
of points (the last point is always kept).

``audit_events`` is the pure part (no Ape). ``read_market_logs`` and ``audit_market``
read a market through Ape's connected provider (``import ape`` happens inside them).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector
from eth_utils import to_checksum_address as _to_checksum_address

from fundingkit.feeds import FeedStatus, Reading
from fundingkit.market import CapSource, MarketModel, Rejected, RiskParameters
from fundingkit.models import deployed
from fundingkit.models.external_rate import ExternalParameters
from fundingkit.models.skew_rate import SkewParameters
from fundingkit.models.velocity_rate import VelocityParameters as VelocityRateParameters
from fundingkit.rates import RateParameters
from fundingkit.volatility import VolatilityCapSource, VolatilityParameters
from fundingkit.vyper_math import UINT256_MAX, div_trunc

WAD = 10**18

#: Events that end a call (everything but ``Accrued`` and ``FundingSettled``).
CALL_EVENTS = frozenset(
    {
        "MarketInitialised",
        "Deposited",
        "Withdrawn",
        "Traded",
        "Liquidated",
        "InsuranceUnwound",
        "InsuranceFunded",
        "RateParametersChanged",
        "OraclesChanged",
        "MaxAgeChanged",
        "RiskParametersChanged",
        "OperatorChanged",
        "CapSourceChanged",
        "Paused",
        "Unpaused",
        "OwnershipTransferStarted",
        "OwnershipTransferred",
    }
) | frozenset(
    f"model:{name}"
    for name in (
        "VelocityParametersChanged",
        "SkewParametersChanged",
        "ExternalParametersChanged",
        "FundingRateSet",
        "RateProviderChanged",
        "OwnershipTransferStarted",
        "OwnershipTransferred",
    )
)
#: A rate model contract's logs are merged into the market's under this prefix.
MODEL = "model:"
#: Each model's parameter event and the fields of its parameters, in order.
MODEL_PARAMETERS = {
    "VelocityParametersChanged": (VelocityRateParameters, ("skew_scale", "max_velocity", "cap")),
    "SkewParametersChanged": (SkewParameters, ("factor", "exponent", "cap")),
    "ExternalParametersChanged": (ExternalParameters, ("max_rate", "max_change_per_second")),
}

#: RiskParametersChanged's fields, in set_risk_parameters' order.
RISK_FIELDS = (
    "initial_margin_ratio",
    "maintenance_margin_ratio",
    "price_band",
    "liquidation_fee",
    "funding_horizon",
)
#: The calls whose loss waterfall logs ShortfallCovered.
WATERFALL_CALLS = frozenset({"Liquidated", "InsuranceUnwound"})
#: ShortfallCovered's amounts, in the order MarketModel's waterfall returns them.
SHORTFALL_FIELDS = ("shortfall", "by_insurance", "socialised", "unbacked", "loss_per_unit")

#: The market's stored values the final comparison can take, and where the model keeps them.
MARKET_QUANTITIES: dict[str, Callable[[MarketModel], int]] = {
    "funding_index": lambda m: m.funding_index,
    "last_accrual": lambda m: m.last_accrual,
    "sampled_price": lambda m: m.sampled_price,
    "sampled_premium": lambda m: m.sampled_premium,
    "interval_start": lambda m: m.interval_state.interval_start,
    "premium_sum": lambda m: m.interval_state.premium_sum,
    "last_premium_average": lambda m: m.interval_state.last_premium_average,
    "total_collateral": lambda m: m.total_collateral,
    "surplus": lambda m: m.surplus,
    "bad_debt": lambda m: m.bad_debt,
    "haircut": lambda m: m.haircut(),
    "interval": lambda m: m.params.interval,
    "interest": lambda m: m.params.interest,
    "dampener": lambda m: m.params.dampener,
    "cap": lambda m: m.params.cap,
    "max_age": lambda m: m.max_age,
    "open_interest": lambda m: m.open_interest,
    "initial_margin_ratio": lambda m: m.risk.initial_margin_ratio,
    "maintenance_margin_ratio": lambda m: m.risk.maintenance_margin_ratio,
    "price_band": lambda m: m.risk.price_band,
    "liquidation_fee": lambda m: m.risk.liquidation_fee,
    "funding_horizon": lambda m: m.risk.funding_horizon,
    "paused": lambda m: int(m.paused),
}

FINAL_STATE = "final state"  # Mismatch.transaction of the end-of-audit comparisons


class AuditError(Exception):
    """The logs cannot be audited at all (e.g. they do not start at the deployment)."""


# ---------------------------------------------------------------- results


@dataclass
class Mismatch:
    """One value the reference (``expected``) and the chain (``actual``) disagree on."""

    block: int
    transaction: str
    account: str | None
    quantity: str
    expected: int
    actual: int

    def line(self) -> str:
        """The mismatch as one line of text."""
        return (
            f"MISMATCH block {self.block} tx {self.transaction} account {self.account or '-'} "
            f"{self.quantity}: expected {self.expected}, actual {self.actual}"
        )


@dataclass(frozen=True, slots=True)
class DecodedLog:
    """One market log, decoded: the event's name and its arguments by name."""

    name: str
    args: dict[str, Any]
    block: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True, slots=True)
class AccrualPoint:
    """The rate state right after an accrual (or a change of parameters or feeds).

    Rates, premiums and averages are WAD fractions per interval; prices and the index
    are WAD quote (per base).
    """

    time: int
    block: int
    funding_index: int
    rate: int  # the rate in force: the formula applied to the last closed average
    premium: int  # the premium sample now held
    interval_average: int  # the average premium of the last closed interval
    running_average: int  # the average premium of the interval in progress so far
    index_price: int  # the index price now held
    interest: int
    dampener: int
    cap: int
    interval: int
    stale: bool  # a feed reading at this accrual was unusable: a sample was held over


class Series:
    """A time series kept to at most ``limit`` points by thinning: when full, every other
    point is dropped and only every ``stride``-th new one is kept. The last point added is
    always kept, so a plot ends on the exact final value."""

    __slots__ = ("limit", "stride", "points", "seen", "last")

    def __init__(self, limit: int = 4_000):
        self.limit = max(limit, 2)
        self.stride = 1
        self.points: list = []
        self.seen = 0
        self.last: Any = None

    def append(self, item: Any) -> None:
        self.last = item
        if self.seen % self.stride == 0:
            self.points.append(item)
            if len(self.points) > self.limit:
                self.points = self.points[::2]
                self.stride *= 2
        self.seen += 1

    def items(self) -> list:
        points = list(self.points)
        if self.last is not None and (not points or points[-1] is not self.last):
            points.append(self.last)
        return points

    def __len__(self) -> int:
        return self.seen


@dataclass
class AccountSummary:
    """One account as the reference ends it, and the funding it paid (+) or received (-)."""

    funding_paid: int = 0  # quote (WAD), summed over its settlements
    settlements: int = 0
    margin: int = 0
    position: int = 0
    cumulative: Series = field(default_factory=lambda: Series(1_000))  # (time, paid so far)


@dataclass
class AuditResult:
    """What the audit found, and the time series its report plots."""

    market: str
    network: str
    events: int
    transactions: int
    accounts: int
    checks: int
    mismatches: list[Mismatch]
    report_dir: Path | None = None
    mismatch_count: int = 0  # all of them; ``mismatches`` keeps the first ``max_mismatches``
    first_block: int | None = None
    last_block: int | None = None
    start_time: int = 0  # the market's deployment timestamp
    end_time: int = 0  # the last accrual
    seconds: float = 0.0  # wall time, reading the (lazy) logs included
    calls: dict[str, int] = field(default_factory=dict)
    unchecked_withdrawals: int = 0
    unchecked_caps: int = 0  # caps of a source the audit could not rebuild (see above)
    accruals: Series = field(default_factory=Series)
    account_summaries: dict[str, AccountSummary] = field(default_factory=dict)
    longs_paid: Series = field(default_factory=Series)  # (time, cumulative paid by longs)
    shorts_paid: Series = field(default_factory=Series)  # (time, cumulative paid by shorts)
    final_state_compared: bool = False

    @property
    def passed(self) -> bool:
        return self.mismatch_count == 0 and self.events > 0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        """``PASS: ...`` or ``FAIL: ...``, one line."""
        verdict = "PASS" if self.passed else "FAIL"
        tail = "" if self.passed else f", {self.mismatch_count} mismatches"
        if self.unchecked_caps:
            tail += f", {self.unchecked_caps} caps taken as logged"
        return (
            f"{verdict}: {self.events} events, {self.transactions} transactions, "
            f"{self.accounts} accounts, {self.checks} checks, "
            f"{self.events_per_second:,.0f} events/s{tail}"
        )


# ---------------------------------------------------------------- decoding raw logs


@cache
def checksum(address: str) -> str:
    """The EIP-55 form of an address (cached: O(accounts))."""
    return _to_checksum_address(address)


class EventDecoder:
    """Decodes raw JSON-RPC logs (hex strings) with eth_abi, from a contract's ABI."""

    def __init__(self, abi: Iterable[Mapping[str, Any]]):
        self._events: dict[str, tuple] = {}
        for entry in abi:
            if entry.get("type") != "event" or entry.get("anonymous"):
                continue
            inputs = entry["inputs"]
            topic = "0x" + event_abi_to_log_topic(dict(entry)).hex()
            indexed = [(i["name"], i["type"]) for i in inputs if i.get("indexed")]
            data = [(i["name"], i["type"]) for i in inputs if not i.get("indexed")]
            self._events[topic] = (
                entry["name"],
                indexed,
                tuple(name for name, _ in data),
                tuple(kind for _, kind in data),
                tuple(name for name, kind in data if kind == "address"),
            )

    @property
    def names(self) -> list[str]:
        return [spec[0] for spec in self._events.values()]

    def decode(self, raw: Mapping[str, Any]) -> DecodedLog:
        topics = raw["topics"]
        spec = self._events.get(topics[0].lower()) if topics else None
        block, log_index = _int(raw["blockNumber"]), _int(raw["logIndex"])
        tx_hash = _hex(raw["transactionHash"])
        if spec is None:
            return DecodedLog(
                "", {"topic0": topics[0] if topics else None}, block, tx_hash, log_index
            )
        name, indexed, data_names, data_types, data_addresses = spec
        args: dict[str, Any] = {}
        for (arg, kind), topic in zip(indexed, topics[1:], strict=False):
            topic = _hex(topic)
            if kind == "address":
                args[arg] = checksum("0x" + topic[-40:])
            else:
                args[arg] = abi_decode([kind], bytes.fromhex(topic[2:]))[0]
        if data_types:
            data = raw["data"]
            values = abi_decode(data_types, _bytes(data))
            args.update(zip(data_names, values, strict=True))
            for arg in data_addresses:
                args[arg] = checksum(args[arg])
        return DecodedLog(name, args, block, tx_hash, log_index)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    return bytes(value)


Request = Callable[[str, list], Any]


def fetch_raw_logs(
    request: Request,
    address: str,
    from_block: int,
    to_block: int,
    page: int = 5_000,
    *,
    topics: list | None = None,
) -> Iterator[Mapping[str, Any]]:
    """Yields ``address``'s raw logs in ``[from_block, to_block]`` (only those matching
    ``topics``, when given), in chain order.

    One ``eth_getLogs`` per page of blocks; a node that refuses a page as too large gets
    it again in halves.
    """
    start, size = from_block, max(page, 1)
    while start <= to_block:
        end = min(start + size - 1, to_block)
        query: dict[str, Any] = {"address": address, "fromBlock": hex(start), "toBlock": hex(end)}
        if topics is not None:
            query["topics"] = topics
        try:
            logs = request("eth_getLogs", [query])
        except Exception as error:  # nodes word this limit in many ways
            if size > 1 and _is_range_limit(error):
                size //= 2
                continue
            raise
        logs = [log for log in logs if not log.get("removed")]
        logs.sort(key=lambda log: (_int(log["blockNumber"]), _int(log["logIndex"])))
        yield from logs
        start = end + 1


def _is_range_limit(error: Exception) -> bool:
    text = str(error).lower()
    return any(
        word in text
        for word in ("range", "more than", "limit", "exceed", "too many", "too large", "10000")
    )


def head_block(request: Request) -> int:
    """The node's latest block number, asked directly (no client-side cache)."""
    return _int(request("eth_blockNumber", []))


def decode_logs(
    raw_logs: Iterable[Mapping[str, Any]], abi: Iterable[Mapping[str, Any]]
) -> Iterator[DecodedLog]:
    """Decodes raw logs one by one."""
    decoder = EventDecoder(abi)
    for raw in raw_logs:
        yield decoder.decode(raw)


def eth_call(request: Request, to: str, data: bytes, block: int | str) -> bytes:
    """A bare ``eth_call`` at ``block``."""
    block_id = hex(block) if isinstance(block, int) else block
    result = request("eth_call", [{"to": to, "data": "0x" + data.hex()}, block_id])
    return _bytes(result)


def view_reader(
    request: Request, market: str, abi: Iterable[Mapping[str, Any]], block: int | str
) -> tuple[Callable[[str], tuple[int, int, int]], Callable[[], dict[str, int]]]:
    """Readers of a market's stored state at ``block``, for ``audit_events``' final check:
    ``accounts(address)`` as (margin, position, index_snapshot), and every entry of
    ``MARKET_QUANTITIES`` the ABI has a getter for."""
    getters = {
        entry["name"]: tuple(output["type"] for output in entry["outputs"])
        for entry in abi
        if entry.get("type") == "function" and not entry.get("inputs")
    }
    account_selector = function_signature_to_4byte_selector("accounts(address)")

    def account(address: str) -> tuple[int, int, int]:
        data = account_selector + bytes(12) + bytes.fromhex(address[2:])
        return tuple(
            abi_decode(["int256", "int256", "int256"], eth_call(request, market, data, block))
        )

    def totals() -> dict[str, int]:
        values = {}
        for name in MARKET_QUANTITIES:
            if name not in getters:
                continue
            selector = function_signature_to_4byte_selector(f"{name}()")
            (value,) = abi_decode(list(getters[name]), eth_call(request, market, selector, block))
            values[name] = int(value)
        return values

    return account, totals


def cap_source_reader(
    request: Request, block: int, page: int = 5_000, abi: Iterable[Mapping[str, Any]] | None = None
) -> tuple[Callable[[str], CapSource | None], Callable[[str], tuple[int, int, int]]]:
    """For ``audit_events``: ``rebuild(address)``, the reference of the ``VolatilityCap``
    at ``address`` from its ``VolatilityCapInitialised`` (found in its deployment block;
    None for a contract that never logged one), and ``state(address)``, its stored
    ``volatility_state()`` at ``block``. The ABI is loaded on the first source."""
    loaded: dict[str, Any] = {}

    def events() -> tuple[list, EventDecoder, str]:
        if not loaded:
            entries = volatility_cap_abi() if abi is None else list(abi)
            initialised = next(e for e in entries if e.get("name") == "VolatilityCapInitialised")
            loaded["entries"], loaded["decoder"] = entries, EventDecoder(entries)
            loaded["topic"] = "0x" + event_abi_to_log_topic(dict(initialised)).hex()
        return loaded["entries"], loaded["decoder"], loaded["topic"]

    def rebuild(address: str) -> CapSource | None:
        entries, decoder, topic = events()
        try:
            deployed = find_deployment_block(
                request, address, block, abi=entries, page=page, event="VolatilityCapInitialised"
            )
        except Exception:  # a node that answers neither way
            return None
        if deployed is None:
            return None
        for raw in fetch_raw_logs(request, address, deployed, deployed, page, topics=[topic]):
            return volatility_cap_source(address, decoder.decode(raw).args)
        return None

    def state(address: str) -> tuple[int, int, int]:
        selector = function_signature_to_4byte_selector("volatility_state()")
        data = eth_call(request, address, selector, block)
        return tuple(abi_decode(["int256", "uint256", "uint256"], data))

    return rebuild, state


# ---------------------------------------------------------------- the replay


class ScriptedFeed:
    """A feed that returns the reading the audit set from an event, whatever the time."""

    def __init__(self, reading: Reading):
        self.reading = reading

    def read(self, now: int, max_age: int) -> Reading:
        return self.reading


def _ok(price: int) -> Reading:
    return Reading(price, 0, FeedStatus.OK)


def _reading(price: int, round_id: int, status: int) -> Reading:
    try:
        feed_status = FeedStatus(status)
    except ValueError:
        feed_status = FeedStatus.CALL_FAILED  # unknown to the reference: unusable
    return Reading(price, round_id, feed_status)


class _ReplayModel(MarketModel):
    """The reference market, recording each settlement it makes that the contract logs
    (a position and a moved index), and able to skip the one check no event lets the
    audit redo (see the module's docstring)."""

    def __init__(self, **kwargs: Any):
        self.settlements: list[tuple[str, int, int, int]] = []
        self.covered: list[tuple] = []  # (account, ShortfallCovered's amounts, longs_pay)
        self.repaid: list[tuple[int, int]] = []  # BadDebtRepaid's (amount, bad_debt)
        self.skip_withdrawal_margin = False
        self.touching: tuple = ()
        super().__init__(**kwargs)

    def _settle(self, address):
        before = self.accounts.get(address)
        position = before.position if before else 0
        snapshot = before.index_snapshot if before else 0
        index = self._side_index(address, position, self.funding_index)
        amount = super()._settle(address)
        if position != 0 and snapshot != index:
            self.settlements.append((address, position, index, amount))
        return amount

    def _meets_margin(self, account, price: int, ratio: int, worth: int, exposure=None) -> bool:
        if self.skip_withdrawal_margin:
            return True  # not re-checked
        return super()._meets_margin(account, price, ratio, worth, exposure)

    def _repay(self, amount):
        repaid = super()._repay(amount)
        if repaid is not None:
            self.repaid.append(repaid)
        return repaid

    def _socialise(self, address, shortfall, by_insurance, longs_pay, has_side):
        amounts = super()._socialise(address, shortfall, by_insurance, longs_pay, has_side)
        self.covered.append((address, amounts, longs_pay))
        return amounts

    @contextmanager
    def _transaction(self):
        # The reference copies every account to roll a rejected call back; the audit
        # knows which accounts a call can touch, so it copies only those: O(1) per call.
        saved = dict(self.__dict__)
        accounts = {a: self.accounts.get(a) for a in self.touching}
        accounts = {a: (replace(v) if v is not None else None) for a, v in accounts.items()}
        tokens = {a: (self.wallet.get(a), self.allowance.get(a)) for a in self.touching}
        try:
            yield
        except Rejected:
            self.__dict__.update(saved)
            for address, account in accounts.items():
                if account is None:
                    self.accounts.pop(address, None)
                else:
                    self.accounts[address] = account
            for address, (wallet, allowance) in tokens.items():
                _restore(self.wallet, address, wallet)
                _restore(self.allowance, address, allowance)
            raise


@dataclass(frozen=True)
class LoggedCapSource:
    """A cap source the audit cannot rebuild: it answers the cap the market logged (set
    from each event before the call is replayed), so the replay goes on; such caps are
    counted as unchecked."""

    address: str
    returned: bytes

    def update(self, caller, price: int, now: int, interval: int):
        return self, self.returned


ZERO_ADDRESS = "0x" + "00" * 20

#: VolatilityCapInitialised's fields, in VolatilityParameters' order.
VOLATILITY_FIELDS = ("half_life", "multiplier", "cap_min", "cap_max")


def volatility_cap_source(address: str, initialised: Mapping[str, Any]) -> VolatilityCapSource:
    """The reference of a ``VolatilityCap`` at ``address``, as deployed, from the
    arguments of its ``VolatilityCapInitialised`` event."""
    params = VolatilityParameters(*(initialised[f] for f in VOLATILITY_FIELDS))
    return VolatilityCapSource.deploy(
        checksum(address),
        initialised["market"],
        initialised["price"],
        initialised["timestamp"],
        params,
        initialised["initial_sigma"],
        initialised["interval"],
    )


def _restore(mapping: dict, key: Any, value: Any) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


class _Auditor:
    """Replays one market's logs, transaction by transaction."""

    def __init__(
        self,
        max_mismatches: int,
        series_points: int,
        cap_sources: Callable[[str], CapSource | None] | None = None,
        rate_model: Any = None,
    ):
        self.model: _ReplayModel | None = None
        self.cap_sources = cap_sources
        self.rate_model = rate_model  # the model contract's reference as deployed, or None
        self.sources: dict[str, CapSource] = {}  # by address: every source replayed so far
        self.unchecked_caps = 0
        self.max_mismatches = max_mismatches
        self.series_points = series_points
        self.mismatches: list[Mismatch] = []
        self.mismatch_count = 0
        self.checks = 0
        self.events = 0
        self.transactions = 0
        self.calls: dict[str, int] = {}
        self.unchecked_withdrawals = 0
        self.approved: set = set()
        self.accruals = Series(series_points)
        self.summaries: dict[str, AccountSummary] = {}
        self.longs_paid = Series(series_points)
        self.shorts_paid = Series(series_points)
        self.long_total = 0
        self.short_total = 0
        self.first_block: int | None = None
        self.last_block: int | None = None
        self.start_time = 0
        self.block = 0
        self.tx = ""
        self.settled: list[DecodedLog] = []  # the FundingSettled events of the call replayed
        self.covers: list[DecodedLog] = []  # ... and its ShortfallCovered (a liquidation's)

    # -- bookkeeping

    def check(self, quantity: str, expected: int, actual: int, account: str | None = None) -> bool:
        self.checks += 1
        if expected == actual:
            return True
        self.mismatch(quantity, expected, actual, account)
        return False

    def mismatch(self, quantity: str, expected: int, actual: int, account: str | None) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < self.max_mismatches:
            self.mismatches.append(
                Mismatch(self.block, self.tx, account, quantity, expected, actual)
            )

    def count_call(self, kind: str) -> None:
        self.calls[kind] = self.calls.get(kind, 0) + 1

    def call(self, kind: str, account: str | None, method: Callable, *args: Any) -> bool:
        """Runs one model call the chain accepted -- a rejection is a mismatch -- then
        compares the settlements it made with the call's FundingSettled events."""
        model = self.model
        self.count_call(kind)
        self.checks += 1
        model.settlements.clear()
        try:
            method(*args)
        except Rejected as rejection:
            model.settlements.clear()  # rolled back with the call
            self.mismatch(
                f"call accepted ({kind}; the reference rejects it: {rejection.reason})",
                0,
                1,
                account,
            )
            return False
        self.compare_settlements(self.settled)
        return True

    # -- per transaction

    def transaction(self, logs: list[DecodedLog]) -> None:
        self.transactions += 1
        self.block, self.tx = logs[0].block, logs[0].tx_hash
        if self.first_block is None:
            self.first_block = self.block
        self.last_block = self.block
        if self.model is None:
            logs = self.deployment(logs)
        accrued: DecodedLog | None = None
        settled: list[DecodedLog] = []
        for log in logs:
            self.events += 1
            if log.name == "Accrued":
                if accrued is not None or settled:
                    self.segment(accrued, settled, None)
                accrued, settled = log, []
            elif log.name in ("FundingSettled", "ShortfallCovered", "BadDebtRepaid"):
                settled.append(log)
            elif log.name in CALL_EVENTS:
                self.segment(accrued, settled, log)
                accrued, settled = None, []
            else:
                self.mismatch(f"event recognised ({log.args.get('topic0')})", 0, 1, None)
        if accrued is not None or settled:
            self.segment(accrued, settled, None)

    def deployment(self, logs: list[DecodedLog]) -> list[DecodedLog]:
        """Builds the model from the deployment's logs; returns the logs after them."""
        settings: dict[str, Any] = {}
        for position, log in enumerate(logs):
            self.events += 1
            if log.name == "OwnershipTransferred":
                settings["owner"] = log.args["new_owner"]
            elif log.name == "RiskParametersChanged":
                settings["risk"] = RiskParameters(*(log.args[f] for f in RISK_FIELDS))
            elif log.name == "OperatorChanged":
                settings["operator"] = log.args["operator"]
            elif log.name == "MarketInitialised":
                self.initialise(log, settings)
                return logs[position + 1 :]
            else:
                break
        raise AuditError(
            f"the logs do not start at the market's deployment (block {logs[0].block} "
            f"has {logs[0].name or 'an unknown event'}, not MarketInitialised): audit from "
            "the block the market was deployed in"
        )

    def initialise(self, log: DecodedLog, settings: dict[str, Any]) -> None:
        a = log.args
        scale, decimals = a["collateral_scale"], 18
        while scale > 1 and scale % 10 == 0 and decimals > 0:
            scale //= 10
            decimals -= 1
        if scale != 1:
            raise AuditError(f"collateral_scale {a['collateral_scale']} is not a power of ten")
        params = RateParameters(
            a["interval"], a["interest"], a["dampener"], a["cap"], formula=a["formula"]
        )
        optional = {k: settings[k] for k in ("risk",) if k in settings}
        try:
            self.model = _ReplayModel(
                now=a["timestamp"],
                owner=settings.get("owner", "owner"),
                operator=settings.get("operator", "operator"),
                index_feed=ScriptedFeed(_ok(a["index_price"])),
                mark_feed=ScriptedFeed(_ok(a["mark_price"])),
                params=params,
                collateral_decimals=decimals,
                max_age=a["max_age"],
                insurance=a["insurance"],
                vault=a["vault"],
                rate_model=self.rate_model,
                **optional,
            )
        except Rejected as rejection:
            raise AuditError(
                f"the reference rejects the market's deployment: {rejection.reason}"
            ) from None
        self.start_time = a["timestamp"]
        self.count_call("deploy")
        self.record_point(stale=False)

    def segment(
        self, accrued: DecodedLog | None, settled: list[DecodedLog], ending: DecodedLog | None
    ) -> None:
        """One call (or, without an ending event, the accrue/settle calls of a segment)."""
        model = self.model
        assert model is not None
        model.settlements.clear()
        model.covered.clear()
        model.repaid.clear()
        self.covers = [log for log in settled if log.name == "ShortfallCovered"]
        repayments = [log for log in settled if log.name == "BadDebtRepaid"]
        settled = [log for log in settled if log.name == "FundingSettled"]
        if self.covers and (ending is None or ending.name not in WATERFALL_CALLS):
            self.mismatch("ShortfallCovered only in a liquidation or an unwind", 0, 1, None)
        if accrued is not None:
            a = accrued.args
            self.check(
                "Accrued.timestamp after the last accrual",
                1,
                int(a["timestamp"] > model.last_accrual),
            )
            model.now = a["timestamp"]
            model.index_feed.reading = _reading(
                a["index_price"], a["index_round"], a["index_status"]
            )
            model.mark_feed.reading = _reading(a["mark_price"], a["mark_round"], a["mark_status"])
            if ending is None and not settled:
                self.count_call("accrue")
            if isinstance(model.cap_source, LoggedCapSource) and a["index_status"] == 0:
                model.cap_source = replace(model.cap_source, returned=_word(a["cap"]))
                self.unchecked_caps += 1
            model.accrue()
            self.check("Accrued.funding_index", model.funding_index, a["funding_index"])
            if "cap" in a:
                self.check("Accrued.cap", model.params.cap, a["cap"])
            self.record_point(stale=a["index_status"] != 0 or a["mark_status"] != 0)
        else:
            model.now = model.last_accrual
        own = _settled_by(ending, model.insurance)
        for log in settled:
            if log.args["account"] not in own:
                self.settled = [log]
                model.touching = (log.args["account"],)
                self.call("settle", log.args["account"], model.settle, log.args["account"])
        if ending is not None:
            self.settled = [log for log in settled if log.args["account"] in own]
            self.ending(accrued, ending)
        self.settled = []
        if model.repaid or repayments:
            self.check("BadDebtRepaid emitted", len(model.repaid), len(repayments))
            for (amount, left), logged in zip(model.repaid, repayments, strict=False):
                self.check("BadDebtRepaid.amount", amount, logged.args["amount"])
                self.check("BadDebtRepaid.bad_debt", left, logged.args["bad_debt"])

    def ending(self, accrued: DecodedLog | None, log: DecodedLog) -> None:
        model = self.model
        assert model is not None
        a, name = log.args, log.name
        owner = model.owner
        if name == "Deposited":
            account, amount = a["account"], a["amount"]
            model.touching = (account,)
            if account not in self.approved:
                model.approve(account, UINT256_MAX)
                self.approved.add(account)
            model.mint(account, amount)
            if self.call("deposit", account, model.deposit, account, amount):
                self.check("Deposited.margin", model.account(account).margin, a["margin"], account)
        elif name == "Withdrawn":
            account, amount = a["account"], a["amount"]
            model.touching = (account,)
            unchecked = accrued is None and model.account(account).position != 0
            if unchecked:
                self.unchecked_withdrawals += 1
                model.index_feed.reading = _ok(model.sampled_price)
                model.skip_withdrawal_margin = True
            try:
                accepted = self.call("withdraw", account, model.withdraw, account, amount)
            finally:
                model.skip_withdrawal_margin = False
            if accepted:
                self.check("Withdrawn.margin", model.account(account).margin, a["margin"], account)
        elif name == "Traded":
            buyer, seller = a["buyer"], a["seller"]
            if accrued is None:
                model.index_feed.reading = _ok(a["index_price"])
                model.mark_feed.reading = _ok(a["mark_price"])
            else:
                self.check(
                    "Traded.index_price = Accrued.index_price",
                    accrued.args["index_price"],
                    a["index_price"],
                )
                self.check(
                    "Traded.mark_price = Accrued.mark_price",
                    accrued.args["mark_price"],
                    a["mark_price"],
                )
            model.touching = (buyer, seller)
            self.call(
                "trade", buyer, model.trade, model.operator, buyer, seller, a["size"], a["price"]
            )
        elif name == "RateParametersChanged":
            params = RateParameters(a["interval"], a["interest"], a["dampener"], a["cap"])
            self.call("set_rate_parameters", None, model.set_rate_parameters, owner, params)
            self.record_point(stale=False)
        elif name == "OraclesChanged":
            index_feed = ScriptedFeed(_ok(a["index_price"]))
            mark_feed = ScriptedFeed(_ok(a["mark_price"]))
            self.call("set_oracles", None, model.set_oracles, owner, index_feed, mark_feed)
            self.record_point(stale=False)
        elif name == "MaxAgeChanged":
            self.call("set_max_age", None, model.set_max_age, owner, a["max_age"])
        elif name == "RiskParametersChanged":
            risk = [a[f] for f in RISK_FIELDS]
            self.call("set_risk_parameters", None, model.set_risk_parameters, owner, *risk)
        elif name == "Liquidated":
            self.liquidation(accrued, log)
        elif name == "InsuranceUnwound":
            self.unwind(accrued, log)
        elif name == "InsuranceFunded":
            funder, amount = a["funder"], a["amount"]
            model.touching = (funder, model.insurance)
            if funder not in self.approved:
                model.approve(funder, UINT256_MAX)
                self.approved.add(funder)
            model.mint(funder, amount)
            if self.call("fund_insurance", funder, model.fund_insurance, funder, amount):
                margin = model.account(model.insurance).margin
                self.check("InsuranceFunded.margin", margin, a["margin"], model.insurance)
        elif name == "OperatorChanged":
            self.call("set_operator", None, model.set_operator, owner, a["operator"])
        elif name == "CapSourceChanged":
            source = self.cap_source(a["source"], a["cap"])
            if self.call("set_cap_source", None, model.set_cap_source, owner, source):
                self.check("CapSourceChanged.cap", model.params.cap, a["cap"])
            self.record_point(stale=False)
        elif name == "Paused":
            self.call("pause", None, model.pause, owner)
        elif name == "Unpaused":
            self.call("unpause", None, model.unpause, owner)
        elif name == "OwnershipTransferStarted":
            self.call("transfer_ownership", None, model.transfer_ownership, owner, a["new_owner"])
        elif name == "OwnershipTransferred":
            if a["new_owner"] == model.pending_owner:
                self.call("accept_ownership", None, model.accept_ownership, a["new_owner"])
            else:
                self.count_call("ownership")
                model.owner, model.pending_owner = a["new_owner"], None
        elif name == "MarketInitialised":
            self.mismatch("MarketInitialised only at deployment", 0, 1, None)
        elif name.startswith(MODEL):
            self.rate_model_call(name.removeprefix(MODEL), a)

    def rate_model_call(self, name: str, a: Mapping[str, Any]) -> None:
        """A call of the rate model contract: a setter accrued the market first (its
        ``Accrued``, if any, was replayed), then changed the model at that second."""
        model = self.model
        current = model.rate_model
        if current is None:
            self.mismatch(f"{name} from a rate model the market does not have", 0, 1, None)
            return
        if name in MODEL_PARAMETERS:
            kind, fields = MODEL_PARAMETERS[name]
            params = kind(*(a[f] for f in fields))
            change = lambda m: m.set_parameters(m.owner, params, model.now)  # noqa: E731
            self.call("set_rate_model_parameters", None, model.change_rate_model, change)
        elif name == "FundingRateSet":
            provider = current.state.rate_provider
            change = lambda m: m.set_rate(provider, a["requested"], model.now)  # noqa: E731
            if self.call("set_rate", None, model.change_rate_model, change):
                self.check("FundingRateSet.rate", model.rate_model.state.rate, a["rate"])
        elif name == "RateProviderChanged":
            self.count_call("set_rate_provider")
            model.rate_model = current.set_rate_provider(current.owner, a["rate_provider"])
        elif name == "OwnershipTransferred":
            self.count_call("rate model ownership")
            model.rate_model = replace(current, owner=a["new_owner"])
        else:
            self.count_call("rate model ownership")
        self.record_point(stale=False)

    def cap_source(self, address: str, logged_cap: int) -> CapSource | None:
        """The reference of the source ``set_cap_source`` named: None for the zero
        address; else the one replayed so far, or one rebuilt from its deployment
        (``cap_sources``), or one that answers the logged cap (unchecked)."""
        model = self.model
        current = model.cap_source
        if current is not None:
            self.sources[checksum(current.address)] = current
        if int(address, 16) == 0:
            return None
        address = checksum(address)
        source = self.sources.get(address)
        if source is None and self.cap_sources is not None:
            source = self.cap_sources(address)
        if source is None or isinstance(source, LoggedCapSource):
            self.unchecked_caps += 1
            return LoggedCapSource(address, _word(logged_cap))
        return source

    def liquidation(self, accrued: DecodedLog | None, log: DecodedLog) -> None:
        """Replays ``liquidate`` at the index price it logged (the one its accrual
        logged, when it accrued) and compares the fee and the shortfall's cover."""
        model, a = self.model, log.args
        account, liquidator = a["account"], a["liquidator"]
        if accrued is None:
            model.index_feed.reading = _ok(a["price"])
        else:
            self.check(
                "Liquidated.price = Accrued.index_price", accrued.args["index_price"], a["price"]
            )
        model.touching = (account, liquidator, model.insurance)
        position = model.account(account).position
        self.check("Liquidated.position", position, a["position"], account)
        result: list = []
        liquidate = lambda: result.append(model.liquidate(liquidator, account))  # noqa: E731
        if not self.call("liquidate", account, liquidate):
            return
        fee, _ = result[0]
        self.check("Liquidated.fee", fee, a["fee"], account)
        self.compare_covers(account)

    def unwind(self, accrued: DecodedLog | None, log: DecodedLog) -> None:
        """Replays ``unwind_insurance`` at the index price it logged, and its waterfall."""
        model, a = self.model, log.args
        account = a["account"]
        if accrued is None:
            model.index_feed.reading = _ok(a["price"])
        else:
            self.check(
                "InsuranceUnwound.price = Accrued.index_price",
                accrued.args["index_price"],
                a["price"],
            )
        model.touching = (account, model.insurance)
        held = model.account(model.insurance).position
        self.check("InsuranceUnwound.size has the insurance's sign", 1, int(held * a["size"] > 0))
        size = abs(a["size"])
        if self.call("unwind_insurance", account, model.unwind_insurance, account, size):
            self.compare_covers(account)

    def compare_covers(self, account: str) -> None:
        """The call's ShortfallCovered events against the waterfall steps the model took."""
        model = self.model
        self.check("ShortfallCovered emitted", len(model.covered), len(self.covers), account)
        for (address, amounts, longs_pay), logged in zip(model.covered, self.covers, strict=False):
            args = logged.args
            self.check("ShortfallCovered.account", 1, int(args["account"] == address), address)
            self.check("ShortfallCovered.longs_pay", int(longs_pay), int(args["longs_pay"]))
            for name, value in zip(SHORTFALL_FIELDS, amounts, strict=True):
                self.check(f"ShortfallCovered.{name}", value, args[name], address)

    def compare_settlements(self, logs: list[DecodedLog]) -> None:
        """The chain's FundingSettled events against the settlements the model made."""
        model = self.model
        assert model is not None
        made = {
            address: (position, index, amount)
            for address, position, index, amount in model.settlements
        }
        for log in logs:
            account = log.args["account"]
            self.checks += 1
            if account not in made:
                self.mismatch("FundingSettled emitted", 0, 1, account)
                continue
            position, index, amount = made.pop(account)
            self.check("FundingSettled.owed", amount, log.args["owed"], account)
            self.check("FundingSettled.funding_index", index, log.args["funding_index"], account)
            self.check("FundingSettled.position", position, log.args["position"], account)
            self.record_payment(account, position, amount)
        for account, (position, _, amount) in made.items():
            self.checks += 1
            self.mismatch("FundingSettled emitted", 1, 0, account)
            self.record_payment(account, position, amount)

    def record_payment(self, account: str, position: int, amount: int) -> None:
        summary = self.summaries.get(account)
        if summary is None:
            summary = self.summaries[account] = AccountSummary(
                cumulative=Series(self.series_points // 4)
            )
        summary.funding_paid += amount
        summary.settlements += 1
        when = self.model.last_accrual
        summary.cumulative.append((when, summary.funding_paid))
        if position > 0:
            self.long_total += amount
            self.longs_paid.append((when, self.long_total))
        else:
            self.short_total += amount
            self.shorts_paid.append((when, self.short_total))

    def record_point(self, stale: bool) -> None:
        model = self.model
        state, params = model.interval_state, model.params
        elapsed = model.now - state.interval_start
        running = model.sampled_premium if elapsed <= 0 else div_trunc(state.premium_sum, elapsed)
        self.accruals.append(
            AccrualPoint(
                time=model.now,
                block=self.block,
                funding_index=model.funding_index,
                rate=(
                    params.rate(state.last_premium_average)
                    if model.rate_model is None
                    else model.current_rate()
                ),
                premium=model.sampled_premium,
                interval_average=state.last_premium_average,
                running_average=running,
                index_price=model.sampled_price,
                interest=params.interest,
                dampener=params.dampener,
                cap=params.cap,
                interval=params.interval,
                stale=stale,
            )
        )

    # -- the end

    def final(
        self,
        final_state: Callable[[str], tuple[int, int, int]] | None,
        final_market: Callable[[], Mapping[str, int]] | None,
        final_sources: Callable[[str], tuple[int, int, int]] | None = None,
        final_rate_model: Callable[[str], int] | None = None,
    ) -> bool:
        model = self.model
        assert model is not None
        self.tx = FINAL_STATE
        compared = False
        if model.cap_source is not None:
            self.sources[checksum(model.cap_source.address)] = model.cap_source
        if final_sources is not None:
            for address, source in sorted(self.sources.items()):
                if not isinstance(source, VolatilityCapSource):
                    continue
                compared = True
                names = ("log_price", "updated_at", "variance")
                chain = final_sources(address)
                for name, value, actual in zip(names, astuple(source.state), chain, strict=True):
                    self.check(f"VolatilityCap.{name}", value, int(actual), address)
        if final_state is not None:
            compared = True
            for address in sorted(model.accounts):
                reference = model.accounts[address]
                margin, position, snapshot = final_state(address)
                self.check("margin", reference.margin, margin, address)
                self.check("position", reference.position, position, address)
                if reference.position != 0 or position != 0:
                    self.check("index_snapshot", reference.index_snapshot, snapshot, address)
        if final_market is not None:
            compared = True
            for name, value in final_market().items():
                getter = MARKET_QUANTITIES.get(name)
                if getter is not None:
                    self.check(name, getter(model), int(value))
        if final_rate_model is not None and model.rate_model is not None:
            compared = True
            for name, value in rate_model_quantities(model.rate_model).items():
                self.check(f"rate model {name}", value, final_rate_model(name))
        return compared


def _word(value: int) -> bytes:
    """A uint256 as the 32 bytes a call returns."""
    return (value % 2**256).to_bytes(32, "big")


def _settled_by(log: DecodedLog | None, insurance: str) -> tuple:
    """The accounts a call settles (their FundingSettled events belong to it)."""
    if log is None:
        return ()
    if log.name in ("Liquidated", "InsuranceUnwound"):
        return (log.args["account"], insurance)
    if log.name == "InsuranceFunded":
        return (insurance,)
    if log.name in ("Deposited", "Withdrawn"):
        return (log.args["account"],)
    if log.name == "Traded":
        return (log.args["buyer"], log.args["seller"])
    return ()


def _by_transaction(logs: Iterable[DecodedLog]) -> Iterator[list[DecodedLog]]:
    """Consecutive logs of one transaction, together (one transaction held at a time)."""
    batch: list[DecodedLog] = []
    for log in logs:
        if batch and log.tx_hash != batch[0].tx_hash:
            yield batch
            batch = []
        batch.append(log)
    if batch:
        yield batch


def audit_events(
    logs: Iterable[DecodedLog],
    final_state: Callable[[str], tuple[int, int, int]] | None = None,
    *,
    final_market: Callable[[], Mapping[str, int]] | None = None,
    cap_sources: Callable[[str], CapSource | None] | None = None,
    final_sources: Callable[[str], tuple[int, int, int]] | None = None,
    rate_model: Any = None,
    final_rate_model: Callable[[str], int] | None = None,
    market: str = "",
    network: str = "",
    max_mismatches: int = 1_000,
    series_points: int = 4_000,
) -> AuditResult:
    """Replays a market from its logs (in chain order, from its deployment) through the
    reference and compares every funding figure the logs state; see the module docstring.

    ``final_state(account)`` gives an account's stored (margin, position, index_snapshot)
    as of the last log's block or later with no market transaction in between;
    ``final_market()`` the market's stored values by ``MARKET_QUANTITIES`` name. Either
    may be left out. ``cap_sources(address)`` rebuilds the cap source at ``address`` as
    deployed (``volatility_cap_source`` of its ``VolatilityCapInitialised``), or gives
    None when it cannot; ``final_sources(address)`` reads a ``VolatilityCap``'s stored
    ``volatility_state()``. ``rate_model`` is the reference of the market's rate model
    contract as deployed (``rate_model_reader``), whose logs are merged into ``logs``
    under the prefix ``model:``; ``final_rate_model(getter)`` reads its stored state.
    Raises ``AuditError`` when the logs do not start at a deployment.
    """
    started = time.perf_counter()
    auditor = _Auditor(max_mismatches, series_points, cap_sources, rate_model)
    for batch in _by_transaction(logs):
        auditor.transaction(batch)
    if auditor.model is None:
        raise AuditError("no MarketInitialised event: nothing to audit (is this a FundingMarket?)")
    compared = auditor.final(final_state, final_market, final_sources, final_rate_model)
    model = auditor.model
    summaries = auditor.summaries
    for address, account in model.accounts.items():
        summary = summaries.setdefault(address, AccountSummary(cumulative=Series(1)))
        summary.margin, summary.position = account.margin, account.position
    return AuditResult(
        market=market,
        network=network,
        events=auditor.events,
        transactions=auditor.transactions,
        accounts=len(model.accounts),
        checks=auditor.checks,
        mismatches=auditor.mismatches,
        mismatch_count=auditor.mismatch_count,
        first_block=auditor.first_block,
        last_block=auditor.last_block,
        start_time=auditor.start_time,
        end_time=model.last_accrual,
        seconds=time.perf_counter() - started,
        calls=dict(auditor.calls),
        unchecked_withdrawals=auditor.unchecked_withdrawals,
        unchecked_caps=auditor.unchecked_caps,
        accruals=auditor.accruals,
        account_summaries=dict(sorted(summaries.items())),
        longs_paid=auditor.longs_paid,
        shorts_paid=auditor.shorts_paid,
        final_state_compared=compared,
    )


# ---------------------------------------------------------------- through Ape


def market_abi() -> list[dict[str, Any]]:
    """The ABI of this project's ``FundingMarket`` (compiled by Ape)."""
    return _project_abi("FundingMarket")


def rate_model_abi() -> list[dict[str, Any]]:
    """The three rate model contracts' ABIs in one (their events differ by name, but
    for the ownership events they share)."""
    entries: dict[tuple, dict[str, Any]] = {}
    for name in ("VelocityRateModel", "SkewRateModel", "ExternalRateModel"):
        for entry in _project_abi(name):
            entries.setdefault((entry.get("type"), entry.get("name")), entry)
    return list(entries.values())


def volatility_cap_abi() -> list[dict[str, Any]]:
    """The ABI of this project's ``VolatilityCap`` (compiled by Ape)."""
    return _project_abi("VolatilityCap")


def _project_abi(name: str) -> list[dict[str, Any]]:
    from ape import project

    return [
        entry.model_dump(mode="json", by_alias=True, exclude_none=True)
        for entry in getattr(project, name).contract_type.abi
    ]


def _request() -> Request:
    from ape import chain

    return chain.provider.make_request


def read_market_logs(
    market_address: str, from_block: int, to_block: int | None = None, page: int = 5_000
) -> Iterator[DecodedLog]:
    """The market's logs from ``from_block`` to ``to_block`` (default: the head), decoded,
    in chain order, through Ape's connected provider (``eth_getLogs`` in block pages)."""
    request = _request()
    last = head_block(request) if to_block is None else to_block
    raw = fetch_raw_logs(request, checksum(market_address), from_block, last, page)
    yield from decode_logs(raw, market_abi())


def find_deployment_block(
    request: Request,
    address: str,
    to_block: int,
    *,
    abi: Iterable[Mapping[str, Any]] | None = None,
    page: int = 5_000,
    event: str = "MarketInitialised",
) -> int | None:
    """The block a market (or any contract that logs ``event`` at its deployment) was
    deployed in, or None if there is no code at ``address`` at ``to_block``: a binary
    search on ``eth_getCode`` where the node serves old state, else (anvil keeps only
    recent states, most nodes none) the block of its first ``event`` log."""

    def has_code(block: int) -> bool:
        return len(_bytes(request("eth_getCode", [address, hex(block)]))) > 0

    if not has_code(to_block):
        return None
    low, high = 0, to_block
    try:
        while low < high:
            middle = (low + high) // 2
            if has_code(middle):
                high = middle
            else:
                low = middle + 1
        return low
    except Exception:  # no old state at some block: look for the deployment's log instead
        pass
    events = market_abi() if abi is None else abi
    initialised = next(e for e in events if e.get("name") == event)
    topic = "0x" + event_abi_to_log_topic(dict(initialised)).hex()
    for log in fetch_raw_logs(request, address, 0, to_block, page, topics=[topic]):
        return _int(log["blockNumber"])
    return None


def rate_model_quantities(model: Any) -> dict[str, int]:
    """A rate model contract's stored values by getter name, as its reference holds them."""
    state, params = model.state, model.params
    values = {"checkpoint_time": state.checkpoint_time}
    if isinstance(model, deployed.VelocityRateModel):
        values |= {"scaled_rate": state.scaled_rate, "skew": state.skew}
    elif isinstance(model, deployed.SkewRateModel):
        values |= {
            "long_open_interest": state.long_open_interest,
            "short_open_interest": state.short_open_interest,
        }
    else:
        values |= {"rate": state.rate, "rate_set_time": state.rate_set_time}
    return values | {name: getattr(params, name) for name in params.__dataclass_fields__}


@dataclass
class RateModelReading:
    """What ``rate_model_reader`` found: the model contract, its reference as deployed,
    its logs (prefixed ``model:``) from a block on, and a reader of its stored values."""

    address: str
    reference: Any
    logs: Callable[[int], Iterator[DecodedLog]]
    stored: Callable[[str], int]


def rate_model_reader(
    request: Request, market: str, block: int, page: int = 5_000
) -> RateModelReading | None:
    """The rate model contract of ``market`` (MATH.md §18), or None for a market under
    the premium formula. Its reference is rebuilt from its deployment transaction's
    logs (the parameters, the owner, the rate provider) and that block's time."""
    from ape.exceptions import ApeException

    selector = function_signature_to_4byte_selector("RATE_MODEL()")
    try:
        answer = eth_call(request, market, selector, block)
    except ApeException:  # a market from before rate models: no such getter
        return None
    if len(answer) != 32 or int.from_bytes(answer, "big") == 0:
        return None
    address = checksum("0x" + answer[12:].hex())
    abi = rate_model_abi()
    deployed_at = find_deployment_block(
        request, address, block, abi=abi, page=page, event="OwnershipTransferred"
    )
    if deployed_at is None:
        raise AuditError(f"the market's rate model {address} has no code or deployment logs")
    logs = list(decode_logs(fetch_raw_logs(request, address, deployed_at, deployed_at, page), abi))
    initial = {log.name: log.args for log in logs}
    creation = logs[0].tx_hash if logs else ""
    now = _int(request("eth_getBlockByNumber", [hex(deployed_at), False])["timestamp"])
    owner = initial.get("OwnershipTransferred", {}).get("new_owner", "")
    kinds = [name for name in MODEL_PARAMETERS if name in initial]
    if not kinds:
        raise AuditError(f"{address} is not a rate model this audit knows (no parameters logged)")
    kind, fields = MODEL_PARAMETERS[kinds[0]]
    params = kind(*(initial[kinds[0]][f] for f in fields))
    provider = initial.get("RateProviderChanged", {}).get("rate_provider")
    reference = deployed.reference(params, market, owner, now, provider)

    def model_logs(from_block: int) -> Iterator[DecodedLog]:
        raw = fetch_raw_logs(request, address, from_block, block, page)
        for log in decode_logs(raw, abi):
            if log.tx_hash != creation:  # its deployment is in the reference already
                yield replace(log, name=MODEL + log.name)

    def stored(getter: str) -> int:
        (value,) = abi_decode(["int256"], eth_call(request, address, _selector(getter), block))
        return int(value)

    return RateModelReading(address, reference, model_logs, stored)


def _selector(getter: str) -> bytes:
    return function_signature_to_4byte_selector(f"{getter}()")


def audit_market(
    market_address: str,
    *,
    from_block: int | None = None,
    to_block: int | None = None,
    network: str | None = None,
    page: int = 5_000,
    report_dir: Path | None = None,
) -> AuditResult:
    """Audits a market on Ape's connected network, end to end: its logs from
    ``from_block`` (default: its deployment block, searched for) to ``to_block`` (default:
    the head), then every account's and the market's stored state at ``to_block``.
    Writes the report to ``report_dir`` when given. Raises ``AuditError`` when there is
    no contract at the address or its logs are not a FundingMarket's."""
    from fundingkit.deployment import network_key

    request = _request()
    address = checksum(market_address)
    last = head_block(request) if to_block is None else to_block
    abi = market_abi()
    if from_block is None:
        from_block = find_deployment_block(request, address, last, abi=abi, page=page)
        if from_block is None:
            raise AuditError(f"no contract at {address} (as of block {last})")
    account_state, market_state = view_reader(request, address, abi, last)
    cap_sources, source_state = cap_source_reader(request, last, page)
    logs = decode_logs(fetch_raw_logs(request, address, from_block, last, page), abi)
    rate_model = rate_model_reader(request, address, last, page)
    if rate_model is not None:
        # The model's setters, in chain order among the market's own calls.
        logs = heapq.merge(
            logs, rate_model.logs(from_block), key=lambda log: (log.block, log.log_index)
        )
    result = audit_events(
        logs,
        account_state,
        final_market=market_state,
        cap_sources=cap_sources,
        final_sources=source_state,
        rate_model=rate_model.reference if rate_model else None,
        final_rate_model=rate_model.stored if rate_model else None,
        market=address,
        network=network or network_key(),
    )
    if report_dir is not None:
        from fundingkit.report import write_report

        write_report(result, report_dir)
    return result


__all__ = [
    "AccrualPoint",
    "AccountSummary",
    "AuditError",
    "AuditResult",
    "DecodedLog",
    "EventDecoder",
    "MARKET_QUANTITIES",
    "Mismatch",
    "Series",
    "audit_events",
    "audit_market",
    "cap_source_reader",
    "decode_logs",
    "fetch_raw_logs",
    "find_deployment_block",
    "head_block",
    "market_abi",
    "read_market_logs",
    "view_reader",
    "volatility_cap_source",
]
