# pragma version ~=0.4.3
"""
@title VolatilityCap
@custom:contract-name VolatilityCap
@license GNU Affero General Public License v3.0 only
@author fundingkit
@notice A cap source for one FundingMarket: the volatility-linked rate cap
        (modules/volatility_cap.vy) in a contract of its own, so a market can
        use it without carrying its code.
            cap = clamp(k * sigma_T, cap_min, cap_max),  sigma_T = sqrt(v * T),
        v an exponentially weighted estimate of the index's log-return variance
        rate (docs/MATH.md §14).
        Deploy it for a market that exists (the market address is fixed here,
        so no other caller can ever move its estimate), then let the market's
        owner call `set_cap_source` on the market. The market calls
        `update(p, T)` then (p: the index price it holds) and at each accrual
        that samples a usable index price p, and adopts the cap it returns
        (docs/MATH.md §14.9). This contract calls nothing, holds no funds and
        has no owner: its parameters are immutable.
        fundingkit.volatility.VolatilityCapSource mirrors it.
"""


from .modules import volatility_cap
initializes: volatility_cap


exports: (
    volatility_cap.volatility_state,
    volatility_cap.volatility_half_life,
    volatility_cap.volatility_multiplier,
    volatility_cap.cap_min,
    volatility_cap.cap_max,
)


# @dev The only caller of `update`: the market this source serves.
market: public(immutable(address))


# @dev The source's starting state: everything an audit needs to replay it
# (with the prices the market's `Accrued` events log).
event VolatilityCapInitialised:
    market: indexed(address)
    half_life: uint256
    multiplier: uint256
    cap_min: int256
    cap_max: int256
    initial_sigma: uint256
    interval: uint256
    price: uint256
    timestamp: uint256


@deploy
def __init__(
    market_: address,
    price: uint256,
    half_life: uint256,
    multiplier: uint256,
    lowest_cap: int256,
    highest_cap: int256,
    initial_sigma: uint256,
    interval: uint256,
):
    """
    @dev The first sample: `price` now, no return yet; the variance rate of a
         volatility of `initial_sigma` per `interval` seconds.
    @param market_ The market that will call `update` (not the zero address).
    @param price The index price now (WAD, 1..1e36): the market's
           `sampled_price()`, so the first return is the market's own.
    @param half_life The estimator's half-life, seconds (1 h..30 days).
    @param multiplier k (WAD, 0.01..10).
    @param lowest_cap cap_min per interval (WAD, 0.01 %..4 %): at least the
           market's |interest| keeps the answer unclamped (the market raises a
           lower cap to |I|).
    @param highest_cap cap_max per interval (WAD, cap_min..4 %).
    @param initial_sigma The seed: volatility per `interval` (WAD, at most 100 %).
    @param interval The interval the seed is given per (1 h..8 h).
    """
    assert market_ != empty(address), "volatility_cap: market is the zero address"
    volatility_cap.__init__(price, half_life, multiplier, lowest_cap, highest_cap, initial_sigma, interval)
    market = market_
    log VolatilityCapInitialised(
        market=market_,
        half_life=half_life,
        multiplier=multiplier,
        cap_min=lowest_cap,
        cap_max=highest_cap,
        initial_sigma=initial_sigma,
        interval=interval,
        price=price,
        timestamp=block.timestamp,
    )


@external
def update(price: uint256, interval: uint256) -> uint256:
    """
    @notice The market only: samples the index `price` now (block time), then
            returns the cap per `interval` of the new estimate. A second sample
            in the same second changes nothing.
    @param price The index price the market sampled now (WAD, 1..1e36).
    @param interval The market's funding interval T, in seconds.
    @return uint256 The cap per interval (WAD, cap_min..cap_max).
    """
    assert msg.sender == market, "volatility_cap: caller is not the market"
    volatility_cap._update(price, block.timestamp)
    return convert(volatility_cap._effective_cap(interval), uint256)


@external
@view
def effective_cap(interval: uint256) -> uint256:
    """
    @notice The cap per `interval` seconds of the estimate as of its last sample
            (WAD, cap_min..cap_max): what `update` would return for a sample in
            the same second.
    """
    return convert(volatility_cap._effective_cap(interval), uint256)
