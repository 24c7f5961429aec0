"""The integer reference stays within its documented distance of exact arithmetic.

Random sequences of accruals, trades, deposits and settlements run through the
integer ``MarketModel`` and the rational ``ExactMarket``. After every step the
index and every margin must sit within the running bound of docs/MATH.md:
per accrual 1 + 2 * p * dt / (T * WAD) wei on the index; per settlement one wei
plus |position| * (index error now + index error at the snapshot) / WAD on the
margin; one wei per trade leg.
"""

import math

from hypothesis import given
from hypothesis import strategies as st

from fundingkit.exact import ExactMarket
from fundingkit.feeds import MockFeed
from fundingkit.market import MarketModel, Rejected
from fundingkit.rates import RateParameters
from fundingkit.vyper_math import WAD

TRADERS = ["trader0", "trader1", "trader2"]
START = 1_700_000_000

operations = st.lists(
    st.one_of(
        st.tuples(st.just("time"), st.integers(1, 40 * 86_400)),
        st.tuples(st.just("prices"), st.integers(1, 10**7), st.integers(-300, 300)),
        st.tuples(st.just("accrue")),
        st.tuples(st.just("settle"), st.sampled_from(TRADERS)),
        st.tuples(st.just("deposit"), st.sampled_from(TRADERS), st.integers(1, 10**12)),
        st.tuples(
            st.just("trade"),
            st.sampled_from(TRADERS),
            st.sampled_from(TRADERS),
            st.integers(1, 10 * WAD),
        ),
        st.tuples(
            st.just("trade"),
            st.sampled_from(TRADERS),
            st.sampled_from(TRADERS),
            st.integers(1, 10 * WAD),
        ),
    ),
    max_size=60,
)


@given(ops=operations, interval=st.sampled_from([3_600, 8 * 3_600]))
def test_integer_model_stays_within_the_bound(ops, interval):
    index_feed, mark_feed = MockFeed(8), MockFeed(8)
    index_feed.submit(50_000 * 10**8, START)
    mark_feed.submit(50_050 * 10**8, START)
    params = RateParameters(interval=interval)
    model = MarketModel(
        now=START,
        owner="owner",
        operator="operator",
        index_feed=index_feed,
        mark_feed=mark_feed,
        params=params,
        max_age=3 * 86_400,
        collateral_decimals=6,
    )
    exact = ExactMarket(
        now=START, params=params, index_feed=index_feed, mark_feed=mark_feed, max_age=3 * 86_400
    )
    index_bound = 0  # running bound on |F_int - F_exact|
    margin_bound = {t: 0 for t in TRADERS}
    index_bound_at_snapshot = {t: 0 for t in TRADERS}
    for trader in TRADERS:  # each starts with 1M USD of margin
        model.mint(trader, 10**30)
        model.approve(trader, 10**30)
        model.deposit(trader, 10**12)
        exact.deposit(trader, 10**12 * model.collateral_scale)

    def accrue():
        nonlocal index_bound
        gap = model.now - model.last_accrual
        held_price = model.sampled_price
        model.accrue()
        exact.accrue()
        if gap:
            index_bound += 1 + math.ceil(2 * held_price * gap / (interval * WAD))

    def settled(trader, position):
        margin_bound[trader] += 1 + math.ceil(
            abs(position) * (index_bound + index_bound_at_snapshot[trader]) / WAD
        )
        index_bound_at_snapshot[trader] = index_bound

    for op in ops:
        kind = op[0]
        if kind == "time":
            model.now = exact.now = model.now + op[1]
        elif kind == "prices":
            index = op[1] * 10**6
            index_feed.submit(index, model.now)
            mark_feed.submit(index * (10_000 + op[2]) // 10_000, model.now)
        else:
            accrue()  # every other call accrues first; the call's own accrual is then a no-op
        if kind == "settle":
            settled(op[1], model.account(op[1]).position)
            model.settle(op[1])
            exact.settle(op[1])
        elif kind == "deposit":
            try:
                model.deposit(op[1], op[2])
            except Rejected:
                continue
            settled(op[1], model.account(op[1]).position)
            exact.deposit(op[1], op[2] * model.collateral_scale)
        elif kind == "trade":
            buyer, seller, size = op[1], op[2], op[3]
            price = mark_feed.rounds[-1].answer * 10**10
            try:
                model.trade("operator", buyer, seller, size, price)
            except Rejected:
                continue
            exact.trade(buyer, seller, size, price)
            # Both were settled first, at their old positions.
            settled(buyer, model.account(buyer).position - size)
            settled(seller, model.account(seller).position + size)
            margin_bound[buyer] += 1
            margin_bound[seller] += 1
        assert abs(model.funding_index - exact.funding_index) <= index_bound
        for trader in TRADERS:
            if trader in exact.accounts:
                distance = abs(model.account(trader).margin - exact.accounts[trader].margin)
                assert distance <= margin_bound[trader], (trader, distance, margin_bound[trader])
