"""Random operation sequences: the contract and the reference agree to the wei.

Every rule performs one call on both. When the reference rejects it, the
contract must revert with the same reason; otherwise the contract must succeed.
After every step the whole observable state is compared for equality and the
market's invariants are checked:

- positions sum to zero;
- conservation at every moment: total_collateral == sum of margins + surplus ==
  token balance (scaled); once everyone is settled to one index,
  0 <= surplus <= one wei per rounded operation;
- the rate in force and the predicted rate stay within +-cap;
- accruing a gap in pieces lands on the same interval state, and on an index at
  most one wei per extra accrual away from accruing it at once.
"""

import boa
from conftest import EXAMPLES, PROFILE, deploy
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from fundingkit.market import Rejected
from fundingkit.rates import LINEAR, PREMIUM_CLAMP, PREMIUM_ONLY, RateParameters

TRADERS = [boa.env.generate_address(f"trader{i}") for i in range(4)]
WAD = 10**18
HOUR = 3_600
YEAR = 365 * 86_400

# Time jumps from one second to ten years, mostly short.
gaps = st.one_of(
    st.integers(1, 60),
    st.integers(61, 8 * HOUR),
    st.integers(8 * HOUR, 30 * 86_400),
    st.integers(30 * 86_400, 10 * YEAR),
)
traders = st.sampled_from(TRADERS)
premium_bps = st.integers(-500, 500)  # mark vs index, in basis points


class MarketMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.d = None  # deployed by the first rule, with a drawn formula and prices
        self.rounded_operations = 0

    def teardown(self):
        self._anchor.__exit__(None, None, None)

    # ---- both at once ------------------------------------------------------

    def both(self, contract_call, model_call):
        """Runs a call on the reference, then on the contract; True if both succeeded."""
        try:
            model_call()
        except Rejected as rejection:
            with boa.reverts(rejection.reason):
                contract_call()
            return False
        contract_call()
        return True

    def _rounded_ops_of_settling(self, accounts):
        model = self.d.model
        index = model.current_funding_index()
        return sum(
            1
            for a in set(accounts)
            if model.account(a).position != 0 and model.account(a).index_snapshot != index
        )

    # ---- rules -------------------------------------------------------------

    @initialize(
        formula=st.sampled_from([PREMIUM_CLAMP, LINEAR, PREMIUM_ONLY]),
        index=st.integers(1_000, 200_000),
        bps=premium_bps,
    )
    def market(self, formula, index, bps):
        answer = index * 10**8
        self.d = deploy(
            params=RateParameters(formula=formula),
            index_answer=answer,
            mark_answer=answer * (10_000 + bps) // 10_000,
        )
        for trader in TRADERS:
            self.d.fund(trader, 10**9 * 10**6)

    @rule(seconds=gaps)
    def time_passes(self, seconds):
        self.d.advance(seconds)

    @rule(move_bps=st.integers(-3_000, 3_000), bps=premium_bps)
    def feed_both(self, move_bps, bps):
        index = max(
            self.d.model.index_feed.rounds[-1].answer * (10_000 + move_bps) // 10_000, 10**8
        )
        self.d.submit(index, index * (10_000 + bps) // 10_000)

    @rule(bps=premium_bps)
    def feed_mark(self, bps):
        index = self.d.model.index_feed.rounds[-1].answer
        self.d.submit(mark_answer=index * (10_000 + bps) // 10_000)

    @rule()
    def accrue(self):
        self.both(self.d.market.accrue, self.d.model.accrue)

    @rule(account=traders)
    def settle(self, account):
        rounded = self._rounded_ops_of_settling([account])
        if self.both(lambda: self.d.market.settle(account), lambda: self.d.model.settle(account)):
            self.rounded_operations += rounded

    @rule(account=traders, amount=st.integers(0, 10**6 * 10**6))
    def deposit(self, account, amount):
        rounded = self._rounded_ops_of_settling([account])
        if self.both(
            lambda: self.d.market.deposit(amount, sender=account),
            lambda: self.d.model.deposit(account, amount),
        ):
            self.rounded_operations += rounded

    @rule(account=traders, fraction=st.integers(0, 110))
    def withdraw(self, account, fraction):
        margin = max(self.d.model.account(account).margin, 0) // 10**12
        amount = margin * fraction // 100
        rounded = self._rounded_ops_of_settling([account])
        if self.both(
            lambda: self.d.market.withdraw(amount, sender=account),
            lambda: self.d.model.withdraw(account, amount),
        ):
            self.rounded_operations += rounded

    @rule(
        buyer=traders,
        seller=traders,
        size=st.integers(1, 20 * WAD),
        offset=st.integers(-120, 120),  # percent of the band
    )
    def trade(self, buyer, seller, size, offset):
        model = self.d.model
        mark = model.mark_feed.rounds[-1].answer * 10**10
        price = mark + mark * model.risk.price_band // WAD * offset // 100
        # A settled account with a position and a trade each round once.
        rounded = self._rounded_ops_of_settling([buyer, seller]) + 1
        if self.both(
            lambda: self.d.market.trade(buyer, seller, size, price, sender=self.d.operator),
            lambda: model.trade(self.d.operator, buyer, seller, size, price),
        ):
            self.rounded_operations += rounded

    @rule(
        interval=st.sampled_from([HOUR, 4 * HOUR, 8 * HOUR, HOUR - 1]),
        interest=st.integers(-(10**15), 10**15),
        dampener=st.integers(0, 10**16),
        cap=st.integers(10**14, 4 * 10**16),
    )
    def change_rate_parameters(self, interval, interest, dampener, cap):
        params = RateParameters(interval, interest, dampener, cap, self.d.model.params.formula)
        self.both(
            lambda: self.d.market.set_rate_parameters(
                interval, interest, dampener, cap, sender=self.d.owner
            ),
            lambda: self.d.model.set_rate_parameters(self.d.owner, params),
        )

    @rule()
    def pause_or_unpause(self):
        market, model, owner = self.d.market, self.d.model, self.d.owner
        if model.paused:
            self.both(lambda: market.unpause(sender=owner), lambda: model.unpause(owner))
        else:
            self.both(lambda: market.pause(sender=owner), lambda: model.pause(owner))

    @rule()
    def settle_everyone(self):
        """Once all are settled to one index: 0 <= surplus <= one wei per rounded operation."""
        for trader in TRADERS:
            self.settle(trader)
        assert 0 <= self.d.market.surplus() <= self.rounded_operations

    @rule(seconds=gaps, pieces=st.integers(2, 6))
    def gap_in_pieces_matches_one_gap(self, seconds, pieces):
        """With the feeds unchanged, accruing a gap in pieces lands where one accrual does."""
        # A real accrual (a second later) samples the feeds as they are now.
        self.d.advance(1)
        self.both(self.d.market.accrue, self.d.model.accrue)
        since = self.d.model.now
        self.d.advance(seconds)
        with boa.env.anchor():
            self.d.market.accrue()
            at_once = self._index_state()
        with boa.env.anchor():
            for k in range(1, pieces):
                boa.env.evm.patch.timestamp = since + k * seconds // pieces
                self.d.market.accrue()
            boa.env.evm.patch.timestamp = since + seconds
            self.d.market.accrue()
            in_pieces = self._index_state()
        boa.env.evm.patch.timestamp = since + seconds
        assert in_pieces[1:] == at_once[1:]
        assert abs(in_pieces[0] - at_once[0]) <= pieces - 1

    def _index_state(self):
        m = self.d.market
        return (
            m.funding_index(),
            m.interval_start(),
            m.premium_sum(),
            m.last_premium_average(),
            m.sampled_premium(),
            m.sampled_price(),
        )

    # ---- invariants --------------------------------------------------------

    @precondition(lambda self: self.d is not None)
    @invariant()
    def contract_equals_reference(self):
        market, model = self.d.market, self.d.model
        state = model.interval_state
        assert market.funding_index() == model.funding_index
        assert market.last_accrual() == model.last_accrual
        assert market.sampled_price() == model.sampled_price
        assert market.sampled_premium() == model.sampled_premium
        assert market.interval_start() == state.interval_start
        assert market.premium_sum() == state.premium_sum
        assert market.last_premium_average() == state.last_premium_average
        assert market.interval() == model.params.interval
        assert market.surplus() == model.surplus
        assert market.total_collateral() == model.total_collateral
        assert market.paused() == model.paused
        for trader in TRADERS:
            account = model.account(trader)
            assert tuple(market.accounts(trader)) == (
                account.margin,
                account.position,
                account.index_snapshot,
            )
            assert market.pending_funding(trader) == model.pending_funding(trader)
            assert self.d.token.balanceOf(trader) == model.wallet.get(trader, 0)
        assert market.current_funding_index() == model.current_funding_index()
        assert market.current_rate() == model.current_rate()
        assert market.next_rate() == model.next_rate()
        assert market.premium_average() == model.premium_average()

    @precondition(lambda self: self.d is not None)
    @invariant()
    def positions_sum_to_zero(self):
        assert sum(self.d.market.accounts(t)[1] for t in TRADERS) == 0

    @precondition(lambda self: self.d is not None)
    @invariant()
    def collateral_is_conserved(self):
        market = self.d.market
        margins = sum(market.accounts(t)[0] for t in TRADERS)
        held = self.d.token.balanceOf(market) * 10**12
        assert held == market.total_collateral() == margins + market.surplus()

    @precondition(lambda self: self.d is not None)
    @invariant()
    def rates_within_cap(self):
        cap = self.d.market.cap()
        assert -cap <= self.d.market.current_rate() <= cap
        assert -cap <= self.d.market.next_rate() <= cap


TestMarketMachine = MarketMachine.TestCase
TestMarketMachine.settings = settings(
    max_examples=EXAMPLES["stateful"][PROFILE], stateful_step_count=40
)
