"""Rate models beside the premium-clamp model (``fundingkit.rates``), one per module.

- ``velocity_rate``: the skew sets the rate's velocity (Synthetix perps v2/v3, SIP-279);
- ``skew_rate``: the rate follows the open-interest imbalance (GMX v2 style);
- ``external_rate``: a rate provider sets a bounded rate (dYdX perpetual P1).

Each mirrors the Vyper module of the same name in ``contracts/modules`` to the wei,
with the same shape: ``accrue(params, state, price, now)`` returns the funding index
step per unit of base over the gap since the last accrual (at the held price) and the
state at ``now``; ``pending`` is the step alone; ``rate_now`` the rate in force. Every
setter takes ``now`` and raises ``Rejected`` with the contract's revert reason ("accrue
first", out-of-bounds parameters) exactly where the contract reverts.
"""
