"""The audit (fundingkit.audit) on titanoboa: a market's raw logs, shaped as a node's
``eth_getLogs`` answer, decoded and replayed through the reference.

Fast and chain-free: it proves the audit passes on an honest market over every kind of
call (with calls that accrue and calls in the second of the last accrual), that it
names the quantity when one logged value is off by a single wei, that it refuses logs
that do not start at the deployment, and that it streams.
"""

import random
from dataclasses import replace

import boa
import pytest
from conftest import deploy
from deployers import ORACLE

from fundingkit.audit import (
    AuditError,
    Series,
    audit_events,
    decode_logs,
    fetch_raw_logs,
    find_deployment_block,
)
from fundingkit.rates import RateParameters

WAD = 10**18
USD = 10**6
HOUR = 3_600
ANSWER = 10**8  # one USD in the feeds' 8 decimals


class Tape:
    """The market's raw logs, one fake block per transaction, as JSON-RPC dicts."""

    def __init__(self, d):
        self.d = d
        self.raw: list[dict] = []
        self.take()  # the deployment's logs

    def take(self) -> None:
        market = self.d.market
        address = bytes.fromhex(str(market.address)[2:])
        block = len({log["blockNumber"] for log in self.raw}) + 1
        tx_hash = "0x" + block.to_bytes(32, "big").hex()
        entries = sorted(market._computation.get_raw_log_entries())
        logs = [e for e in entries if bytes(e[1]) == address]
        for log_index, (_, _, topics, data) in enumerate(logs):
            self.raw.append(
                {
                    "address": str(market.address).lower(),
                    "topics": ["0x" + topic.to_bytes(32, "big").hex() for topic in topics],
                    "data": "0x" + bytes(data).hex(),
                    "blockNumber": hex(block),
                    "transactionHash": tx_hash,
                    "logIndex": hex(log_index),
                    "removed": False,
                }
            )

    def send(self, method: str, *args, sender) -> None:
        """A market transaction; its logs are taped only when it succeeds."""
        getattr(self.d.market, method)(*args, sender=sender)
        self.take()


def final_state(market):
    def account(address: str) -> tuple[int, int, int]:
        return tuple(market.accounts(address))

    def totals() -> dict[str, int]:
        names = ("funding_index", "last_accrual", "sampled_price", "sampled_premium")
        names += ("interval_start", "premium_sum", "last_premium_average")
        names += ("total_collateral", "surplus", "interval", "interest", "dampener", "cap")
        names += ("max_age", "initial_margin_ratio", "price_band", "paused")
        return {name: int(getattr(market, name)()) for name in names}

    return account, totals


def audit(d, raw):
    account, totals = final_state(d.market)
    return audit_events(decode_logs(iter(raw), d.market.abi), account, final_market=totals)


@pytest.fixture
def market_run():
    """A market on titanoboa and its tape, rolled back afterwards."""
    with boa.env.anchor():
        d = deploy()
        yield d, Tape(d)


