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
  most one wei per extra accrual away from accruing it at once;
- no call sequence creates tokens: the token's supply is what was minted, and
  the market's balance is what the books say it holds;
- a flat account can always withdraw its margin (up to what the market holds),
  paused or not, whatever the feeds say.

Half the markets run in pool mode (the first trader is the vault, the counterparty
of every trade; a trade between two others must be refused), and half under a rate
model contract (velocity, skew-proportional or external) instead of the premium
formula: its owner changes its parameters, the external model's provider sets rates,
a stranger tries both; the model's state equals its reference's, its last accrual is
the market's, and the rate stays within the model's cap. Beside trading, funding
and collateral, the rules liquidate (with insurance
cover, socialisation and unbacked losses), fund the insurance account, break
the feeds (non-positive, incomplete, future and stale rounds), change rate and
risk parameters, pause, and misuse every role: each rejected call must revert
with the reference's reason and change nothing.
"""

import random
from dataclasses import astuple

import boa
from conftest import (
    EXAMPLES,
    PROFILE,
    STATEFUL_STEPS,
    campaign,
    deploy,
    reference_allows,
    rolled_back,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from storage import Storage, signed

from fundingkit.market import Rejected, RiskParameters, margin_required
from fundingkit.models import deployed
from fundingkit.models.external_rate import ExternalParameters
from fundingkit.models.skew_rate import SkewParameters
from fundingkit.models.velocity_rate import DAY, VelocityParameters
from fundingkit.rates import LINEAR, PREMIUM_CLAMP, PREMIUM_ONLY, RateParameters

TRADERS = [boa.env.generate_address(f"trader{i}") for i in range(4)]
KEEPER = boa.env.generate_address("keeper")  # liquidates and funds the insurance
STRANGER = boa.env.generate_address("stranger")  # holds no role
# Two accounts of one attacker that trade only with each other (hedged: no market
# risk) and withdraw all they can right after a gap (issue 11, finding 1).
ATTACKERS = [boa.env.generate_address(f"attacker{i}") for i in range(2)]
WAD = 10**18
HOUR = 3_600
MINTED = 10**9 * 10**6  # tokens minted to each trader, the keeper and each attacker
FUNDED = (*TRADERS, KEEPER, *ATTACKERS)  # every account that holds tokens
YEAR = 365 * 86_400
TIME_MASK = 2**64 - 1  # packed_word: a signed value over a 64-bit time


def pair(word: int) -> tuple[int, int]:
    """packed_word's pair: two signed 128-bit halves."""
    low = word & (2**128 - 1)
    return signed(word) >> 128, low - 2**128 if low >= 2**127 else low


# Time jumps from one second to ten years, mostly short.
gaps = st.one_of(
    st.integers(1, 60),
    st.integers(61, 8 * HOUR),
    st.integers(8 * HOUR, 30 * 86_400),
    st.integers(30 * 86_400, 10 * YEAR),
)
traders = st.sampled_from(TRADERS)
callers = st.sampled_from([*TRADERS, KEEPER, *ATTACKERS])
premium_bps = st.integers(-500, 500)  # mark vs index, in basis points

# Rate model contracts' parameters: valid ones, and for the setters a few past the bounds.
velocity_parameters = st.builds(
    VelocityParameters,
    skew_scale=st.sampled_from([WAD, 10**20, 10**22, 10**24]),
    max_velocity=st.sampled_from([0, 10**17, 3 * WAD, 100 * WAD]),
    cap=st.sampled_from([10**15, 10**17, WAD, 10 * WAD]),
)
skew_parameters = st.builds(
    SkewParameters,
    factor=st.sampled_from([0, 10**9, 10**12, 10**15]),
    exponent=st.sampled_from([1, 2]),
    cap=st.sampled_from([10**9, 10**11, 10**13]),
)
external_parameters = st.builds(
    ExternalParameters,
    max_rate=st.sampled_from([10**9, 10**11, 10**13]),
    max_change_per_second=st.sampled_from([1, 10**6, 10**9, 10**13]),
)
NEW_MODEL_PARAMETERS = {
    deployed.VelocityRateModel: st.one_of(
        velocity_parameters, st.just(VelocityParameters(WAD, 3 * WAD, 10 * WAD + 1))
    ),
    deployed.SkewRateModel: st.one_of(skew_parameters, st.just(SkewParameters(10**12, 3, 10**13))),
    deployed.ExternalRateModel: st.one_of(external_parameters, st.just(ExternalParameters(0, 1))),
}


class MarketMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.d = None  # deployed by the first rule, with a drawn formula and prices
        self.rounded_operations = 0
        self.bad_debt_seen = False  # bad debt was reported at some step
        self.held_position = set()  # accounts that held a position at some step
        self.net_deposits = {}  # token units in less out, per account

    def teardown(self):
        if self.d is not None:
            self.getters_read_what_storage_holds()
            self.bank_run()
        self._anchor.__exit__(None, None, None)
        campaign.sequence_done()

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

    def good_answer(self, which):
        """The feed's last well-formed answer (faulty rounds are skipped)."""
        rounds = getattr(self.d.model, f"{which}_feed").rounds
        return next(r.answer for r in reversed(rounds) if r.answer > 0 and r.updated_at > 0)

    # ---- rules -------------------------------------------------------------

    @initialize(
        formula=st.sampled_from([PREMIUM_CLAMP, LINEAR, PREMIUM_ONLY]),
        index=st.integers(1_000, 200_000),
        bps=premium_bps,
        horizon=st.sampled_from([0, 0, HOUR, 7 * 86_400]),
        pool=st.booleans(),
        order=st.integers(0, 2**32 - 1),  # the bank run's order of withdrawals
        # Half the markets under the premium formula, half under a rate model contract.
        rate_model=st.one_of(
            st.none(),
            st.none(),
            st.none(),
            velocity_parameters,
            skew_parameters,
            external_parameters,
        ),
    )
    def market(self, formula, index, bps, horizon, pool, order, rate_model):
        answer = index * 10**8
        self.d = deploy(
            params=RateParameters(formula=formula),
            index_answer=answer,
            mark_answer=answer * (10_000 + bps) // 10_000,
            risk=RiskParameters(funding_horizon=horizon),
            # Pool mode: the first trader is the vault, every trade must be against it.
            vault=TRADERS[0] if pool else "0x" + "00" * 20,
            rate_model=rate_model,
        )
        for account in FUNDED:
            self.d.fund(account, MINTED)
        self.insurance = self.d.market.address
        self.accounts = (*FUNDED, self.insurance)
        self.pool = pool
        self.order = order

    @rule(seconds=gaps)
    def time_passes(self, seconds):
        self.d.advance(seconds)

    @rule(move_bps=st.integers(-3_000, 3_000), bps=premium_bps)
    def feed_both(self, move_bps, bps):
        index = max(self.good_answer("index") * (10_000 + move_bps) // 10_000, 10**8)
        self.d.submit(index, index * (10_000 + bps) // 10_000)

    @rule(move_bps=st.integers(-5_000, 5_000), bps=premium_bps)
    def gap(self, move_bps, bps):
        """Both feeds jump by up to +-50 % in one block."""
        self.feed_both(move_bps, bps)

    @precondition(lambda self: self.d is not None and not self.pool)
    @rule(
        size=st.integers(1, 20 * WAD),
        offset=st.integers(-100, 100),
        long_first=st.booleans(),
        extra_percent=st.integers(0, 100),
    )
    def attacker_trades_with_itself(self, size, offset, long_first, extra_percent):
        """The attacker's two accounts each deposit the initial margin of `size` (plus
        up to as much again) and trade with each other (never in pool mode, where
        every trade is against the vault)."""
        model = self.d.model
        price = self.good_answer("index") * 10**10
        required = margin_required(size, price, model.risk.initial_margin_ratio)
        for account in ATTACKERS:
            self.deposit(account, (required + required * extra_percent // 100) // 10**12 + 1)
        buyer, seller = ATTACKERS if long_first else ATTACKERS[::-1]
        self.trade(buyer, seller, size, offset)

    @rule(move_bps=st.integers(-5_000, 5_000), bps=premium_bps, first=st.sampled_from(ATTACKERS))
    def attacker_withdraws_after_a_gap(self, move_bps, bps, first):
        """Right after a gap, each attacker account withdraws all the reference allows."""
        self.feed_both(move_bps, bps)
        for account in (first, *[a for a in ATTACKERS if a != first]):
            amount = self.most_withdrawable(account)
            if amount:
                self.withdraw_amount(account, amount)

    def most_withdrawable(self, account) -> int:
        """The largest withdrawal (token units) the reference allows now: allowed up
        to some amount, refused above it (probed on copies of the reference)."""
        model = self.d.model

        def allowed(amount):
            return reference_allows(model, "withdraw", account, amount)

        low, high = 0, model.total_collateral // 10**12 + 1
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if allowed(mid) else (low, mid)
        return low

    def withdraw_amount(self, account, amount) -> bool:
        rounded = self._rounded_ops_of_settling([account])
        if self.both(
            lambda: self.d.market.withdraw(amount, sender=account),
            lambda: self.d.model.withdraw(account, amount),
        ):
            self.rounded_operations += rounded
            self.net_deposits[account] = self.net_deposits.get(account, 0) - amount
            return True
        return False

    @rule(bps=premium_bps)
    def feed_mark(self, bps):
        index = self.good_answer("index")
        self.d.submit(mark_answer=index * (10_000 + bps) // 10_000)

    @rule()
    def accrue(self):
        self.both(self.d.market.accrue, self.d.model.accrue)

    @rule(account=st.sampled_from([*TRADERS, KEEPER]))
    def settle(self, account):
        rounded = self._rounded_ops_of_settling([account])
        if self.both(lambda: self.d.market.settle(account), lambda: self.d.model.settle(account)):
            self.rounded_operations += rounded

    @rule(account=callers, amount=st.integers(0, 10**6 * 10**6))
    def deposit(self, account, amount):
        rounded = self._rounded_ops_of_settling([account])
        if self.both(
            lambda: self.d.market.deposit(amount, sender=account),
            lambda: self.d.model.deposit(account, amount),
        ):
            self.rounded_operations += rounded
            self.net_deposits[account] = self.net_deposits.get(account, 0) + amount

    @rule(account=callers, fraction=st.integers(0, 110))
    def withdraw(self, account, fraction):
        margin = max(self.d.model.account(account).margin, 0) // 10**12
        self.withdraw_amount(account, margin * fraction // 100)

    @rule(
        buyer=traders,
        seller=traders,
        size=st.integers(1, 20 * WAD),
        offset=st.integers(-120, 120),  # percent of the band
    )
    def trade(self, buyer, seller, size, offset):
        model = self.d.model
        mark = self.good_answer("mark") * 10**10
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

    def _socialisation_rounding(self) -> int:
        """Each payer's share of a socialised loss is rounded up: at most OI/WAD + 1
        wei in all, plus one wei per paying account."""
        return self.d.model.open_interest // WAD + 2 + len(self.accounts)

    @rule(account=st.sampled_from([*TRADERS, *ATTACKERS, "insurance"]), caller=callers)
    def liquidate(self, account, caller):
        """Liquidates a trader, or (the market's own address) the insurance
        account's deficit; either first sends an insurance deficit down the waterfall."""
        model = self.d.model
        account = self.insurance if account == "insurance" else account
        position = model.account(account).position
        # The liquidated account and the insurance settle; the move rounds once;
        # an insurance deficit and a shortfall may each be socialised.
        rounded = self._rounded_ops_of_settling([account, self.insurance]) + 1
        rounded += 2 * self._socialisation_rounding()
        if self.both(
            lambda: self.d.market.liquidate(account, sender=caller),
            lambda: model.liquidate(caller, account),
        ):
            self.rounded_operations += rounded
            if account == self.insurance:
                assert model.account(account).position == position
            else:
                assert model.account(account).position == 0 != position

    @rule(caller=callers, percent=st.integers(1, 110))
    def unwind_insurance(self, caller, percent):
        """A caller takes part of the insurance account's position at the index price."""
        model = self.d.model
        size = abs(model.account(self.insurance).position) * percent // 100 or 1
        self._unwind(caller, size)

    def _unwind(self, caller, size) -> bool:
        model = self.d.model
        rounded = self._rounded_ops_of_settling([caller, self.insurance]) + 1
        rounded += self._socialisation_rounding()
        if self.both(
            lambda: self.d.market.unwind_insurance(size, sender=caller),
            lambda: model.unwind_insurance(caller, size),
        ):
            self.rounded_operations += rounded
            return True
        return False

    @rule(account=callers, amount=st.integers(0, 10**5 * 10**6))
    def fund_insurance(self, account, amount):
        rounded = self._rounded_ops_of_settling([self.insurance])
        if self.both(
            lambda: self.d.market.fund_insurance(amount, sender=account),
            lambda: self.d.model.fund_insurance(account, amount),
        ):
            self.rounded_operations += rounded

    @rule(
        which=st.sampled_from(["index", "mark"]),
        fault=st.sampled_from(["not positive", "incomplete", "from the future", "stale"]),
    )
    def feed_fails(self, which, fault):
        """The feeder publishes a faulty round; accruals hold the last good sample."""
        d, now = self.d, self.d.model.now
        last = self.good_answer(which)
        answer, started, updated = {
            "not positive": (-last, now, now),
            "incomplete": (last, now, 0),
            "from the future": (last, now, now + 60),
            "stale": (last, now - 2 * d.model.max_age, now - 2 * d.model.max_age),
        }[fault]
        with boa.env.prank(d.feeder):
            getattr(d, f"{which}_oracle").submit_round(answer, started, updated)
        getattr(d.model, f"{which}_feed").submit_round(answer, started, updated)

    @rule(
        initial=st.sampled_from([10**16, 5 * 10**16, 10**17, 10**18, 10**16 - 1]),
        maintenance=st.sampled_from([5 * 10**15, 10**16, 3 * 10**16, 10**17 + 1]),
        band=st.sampled_from([10**15, 10**16, 10**17]),
        fee=st.sampled_from([0, 5 * 10**15, 10**16, 10**16 + 1]),
        horizon=st.sampled_from([0, HOUR, 7 * 86_400, 7 * 86_400 + 1]),
    )
    def change_risk_parameters(self, initial, maintenance, band, fee, horizon):
        risk = (initial, maintenance, band, fee, horizon)
        self.both(
            lambda: self.d.market.set_risk_parameters(*risk, sender=self.d.owner),
            lambda: self.d.model.set_risk_parameters(self.d.owner, *risk),
        )

    @precondition(lambda self: self.d is not None and self.d.rate_model is not None)
    @rule(by_owner=st.booleans(), data=st.data())
    def change_model_parameters(self, by_owner, data):
        """The rate model's owner (or a stranger) changes its parameters: the market
        accrues first, the new parameters apply from now."""
        model = self.d.model
        params = data.draw(NEW_MODEL_PARAMETERS[type(model.rate_model)])
        caller = self.d.owner if by_owner else STRANGER
        self.both(
            lambda: self.d.rate_model.set_parameters(*astuple(params), sender=caller),
            lambda: model.change_rate_model(lambda m: m.set_parameters(caller, params, model.now)),
        )

    @precondition(
        lambda self: (
            self.d is not None and isinstance(self.d.model.rate_model, deployed.ExternalRateModel)
        )
    )
    @rule(requested=st.integers(-(10**14), 10**14), by_provider=st.booleans())
    def provider_sets_rate(self, requested, by_provider):
        model = self.d.model
        caller = self.d.rate_provider if by_provider else STRANGER
        self.both(
            lambda: self.d.rate_model.set_rate(requested, sender=caller),
            lambda: model.change_rate_model(lambda m: m.set_rate(caller, requested, model.now)),
        )

    @rule(
        caller=st.sampled_from([*TRADERS, KEEPER, STRANGER]),
        function=st.sampled_from(
            [
                "trade",
                "set_rate_parameters",
                "set_risk_parameters",
                "pause",
                "set_operator",
                "set_max_age",
            ]
        ),
    )
    def role_misuse(self, caller, function):
        """A caller without the role is refused with the role's reason; nothing changes."""
        d = self.d
        reason = "ownable: caller is not the owner"
        args = {
            "trade": (TRADERS[0], TRADERS[1], WAD, self.good_answer("mark") * 10**10),
            "set_rate_parameters": (HOUR, 0, 0, 10**14),
            "set_risk_parameters": astuple(RiskParameters()),
            "pause": (),
            "set_operator": (caller,),
            "set_max_age": (600,),
        }[function]
        if function == "trade":
            reason = "market: caller is not the operator"
        with boa.reverts(reason):
            getattr(d.market, function)(*args, sender=caller)

    @rule(account=callers)
    def flat_account_withdraws_its_margin(self, account):
        """A flat account gets its whole margin out (up to what the market holds),
        paused or not, stale feeds or not: it needs no price."""
        model = self.d.model
        state = model.account(account)
        index = model.current_funding_index()
        if state.position != 0 or state.margin <= 0:
            return
        shared = state.margin * model.haircut() // WAD  # all of it without bad debt
        amount = min(shared, model.total_collateral) // 10**12
        if amount == 0:
            return
        assert self.withdraw_amount(account, amount), index

    @rule()
    def pause_or_unpause(self):
        market, model, owner = self.d.market, self.d.model, self.d.owner
        if model.paused:
            self.both(lambda: market.unpause(sender=owner), lambda: model.unpause(owner))
        else:
            self.both(lambda: market.pause(sender=owner), lambda: model.pause(owner))

    @rule()
    def settle_everyone(self):
        """Once all are settled to one index, surplus is the rounding residue: 0 to
        one wei per rounded operation (unbacked losses are bad debt, not surplus).
        A withdrawal under a haircut may leave more: what its margin gives beyond
        the bad debt left stays with the market."""
        for account in self.accounts:
            self.settle(account)
        surplus = self.d.market.surplus()
        assert 0 <= surplus
        if not self.bad_debt_seen:
            assert surplus <= self.rounded_operations

    @rule(seconds=gaps, pieces=st.integers(2, 6))
    def gap_in_pieces_matches_one_gap(self, seconds, pieces):
        """With the feeds unchanged, accruing a gap in pieces lands where one accrual does."""
        # Fresh, well-formed rounds first: a faulty one can change status within
        # the gap (a round from the future becomes usable at its time), and then
        # pieces rightly sample what one accrual never sees (test_regressions.py).
        self.d.submit(self.good_answer("index"), self.good_answer("mark"))
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

    def getters_read_what_storage_holds(self):
        """Once per sequence: the getters the per-step check skips agree with it."""
        market, stored, token = self.d.market, Storage(self.d.market), Storage(self.d.token)
        index_word = stored.word("funding_accrual.packed_index")
        assert (market.funding_index(), market.last_accrual()) == (
            signed(index_word) >> 64,
            index_word & TIME_MASK,
        )
        assert market.interval_start() == stored.word("premium_rate.packed_premium") & TIME_MASK
        assert (market.premium_sum(), market.last_premium_average()) == pair(
            stored.word("premium_rate.packed_sums")
        )
        assert market.socialised_losses() == pair(stored.word("ledger.packed_losses"))
        assert market.sampled_price() == stored.word("funding_accrual.sampled_price")
        assert market.paused() == bool(stored.word("pausable.paused"))
        assert market.open_interest() == stored.word("ledger.open_interest")
        assert market.funding_horizon() == stored.word("funding_horizon")
        assert market.surplus() == stored.int("ledger.surplus")
        assert market.total_collateral() == stored.word("ledger.total_collateral")
        assert market.skew() == -stored.int("ledger.accounts", self.d.model.vault, member=1)
        assert (market.bad_debt(), market.haircut()) == (
            stored.word("ledger.bad_debt"),
            self.d.model.haircut(),
        )
        for a in self.accounts:
            assert market.accounts(a) == tuple(
                stored.int("ledger.accounts", a, member=m) for m in range(3)
            )
            assert market.principal(a) == stored.word("ledger.principal", a)
            if a != self.insurance:
                assert self.d.token.balanceOf(a) == token.word("erc20.balanceOf", a)
        assert self.d.token.totalSupply() == token.word("erc20.totalSupply")

    # ---- the bank run ------------------------------------------------------

    def bank_run(self):
        """At the end of every sequence: fresh feeds (the mark at the index), every
        liquidatable account and the insurance account's deficit liquidated, every
        position closed at the index price, everyone settled; then every account
        withdraws all it can, in a random order and, from the same state, in the
        reverse order. Each gets floor(margin * haircut) whatever the order (and not
        one unit more); an account that never held a position gets back all it put
        in unless bad debt was reported; the reported bad debt is what the market
        lacks to pay every margin (the insurance account's and its own surplus
        included) from the tokens it holds, to the wei."""
        d, model = self.d, self.d.model
        index = self.good_answer("index")
        d.submit(index, index)
        price = model.index_feed.read(model.now, model.max_age).price
        self.liquidate_everything()
        flat = self.close_everything(price)
        for account in self.accounts:
            self.settle(account)
        self.contract_equals_reference_and_books_balance()
        margins = sum(model.account(a).margin for a in self.accounts)
        held = d.token.balanceOf(d.market) * 10**12
        assert d.market.bad_debt() == margins + d.market.surplus() - held

        order = list(FUNDED)
        random.Random(self.order).shuffle(order)
        outcomes = []
        for withdrawers in (order, order[::-1]):
            with rolled_back(model):
                outcomes.append(self._everyone_withdraws(withdrawers))
        assert outcomes[0] == outcomes[1]
        if flat and not self.bad_debt_seen:
            for account in set(FUNDED) - self.held_position:
                assert outcomes[0][account] >= self.net_deposits.get(account, 0)

    def _reference_allows(self, name, *args) -> bool:
        return reference_allows(self.d.model, name, *args)

    def liquidate_everything(self):
        """Liquidates until nothing is left to liquidate: a socialised loss can put
        a winner under, and any liquidation resolves the insurance deficit first."""
        for _ in range(3 * len(self.accounts)):
            targets = [a for a in self.accounts if self._reference_allows("liquidate", KEEPER, a)]
            if not targets:
                return
            self.liquidate(targets[0], KEEPER)
        raise AssertionError("liquidations do not come to an end")

    def close_everything(self, price) -> bool:
        """The insurance account's position goes to accounts on the other side (each
        reduces), then longs close against shorts (in pool mode every trader against
        the vault), all at the index price. True when everyone ended flat."""
        model = self.d.model

        def position(account):
            return model.account(account).position

        while held := position(self.insurance):
            taker = next(a for a in FUNDED if position(a) * held < 0)
            assert self._unwind(taker, min(abs(held), abs(position(taker))))
        for _ in range(2 * len(self.accounts)):
            open_positions = [a for a in FUNDED if position(a)]
            if not open_positions:
                return True
            if self.pool:
                trader = next(a for a in open_positions if a != model.vault)
                size = abs(position(trader))
                buyer, seller = (
                    (model.vault, trader) if position(trader) > 0 else (trader, model.vault)
                )
            else:
                seller = next(a for a in open_positions if position(a) > 0)
                buyer = next(a for a in open_positions if position(a) < 0)
                size = min(position(seller), -position(buyer))
            rounded = self._rounded_ops_of_settling([buyer, seller]) + 1
            if not self._trade_both(buyer, seller, size, price):
                return False
            self.rounded_operations += rounded
        return False

    def _everyone_withdraws(self, order) -> dict:
        """Each account in turn withdraws all it can: a flat one floor(margin *
        haircut), which must be paid, and not one unit more; one left with a
        position what the reference allows. Returns the token amounts."""
        model = self.d.model
        got = {}
        for account in order:
            state = model.account(account)
            if state.position == 0:
                amount = max(state.margin, 0) * model.haircut() // WAD // 10**12
            else:
                amount = self.most_withdrawable(account)
            if amount:
                assert self._withdraw_both(account, amount)
            assert not self._withdraw_both(account, amount + 1)
            got[account] = amount
        return got

    def _trade_both(self, buyer, seller, size, price) -> bool:
        operator = self.d.operator
        return self.both(
            lambda: self.d.market.trade(buyer, seller, size, price, sender=operator),
            lambda: self.d.model.trade(operator, buyer, seller, size, price),
        )

    def _withdraw_both(self, account, amount) -> bool:
        return self.both(
            lambda: self.d.market.withdraw(amount, sender=account),
            lambda: self.d.model.withdraw(account, amount),
        )

    # ---- invariants --------------------------------------------------------
    # One invariant per step. Stored values are read from storage by the layout
    # (a getter per value would cost an EVM call each); the derived views, which
    # read the feeds and project the interval, are called: half of them per step,
    # in turn, and the per-account ones for one account per step.

    @precondition(lambda self: self.d is not None)
    @invariant()
    def contract_equals_reference_and_books_balance(self):
        market, model = self.d.market, self.d.model
        if not hasattr(self, "stored"):
            self.stored, self.token_stored = Storage(market), Storage(self.d.token)
        stored, state = self.stored, model.interval_state
        index_word = stored.word("funding_accrual.packed_index")
        assert (signed(index_word) >> 64, index_word & TIME_MASK) == (
            model.funding_index,
            model.last_accrual,
        )
        assert stored.word("funding_accrual.sampled_price") == model.sampled_price
        assert stored.word("premium_rate.packed_premium") & TIME_MASK == state.interval_start
        assert pair(stored.word("premium_rate.packed_sums")) == (
            state.premium_sum,
            state.last_premium_average,
        )
        assert pair(stored.word("ledger.packed_losses")) == (model.long_loss, model.short_loss)
        assert stored.word("pausable.paused") == model.paused
        assert stored.word("ledger.open_interest") == model.open_interest
        assert stored.word("funding_horizon") == model.risk.funding_horizon
        surplus, total = stored.int("ledger.surplus"), stored.word("ledger.total_collateral")
        assert (surplus, total) == (model.surplus, model.total_collateral)
        # Packed parameters: through their getters.
        assert market.sampled_premium() == model.sampled_premium
        assert (market.interval(), market.cap()) == (model.params.interval, model.params.cap)

        accounts = {
            a: tuple(stored.int("ledger.accounts", a, member=m) for m in range(3))
            for a in self.accounts
        }
        for address, (margin, position, snapshot) in accounts.items():
            account = model.account(address)
            assert (margin, position, snapshot) == (
                account.margin,
                account.position,
                account.index_snapshot,
            )
        assert -stored.int("ledger.accounts", model.vault, member=1) == model.skew()
        # Solvency state: bad debt, the frozen haircut, every principal.
        bad_debt = stored.word("ledger.bad_debt")
        assert (bad_debt, stored.word("ledger.frozen_haircut")) == (
            model.bad_debt,
            model.frozen_haircut,
        )
        for address in self.accounts:
            assert stored.word("ledger.principal", address) == model.principal.get(address, 0)
        self.bad_debt_seen |= bad_debt > 0
        self.held_position |= {a for a, (_, position, _) in accounts.items() if position}

        self.turn = getattr(self, "turn", -1) + 1
        if self.turn % 2:
            # The derived per-account views, for one account per odd step in turn.
            address = self.accounts[self.turn // 2 % len(self.accounts)]
            assert market.pending_funding(address) == model.pending_funding(address)
            assert market.projected_margin(address) == model.projected_margin(address)
            assert market.premium_average() == model.premium_average()
        else:
            rate, next_rate = market.current_rate(), market.next_rate()
            assert market.current_funding_index() == model.current_funding_index()
            assert (rate, next_rate) == (model.current_rate(), model.next_rate())
            cap = self.rate_bound()
            assert -cap <= rate <= cap and -cap <= next_rate <= cap

        # Positions sum to zero; the longs' sum is the open interest.
        positions = [position for _, position, _ in accounts.values()]
        assert sum(positions) == 0
        assert sum(p for p in positions if p > 0) == model.open_interest
        # Conservation at every moment, to the wei: what the market holds and the
        # bad debt are every margin and the surplus.
        token = self.token_stored
        held = token.word("erc20.balanceOf", market.address) * 10**12
        assert held == total
        assert total + bad_debt == sum(margin for margin, _, _ in accounts.values()) + surplus
        # No tokens are created: everything minted is in a wallet or the market.
        wallets = {a: token.word("erc20.balanceOf", a) for a in FUNDED}
        assert wallets == {a: model.wallet.get(a, 0) for a in wallets}
        supply = token.word("erc20.totalSupply")
        assert supply == sum(wallets.values()) + held // 10**12 == MINTED * len(FUNDED)
        if model.rate_model is not None:
            self.rate_model_matches()

    def rate_model_matches(self):
        """The model contract's state is the reference's; its last accrual is the market's."""
        contract, reference = self.d.rate_model, self.d.model.rate_model
        state = reference.state
        assert contract.checkpoint_time() == state.checkpoint_time == self.d.model.last_accrual
        if isinstance(reference, deployed.VelocityRateModel):
            assert (contract.scaled_rate(), contract.skew()) == (state.scaled_rate, state.skew)
            stored = (contract.skew_scale(), contract.max_velocity(), contract.cap())
        elif isinstance(reference, deployed.SkewRateModel):
            assert (contract.long_open_interest(), contract.short_open_interest()) == (
                state.long_open_interest,
                state.short_open_interest,
            )
            stored = (contract.factor(), contract.exponent(), contract.cap())
        else:
            assert (contract.rate(), contract.rate_set_time()) == (state.rate, state.rate_set_time)
            stored = (contract.max_rate(), contract.max_change_per_second())
        assert stored == astuple(reference.params)

    def rate_bound(self) -> int:
        """The largest |rate| per interval: the premium formula's cap, or the model's."""
        model = self.d.model
        interval, reference = model.params.interval, model.rate_model
        if reference is None:
            return model.params.cap
        if isinstance(reference, deployed.VelocityRateModel):
            return reference.params.cap * interval // DAY
        if isinstance(reference, deployed.SkewRateModel):
            return reference.params.cap * interval
        return reference.params.max_rate * interval


TestMarketMachine = MarketMachine.TestCase
TestMarketMachine.settings = settings(
    max_examples=EXAMPLES["stateful"][PROFILE], stateful_step_count=STATEFUL_STEPS
)
