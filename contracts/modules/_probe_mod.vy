# pragma version ~=0.4.3
from snekmate.utils import math

value: public(uint256)

@internal
def _set(x: uint256):
    self.value = math._cbrt(x, False)
