"""The simulation engine: traders, an operator, a keeper and a feeder driving a market.

* ``DevNode`` -- a fast, honest transaction path to a development node (anvil): the
  node signs for unlocked or impersonated senders (``eth_sendTransaction``), nonces are
  counted here, gas limits are explicit (no estimation), nothing waits for a receipt;
  blocks are mined at chosen timestamps; receipts are checked in batches.
* ``run_simulation`` -- the actors drive a recorded market along a price path, checked
  against the reference as it goes; returns a ``SimulationSummary``
  (``print_simulation_summary`` shows it).
"""

from __future__ import annotations

import bisect
import copy
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from fundingkit.deployment import (
    TOKEN_DECIMALS,
    calldata,
    model_from_chain,
    read_view,
)
from fundingkit.market import MarketModel, Rejected
from fundingkit.scripting import (
    FUNDING_SETTLED,
    RpcError,
    SimulationError,
    annualised,
    answer_of,
    is_development_chain,
    keccak_hex,
    network_label,
    node_uri,
    percent,
    progress,
    usd,
    wide_console,
)

WAD = 10**18
YEAR = 365 * 86_400
TOKEN = 10**TOKEN_DECIMALS
UINT256_MAX = 2**256 - 1


# ---------------------------------------------------------------- a fast path to a dev node


