"""Integer arithmetic with Vyper's exact semantics.

Vyper's signed ``//`` truncates toward zero; Python's floors. Every division in
the contracts is mirrored here by a helper that names its rounding, so the
reference cannot silently round the other way.
"""

WAD = 10**18
INT256_MAX = 2**255 - 1
INT256_MIN = -(2**255)
UINT256_MAX = 2**256 - 1


def div_trunc(x: int, y: int) -> int:
    """``x // y`` as Vyper computes it for signed integers: toward zero."""
    if y == 0:
        raise ZeroDivisionError("division by zero")
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y > 0) else -q


def div_floor(x: int, y: int) -> int:
    """floor(x / y)."""
    return x // y


def div_ceil(x: int, y: int) -> int:
    """ceil(x / y)."""
    return -((-x) // y)


def mul_div_floor(x: int, y: int, denominator: int) -> int:
    """floor(x * y / denominator), as ``fixed_point._mul_div_floor``."""
    return (x * y) // denominator


def mul_div_ceil(x: int, y: int, denominator: int) -> int:
    """ceil(x * y / denominator), as ``fixed_point._mul_div_ceil``."""
    return -((-x * y) // denominator)


def wad_mul_down(x: int, y: int) -> int:
    """floor(x * y / WAD) for unsigned WAD numbers."""
    return (x * y) // WAD


def wad_mul_up(x: int, y: int) -> int:
    """ceil(x * y / WAD) for unsigned WAD numbers."""
    return -((-x * y) // WAD)


def check_int256(x: int) -> int:
    """Raises OverflowError where Vyper's checked int256 arithmetic reverts."""
    if not INT256_MIN <= x <= INT256_MAX:
        raise OverflowError("int256 overflow")
    return x
