"""oracles: price paths for fundingkit's index (spot) and mark (perp) feeds.

* ``oracles.paths``     -- ``PricePoint``, the ``PricePath`` protocol, ``to_answer``,
  ``path_summary``
* ``oracles.synthetic`` -- seeded synthetic paths per named regime (``REGIMES``)
* ``oracles.replay``    -- a published funding history turned into feed prices that
  make the premium-clamp model pay the published rates exactly
* ``oracles.feeder``    -- pushing a path into two MockOracles through Ape

Everything here is pure Python except ``oracles.feeder``, which imports Ape lazily.
"""

from oracles.paths import NamedPath, PricePath, PricePoint, path_summary, to_answer
from oracles.replay import implied_premium, published_rates, replay_path
from oracles.synthetic import REGIMES, synthetic_path

__all__ = [
    "REGIMES",
    "NamedPath",
    "PricePath",
    "PricePoint",
    "implied_premium",
    "path_summary",
    "published_rates",
    "replay_path",
    "synthetic_path",
    "to_answer",
]
