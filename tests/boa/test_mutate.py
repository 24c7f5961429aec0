"""The mutator of `make mutate` (fundingkit.mutants): which mutants it makes of
a tiny Vyper and a tiny Python source, and that a mutant written over a file is
always taken back. Nothing is compiled or run."""

from pathlib import Path

import pytest

from fundingkit.mutants import Mutant, applied, mutants, restore_backup

VYPER = '''\
# a comment: a < b + c
@internal
def _f(a: uint256, b: uint256) -> uint256:
    """a - b <= c is a docstring"""
    assert a >= b, "f: a < b"
    c: int256 = -convert(a, int256)
    if a < b and b != 0:
        return min(a * b, fixed_point._mul_up(a, b))
    return a // b - 1
'''

PYTHON = '''\
def f(a, b, *args, flag=True, **kw) -> int:
    """a < b"""
    _require(a >= b, "f: a < b")
    assert -a <= 0
    total = max(a, b)
    total += a * (b - 1)
    if 0 <= a < b or not flag:
        return wad_mul_down(total, b) // 2
    return f"{a + b}"


def wad_mul_up(x, y):
    return x
'''


def listing(path: str, source: str, names=()) -> list[tuple[int, str, str]]:
    return [(m.line, m.kind, m.describe()) for m in mutants(Path(path), source, names)]


def test_vyper_mutants():
    assert listing("f.vy", VYPER, {"_mul_down"}) == [
        (5, "check", '`assert a >= b, "f: a < b"` -> `pass`'),
        (5, "comparison", "`>=` -> `>`"),
        (7, "comparison", "`<` -> `<=`"),
        (7, "boolean", "`and` -> `or`"),
        (7, "comparison", "`!=` -> `==`"),
        (8, "extremum", "`min` -> `max`"),
        (8, "arithmetic", "`*` -> `//`"),
        (8, "rounding", "`_mul_up` -> `_mul_down`"),
        (9, "arithmetic", "`//` -> `*`"),
        (9, "arithmetic", "`-` -> `+`"),
    ]


def test_a_rounding_call_is_swapped_only_to_a_function_that_exists():
    assert not [m for m in mutants(Path("f.vy"), VYPER, ()) if m.kind == "rounding"]


def test_python_mutants():
    assert listing("f.py", PYTHON) == [
        (1, "literal", "`True` -> `False`"),
        (3, "check", '`_require(a >= b, "f: a < b")` -> `pass`'),
        (3, "comparison", "`>=` -> `>`"),
        (4, "check", "`assert -a <= 0` -> `pass`"),
        (4, "comparison", "`<=` -> `<`"),
        (5, "extremum", "`max` -> `min`"),
        (6, "arithmetic", "`+=` -> `-=`"),
        (6, "arithmetic", "`*` -> `//`"),
        (6, "arithmetic", "`-` -> `+`"),
        (7, "comparison", "`<=` -> `<`"),
        (7, "comparison", "`<` -> `<=`"),
        (7, "boolean", "`or` -> `and`"),
        (8, "rounding", "`wad_mul_down` -> `wad_mul_up`"),
        (8, "arithmetic", "`//` -> `*`"),
    ]


def test_a_mutant_changes_one_token_and_keeps_every_line():
    (mutant,) = [m for m in mutants(Path("f.vy"), VYPER, ()) if m.describe() == "`<` -> `<=`"]
    mutated = mutant.apply(VYPER)
    assert mutated == VYPER.replace("if a < b", "if a <= b")
    for mutant in mutants(Path("f.py"), PYTHON, ()):
        assert mutant.apply(PYTHON).count("\n") == PYTHON.count("\n")


def test_a_dropped_multiline_check_leaves_its_lines_empty():
    source = "def f(x):\n    assert (\n        x > 0\n    ), 'f'\n    return x\n"
    (dropped,) = [m for m in mutants(Path("f.py"), source) if m.kind == "check"]
    assert dropped.apply(source) == "def f(x):\n    pass\n\n\n    return x\n"


def test_the_file_is_restored_after_the_block_and_after_an_interrupt(tmp_path):
    path, backup = tmp_path / "f.vy", tmp_path / "originals" / "f.vy"
    path.write_text(VYPER)
    mutant = mutants(path, VYPER, ())[0]
    with applied(path, mutant, backup=backup) as mutated:
        assert path.read_text() == mutated != VYPER
        assert backup.read_text() == VYPER
    assert path.read_text() == VYPER and not backup.exists()
    with pytest.raises(KeyboardInterrupt), applied(path, mutant, backup=backup):
        raise KeyboardInterrupt
    assert path.read_text() == VYPER and not backup.exists()


def test_an_original_left_by_a_killed_run_is_put_back(tmp_path):
    path, backup = tmp_path / "f.vy", tmp_path / "originals" / "f.vy"
    backup.parent.mkdir()
    path.write_text("mutated")
    backup.write_text(VYPER)
    assert restore_backup(path, backup)
    assert path.read_text() == VYPER and not backup.exists()
    assert not restore_backup(path, backup)


def test_a_mutant_is_applied_only_where_the_original_text_is():
    with pytest.raises(AssertionError):
        Mutant("comparison", (1, 0), (1, 1), "<", "<=").apply("> b\n")
