"""Every contract the titanoboa tests use, compiled once per session."""

from pathlib import Path

import boa

ROOT = Path(__file__).resolve().parents[2]

TOKEN = boa.load_partial(str(ROOT / "contracts" / "CollateralToken.vy"))
ORACLE = boa.load_partial(str(ROOT / "contracts" / "MockOracle.vy"))
MARKET = boa.load_partial(str(ROOT / "contracts" / "FundingMarket.vy"))
VELOCITY_MODEL = boa.load_partial(str(ROOT / "contracts" / "VelocityRateModel.vy"))
SKEW_MODEL = boa.load_partial(str(ROOT / "contracts" / "SkewRateModel.vy"))
EXTERNAL_MODEL = boa.load_partial(str(ROOT / "contracts" / "ExternalRateModel.vy"))
# The rate model contracts by name (fundingkit.models.deployed.constructor names them).
RATE_MODELS = {
    "VelocityRateModel": VELOCITY_MODEL,
    "SkewRateModel": SKEW_MODEL,
    "ExternalRateModel": EXTERNAL_MODEL,
}
MATH_HARNESS = boa.load_partial(str(ROOT / "tests" / "contracts" / "MathHarness.vy"))
REENTRANT_TOKEN = boa.load_partial(str(ROOT / "tests" / "contracts" / "ReentrantToken.vy"))
FEE_TOKEN = boa.load_partial(str(ROOT / "tests" / "contracts" / "FeeOnTransferToken.vy"))
WIDE_ROUND_ORACLE = boa.load_partial(str(ROOT / "tests" / "contracts" / "WideRoundOracle.vy"))
NO_RETURN_TOKEN = boa.load_partial(str(ROOT / "tests" / "contracts" / "NoReturnToken.vy"))