def scenario(d, tape: Tape) -> dict:
    """Every kind of call, including calls in the second of the last accrual."""
    trader = boa.env.generate_address("trader")
    counterparty = boa.env.generate_address("counterparty")
    keeper = boa.env.generate_address("keeper")
    for account in (trader, counterparty):
        d.token.mint(account, 100_000 * USD, sender=d.owner)
        d.token.approve(d.market, 2**256 - 1, sender=account)
    d.advance(60)
    tape.send("deposit", 20_000 * USD, sender=trader)
    tape.send("deposit", 20_000 * USD, sender=counterparty)  # same second: no Accrued
    tape.send("trade", trader, counterparty, WAD // 3, 50_050 * WAD, sender=d.operator)
    d.advance(9 * HOUR)  # over the first interval boundary
    d.submit(49_900 * ANSWER, 49_700 * ANSWER)
    tape.send("accrue", sender=keeper)
    tape.send("settle", trader, sender=keeper)
    tape.send("settle", counterparty, sender=keeper)
    d.advance(2 * HOUR)  # a stale stretch: the answers are older than max_age
    tape.send("accrue", sender=keeper)
    tape.send("settle", trader, sender=keeper)
    d.advance(HOUR)
    d.submit(49_950 * ANSWER, 50_200 * ANSWER)
    tape.send("withdraw", 1_000 * USD, sender=trader)  # accrues: the margin is re-checked
    tape.send("withdraw", 500 * USD, sender=trader)  # same second: not re-checked
    tape.send("set_rate_parameters", 4 * HOUR, 10**14, 2 * 10**14, 10**16, sender=d.owner)
    d.advance(30 * HOUR)  # several whole intervals in one gap
    d.submit(50_100 * ANSWER, 50_300 * ANSWER)
    tape.send("set_max_age", 7_200, sender=d.owner)
    tape.send("set_risk_parameters", 2 * 10**17, 10**17, 2 * 10**16, 10**16, 3_600, sender=d.owner)
    tape.send("pause", sender=d.owner)
    d.advance(HOUR)
    tape.send("unpause", sender=d.owner)
    index_oracle = ORACLE.deploy(8, "BTC / USD", d.feeder, sender=d.owner)
    mark_oracle = ORACLE.deploy(8, "BTC-PERP / USD", d.feeder, sender=d.owner)
    with boa.env.prank(d.feeder):
        index_oracle.submit(50_000 * ANSWER)
        mark_oracle.submit(49_900 * ANSWER)
    d.advance(60)
    tape.send("set_oracles", index_oracle, mark_oracle, sender=d.owner)
    tape.send("set_operator", keeper, sender=d.owner)
    d.advance(5 * HOUR)
    with boa.env.prank(d.feeder):
        index_oracle.submit(50_000 * ANSWER)
        mark_oracle.submit(49_950 * ANSWER)
    tape.send("trade", counterparty, trader, WAD // 7, 49_950 * WAD, sender=keeper)
    tape.send("transfer_ownership", keeper, sender=d.owner)
    tape.send("accept_ownership", sender=keeper)
    # A thin long, a small insurance fund, a crash: the liquidation's shortfall is
    # covered partly by the insurance account and the rest socialised to the shorts.
    thin = boa.env.generate_address("thin")
    d.token.mint(thin, 2_000 * USD, sender=d.owner)
    d.token.approve(d.market, 2**256 - 1, sender=thin)
    tape.send("deposit", 2_000 * USD, sender=thin)
    tape.send("trade", thin, counterparty, WAD // 10, 49_950 * WAD, sender=keeper)
    tape.send("fund_insurance", 10 * USD, sender=counterparty)
    d.advance(HOUR)
    with boa.env.prank(d.feeder):
        index_oracle.submit(29_000 * ANSWER)
        mark_oracle.submit(29_000 * ANSWER)
    tape.send("liquidate", thin, sender=trader)
    d.advance(8 * HOUR)
    tape.send("settle", trader, sender=keeper)
    tape.send("settle", counterparty, sender=keeper)
    return {"trader": trader, "counterparty": counterparty, "thin": thin}


def test_an_honest_market_passes(market_run):
    d, tape = market_run
    scenario(d, tape)
    result = audit(d, tape.raw)
    assert result.mismatches == [] and result.passed
    assert result.events == len(tape.raw)
    assert result.transactions == len({log["transactionHash"] for log in tape.raw})
    assert result.accounts == 4  # trader, counterparty, the thin long, the insurance
    assert result.unchecked_withdrawals == 1
    assert result.final_state_compared
    for call in ("deposit", "withdraw", "trade", "accrue", "settle", "set_rate_parameters"):
        assert result.calls.get(call), call
    for call in ("set_oracles", "set_max_age", "set_risk_parameters", "pause", "unpause"):
        assert result.calls.get(call), call
    assert result.calls.get("accept_ownership") == 1
    assert result.calls.get("liquidate") == 1 and result.calls.get("fund_insurance") == 1
    logs = decode_logs(iter(tape.raw), d.market.abi)
    (covered,) = [log.args for log in logs if log.name == "ShortfallCovered"]
    assert covered["by_insurance"] > 0 and covered["socialised"] > 0
    assert result.checks > 60
    assert result.accruals.last.funding_index == d.market.funding_index()
    assert any(point.stale for point in result.accruals.items())
    paid = sum(summary.funding_paid for summary in result.account_summaries.values())
    assert paid != 0 or result.longs_paid.last is None


def _tamper(raw: list[dict], event_topic_name: str, abi, word: int, delta: int) -> list[dict]:
    """A copy of ``raw`` with one data word of the first ``event_topic_name`` log moved."""
    from eth_utils import event_abi_to_log_topic

    entry = next(e for e in abi if e.get("type") == "event" and e["name"] == event_topic_name)
    topic = "0x" + event_abi_to_log_topic(entry).hex()
    copy = [dict(log) for log in raw]
    for log in copy:
        if log["topics"][0] == topic:
            data = bytearray(bytes.fromhex(log["data"][2:]))
            value = int.from_bytes(data[32 * word : 32 * word + 32], "big", signed=True)
            data[32 * word : 32 * word + 32] = (value + delta).to_bytes(32, "big", signed=True)
            log["data"] = "0x" + data.hex()
            return copy
    raise AssertionError(f"no {event_topic_name} log")


@pytest.mark.parametrize(
    "event, word, quantity",
    [
        ("FundingSettled", 2, "FundingSettled.owed"),  # data: funding_index, position, owed
        ("FundingSettled", 0, "FundingSettled.funding_index"),
        ("Accrued", 1, "Accrued.funding_index"),
        ("Deposited", 1, "Deposited.margin"),
        ("Withdrawn", 1, "Withdrawn.margin"),
        ("Liquidated", 2, "Liquidated.fee"),  # data: position, price, fee
        ("ShortfallCovered", 2, "ShortfallCovered.socialised"),  # shortfall, by_insurance, ...
        ("InsuranceFunded", 1, "InsuranceFunded.margin"),
    ],
)
def test_one_wei_off_is_named(market_run, event, word, quantity):
    d, tape = market_run
    scenario(d, tape)
    result = audit(d, _tamper(tape.raw, event, d.market.abi, word, 1))
    assert not result.passed
    first = result.mismatches[0]
    assert first.quantity == quantity
    assert first.actual == first.expected + 1
    assert first.transaction.startswith("0x") and first.block > 0


def test_a_trade_the_reference_rejects_is_a_mismatch(market_run):
    d, tape = market_run
    scenario(d, tape)
    # The first trade's price moved 5 % away from the mark: outside the 1 % band.
    result = audit(d, _tamper(tape.raw, "Traded", d.market.abi, 1, 2_500 * WAD))
    quantities = [m.quantity for m in result.mismatches]
    assert any("call accepted (trade" in q and "price outside the band" in q for q in quantities)


def test_a_missing_deposit_shows_in_the_final_state(market_run):
    d, tape = market_run
    scenario(d, tape)
    from eth_utils import event_abi_to_log_topic

    entry = next(e for e in d.market.abi if e.get("name") == "Deposited")
    topic = "0x" + event_abi_to_log_topic(entry).hex()
    first = next(i for i, log in enumerate(tape.raw) if log["topics"][0] == topic)
    result = audit(d, tape.raw[:first] + tape.raw[first + 1 :])
    finals = {(m.transaction, m.quantity) for m in result.mismatches}
    assert ("final state", "margin") in finals and ("final state", "total_collateral") in finals


def test_logs_must_start_at_the_deployment(market_run):
    d, tape = market_run
    scenario(d, tape)
    with pytest.raises(AuditError, match="do not start at the market's deployment"):
        audit(d, tape.raw[6:])
    with pytest.raises(AuditError, match="no MarketInitialised"):
        audit_events(iter(()))


def test_logs_are_consumed_as_a_stream(market_run):
    d, tape = market_run
    scenario(d, tape)
    pulled = []

    def stream():
        for log in tape.raw:
            pulled.append(log)
            yield log

    result = audit_events(decode_logs(stream(), d.market.abi))
    assert result.passed and len(pulled) == len(tape.raw)
    assert not result.final_state_compared


def test_series_thin_to_their_limit_and_keep_the_last_point():
    series = Series(limit=10)
    for i in range(1_000):
        series.append(i)
    points = series.items()
    assert len(points) <= 12 and points[0] == 0 and points[-1] == 999
    assert points == sorted(points) and len(series) == 1_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_runs_pass(seed):
    """Random deposits, withdrawals, trades, price moves and gaps; reverts are skipped."""
    rng = random.Random(seed)
    with boa.env.anchor():
        d = deploy(params=replace(RateParameters(), interval=rng.choice([HOUR, 4 * HOUR])))
        tape = Tape(d)
        traders = [boa.env.generate_address(f"trader{i}") for i in range(4)]
        for trader in traders:
            d.token.mint(trader, 10**6 * USD, sender=d.owner)
            d.token.approve(d.market, 2**256 - 1, sender=trader)
        index = 50_000 * ANSWER
        for _ in range(120):
            action = rng.random()
            trader, other = rng.sample(traders, 2)
            try:
                if action < 0.2:
                    tape.send("deposit", rng.randint(1, 30_000) * USD, sender=trader)
                elif action < 0.3:
                    tape.send("withdraw", rng.randint(1, 5_000) * USD, sender=trader)
                elif action < 0.55:
                    mark = index * (10_000 + rng.randint(-50, 50)) // 10_000
                    d.submit(index, mark)
                    price = mark * 10**10 + rng.randint(-100, 100) * WAD
                    size = rng.randint(1, 10**18)
                    tape.send("trade", trader, other, size, price, sender=d.operator)
                elif action < 0.7:
                    d.advance(rng.choice([1, 600, HOUR, 3 * HOUR, 9 * HOUR, 40 * HOUR]))
                    if rng.random() < 0.8:
                        index = index * (10_000 + rng.randint(-80, 80)) // 10_000
                        d.submit(index, index * (10_000 + rng.randint(-60, 60)) // 10_000)
                elif action < 0.85:
                    tape.send("settle", trader, sender=other)
                else:
                    tape.send("accrue", sender=other)
            except boa.BoaError:
                pass
        for trader in traders:
            d.advance(1)
            tape.send("settle", trader, sender=d.owner)
        result = audit(d, tape.raw)
        assert result.mismatches == [] and result.passed, result.mismatches[:3]
        assert result.checks > result.events


def test_pages_of_blocks_halve_when_the_node_refuses_them():
    """eth_getLogs in pages; a page the node finds too large is asked again in halves."""
    logs = [
        {"blockNumber": hex(block), "logIndex": hex(i), "removed": block == 7}
        for block in range(3, 40, 2)
        for i in (1, 0)
    ]
    asked = []

    def request(method, params):
        assert method == "eth_getLogs"
        first, last = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        asked.append((first, last))
        if last - first >= 8:
            raise ValueError("query exceeds the limit of 8 blocks")
        return [log for log in logs if first <= int(log["blockNumber"], 16) <= last]

    got = list(fetch_raw_logs(request, "0x" + "11" * 20, 0, 39, page=32))
    expected = sorted(
        (log for log in logs if not log["removed"]),
        key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)),
    )
    assert got == expected
    assert asked[:3] == [(0, 31), (0, 15), (0, 7)]
    assert all(last - first < 8 for first, last in asked[3:])


def test_the_deployment_block_is_found_without_old_state(market_run):
    """Binary search on eth_getCode; a node without old state (anvil keeps only recent
    ones) makes it look for the MarketInitialised log instead."""
    d, tape = market_run
    from eth_utils import event_abi_to_log_topic

    entry = next(e for e in d.market.abi if e.get("name") == "MarketInitialised")
    topic = "0x" + event_abi_to_log_topic(entry).hex()
    deployed, head = 1_234, 9_999

    def request(method, params):
        if method == "eth_getCode":
            block = int(params[1], 16)
            if old_state_pruned and block < head - 100:
                raise ValueError("BlockOutOfRangeError: block height is 9999 but requested was 7")
            return "0x6001" if block >= deployed else "0x"
        assert params[0]["topics"] == [topic]
        first, last = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        found = first <= deployed <= last
        return [{"blockNumber": hex(deployed), "logIndex": "0x3"}] if found else []

    old_state_pruned = False
    assert find_deployment_block(request, "0x" + "22" * 20, head, abi=d.market.abi) == deployed
    old_state_pruned = True
    assert find_deployment_block(request, "0x" + "22" * 20, head, abi=d.market.abi) == deployed
