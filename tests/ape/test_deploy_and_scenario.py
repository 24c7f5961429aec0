"""The market on anvil, through Ape: deployment, a short scenario, events vs the reference.

Every transaction goes through ``fundingkit.deployment.InStep``, which replays it in the
reference model at the receipt's block timestamp; each event decoded from a receipt is
checked field by field against the model. Reverts are tested with transactions (under
``--gas``/``--coverage`` a reverting *call* returns 0 instead of raising).
"""

import ape
import pytest

from fundingkit.deployment import (
    FEED_DECIMALS,
    TOKEN_DECIMALS,
    NoDeploymentRecorded,
    account_state,
    load_deployment,
    record_deployment,
)
from fundingkit.feeds import FeedStatus
from fundingkit.market import Rejected

HOUR = 3_600
WAD = 10**18
TOKEN = 10**TOKEN_DECIMALS
TO_WAD = 10 ** (18 - FEED_DECIMALS)


def only(receipt, event):
    logs = list(receipt.decode_logs(event))
    assert len(logs) == 1, f"expected one {event.name}, got {len(logs)}"
    return logs[0]


def test_deployment_emits_its_starting_state(deployment, config, in_step):
    d, model = deployment, in_step.model
    receipt = d.market.creation_metadata.receipt
    assert receipt.block_number == d.block and receipt.timestamp == d.timestamp
    log = only(receipt, d.market.MarketInitialised)
    assert log.collateral == d.token.address
    assert log.collateral_scale == model.collateral_scale == 10**12
    assert log.index_oracle == d.index_oracle.address
    assert log.mark_oracle == d.mark_oracle.address
    assert (log.interval, log.interest, log.dampener, log.cap) == (
        config.interval,
        config.interest,
        config.dampener,
        config.cap,
    )
    assert log.max_age == model.max_age == config.max_age
    assert log.index_price == model.sampled_price == config.index_answer * TO_WAD
    assert log.mark_price == config.mark_answer * TO_WAD
    assert log.timestamp == model.last_accrual == d.timestamp
    assert d.token.decimals() == TOKEN_DECIMALS and d.token.symbol() == "TUSD"
    assert d.index_oracle.description() == "BTC / USD"
    assert d.mark_oracle.description() == "BTC-PERP / USD"
    assert d.index_oracle.feeder() == d.mark_oracle.feeder() == d.deployer.address
    assert d.market.operator() == d.operator.address
    assert all(chain == ref for _, chain, ref in in_step.compare())


def test_record_and_load(deployment, tmp_path):
    with pytest.raises(NoDeploymentRecorded):
        load_deployment("local", directory=tmp_path)
    path = record_deployment(deployment, directory=tmp_path)
    assert path == tmp_path / "local.json"
    record = load_deployment(directory=tmp_path)
    assert record.addresses["market"] == deployment.market.address
    assert record.block == deployment.block and record.config == deployment.config
    assert record.chain_id == ape.chain.chain_id


def test_scenario_events_match_the_reference(in_step, traders, keeper, chain):
    s, d, model = in_step, in_step.deployment, in_step.model
    market = d.market
    trader, counterparty, third_party = traders
    for account in traders:
        s.fund(account, 100_000 * TOKEN)
        receipt = s.deposit(account, 20_000 * TOKEN)
        log = only(receipt, market.Deposited)
        assert log.account == account.address and log.amount == 20_000 * TOKEN
        assert log.margin == model.account(account.address).margin == 20_000 * WAD

    def check_trade(receipt, buyer, seller, size, price):
        log = only(receipt, market.Traded)
        assert (log.buyer, log.seller) == (buyer.address, seller.address)
        assert (log.size, log.price) == (size, price)
        assert log.index_price == model.index_feed.read(model.now, model.max_age).price
        assert log.mark_price == model.mark_feed.read(model.now, model.max_age).price

    mark = d.config.mark_answer * TO_WAD
    receipt = s.trade(trader, counterparty, WAD, mark)
    check_trade(receipt, trader, counterparty, WAD, mark)
    receipt = s.trade(third_party, trader, WAD // 4, mark - mark // 1_000)
    check_trade(receipt, third_party, trader, WAD // 4, mark - mark // 1_000)

    # Over the 8-hour interval boundary, with the perp now at a discount.
    chain.pending_timestamp += 9 * HOUR
    s.submit(49_900 * 10**8, 49_700 * 10**8)
    receipt = s.accrue(keeper)
    assert s.last_result is True
    assert model.interval_state.interval_start == d.timestamp + d.config.interval
    log = only(receipt, market.Accrued)
    assert log.timestamp == model.last_accrual == receipt.timestamp
    assert log.funding_index == model.funding_index != 0
    assert log.index_price == model.sampled_price == 49_900 * 10**8 * TO_WAD
    assert log.mark_price == 49_700 * 10**8 * TO_WAD
    assert (log.index_round, log.mark_round) == (2, 2)
    assert log.index_status == log.mark_status == FeedStatus.OK

    for settled_account in traders:
        position = model.account(settled_account.address).position
        accrued_at = model.last_accrual
        receipt = s.settle(keeper, settled_account)
        log = only(receipt, market.FundingSettled)
        account = model.account(settled_account.address)
        assert log.account == settled_account.address
        assert log.funding_index == model.funding_index == account.index_snapshot
        assert log.position == position == account.position
        assert log.owed == s.last_result != 0
        accrued = list(receipt.decode_logs(market.Accrued))  # none if in the same second
        assert [log.timestamp for log in accrued] == (
            [receipt.timestamp] if receipt.timestamp > accrued_at else []
        )

    # An hour later, a trade accrues and settles both sides before moving them.
    chain.pending_timestamp += HOUR
    s.submit(49_800 * 10**8, 49_750 * 10**8)
    before = {t.address: model.account(t.address).position for t in (counterparty, third_party)}
    receipt = s.trade(counterparty, third_party, WAD // 2, 49_750 * WAD)
    check_trade(receipt, counterparty, third_party, WAD // 2, 49_750 * WAD)
    assert only(receipt, market.Accrued).funding_index == model.funding_index
    settled = list(receipt.decode_logs(market.FundingSettled))
    assert [log.account for log in settled] == [counterparty.address, third_party.address]
    for log in settled:
        assert log.position == before[log.account]
        assert log.funding_index == model.account(log.account).index_snapshot
    assert (
        model.account(counterparty.address).position,
        model.account(third_party.address).position,
    ) == (
        before[counterparty.address] + WAD // 2,
        before[third_party.address] - WAD // 2,
    )

    mismatches = [row for row in s.compare(traders) if row[1] != row[2]]
    assert mismatches == []


def test_only_the_operator_trades(in_step, traders, market, chain):
    trader, counterparty, _ = traders
    for account in (trader, counterparty):
        in_step.fund(account, 10_000 * TOKEN)
        in_step.deposit(account, 10_000 * TOKEN)
    mark = in_step.deployment.config.mark_answer * TO_WAD
    height = chain.blocks.height
    with ape.reverts("market: caller is not the operator"):
        # A transaction, mined and reverted (the gas limit skips Ape's estimate).
        market.trade(trader, counterparty, WAD // 10, mark, sender=trader, gas=500_000)
    assert chain.blocks.height == height + 1  # it was mined
    with pytest.raises(Rejected, match="caller is not the operator"):
        in_step.model.trade(trader.address, trader.address, counterparty.address, WAD // 10, mark)
    assert account_state(market, trader).position == 0
