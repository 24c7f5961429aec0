"""The same market in exact rational arithmetic: the yardstick for rounding.

``ExactMarket`` takes the same inputs as ``MarketModel`` (the same feeds, times
and operations) but computes with ``fractions.Fraction`` throughout: the premium,
interval averages, the index and every payment are exact. The integer model's
distance from it is the rounding error that docs/MATH.md bounds:

- per accrual, the index moves by less than ``1 + 2 * p * dt / (T * WAD)`` wei
  away from exact (one wei for the final truncation; the truncated premium and
  the truncated interval average each move the average by under one wei, and
  the rate formula is 1-Lipschitz in the average);
- per settlement, a margin moves by less than one wei plus
  ``|position| * (index error now + index error at its last settlement) / WAD``.

It implements the operations that move money (accrue, settle, deposit, withdraw,
trade) and is driven only with calls the integer model accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from fundingkit.rates import MAX_PREMIUM, RateParameters
from fundingkit.vyper_math import WAD


@dataclass
class ExactAccount:
    margin: Fraction = Fraction(0)
    position: int = 0
    index_snapshot: Fraction = Fraction(0)


def exact_premium(mark_price: int, index_price: int) -> Fraction:
    """(m - p) / p in WAD, exactly; the +1,000 % limit is a rule, not a rounding."""
    return min(Fraction((mark_price - index_price) * WAD, index_price), Fraction(MAX_PREMIUM))


def exact_rate(params: RateParameters, average: Fraction) -> Fraction:
    damped = average + min(max(params.interest - average, -params.dampener), params.dampener)
    return min(max(damped, Fraction(-params.cap)), Fraction(params.cap))


class ExactMarket:
    def __init__(self, *, now: int, params: RateParameters, index_feed, mark_feed, max_age: int):
        self.now = now
        self.params = params
        self.index_feed, self.mark_feed, self.max_age = index_feed, mark_feed, max_age
        index = index_feed.read(now, max_age)
        mark = mark_feed.read(now, max_age)
        self.sampled_price = Fraction(index.price)
        self.sampled_premium = exact_premium(mark.price, index.price)
        self.interval_start = now
        self.premium_sum = Fraction(0)
        self.last_premium_average = Fraction(0)
        self.funding_index = Fraction(0)
        self.last_accrual = now
        self.accounts: dict = {}

    def accrue(self) -> None:
        since, until = self.last_accrual, self.now
        if since == until:
            return
        period, held = self.params.interval, self.sampled_premium
        rate_time = Fraction(0)
        time = since
        # Walk interval boundaries; past the second one every interval averages `held`.
        while True:
            end = self.interval_start + period
            if until < end:
                rate_time += exact_rate(self.params, self.last_premium_average) * (until - time)
                self.premium_sum += held * (until - time)
                break
            rate_time += exact_rate(self.params, self.last_premium_average) * (end - time)
            self.last_premium_average = (self.premium_sum + held * (end - time)) / period
            self.premium_sum = Fraction(0)
            self.interval_start, time = end, end
            if self.last_premium_average == held and until >= end + period:
                full = (until - end) // period * period
                rate_time += exact_rate(self.params, held) * full
                self.interval_start, time = end + full, end + full
        self.funding_index += self.sampled_price * rate_time / (period * WAD)
        self.last_accrual = until
        index = self.index_feed.read(until, self.max_age)
        if index.ok:
            self.sampled_price = Fraction(index.price)
            mark = self.mark_feed.read(until, self.max_age)
            if mark.ok:
                self.sampled_premium = exact_premium(mark.price, index.price)

    def settle(self, address) -> Fraction:
        self.accrue()
        return self._settle(address)

    def _settle(self, address) -> Fraction:
        account = self.accounts.setdefault(address, ExactAccount())
        owed = account.position * (self.funding_index - account.index_snapshot) / WAD
        account.margin -= owed
        account.index_snapshot = self.funding_index
        return owed

    def deposit(self, address, amount_wad: int) -> None:
        self.settle(address)
        self.accounts[address].margin += amount_wad

    def withdraw(self, address, amount_wad: int) -> None:
        self.settle(address)
        self.accounts[address].margin -= amount_wad

    def trade(self, buyer, seller, size: int, price: int) -> None:
        self.accrue()
        self._settle(buyer)
        self._settle(seller)
        notional = Fraction(size * price, WAD)
        self.accounts[buyer].position += size
        self.accounts[buyer].margin -= notional
        self.accounts[seller].position -= size
        self.accounts[seller].margin += notional
