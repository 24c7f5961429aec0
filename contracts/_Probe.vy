# pragma version ~=0.4.3
from snekmate.utils import math
from modules import _probe_mod

initializes: _probe_mod
exports: _probe_mod.value

@deploy
def __init__():
    _probe_mod._set(27)

@external
@view
def cbrt(x: uint256) -> uint256:
    return math._wad_cbrt(x)