class DevNode:
    """JSON-RPC straight to a development node's HTTP endpoint.

    The node signs: each sender is one of its unlocked accounts or is impersonated
    (``anvil_impersonateAccount``). Transactions carry an explicit nonce (counted here),
    gas limit and gas price, so nothing is estimated and nothing waits; ``mine`` closes a
    block at a chosen timestamp; ``receipts`` fetches many receipts per request.
    """

    def __init__(self, uri: str, *, timeout: float = 60.0):
        self.uri = uri
        self.timeout = timeout
        self.session = requests.Session()
        self._ids = itertools.count(1)
        self.nonces: dict[str, int] = {}
        self.gas_price = 0
        self.sent = 0

    @classmethod
    def connected(cls) -> DevNode:
        from ape import chain

        uri = node_uri(chain.provider)
        if not uri.startswith("http"):
            raise SimulationError(
                f"the simulation talks to the node over HTTP; the node's address is {uri}"
            )
        node = cls(uri)
        node.gas_price = int(node.request("eth_gasPrice"), 16) * 2
        return node

    def request(self, method: str, params: Sequence = ()) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = self.session.post(self.uri, json=body, timeout=self.timeout).json()
        if "error" in answer:
            raise RpcError(
                f"the node refused {method}: {answer['error'].get('message', answer['error'])}"
            )
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence]]) -> list[Any]:
        """Several read requests in one HTTP request; results in the order asked.

        (Only for reads: a node may serve a batch's entries concurrently.)
        """
        if not calls:
            return []
        first = next(self._ids)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        self._ids = itertools.count(first + len(calls))
        answers = self.session.post(self.uri, json=body, timeout=self.timeout).json()
        by_id = {answer["id"]: answer for answer in answers}
        results = []
        for i, (method, _) in enumerate(calls):
            answer = by_id[first + i]
            if "error" in answer:
                message = answer["error"].get("message", answer["error"])
                raise RpcError(f"the node refused {method}: {message}")
            results.append(answer["result"])
        return results

    def act_for(self, addresses: Iterable[str], *, fund: Iterable[str] = ()) -> None:
        """Makes the node sign for ``addresses``: unlocked already, or impersonated. The
        ``fund`` addresses (fresh ones) get ether for gas when gas has a price."""
        unlocked = {address.lower() for address in self.request("eth_accounts")}
        for address in addresses:
            if address.lower() in unlocked:
                continue
            for method in ("anvil_impersonateAccount", "hardhat_impersonateAccount"):
                try:
                    self.request(method, [address])
                    break
                except RpcError:
                    continue
            else:
                raise SimulationError(
                    f"the node cannot send for {address}: it neither holds its key nor lets "
                    "accounts be impersonated (the simulation needs a development node such "
                    "as anvil)"
                )
        for address in fund:
            self.request("anvil_setBalance", [address, hex(10**21)])

    def _transaction(self, sender: str, to: str, data: str, gas: int, tip: int) -> dict:
        nonce = self.nonces.get(sender)
        if nonce is None:
            nonce = int(self.request("eth_getTransactionCount", [sender, "pending"]), 16)
        self.nonces[sender] = nonce + 1
        return {
            "from": sender,
            "to": to,
            "data": data,
            "gas": hex(gas),
            "gasPrice": hex(self.gas_price + tip),
            "nonce": hex(nonce),
        }

    def send(self, sender: str, to: str, data: str, gas: int) -> str:
        """Sends one transaction without waiting; returns its hash."""
        tx_hash = self.request("eth_sendTransaction", [self._transaction(sender, to, data, gas, 0)])
        self.sent += 1
        return tx_hash

    def send_block(self, transactions: Sequence[tuple[str, str, str, int, int]]) -> list[str]:
        """Sends (sender, to, data, gas, tip) transactions for one block in one request.

        The node may take a request's entries in any order; the block's order comes from
        the gas price instead: ``tip`` wei above the base price, highest first (the
        node's default ordering), then each sender's nonces. Callers give a higher tip
        to whatever must come first.
        """
        txs = [self._transaction(*transaction) for transaction in transactions]
        hashes = self.batch([("eth_sendTransaction", [tx]) for tx in txs])
        self.sent += len(hashes)
        return hashes

    def mine(self, timestamp: int) -> None:
        self.request("evm_mine", [timestamp])

    def receipts(self, hashes: Sequence[str], chunk: int = 250) -> list[dict | None]:
        out: list[dict | None] = []
        for start in range(0, len(hashes), chunk):
            part = hashes[start : start + chunk]
            out += self.batch([("eth_getTransactionReceipt", [h]) for h in part])
        return out

    def wait(self, tx_hash: str, timeout: float = 120.0) -> dict:
        """Polls for a receipt (for nodes that mine on their own)."""
        deadline, pause = time.monotonic() + timeout, 0.002
        while True:
            receipt = self.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise SimulationError(f"transaction {tx_hash} was not mined in {timeout:.0f} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def revert_reason(self, tx_hash: str) -> str:
        try:
            trace = self.request(
                "debug_traceTransaction", [tx_hash, {"disableStorage": True, "disableStack": True}]
            )
        except RpcError:
            return "reverted"
        output = bytes.fromhex(str(trace.get("returnValue", "")).removeprefix("0x"))
        if len(output) > 68:
            return output[68:].rstrip(b"\0").decode(errors="replace")
        return "reverted without a reason (out of gas?)"

    def latest_block(self) -> dict:
        return self.request("eth_getBlockByNumber", ["latest", False])


# ---------------------------------------------------------------- the simulation

# Gas limits per call: above what each uses with cold storage, below a block's share.
GAS = {
    "submit": 150_000,
    "accrue": 200_000,
    "mint": 150_000,
    "approve": 100_000,
    "deposit": 300_000,
    "trade": 400_000,
    "settle": 200_000,
}
SIGNATURES = {
    "submit": "submit(int256)",
    "accrue": "accrue()",
    "mint": "mint(address,uint256)",
    "approve": "approve(address,uint256)",
    "deposit": "deposit(uint256)",
    "trade": "trade(address,address,uint256,uint256)",
    "settle": "settle(address)",
}

# Who acts first within one second: the feeder's prices, then the keeper's accrual (so it
# samples them), then funding and deposits, then the operator's trades, then the end.
PRICES, KEEPER, FUNDING, TRADE, FINAL = range(5)


@dataclass(frozen=True)
class Event:
    time: int
    order: int
    kind: str
    point: Any = None  # PRICES: the price point
    trader: int = -1  # FUNDING: which trader


@dataclass
class Call:
    """One transaction, and the same call on the reference model."""

    label: str
    sender: str
    to: str
    data: str
    gas: int
    replay: Callable[[MarketModel], Any]
    trader: str | None = None
    tip: int = 0  # gas price above the base: orders a block (see DevNode.send_block)


# Each call's tip, which orders a block (time travel): the feeder's prices, the keeper
# (which samples them), the owner's mint, the traders' approvals and deposits, the trades.
TIPS = {"submit": 5, "accrue": 4, "settle": 4, "mint": 3, "approve": 2, "deposit": 2, "trade": 1}


@dataclass(frozen=True)
class TraderResult:
    """One trader at the end of a simulation (amounts WAD)."""

    address: str
    deposited: int  # WAD
    funding_paid: int  # WAD, summed from FundingSettled; negative = received
    margin: int
    position: int
    trades: int


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation did, and the market at its end. Amounts WAD, rates per interval."""

    market: str
    path_name: str
    time_travel: bool
    start: int  # chain time of the first and the last block
    end: int
    transactions: int
    blocks: int
    seconds: float
    price_updates: int
    accruals: int
    trades: int
    skipped_trades: dict[str, int]
    traders: tuple[TraderResult, ...]
    interval: int
    rate_min: int
    rate_max: int
    rate_mean: int  # time-weighted over the run
    surplus: int
    total_margin: int
    failures: tuple[str, ...]
    mismatches: tuple[tuple[str, int, int], ...]
    compared: int

    @property
    def tx_per_second(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.mismatches


def _address(seed_text: str) -> str:
    from eth_utils import keccak, to_checksum_address

    return to_checksum_address(keccak(text=seed_text)[12:])


def with_heartbeat(points: Sequence[Any], max_age: int) -> list[Any]:
    """The points, plus repeats of a point wherever the next one is more than ``max_age``
    later: a feeder re-pushes unchanged answers on a heartbeat (every 3/4 of ``max_age``)
    so the feeds stay fresh. A repeat of a ``stale_index`` point repeats the outage."""
    heartbeat = max(max_age * 3 // 4, 1)
    out: list[Any] = []
    for point, following in itertools.pairwise(points):
        out.append(point)
        if following.time - point.time > max_age:
            moment = point.time + heartbeat
            while moment < following.time:
                out.append(_shifted(point, moment - point.time))
                moment += heartbeat
    out.append(points[-1])
    return out


def build_timeline(
    points: Sequence[Any],
    *,
    traders: int,
    trade_every: int,
    keeper_every: int,
    rng: random.Random,
) -> list[Event]:
    """Every action of a simulation, in time order: the feeder at each price point, the
    keeper on its cadence from the first point, the traders' funding at the first point,
    trades at random gaps of 1/2 to 3/2 ``trade_every`` (each in the block of the next
    price update or accrual), and the keeper's settlement of every trader a second after
    the last point."""
    start, end = points[0].time, points[-1].time
    events = [Event(p.time, PRICES, "prices", point=p) for p in points]
    events += [Event(t, KEEPER, "accrue") for t in range(start, end + 1, keeper_every)]
    events += [Event(start, FUNDING, "fund", trader=i) for i in range(traders)]
    # Trades come at random moments, each submitted in the block of the next price update
    # or keeper accrual: the operator settles its matches on chain in batches.
    grid = sorted({e.time for e in events})
    moment = start
    while True:
        moment += rng.randint(max(trade_every // 2, 1), max(trade_every * 3 // 2, 1))
        if moment >= end:
            break
        events.append(Event(grid[bisect.bisect_left(grid, moment)], TRADE, "trade"))
    events.append(Event(end + 1, FINAL, "settle"))
    events.sort(key=lambda e: (e.time, e.order, e.trader))
    return events


class Simulation:
    """Drives one simulation; see ``run_simulation``."""

    MAX_LEVERAGE = 4  # the operator's own risk limit (the market's is 1 / margin ratio)

    def __init__(
        self,
        addresses: dict[str, str],
        node: DevNode,
        model: MarketModel,
        *,
        traders: int,
        seed: int,
        run_tag: str,
    ):
        self.addresses = addresses
        self.node = node
        self.model = model
        self.rng = random.Random(seed)
        self.owner, self.operator = addresses["owner"], addresses["operator"]
        self.feeder = addresses["feeder"]
        self.keeper = _address(f"fundingkit keeper {run_tag}")
        self.traders = [_address(f"fundingkit trader {run_tag} {i}") for i in range(traders)]
        self.deposits = [self.rng.randint(20, 120) * 1_000 * TOKEN for _ in self.traders]
        self.trade_counts: Counter = Counter()
        self.skipped: Counter = Counter()
        self.funding_paid: dict[str, int] = defaultdict(int)
        self.failures: list[str] = []
        self.pending: list[tuple[str, str, int, int]] = []  # (hash, label, block, tip)
        self.block_count = 0
        self.price_updates = 0
        self.accruals = 0
        self.rate_samples: list[tuple[int, int]] = []
        self.first_time = self.last_time = 0
        self._topic = "0x" + keccak_hex(FUNDING_SETTLED)

    # ---- calls ------------------------------------------------------------------

    def _call(self, kind: str, sender: str, to: str, replay, *args, label="", trader=None):
        return Call(
            label or kind,
            sender,
            to,
            calldata(SIGNATURES[kind], *args),
            GAS[kind],
            replay,
            trader,
            TIPS[kind],
        )

    def calls_for(self, event: Event, model: MarketModel) -> list[Call]:
        """The transactions ``event`` sends, decided on ``model`` (already at the event's
        time). A trade the operator would not submit returns no call."""
        at = self.addresses  # contract addresses by name
        if event.kind == "prices":
            point, calls = event.point, []
            if not getattr(point, "stale_index", False):
                index = answer_of(point.index)
                calls.append(
                    self._call(
                        "submit",
                        self.feeder,
                        at["index_oracle"],
                        lambda m, x=index: m.index_feed.submit(x, m.now),
                        index,
                        label="index price",
                    )
                )
            mark = answer_of(point.mark)
            calls.append(
                self._call(
                    "submit",
                    self.feeder,
                    at["mark_oracle"],
                    lambda m, x=mark: m.mark_feed.submit(x, m.now),
                    mark,
                    label="mark price",
                )
            )
            return calls
        if event.kind == "accrue":
            return [self._call("accrue", self.keeper, at["market"], lambda m: m.accrue())]
        if event.kind == "fund":
            trader, amount = self.traders[event.trader], self.deposits[event.trader]
            return [
                self._call(
                    "mint",
                    self.owner,
                    at["token"],
                    lambda m: m.mint(trader, amount),
                    trader,
                    amount,
                ),
                self._call(
                    "approve",
                    trader,
                    at["token"],
                    lambda m: m.approve(trader, UINT256_MAX),
                    at["market"],
                    UINT256_MAX,
                ),
                self._call(
                    "deposit", trader, at["market"], lambda m: m.deposit(trader, amount), amount
                ),
            ]
        if event.kind == "trade":
            return self._trade(model)
        return [
            self._call("settle", self.keeper, at["market"], lambda m, t=t: m.settle(t), t, trader=t)
            for t in self.traders
        ]

    def _room(self, model: MarketModel, trader: str, side: int, price: int) -> int:
        """How much ``trader`` may trade on ``side`` (+1 buy, -1 sell) within the
        operator's leverage limit: all of a position it closes, and new exposure up to
        MAX_LEVERAGE x its equity."""
        account = model.account(trader)
        equity = account.margin + account.position * price // WAD
        if equity <= 0:
            return max(-side * account.position, 0)
        limit = self.MAX_LEVERAGE * equity * WAD // price
        return max(limit - side * account.position, 0)

    def _trade(self, model: MarketModel) -> list[Call]:
        index = model.index_feed.read(model.now, model.max_age)
        mark = model.mark_feed.read(model.now, model.max_age)
        if not (index.ok and mark.ok):
            self.skipped["a feed is not usable"] += 1
            return []
        # Two traders; the one with the smaller position buys, seven times in ten, so
        # positions spread and come back rather than drift.
        first, second = self.rng.sample(self.traders, 2)
        if model.account(first).position > model.account(second).position:
            first, second = second, first
        buyer, seller = (first, second) if self.rng.random() < 0.7 else (second, first)
        size = self.rng.randint(5, 80) * WAD // 100  # 0.05 .. 0.8 base
        size = min(
            size,
            self._room(model, buyer, +1, index.price),
            self._room(model, seller, -1, index.price),
        )
        size -= size % 10**14  # whole 0.0001 base
        if size <= 0:
            self.skipped["over the operator's leverage limit"] += 1
            return []
        band = model.risk.price_band * mark.price // WAD
        price = mark.price + self.rng.randint(-band // 2, band // 2)
        operator = self.operator
        return [
            self._call(
                "trade",
                operator,
                self.addresses["market"],
                lambda m: m.trade(operator, buyer, seller, size, price),
                buyer,
                seller,
                size,
                price,
                label="trade",
                trader=f"{buyer} {seller}",
            )
        ]

    # ---- running ----------------------------------------------------------------

    def _apply(self, call: Call, model: MarketModel) -> bool:
        try:
            call.replay(model)
        except Rejected as rejected:
            if call.label == "trade":
                self.skipped[f"the market would refuse it ({rejected.reason})"] += 1
                return False
            raise SimulationError(
                f"the reference refuses the simulation's own {call.label} "
                f"({rejected.reason}); the market's state is not what the simulation expects"
            ) from None
        return True

    def _after_call(self, call: Call) -> None:
        if call.label == "trade":
            buyer, seller = (call.trader or " ").split()
            self.trade_counts[buyer] += 1
            self.trade_counts[seller] += 1
        elif call.label == "accrue":
            self.accruals += 1
        elif call.label in ("index price", "mark price"):
            self.price_updates += 1

    def _sample_rate(self, when: int) -> None:
        self.rate_samples.append((when, self.model.current_rate()))

    def _note_receipt(self, receipt: dict | None, tx_hash: str, label: str) -> None:
        if receipt is None:
            self.failures.append(f"{label} {tx_hash}: not mined")
            return
        if int(receipt["status"], 16) != 1:
            self.failures.append(f"{label} {tx_hash}: {self.node.revert_reason(tx_hash)}")
            return
        for log in receipt["logs"]:
            topics = log["topics"]
            if topics and topics[0] == self._topic:
                account = "0x" + topics[1][-40:]
                owed = int.from_bytes(bytes.fromhex(log["data"][2:])[64:96], "big", signed=True)
                self.funding_paid[account.lower()] += owed

    def check_receipts(self) -> None:
        """Fetches the receipts of everything sent since the last check: each must have
        succeeded, in the block it was mined for, in the order it was sent."""
        if not self.pending:
            return
        receipts = self.node.receipts([h for h, _, _, _ in self.pending])
        mined = []
        for (tx_hash, label, block, tip), receipt in zip(self.pending, receipts, strict=True):
            self._note_receipt(receipt, tx_hash, label)
            if receipt is None:
                continue
            number = int(receipt["blockNumber"], 16)
            if number != block:
                self.failures.append(f"{label} {tx_hash}: mined in block {number}, not {block}")
            mined.append((number, int(receipt["transactionIndex"], 16), -tip, tx_hash, label))
        # Within a block, calls must come in the order of their tips (the model's order up to
        # calls that commute: different traders' approvals and deposits, the owner's mints).
        mined.sort()
        for before, after in itertools.pairwise(mined):
            if before[0] == after[0] and after[2] < before[2]:
                self.failures.append(
                    f"{after[4]} {after[3]}: mined before a call it must follow "
                    f"({before[4]} {before[3]}) in block {after[0]}"
                )
        self.pending.clear()

    def run_time_travel(self, events: list[Event], advance: Callable) -> None:
        node, model = self.node, self.model
        gas_limit = int(node.latest_block()["gasLimit"], 16)
        block_number = int(node.latest_block()["number"], 16) + 1
        block_time: int | None = None
        block_calls: list[Call] = []
        block_gas = 0
        done = 0

        def close_block() -> None:
            nonlocal block_number, block_calls, block_gas, done
            hashes = node.send_block(
                [(call.sender, call.to, call.data, call.gas, call.tip) for call in block_calls]
            )
            self.pending += [
                (tx_hash, call.label, block_number, call.tip)
                for tx_hash, call in zip(hashes, block_calls, strict=True)
            ]
            node.mine(block_time)
            self.block_count += 1
            self._sample_rate(block_time)
            block_number += 1
            block_calls, block_gas = [], 0
            if len(self.pending) >= 500:
                self.check_receipts()
            advance(done)
            done = 0

        for event in events:
            when = event.time if block_time is None else max(event.time, block_time)
            need = 3 * GAS["trade"] if event.kind != "settle" else GAS["settle"] * len(self.traders)
            if block_calls and (when != block_time or block_gas + need > gas_limit):
                close_block()
                when = max(event.time, block_time + 1)
            if block_time is None:
                self.first_time = when
            block_time = model.now = when
            for call in self.calls_for(event, model):
                if self._apply(call, model):
                    block_calls.append(call)
                    block_gas += call.gas
                    self._after_call(call)
            done += 1
        if block_calls:
            close_block()
        advance(done)
        self.last_time = block_time or 0
        self.check_receipts()

    def run_in_real_time(self, events: list[Event], advance: Callable) -> None:
        """Without time travel: the node keeps its own clock and mines on its own; each
        call is decided on a copy of the model, sent, awaited, then replayed at its
        block's timestamp."""
        node, model = self.node, self.model
        block_times: dict[int, int] = {}
        for event in events:
            trial = copy.deepcopy(model)
            trial.now = max(model.now, self.last_time) + 1
            for call in self.calls_for(event, trial):
                if not self._apply(call, trial):
                    continue
                tx_hash = node.send(call.sender, call.to, call.data, call.gas)
                receipt = node.wait(tx_hash)
                number = int(receipt["blockNumber"], 16)
                if number not in block_times:
                    block = node.request("eth_getBlockByNumber", [hex(number), False])
                    block_times[number] = int(block["timestamp"], 16)
                    self.block_count += 1
                model.now = self.last_time = block_times[number]
                self.first_time = self.first_time or model.now
                self._note_receipt(receipt, tx_hash, call.label)
                if int(receipt["status"], 16) == 1:
                    try:
                        call.replay(model)
                    except Rejected as rejected:
                        self.failures.append(
                            f"{call.label} {tx_hash}: the chain accepted it, the reference "
                            f"refuses it ({rejected.reason})"
                        )
                    self._after_call(call)
                self._sample_rate(model.now)
            advance(1)

    # ---- the end ----------------------------------------------------------------

    def compare(self) -> tuple[list[tuple[str, int, int]], dict[str, tuple[int, int, int]]]:
        """(name, chain, reference) for the market's state and each trader's account, and
        each trader's (margin, position, index snapshot) on chain."""
        market, model = self.addresses["market"], self.model
        state = model.interval_state
        views = [
            ("funding_index", "int256", model.funding_index),
            ("last_accrual", "uint256", model.last_accrual),
            ("sampled_price", "uint256", model.sampled_price),
            ("sampled_premium", "int256", model.sampled_premium),
            ("interval_start", "uint256", state.interval_start),
            ("premium_sum", "int256", state.premium_sum),
            ("last_premium_average", "int256", state.last_premium_average),
            ("total_collateral", "uint256", model.total_collateral),
            ("surplus", "int256", model.surplus),
        ]
        rows = [(name, read_view(market, f"{name}()", kind), want) for name, kind, want in views]
        accounts = {}
        for trader in self.traders:
            chain_account = read_view(market, "accounts(address)", "(int256,int256,int256)", trader)
            accounts[trader] = chain_account
            ref = model.account(trader)
            short = trader[:10]
            rows += [
                (f"{short}.margin", chain_account[0], ref.margin),
                (f"{short}.position", chain_account[1], ref.position),
                (f"{short}.index_snapshot", chain_account[2], ref.index_snapshot),
            ]
        return rows, accounts

    def rate_stats(self) -> tuple[int, int, int]:
        samples = self.rate_samples
        if not samples:
            rate = self.model.current_rate()
            return rate, rate, rate
        rates = [rate for _, rate in samples]
        weighted = duration = 0
        for (when, rate), (after, _) in itertools.pairwise(samples):
            weighted += rate * (after - when)
            duration += after - when
        mean = weighted // duration if duration else rates[-1]
        return min(rates), max(rates), mean


def _addresses_of(deployment) -> dict[str, str]:
    addresses = getattr(deployment, "addresses", None)
    if callable(addresses):
        addresses = addresses()
    if not isinstance(addresses, dict):
        raise TypeError("expected a Deployment, a DeploymentRecord or a RecordedMarket")
    return {name: str(value) for name, value in addresses.items()}


def run_simulation(
    deployment,
    path: Sequence[Any],
    *,
    traders: int = 10,
    trade_every: int = 7_200,
    keeper_every: int = 3_600,
    seed: int = 1,
    progress: bool = True,
    time_travel: bool = True,
    path_name: str = "",
) -> SimulationSummary:
    """Drives the market of ``deployment`` (a ``Deployment``, ``DeploymentRecord`` or
    ``RecordedMarket``) along ``path`` (price points with ``time``, ``index``, ``mark``
    in WAD and optionally ``stale_index``) on the connected development node.

    * the feeder pushes each point's index and mark answers (no index answer at a
      ``stale_index`` point: the index feed is in an outage), and re-pushes them on a
      heartbeat where points are further apart than the market's ``max_age``;
    * ``traders`` fresh accounts (impersonated) get collateral minted by the owner,
      approve the market and deposit; every ~``trade_every`` seconds the operator
      matches two of them at a price within the market's band around the mark, within
      its own leverage limit, and only while both feeds are usable;
    * a keeper accrues every ``keeper_every`` seconds from the first point, and settles
      every trader at the end.

    Every call is first played on a reference model of the live market
    (``model_from_chain``), which decides whether the operator submits a trade and,
    with ``time_travel``, is exact: blocks are mined at the path's own times (the path
    is shifted to start right after the chain's latest block), several transactions a
    block, through ``DevNode``. Without ``time_travel`` (a node that keeps its own
    clock) the points are pushed one after another at the node's time and each
    transaction is awaited. At the end the chain's state is compared with the model's.
    Raises ``SimulationError`` for settings or a node it cannot use.
    """
    if traders < 2:
        raise SimulationError(f"a simulation needs at least 2 traders (got {traders})")
    if trade_every <= 0 or keeper_every <= 0:
        raise SimulationError("--trade-every and --keeper-every must be positive")
    points = list(path)
    if len(points) < 2:
        raise SimulationError("the price path has fewer than 2 points")
    from ape import chain

    if time_travel and not is_development_chain():
        raise SimulationError(
            f"time travel needs a local network or a development node, and "
            f"{network_label()} (chain {chain.chain_id}) is neither; pass --no-time-travel "
            "to push prices at the node's own time"
        )
    addresses = _addresses_of(deployment)
    node = DevNode.connected()
    if time_travel:
        node.request("evm_mine", [])  # a block at the node's own clock: the path starts after it
    latest = node.latest_block()
    latest_time, latest_number = int(latest["timestamp"], 16), int(latest["number"], 16)
    if time_travel:
        offset = latest_time + 1 - points[0].time
        points = [_shifted(point, offset) for point in points]
    model = model_from_chain(addresses["market"], now=latest_time)
    events = build_timeline(
        with_heartbeat(points, model.max_age),
        traders=traders,
        trade_every=trade_every,
        keeper_every=keeper_every,
        rng=random.Random(seed),
    )
    sim = Simulation(
        addresses,
        node,
        model,
        traders=traders,
        seed=seed,
        run_tag=f"{addresses['market']} {latest_number} {seed}",
    )
    node.act_for(
        [sim.owner, sim.operator, sim.feeder, sim.keeper, *sim.traders],
        fund=[sim.keeper, *sim.traders],
    )
    automine = None
    if time_travel:
        try:
            automine = node.request("anvil_getAutomine")
            node.request("anvil_setAutomine", [False])
        except RpcError:
            raise SimulationError(
                "time travel needs anvil (blocks mined on request at chosen times); "
                "pass --no-time-travel"
            ) from None
    started = time.perf_counter()
    try:
        with _progress_bar(len(events), enabled=progress) as advance:
            if time_travel:
                sim.run_time_travel(events, advance)
            else:
                sim.run_in_real_time(events, advance)
    finally:
        if automine:
            try:
                node.request("anvil_setAutomine", [True])
            except (RpcError, requests.exceptions.RequestException):
                pass  # the node is gone (Ctrl-C stops Ape's own anvil first)
    seconds = time.perf_counter() - started
    rows, accounts = sim.compare()
    mismatches = tuple(row for row in rows if row[1] != row[2])
    rate_min, rate_max, rate_mean = sim.rate_stats()
    results = tuple(
        TraderResult(
            address=trader,
            deposited=deposit * 10 ** (18 - TOKEN_DECIMALS),
            funding_paid=sim.funding_paid.get(trader.lower(), 0),
            margin=accounts[trader][0],
            position=accounts[trader][1],
            trades=sim.trade_counts[trader],
        )
        for trader, deposit in zip(sim.traders, sim.deposits, strict=True)
    )
    surplus = read_view(addresses["market"], "surplus()", "int256")
    return SimulationSummary(
        market=addresses["market"],
        path_name=path_name,
        time_travel=time_travel,
        start=sim.first_time,
        end=sim.last_time,
        transactions=node.sent,
        blocks=sim.block_count,
        seconds=seconds,
        price_updates=sim.price_updates,
        accruals=sim.accruals,
        trades=sum(sim.trade_counts.values()) // 2,
        skipped_trades=dict(sim.skipped),
        traders=results,
        interval=model.params.interval,
        rate_min=rate_min,
        rate_max=rate_max,
        rate_mean=rate_mean,
        surplus=surplus,
        total_margin=read_view(addresses["market"], "total_margin()", "int256"),
        failures=tuple(sim.failures),
        mismatches=mismatches,
        compared=len(rows),
    )


@contextmanager
def _progress_bar(total: int, *, enabled: bool) -> Iterator[Callable]:
    with progress(total, "simulating", enabled=enabled) as advance:
        yield advance


def _shifted(point, offset: int):
    if offset == 0:
        return point
    from dataclasses import is_dataclass, replace

    if is_dataclass(point):
        return replace(point, time=point.time + offset)
    return point._replace(time=point.time + offset)


def print_simulation_summary(summary: SimulationSummary, console=None) -> None:
    """The summary as tables: per trader, then rates, books and throughput."""
    from rich.table import Table

    console = console or wide_console()
    days = (summary.end - summary.start) / 86_400
    title = (
        f"{summary.path_name or 'price path'}: {days:.1f} days"
        if summary.time_travel
        else f"{summary.path_name or 'price path'} at the node's own time"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("trader", no_wrap=True)
    for name in ("deposited", "funding paid", "margin", "position", "trades"):
        table.add_column(name, justify="right")
    for trader in summary.traders:
        table.add_row(
            trader.address,
            usd(trader.deposited),
            usd(trader.funding_paid),
            usd(trader.margin),
            f"{trader.position / WAD:+.4f}",
            str(trader.trades),
        )
    table.caption = (
        "USD (TUSD); funding paid: + the trader paid, - it received; position: BTC, + long"
    )
    console.print(table)

    per_year = YEAR / summary.interval
    rates = Table(title="rates seen (current_rate)", title_justify="left")
    rates.add_column("")
    rates.add_column(f"per interval ({summary.interval // 3600} h)", justify="right")
    rates.add_column("annualised", justify="right")
    for name, rate in (
        ("min", summary.rate_min),
        ("max", summary.rate_max),
        ("mean (time-weighted)", summary.rate_mean),
    ):
        rates.add_row(name, percent(rate), percent(annualised(rate, summary.interval), 2))
    rates.caption = f"annualised = rate x {per_year:,.1f} intervals a year"
    console.print(rates)

    skipped = sum(summary.skipped_trades.values())
    lines = [
        f"{summary.transactions:,} transactions in {summary.blocks:,} blocks: "
        f"{summary.price_updates:,} price updates, {summary.accruals:,} keeper accruals, "
        f"{summary.trades:,} trades ({skipped:,} not submitted by the operator)",
        f"surplus kept by the market: {summary.surplus:,} wei "
        f"({usd(summary.surplus)} USD); total margin {usd(summary.total_margin)} USD",
        f"throughput: {summary.tx_per_second:,.0f} tx/s "
        f"({summary.transactions:,} transactions in {summary.seconds:.1f} s)",
    ]
    for reason, count in sorted(summary.skipped_trades.items()):
        lines.append(f"  trades not submitted, {reason}: {count:,}")
    for line in lines:
        console.print(line, highlight=False)
    for failure in summary.failures:
        console.print(f"FAILED {failure}", highlight=False)
    for name, on_chain, reference in summary.mismatches:
        console.print(f"MISMATCH {name}: chain {on_chain} != reference {reference}")
    if summary.ok:
        console.print(
            f"reference check: the chain matches the reference on {summary.compared} values",
            highlight=False,
        )


__all__ = [
    "DevNode",
    "SimulationSummary",
    "TraderResult",
    "build_timeline",
    "print_simulation_summary",
    "run_simulation",
    "with_heartbeat",
]
