"""The premium-clamp formula on SPEC §1.1's worked examples and on published data.

The Hyperliquid files in ../shared/data pair each interval's published average
premium with the rate the venue published for it; the reference formula must
reproduce every row within the rounding of the published figures. Where that
folder is absent (a user's fresh clone) those tests skip with a message.
"""

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import deploy

from fundingkit.rates import RateParameters, premium_clamp_rate
from fundingkit.vyper_math import WAD

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PCT = WAD // 100  # 1 % in WAD
INTEREST, DAMPENER, CAP = PCT // 100, 5 * PCT // 100, 75 * PCT // 100  # 0.01 %, 0.05 %, 0.75 %


@pytest.mark.parametrize(
    "average_bps, rate_bps",
    [
        (-4, 1),  # Pavg in [-0.04 %, +0.06 %] gives R = I exactly
        (0, 1),
        (6, 1),
        (10, 5),  # 0.10 % -> 0.05 %
        (-10, -5),  # -0.10 % -> -0.05 % (shorts pay longs)
        (200, 75),  # the cap binds
        (-200, -75),
    ],
)
def test_spec_worked_examples(average_bps, rate_bps):
    bps = WAD // 10_000
    assert premium_clamp_rate(average_bps * bps, INTEREST, DAMPENER, CAP) == rate_bps * bps


def test_a_full_interval_at_ten_bps_premium_charges_five_bps_next(deployment):
    """On chain: a premium of 0.10 % held through interval k sets 0.05 % for k + 1."""
    d = deployment  # deployed with mark 50,050 over index 50,000: P = 0.10 %
    d.advance(RateParameters().interval)
    d.market.accrue()
    assert d.market.last_premium_average() == 10 * WAD // 10_000
    assert d.market.current_rate() == 5 * WAD // 10_000


def test_a_market_with_negative_premium_pays_longs(deployment):
    d = deploy(mark_answer=49_950 * 10**8)  # P = -0.10 %
    d.advance(RateParameters().interval)
    d.market.accrue()
    assert d.market.current_rate() == -5 * WAD // 10_000


# ---- published Hyperliquid data ---------------------------------------------


def _rows(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found: the published funding data is not beside this clone")
    with path.open() as f:
        return list(csv.DictReader(f))


def _wad(text: str) -> int:
    return int(Decimal(text) * WAD)


def _unit(text: str) -> Decimal:
    """One unit in the last published decimal of `text`."""
    return Decimal(1).scaleb(Decimal(text).as_tuple().exponent)


def _check(row, dampener: int, per_hour: bool, interest: int = INTEREST):
    """The published rate within the rounding of the published figures."""
    divisor = 8 if per_hour else 1
    eight_hour = premium_clamp_rate(_wad(row["premium"]), interest, dampener, 4 * PCT)
    expected = eight_hour // divisor
    tolerance = (_unit(row["funding_rate"]) + _unit(row["premium"]) / divisor) * WAD
    assert abs(expected - _wad(row["funding_rate"])) <= tolerance, row


def test_hyperliquid_june_2024_hourly_rates():
    """Hourly, F_8h = P + clamp(I - P, -0.05 %, +0.05 %), each hour pays F_8h / 8."""
    rows = _rows("hyperliquid_btc_funding_premium_2024-06.csv")
    assert len(rows) == 168
    for row in rows:
        _check(row, dampener=5 * PCT // 100, per_hour=True)


# The 2023 file's regimes, found by fitting the formula (times in ms, UTC):
HOURLY_FROM = 1_686_186_000_000  # 2023-06-08 01:00: 8 h intervals become hourly
PREMIUM_ONLY_FROM = 1_686_949_200_000  # 2023-06-16 21:00: the rate is P / 8 alone
WIDE_DAMPENER_FROM = 1_689_390_000_000  # 2023-07-15 03:00: the dampener widens to 0.05 %
# One hour pays as if the dampener were 0.02 %: a mid-hour change, kept as published.
ODD_HOUR = 1_689_469_200_000  # 2023-07-16 01:00


def test_hyperliquid_2023_regimes():
    rows = _rows("hyperliquid_btc_funding_premium_2023.csv")
    checked = 0
    for row in rows:
        hour = int(row["time_ms"]) // 3_600_000 * 3_600_000
        per_hour = hour >= HOURLY_FROM
        if hour == ODD_HOUR:
            _check(row, dampener=2 * PCT // 100, per_hour=True)
        elif hour >= WIDE_DAMPENER_FROM:
            _check(row, dampener=5 * PCT // 100, per_hour=True)
        elif hour >= PREMIUM_ONLY_FROM:
            _check(row, dampener=0, per_hour=True, interest=0)  # R = P
        else:
            _check(row, dampener=3 * PCT // 100, per_hour=per_hour)
        checked += 1
    assert checked == 1_038
