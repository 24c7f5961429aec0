"""Gas, opcode and throughput benchmarks; writes docs/BENCHMARKS.md.

Run with ``ape run bench`` (or ``make bench``) on the local network: Ape starts its own
anvil. The script

1. deploys through ``fundingkit.deployment.deploy`` (default ``MarketConfig``) and builds
   a steady state: traders with margin, two of them holding opposite positions, a
   non-zero surplus, the market accrued;
2. measures, from that state (restored with ``chain.snapshot()``/``chain.restore()``
   between cases), the gas of each market transaction -- the receipt's ``gasUsed`` --
   and counts, from ``debug_traceTransaction`` struct logs, the SLOADs, SSTOREs,
   transient-storage ops, external calls and logs it executes (every call depth);
   prices always move (the feeder submits new answers right before each measured
   transaction, so the feeds are fresh and the samples change);
3. gives 1,000 fresh accounts positions (500 trades between fresh, impersonated
   accounts, each funded by a mint, an approve and a deposit -- plain transactions,
   no storage patching) and measures accrual again;
4. times the Python reference (``fundingkit.market.MarketModel``) on one core;
5. runs ``ape compile --size``;

and writes everything to docs/BENCHMARKS.md as markdown tables, with the targets and
dYdX perpetual (P1) figures measured on the same anvil for comparison.

Transactions in the same block (an accrual followed by a settlement) are built with
automine off: the transactions wait in anvil's pool, then one ``evm_mine`` includes them
in the order their (single) sender's nonces give.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand
from ape.logging import LogLevel, logger
from eth_utils import keccak, to_checksum_address

from fundingkit.deployment import FEED_DECIMALS, TOKEN_DECIMALS, MarketConfig, deploy
from fundingkit.feeds import MockFeed, Round, read_round
from fundingkit.market import MarketModel
from fundingkit.models.external_rate import ExternalParameters
from fundingkit.models.skew_rate import SkewParameters
from fundingkit.models.velocity_rate import VelocityParameters

logger.set_level(LogLevel.WARNING)

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "BENCHMARKS.md"
COMMAND = "make bench    # = ape run bench, in the Makefile's environment"

HOUR = 3_600
YEAR = 365 * 86_400
WAD = 10**18
TOKEN = 10**TOKEN_DECIMALS
TO_WAD = 10 ** (18 - FEED_DECIMALS)
GAS = 1_000_000  # gas limit per transaction (anvil blocks hold 30,000,000)
FRESH_ACCOUNTS = 1_000

TARGETS = {"accrue": 80_000, "settle": 45_000, "trade": 150_000}
# dYdX perpetual protocol (P1), measured on anvil 1.7.1.
DYDX = [  # (gas, what dYdX measured, our comparable rows)
    (
        130_075,
        "two-account trade, an hour after the last index update",
        ["trade between two accounts, 1 h after the last accrual"],
    ),
    (
        79_417,
        "index update plus one account's settlement",
        ["settle(account), 1 h after the last accrual (index update + settlement)"],
    ),
    (
        106_633,
        "deposit",
        ["deposit, 1 h after the last accrual", "deposit, market already accrued in this block"],
    ),
]
CALL_OPS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"}
LOG_OPS = {"LOG0", "LOG1", "LOG2", "LOG3", "LOG4"}


# ---------------------------------------------------------------- raw transactions


def rpc(method: str, *params):
    return chain.provider.make_request(method, list(params))


def web3():
    return chain.provider.web3


def address_of(account) -> str:
    return str(getattr(account, "address", account))


def send(sender, contract, method: str, *args, gas: int = GAS) -> str:
    """Sends one transaction (no gas estimate, gas price 0); returns its hash."""
    data = getattr(contract, method).encode_input(*args)
    return rpc(
        "eth_sendTransaction",
        {
            "from": address_of(sender),
            "to": str(contract.address),
            "data": "0x" + bytes(data).hex(),
            "gas": hex(gas),
            "gasPrice": "0x0",
        },
    )


def receipt_of(tx_hash: str):
    receipt = web3().eth.get_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        trace = rpc(
            "debug_traceTransaction", tx_hash, {"disableStorage": True, "disableStack": True}
        )
        output = bytes.fromhex(str(trace.get("returnValue", "")).removeprefix("0x"))
        reason = output[68:].rstrip(b"\0").decode(errors="replace") if len(output) > 68 else ""
        raise RuntimeError(f"transaction {tx_hash} reverted: {reason or output.hex()}")
    return receipt


def batch(calls, gas: int) -> None:
    """Sends ``calls`` with automine off, mines until they are all in, checks every receipt.

    The calls must not depend on one another across senders (a block orders senders by fee).
    """
    drain()
    rpc("anvil_setAutomine", False)
    try:
        hashes = [send(*call, gas=gas) for call in calls]
        drain()
    finally:
        rpc("anvil_setAutomine", True)
    for h in hashes:
        receipt_of(h)


def drain() -> None:
    """Mines until anvil's pool is empty (automine mines when a transaction arrives, and a
    block holds only as many transactions as the block gas limit admits)."""
    while int(rpc("txpool_status")["pending"], 16):
        rpc("evm_mine")


def block(timestamp: int, *calls) -> list:
    """Mines ``calls`` -- (sender, contract, method, *args) -- in one block at ``timestamp``.

    Returns their receipts, in order; fails unless they landed in one block, in order.
    """
    drain()
    rpc("anvil_setAutomine", False)
    try:
        hashes = [send(*call) for call in calls]
        rpc("evm_setNextBlockTimestamp", timestamp)
        rpc("evm_mine")
    finally:
        rpc("anvil_setAutomine", True)
    receipts = [receipt_of(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "not one block"
    assert [r["transactionIndex"] for r in receipts] == sorted(
        r["transactionIndex"] for r in receipts
    ), "out of order"
    assert web3().eth.get_block(receipts[0]["blockNumber"])["timestamp"] == timestamp
    return receipts


# ---------------------------------------------------------------- what a transaction executes


class Measured(NamedTuple):  # (not a dataclass: `ape run` loads scripts outside sys.modules)
    name: str
    gas: int
    intrinsic: int
    sload: int
    sload_cold: int
    sload_market: int  # executed by the market itself (depth 1); the rest in the feeds/token
    sstore: int
    tload_tstore: int
    calls: int
    calls_cold: int
    logs: int
    floor: int  # intrinsic + storage, transient storage, call access and log gas
    kind: str = ""  # accrue / settle / trade / deposit / withdraw: the target to compare with
    note: str = ""

    @property
    def overhead(self) -> int:
        return self.gas - self.floor


def measure(name: str, receipt, kind: str = "", note: str = "") -> Measured:
    tx_hash = receipt["transactionHash"]
    tx_hash = tx_hash.hex() if isinstance(tx_hash, bytes) else str(tx_hash)
    if not tx_hash.startswith("0x"):
        tx_hash = "0x" + tx_hash
    tx = web3().eth.get_transaction(tx_hash)
    data = bytes(tx["input"])
    intrinsic = 21_000 + sum(4 if byte == 0 else 16 for byte in data)
    trace = rpc(
        "debug_traceTransaction",
        tx_hash,
        {"disableStorage": True, "disableMemory": True, "enableReturnData": False},
    )
    ops = Counter()
    floor = intrinsic
    seen = {str(tx["to"]).lower(), str(tx["from"]).lower()}
    calls_cold = 0
    for step in trace["structLogs"]:
        op = step["op"]
        ops[op] += 1
        if op in {"SLOAD", "SSTORE", "TLOAD", "TSTORE"} or op in LOG_OPS:
            floor += step["gasCost"]
            if op == "SLOAD" and step["gasCost"] >= 2_100:
                ops["SLOAD_COLD"] += 1
            if op == "SLOAD" and step["depth"] == 1:
                ops["SLOAD_MARKET"] += 1
        elif op in CALL_OPS:
            target = "0x" + step["stack"][-2][2:].rjust(40, "0")[-40:]
            cold = target.lower() not in seen
            seen.add(target.lower())
            calls_cold += cold
            floor += 2_600 if cold else 100
    return Measured(
        name=name,
        gas=int(receipt["gasUsed"]),
        intrinsic=intrinsic,
        sload=ops["SLOAD"],
        sload_cold=ops["SLOAD_COLD"],
        sload_market=ops["SLOAD_MARKET"],
        sstore=ops["SSTORE"],
        tload_tstore=ops["TLOAD"] + ops["TSTORE"],
        calls=sum(ops[op] for op in CALL_OPS),
        calls_cold=calls_cold,
        logs=sum(ops[op] for op in LOG_OPS),
        floor=floor,
        kind=kind,
        note=note,
    )


# ---------------------------------------------------------------- the market, on anvil


class Bench:
    def __init__(self, rate_model=None):
        """The default market; with ``rate_model`` parameters, a pool-mode market under
        that rate model contract whose vault is the counterparty."""
        test = accounts.test_accounts
        self.deployer, self.operator = test[0], test[1]
        self.trader, self.counterparty, self.third_party = test[2], test[3], test[4]
        self.rate_model = rate_model
        pool = {"vault": self.counterparty, "rate_model": rate_model} if rate_model else {}
        self.d = deploy(self.deployer, MarketConfig(), operator=self.operator, **pool)
        self.market, self.token = self.d.market, self.d.token
        self.index_answer = self.d.config.index_answer
        self.step = 0

    # prices ---------------------------------------------------------------

    def next_answers(self) -> tuple[int, int]:
        """New index and mark answers each time: the index drifts up by 7 USD a step and the
        perp flips between a premium and a discount of 0.15 % + 0.01 % a step, so both
        samples differ from every earlier one."""
        self.step += 1
        self.index_answer += 7 * 10**FEED_DECIMALS
        premium_bps = (15 + self.step) * (1 if self.step % 2 else -1)
        return self.index_answer, self.index_answer * (10_000 + premium_bps) // 10_000

    def submits(self) -> list:
        index, mark = self.next_answers()
        return [
            (self.deployer, self.d.index_oracle, "submit", index),
            (self.deployer, self.d.mark_oracle, "submit", mark),
        ]

    def mark_price(self) -> int:
        return self.d.mark_oracle.latestRoundData()[1] * TO_WAD

    def last_accrual(self) -> int:
        return self.market.last_accrual()

    def latest_timestamp(self) -> int:
        return web3().eth.get_block("latest")["timestamp"]

    # setup ----------------------------------------------------------------

    def traders(self) -> tuple:
        return self.trader, self.counterparty, self.third_party

    def fund(self, trader, amount: int) -> list[str]:
        """Mints twice ``amount``; the trader approves the market and deposits ``amount``."""
        return [
            send(self.deployer, self.token, "mint", address_of(trader), 2 * amount),
            send(trader, self.token, "approve", str(self.market.address), 2**256 - 1),
            send(trader, self.market, "deposit", amount),
        ]

    def steady_state(self) -> None:
        """Trader long, counterparty short, third party flat; surplus non-zero; accrued."""
        hashes = []
        for trader in (self.trader, self.counterparty, self.third_party):
            hashes += self.fund(trader, 500_000 * TOKEN)
        drain()
        for h in hashes:
            receipt_of(h)
        t = self.latest_timestamp() + HOUR
        block(t, *self.submits())
        # An odd size makes the notional round, so the surplus is non-zero.
        trade = (self.operator, self.market, "trade", self.trader, self.counterparty)
        block(t + 1, (*trade, 10**18 + 7, self.mark_price() + 3))
        # Past the first interval's end, so every rate-state slot is non-zero.
        t = self.last_accrual() + self.d.config.interval + HOUR
        block(t - 1, *self.submits())
        block(
            t,
            (self.deployer, self.market, "accrue"),
            *[(self.deployer, self.market, "settle", address_of(a)) for a in self.traders()],
        )
        assert self.market.surplus() > 0
        # Under a rate model the premium sets no rate and its interval state stays put.
        assert self.rate_model is not None or self.market.last_premium_average() != 0
        assert self.market.accounts(self.trader).position > 0

    def fresh_positions(self, count: int) -> None:
        """``count`` fresh accounts (impersonated), each funded, in ``count // 2`` trades."""
        rpc("anvil_autoImpersonateAccount", True)
        fresh = [
            to_checksum_address(keccak(text=f"fundingkit-bench-{i}")[-20:]) for i in range(count)
        ]
        t = self.latest_timestamp() + 60
        block(t, *self.submits())
        # In phases (mints, approvals, deposits, trades), each one batch of blocks.
        market, token = str(self.market.address), self.token
        batch([(self.deployer, token, "mint", a, 4_000 * TOKEN) for a in fresh], gas=200_000)
        batch([(a, token, "approve", market, 2**256 - 1) for a in fresh], gas=200_000)
        batch([(a, self.market, "deposit", 2_000 * TOKEN) for a in fresh], gas=400_000)
        price = self.mark_price()
        pairs = zip(fresh[0::2], fresh[1::2], strict=True)
        batch(
            [(self.operator, self.market, "trade", b, s, WAD // 100, price) for b, s in pairs],
            gas=400_000,
        )
        rpc("anvil_autoImpersonateAccount", False)
        assert all(self.market.accounts(a).position != 0 for a in fresh[:: max(1, count // 20)])


def liquidation(b: Bench):
    """A thin long (600 USD on 0.1 base) opens against the counterparty; the index then
    falls 10 % and, an hour after the last accrual, a keeper liquidates it."""

    def run():
        rpc("anvil_autoImpersonateAccount", True)
        thin = to_checksum_address(keccak(text="fundingkit-bench-thin-long")[-20:])
        market = str(b.market.address)
        block(b.latest_timestamp() + 60, *b.submits())
        batch([(b.deployer, b.token, "mint", thin, 600 * TOKEN)], gas=200_000)
        batch([(thin, b.token, "approve", market, 2**256 - 1)], gas=200_000)
        batch([(thin, b.market, "deposit", 600 * TOKEN)], gas=400_000)
        trade = (b.operator, b.market, "trade", thin, address_of(b.counterparty), WAD // 10)
        batch([(*trade, b.mark_price())], gas=400_000)
        rpc("anvil_autoImpersonateAccount", False)
        b.index_answer = b.index_answer * 9 // 10  # the drift goes on from the lower price
        t = b.last_accrual() + HOUR
        block(t - 1, *b.submits())
        (receipt,) = block(t, (b.third_party, b.market, "liquidate", thin))
        assert b.market.accounts(thin).position == 0
        return measure(
            "liquidate, 1 h after the last accrual",
            receipt,
            "liquidate",
            "accrues, settles the account and the insurance, moves the position, pays the fee",
        )

    return run


def gas_cases(bench: Bench) -> tuple[list[Measured], float]:
    b, m, dep = bench, bench.market, bench.deployer
    started = time.perf_counter()
    b.steady_state()
    rows: list[Measured] = []
    snapshot = chain.snapshot()

    def case(run):
        nonlocal snapshot
        try:
            rows.append(run())
        finally:
            chain.restore(snapshot)
            snapshot = chain.snapshot()

    def accrue_after(gap: int, name: str, note: str = ""):
        def run():
            t = b.last_accrual() + gap
            *_, receipt = block(t, *b.submits(), (dep, m, "accrue"))
            return measure(name, receipt, "accrue", note)

        return run

    case(accrue_after(1, "accrue, 1 s after the last accrual"))
    case(accrue_after(HOUR, "accrue, 1 h after the last accrual", "2 accounts hold positions"))
    case(accrue_after(10 * YEAR, "accrue, 10 years after the last accrual"))

    def settle_same_block():
        t = b.last_accrual() + HOUR
        *_, receipt = block(
            t, *b.submits(), (dep, m, "accrue"), (dep, m, "settle", address_of(b.trader))
        )
        return measure(
            "settle(account), market already accrued in this block",
            receipt,
            "settle",
            "the account holds a position",
        )

    def deposit_same_block():
        t = b.last_accrual() + HOUR
        block(t - 1, *b.submits())
        rpc("anvil_setAutomine", False)  # the depositor accrues, then deposits
        try:
            first = send(b.trader, m, "accrue")
            second = send(b.trader, m, "deposit", 1_000 * TOKEN)
            rpc("evm_setNextBlockTimestamp", t)
            rpc("evm_mine")
        finally:
            rpc("anvil_setAutomine", True)
        assert receipt_of(first)["blockNumber"] == receipt_of(second)["blockNumber"]
        return measure(
            "deposit, market already accrued in this block",
            receipt_of(second),
            "deposit",
            "settles the depositor's position",
        )

    def settle_hour():
        t = b.last_accrual() + HOUR
        block(t - 1, *b.submits())
        (receipt,) = block(t, (dep, m, "settle", address_of(b.trader)))
        return measure(
            "settle(account), 1 h after the last accrual (index update + settlement)",
            receipt,
            "settle+accrue",
            "the account holds a position",
        )

    def trader_op(name, kind, sender, method, *args, note=""):
        def run():
            t = b.last_accrual() + HOUR
            block(t - 1, *b.submits())
            if method == "trade":
                args_ = (*args, b.mark_price())
            else:
                args_ = args
            (receipt,) = block(t, (sender, m, method, *args_))
            return measure(name, receipt, kind, note)

        return run

    case(settle_same_block)
    case(settle_hour)
    case(
        trader_op(
            "deposit, 1 h after the last accrual",
            "deposit",
            b.trader,
            "deposit",
            1_000 * TOKEN,
            note="accrues, settles the depositor's position",
        )
    )
    case(deposit_same_block)
    case(
        trader_op(
            "withdraw, 1 h after the last accrual",
            "withdraw",
            b.trader,
            "withdraw",
            1_000 * TOKEN,
            note="accrues, settles, checks the margin of the position",
        )
    )
    case(
        trader_op(
            "withdraw by a flat account, 1 h after the last accrual",
            "withdraw",
            b.third_party,
            "withdraw",
            1_000 * TOKEN,
            note="accrues; no position, no margin check",
        )
    )
    case(
        trader_op(
            "trade between two accounts, 1 h after the last accrual",
            "trade",
            b.operator,
            "trade",
            address_of(b.trader),
            address_of(b.counterparty),
            WAD // 2,
            note="accrues, settles both, both positions grow",
        )
    )

    before = time.perf_counter()
    b.fresh_positions(FRESH_ACCOUNTS)
    setup_seconds = time.perf_counter() - before
    case(
        accrue_after(
            HOUR,
            "accrue, 1 h after the last accrual",
            f"{FRESH_ACCOUNTS + 2:,} accounts hold positions",
        )
    )
    case(liquidation(b))
    print(
        f"  gas cases measured in {time.perf_counter() - started:.1f} s "
        f"({FRESH_ACCOUNTS:,} positions built in {setup_seconds:.1f} s)"
    )
    return rows, setup_seconds


RATE_MODELS = {
    "velocity": VelocityParameters(skew_scale=10**6 * WAD, max_velocity=3 * WAD, cap=WAD),
    "skew": SkewParameters(factor=10**12, exponent=1, cap=10**12),
    "external": ExternalParameters(max_rate=10**12, max_change_per_second=10**9),
}


def rate_model_cases() -> list[Measured]:
    """Accrual and accrual + settlement an hour later on a pool market under each rate
    model contract (MATH.md §18), from the same steady state (the counterparty is the vault)."""
    rows = []
    for name, params in RATE_MODELS.items():
        snapshot = chain.snapshot()
        try:
            b = Bench(rate_model=params)
            b.steady_state()
            m, dep = b.market, b.deployer
            inner = chain.snapshot()
            t = b.last_accrual() + HOUR
            *_, receipt = block(t, *b.submits(), (dep, m, "accrue"))
            label = f"accrue, 1 h after the last accrual, {name} model"
            rows.append(measure(label, receipt, "accrue"))
            chain.restore(inner)
            block(t - 1, *b.submits())
            (receipt,) = block(t, (dep, m, "settle", address_of(b.trader)))
            rows.append(
                measure(
                    f"settle(account), 1 h after the last accrual, {name} model",
                    receipt,
                    note="index update + settlement",
                )
            )
        finally:
            chain.restore(snapshot)
    return rows


# ---------------------------------------------------------------- the reference's throughput


class FreshFeed(MockFeed):
    """A feed whose answer was submitted at the very second it is read."""

    def __init__(self, answer: int):
        super().__init__(FEED_DECIMALS)
        self.answer = answer
        self.submit(answer, 0)

    def read(self, now: int, max_age: int):
        return read_round(
            len(self.rounds), Round(self.answer, now, now), self.decimals, now, max_age
        )


def reference_model(accounts_with_positions: int = 0) -> MarketModel:
    config = MarketConfig()
    model = MarketModel(
        now=1_700_000_000,
        owner="owner",
        operator="operator",
        index_feed=FreshFeed(config.index_answer),
        mark_feed=FreshFeed(config.mark_answer),
        params=config.rate_parameters,
        collateral_decimals=TOKEN_DECIMALS,
    )
    price = config.mark_answer * TO_WAD
    for i in range(0, accounts_with_positions, 2):
        buyer, seller = f"trader{i}", f"trader{i + 1}"
        for trader in (buyer, seller):
            model.mint(trader, 10_000 * TOKEN)
            model.approve(trader, 2**256 - 1)
            model.deposit(trader, 10_000 * TOKEN)
        model.trade("operator", buyer, seller, WAD // 10, price)
    return model


def rate(run, minimum: float = 1.0) -> tuple[float, int, float]:
    """Calls ``run(n)`` (n calls each) in growing batches until ``minimum`` seconds pass."""
    calls, elapsed, batch = 0, 0.0, 1_000
    while elapsed < minimum:
        started = time.perf_counter()
        run(batch)
        elapsed += time.perf_counter() - started
        calls += batch
        batch = min(batch * 2, 200_000)
    return calls / elapsed, calls, elapsed


def throughput() -> list[tuple[str, float, int, float]]:
    rng = random.Random(1)
    gaps = [rng.randint(1, HOUR) for _ in range(4_096)]
    results = []

    model = reference_model()

    def accrues(n):
        for i in range(n):
            model.now += gaps[i & 4_095]
            model.accrue()

    results.append(("`accrue()`, `now` advanced 1..3,600 s before each call", *rate(accrues)))

    model = reference_model(1_000)
    traders = list(model.accounts)

    def settles(n):
        for i in range(n):
            model.now += gaps[i & 4_095]
            model.settle(traders[i % 1_000])

    results.append(
        (
            "`settle(account)`, `now` advanced 1..3,600 s before each (accrual included), "
            "1,000 accounts with positions",
            *rate(settles),
        )
    )

    def keeper_rounds(n):
        for _ in range(n // 1_000):
            model.now += 60
            for trader in traders:
                model.settle(trader)

    results.append(
        (
            "`settle(account)` for each of 1,000 accounts with positions after each 60-s step "
            "(one accrual per 1,000 settlements)",
            *rate(keeper_rounds),
        )
    )
    return results


# ---------------------------------------------------------------- report


def pipeline() -> dict[str, tuple[float, int, float]]:
    """Simulate and audit throughput on this anvil: the demo's scenario (30 days of the
    `negative` regime, 10 traders) on a freshly deployed market, then its audit."""
    import tempfile

    from fundingkit.audit import audit_market
    from fundingkit.deployment import deploy_market, load_deployment, network_key
    from fundingkit.scripting import RecordedMarket, network_label
    from fundingkit.simulation import run_simulation
    from oracles.synthetic import synthetic_path

    with tempfile.TemporaryDirectory() as records:
        deployment, path = deploy_market(
            accounts.test_accounts[0], force=True, directory=Path(records)
        )
        record = load_deployment(network_key(), directory=Path(records))
        market = RecordedMarket(record, path, network_label(), ephemeral=False)
        points = synthetic_path("negative", days=30, seed=7, start_time=0, step=3_600)
        started = time.perf_counter()
        summary = run_simulation(
            market,
            points,
            traders=10,
            trade_every=7_200,
            keeper_every=3_600,
            seed=7,
            progress=False,
        )
        simulate_seconds = time.perf_counter() - started
    sent = summary.transactions
    started = time.perf_counter()
    result = audit_market(deployment.market.address, from_block=record.block)
    audit_seconds = time.perf_counter() - started
    assert summary.ok and result.passed, "the benchmark scenario must simulate and audit cleanly"
    return {
        "simulate": (sent / simulate_seconds, sent, simulate_seconds),
        "audit": (result.events / audit_seconds, result.events, audit_seconds),
    }


def sizes() -> tuple[str, list[tuple[str, int, int]]]:
    result = subprocess.run(
        ["ape", "compile", "--size"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    text = (result.stdout + result.stderr).splitlines()
    names = (
        "FundingMarket",
        "VolatilityCap",
        "VelocityRateModel",
        "SkewRateModel",
        "ExternalRateModel",
        "CollateralToken",
        "MockOracle",
    )
    lines = [
        line.rstrip()
        for line in text
        if "Bytecode Sizes" in line or any(line.strip().startswith(name) for name in names)
    ]
    ours = []
    for name in names:
        contract_type = getattr(project, name).contract_type
        runtime = len(bytes.fromhex(contract_type.runtime_bytecode.bytecode.removeprefix("0x")))
        init = len(bytes.fromhex(contract_type.deployment_bytecode.bytecode.removeprefix("0x")))
        ours.append((name, runtime, init))
    return "\n".join(lines), ours


def tool_versions() -> dict[str, str]:
    def first_line(*cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
            return out.splitlines()[0].strip() if out else "?"
        except OSError:
            return "?"

    info = rpc("anvil_nodeInfo")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "anvil": first_line("anvil", "--version"),
        "anvil hardfork": str(info.get("hardFork", "?")),
        "vyper": first_line("vyper", "--version"),
        "eth-ape": importlib.metadata.version("eth-ape"),
        "ape-foundry": importlib.metadata.version("ape-foundry"),
        "python": platform.python_version(),
        "cpu": f"{platform.machine()} x {os.cpu_count()} (load average {load} at the end)",
    }


def status(value: int, target: int | None) -> str:
    if target is None:
        return ""
    return "ok" if value <= target else f"**over by {value - target:,}**"


def previous_gas(path: Path) -> dict[str, int]:
    """Each transaction's gas (keyed by ``gas_key``) in the gas table of the report already
    at ``path`` (the last committed run), to show what a change cost; empty without one."""
    if not path.exists():
        return {}
    gas, in_table = {}, False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            in_table = line == "## Gas per transaction (anvil)"
        elif in_table and line.startswith("| ") and not line.startswith("| transaction"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if len(cells) > 1 and cells[1].replace(",", "").isdigit():
                gas[f"{cells[0]} ({cells[-1]})"] = int(cells[1].replace(",", ""))
    return gas


def gas_key(row) -> str:
    """A gas row's name with its conditions: two rows may share a name."""
    return f"{row.name} ({row.note or '-'})"


def render(
    rows, setup_seconds, rates, pipeline_rates, size_text, size_rows, versions, previous
) -> str:
    out = [
        "# Benchmarks",
        "",
        "Generated by `scripts/bench.py`; do not edit by hand. Regenerate with:",
        "",
        "```sh",
        COMMAND,
        "```",
        "",
        "Measured with " + ", ".join(f"{k} `{v}`" for k, v in versions.items()) + ".",
        "",
        "## Gas per transaction (anvil)",
        "",
        "| transaction | gas used | target | vs target | SLOAD: market + callees (cold) "
        "| SSTORE | TLOAD+TSTORE "
        "| external calls (cold) | LOGs | floor | above floor | conditions |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        target = TARGETS.get(r.kind)
        out.append(
            f"| {r.name} | {r.gas:,} | {f'{target:,}' if target else '-'} | "
            f"{status(r.gas, target) or '-'} | {r.sload_market} + {r.sload - r.sload_market} "
            f"({r.sload_cold}) | {r.sstore} | "
            f"{r.tload_tstore} | {r.calls} ({r.calls_cold}) | {r.logs} | {r.floor:,} | "
            f"{r.overhead:,} | {r.note or '-'} |"
        )
    by_name = {r.name: r for r in rows}
    changed = [r for r in rows if previous.get(gas_key(r), r.gas) != r.gas]
    out += [
        "",
        "## Change since the previous report",
        "",
        "Gas against the report this one replaced (an operation more than 10 % dearer is "
        "explained in the commit that made it so, and in the closing note of its issue).",
        "",
    ]
    if changed:
        out += ["| transaction | before | after | change |", "|---|---:|---:|---:|"]
        for r in changed:
            before = previous[gas_key(r)]
            change = f"{100 * (r.gas - before) / before:+.1f} %"
            flag = " **over 10 %**" if r.gas > before * 1.1 else ""
            out.append(f"| {gas_key(r)} | {before:,} | {r.gas:,} | {change}{flag} |")
    else:
        out.append("No transaction's gas changed.")
    out += [
        "",
        "Opcode counts are over every call depth (the oracles' and the token's own storage "
        "reads are included). **floor** = intrinsic gas (21,000 + calldata) + the gas of every "
        "SLOAD, SSTORE, TLOAD, TSTORE and LOG executed + 2,600 per cold / 100 per warm external "
        "call: what this storage layout and these calls cost on the EVM with no computation at "
        "all. **above floor** = gas used - floor: computation, memory, ABI encoding, refunds "
        "not counted.",
        "",
        "## Against dYdX perpetual (P1), same anvil",
        "",
        "| operation | dYdX P1 | fundingkit | difference | fundingkit transaction |",
        "|---|---:|---:|---:|---|",
    ]
    for theirs, label, names in DYDX:
        for name in names:
            mine = by_name[name]
            out.append(f"| {label} | {theirs:,} | {mine.gas:,} | {mine.gas - theirs:+,} | {name} |")
    out += [
        "",
        "## Reference throughput (Python, one core)",
        "",
        "| operation | calls per second | calls timed | seconds |",
        "|---|---:|---:|---:|",
    ]
    for label, per_second, calls, elapsed in rates:
        out.append(f"| {label} | {per_second:,.0f} | {calls:,} | {elapsed:.2f} |")
    accrue_rate = rates[0][1]
    out += [
        "",
        f"Target: >= 100,000 accruals/s -- {'met' if accrue_rate >= 100_000 else '**not met**'} "
        f"({accrue_rate:,.0f}/s). Feeds answer fresh at every read (a new round stamped with "
        "the read's `now`), so each accrual samples both prices.",
        "",
        "## Simulate and audit on anvil",
        "",
        "The demo's scenario (30 days of the `negative` regime, 10 traders, hourly prices and "
        "keeper, a trade about every two hours) on a freshly deployed market, then its audit. "
        "Wall-clock time on this 2-core machine, anvil included; the same numbers are printed "
        "by `ape run simulate` and `ape run audit`.",
        "",
        "| step | per second | count | seconds | target |",
        "|---|---:|---:|---:|---:|",
        "| `ape run simulate` transactions | {:,.0f} | {:,} | {:.1f} | >= 200 |".format(
            *pipeline_rates["simulate"]
        ),
        "| `ape run audit` events (fetch, decode, replay, final state) | {:,.0f} | {:,} | {:.2f} "
        "| >= 5,000 |".format(*pipeline_rates["audit"]),
        "",
        "## Contract sizes",
        "",
        "| contract | runtime bytes | of 24,576 (EIP-170) | initcode bytes "
        "| of 49,152 (EIP-3860) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runtime, init in size_rows:
        out.append(
            f"| {name} | {runtime:,} | {runtime / 24_576:.1%} | {init:,} | {init / 49_152:.1%} |"
        )
    out += ["", "`ape compile --size`:", "", "```", size_text or "(no output)", "```", ""]
    out += [
        "## Method",
        "",
        "- Every Ape process starts its own anvil (`foundry: host: auto`); the market is deployed "
        "with `fundingkit.deployment.deploy` and the default `MarketConfig`.",
        "- **Steady state** before each case: a trader (long) and a counterparty (short) hold "
        "a position, a third party holds margin only, the surplus and the funding index are "
        "non-zero and every account is settled, so no measured write turns a zero slot "
        "non-zero except where the case itself requires it. Each case starts from that "
        "state (`chain.snapshot()` / `chain.restore()`).",
        "- **Fresh feeds, moving prices**: before each measured transaction the feeder submits a "
        "new index and mark answer (in the same block, earlier, or in the block before), so the "
        "feeds are never stale and the market's samples change.",
        "- **Exact timing**: blocks are mined at chosen timestamps (`evm_setNextBlockTimestamp`); "
        "several transactions go into one block with automine off and one `evm_mine`, in the "
        "nonce order of their single sender. The gaps are measured from `last_accrual`.",
        "- **Gas** is the receipt's `gasUsed`. Opcodes come from `debug_traceTransaction` "
        "struct logs (anvil runs with `--steps-tracing`). Transactions are sent with "
        "`eth_sendTransaction` and an explicit gas limit (no estimate), gas price 0.",
        f"- **{FRESH_ACCOUNTS:,} positions**: {FRESH_ACCOUNTS:,} fresh addresses, impersonated "
        "with `anvil_autoImpersonateAccount`, are each minted, approve and deposit; the operator "
        f"then matches {FRESH_ACCOUNTS // 2:,} trades between them -- "
        f"{FRESH_ACCOUNTS * 3 + FRESH_ACCOUNTS // 2:,} ordinary transactions "
        f"({setup_seconds:.1f} s), no storage patching. Accrual is O(1): the gas does not "
        "depend on the number of accounts.",
        "- **Reference throughput**: `time.perf_counter` around batches of calls until at "
        "least 1 s has passed, one process, no other load from this script.",
        "",
    ]
    return "\n".join(out)


@click.command(cls=ConnectedProviderCommand, short_help="gas and throughput -> docs/BENCHMARKS.md")
def cli(network):
    if not network.is_local:
        raise click.UsageError("the benchmarks run on the local network only")
    started = time.perf_counter()
    # Simulate and audit first, on a fresh chain: the gas cases leave 1,000 accounts behind.
    print("fundingkit bench: simulate and audit on anvil ...")
    pipeline_rates = pipeline()
    print("gas on anvil ...")
    bench = Bench()
    rows, setup_seconds = gas_cases(bench)
    rows += rate_model_cases()
    print("reference throughput ...")
    rates = throughput()
    print("contract sizes ...")
    size_text, size_rows = sizes()
    versions = tool_versions()
    previous = previous_gas(OUTPUT)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(
        render(rows, setup_seconds, rates, pipeline_rates, size_text, size_rows, versions, previous)
    )
    width = max(len(r.name) for r in rows)
    for r in rows:
        print(f"  {r.name:<{width}} {r.gas:>9,}  (floor {r.floor:,})")
    for label, per_second, _, _ in rates:
        print(f"  {per_second:>12,.0f}/s  {label[:70]}")
    for step, (per_second, count, seconds) in pipeline_rates.items():
        print(f"  {per_second:>12,.0f}/s  {step} ({count:,} in {seconds:.1f} s)")
    print(f"wrote {OUTPUT.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")
    sys.stdout.flush()
