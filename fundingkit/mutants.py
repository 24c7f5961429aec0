"""Mutants of a source file: one small change each, for mutation testing.

A mutant is a text edit of one source file (a span replaced by new text) that
keeps every other line where it was, so a survivor's line number is the
original's. The same kinds of change are made in Vyper and Python:

* arithmetic: ``+`` <-> ``-``, ``*`` <-> ``//`` (and the augmented ``+=`` ...);
* comparisons: ``<`` <-> ``<=``, ``>`` <-> ``>=`` (the boundary moves by one),
  ``==`` <-> ``!=``;
* rounding direction: a call to ``*_up`` <-> ``*_down``, ``*_ceil`` <->
  ``*_floor``, when the other name exists (``rounding_names``);
* ``min`` <-> ``max``; ``and`` <-> ``or``; ``True`` <-> ``False``;
* a dropped check: an ``assert`` statement (and in Python a ``_require(...)``
  call statement) becomes ``pass``.

Vyper is not Python, but Python's tokenizer reads it (strings, comments and
operators are lexed alike), so Vyper mutants are found on its token stream:
a ``+``/``-``/``*``/``//`` is binary when the token before it ends an operand.
Python mutants are found on the ``ast`` (only real binary operations,
comparisons, boolean operations and calls), then placed with the tokenizer.

``applied(path, mutant)`` writes one mutant over the file and always puts the
original back, even when the block is interrupted.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ARITHMETIC = {"+": "-", "-": "+", "*": "//", "//": "*"}
AUGMENTED = {"+=": "-=", "-=": "+=", "*=": "//=", "//=": "*="}
COMPARISON = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
BOOLEAN = {"and": "or", "or": "and"}
LITERAL = {"True": "False", "False": "True"}
EXTREMUM = {"min": "max", "max": "min"}
ROUNDING = {"_up": "_down", "_down": "_up", "_ceil": "_floor", "_floor": "_ceil"}
# Statements that only check: dropping one is a mutant.
CHECK_CALLS = {"_require"}

# Vyper words after which a `-` or `+` is unary (the token before an operand).
_VYPER_KEYWORDS = set(keyword.kwlist) | {"log", "extcall", "staticcall"}
_ROUNDING_NAME = re.compile(r"(_up|_down|_ceil|_floor)$")


@dataclass(frozen=True)
class Mutant:
    """Replace the text from ``start`` to ``end`` (line, column; lines from 1,
    columns in characters) by ``replacement``."""

    kind: str  # arithmetic, comparison, rounding, extremum, boolean, literal, check
    start: tuple[int, int]
    end: tuple[int, int]
    original: str
    replacement: str

    @property
    def line(self) -> int:
        return self.start[0]

    def describe(self) -> str:
        """`<` -> `<=`, with a dropped check shortened to its first line."""
        original = self.original.splitlines()[0]
        if len(original) > 60:
            original = original[:57] + "..."
        return f"`{original}` -> `{self.replacement.strip()}`"

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        offsets = [0]
        for text in lines:
            offsets.append(offsets[-1] + len(text))
        begin = offsets[self.start[0] - 1] + self.start[1]
        finish = offsets[self.end[0] - 1] + self.end[1]
        assert source[begin:finish] == self.original, (source[begin:finish], self)
        return source[:begin] + self.replacement + source[finish:]


def mutants(path: Path, source: str, rounding_names: Iterable[str] = ()) -> list[Mutant]:
    """Every mutant of one file, in source order; ``.vy`` is Vyper, else Python.
    ``rounding_names``: the names a rounding call may be swapped to (besides
    the names in the file itself)."""
    known = set(rounding_names) | _names(source)
    found = vyper_mutants(source, known) if path.suffix == ".vy" else python_mutants(source, known)
    return sorted(set(found), key=lambda m: (m.start, m.end, m.replacement))


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def _names(source: str) -> set[str]:
    try:
        return {t.string for t in _tokens(source) if t.type == tokenize.NAME}
    except (tokenize.TokenError, SyntaxError):
        return set()


def _swap_rounding(name: str, known: set[str]) -> str | None:
    match = _ROUNDING_NAME.search(name)
    if not match:
        return None
    swapped = name[: match.start()] + ROUNDING[match.group(1)]
    return swapped if swapped in known else None


def _token_mutant(kind: str, token: tokenize.TokenInfo, replacement: str) -> Mutant:
    return Mutant(kind, token.start, token.end, token.string, replacement)


def _dropped(statement_start: tuple[int, int], end: tuple[int, int], text: str) -> Mutant:
    """The statement becomes `pass`; its continuation lines stay, empty."""
    newlines = "\n" * (end[0] - statement_start[0])
    return Mutant("check", statement_start, end, text, "pass" + newlines)


# ---------------------------------------------------------------- Vyper


def vyper_mutants(source: str, rounding_names: set[str]) -> Iterator[Mutant]:
    tokens = [
        t
        for t in _tokens(source)
        if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING)
    ]
    lines = source.splitlines(keepends=True)
    for i, token in enumerate(tokens):
        before = tokens[i - 1] if i > 0 else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.type == tokenize.OP:
            text = token.string
            if text in ARITHMETIC and _ends_operand(before):
                yield _token_mutant("arithmetic", token, ARITHMETIC[text])
            elif text in AUGMENTED:
                yield _token_mutant("arithmetic", token, AUGMENTED[text])
            elif text in COMPARISON:
                yield _token_mutant("comparison", token, COMPARISON[text])
        elif token.type == tokenize.NAME:
            text = token.string
            defining = before is not None and before.string == "def"
            attribute = before is not None and before.string == "."
            called = after is not None and after.string == "("
            if text in BOOLEAN:
                yield _token_mutant("boolean", token, BOOLEAN[text])
            elif text in LITERAL:
                yield _token_mutant("literal", token, LITERAL[text])
            elif text in EXTREMUM and called and not attribute and not defining:
                yield _token_mutant("extremum", token, EXTREMUM[text])
            elif called and not defining and (swapped := _swap_rounding(text, rounding_names)):
                yield _token_mutant("rounding", token, swapped)
            elif text == "assert" and (before is None or before.type in _STATEMENT_START):
                end = _statement_end(tokens, i)
                yield _dropped(token.start, end, _span(lines, token.start, end))


_STATEMENT_START = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def _ends_operand(token: tokenize.TokenInfo | None) -> bool:
    """Whether an operator after `token` is binary (`a - b`), not unary (`(-b`)."""
    if token is None:
        return False
    if token.type in (tokenize.NUMBER, tokenize.STRING):
        return True
    if token.type == tokenize.NAME:
        return token.string not in _VYPER_KEYWORDS or token.string in ("True", "False")
    return token.string in (")", "]")


def _statement_end(tokens: list[tokenize.TokenInfo], i: int) -> tuple[int, int]:
    """Where the logical line that starts at token `i` ends (its NEWLINE)."""
    while tokens[i].type != tokenize.NEWLINE:
        i += 1
    last = tokens[i - 1]
    return last.end


def _span(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    if start[0] == end[0]:
        return lines[start[0] - 1][start[1] : end[1]]
    parts = [lines[start[0] - 1][start[1] :]]
    parts += lines[start[0] : end[0] - 1]
    parts.append(lines[end[0] - 1][: end[1]])
    return "".join(parts)


# ---------------------------------------------------------------- Python

_AST_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//"}
_AST_COMPARISON = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}


def python_mutants(source: str, rounding_names: set[str]) -> Iterator[Mutant]:
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    tokens = [t for t in _tokens(source) if t.type in (tokenize.OP, tokenize.NAME)]

    def position(line: int, byte_offset: int) -> tuple[int, int]:
        # ast columns are UTF-8 byte offsets; the tokenizer's are characters.
        text = lines[line - 1].encode()[:byte_offset].decode()
        return line, len(text)

    def start_of(node: ast.AST) -> tuple[int, int]:
        return position(node.lineno, node.col_offset)

    def end_of(node: ast.AST) -> tuple[int, int]:
        return position(node.end_lineno, node.end_col_offset)

    def between(after: tuple[int, int], before: tuple[int, int], text: str):
        """The first token `text` at or after `after` and before `before`."""
        for token in tokens:
            if after <= token.start and token.end <= before and token.string == text:
                return token
        raise ValueError(f"no {text!r} between {after} and {before}")

    # Nodes inside f-strings have no reliable columns (Python 3.11): not mutated.
    formatted = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in formatted:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_ARITHMETIC:
            text = _AST_ARITHMETIC[type(node.op)]
            token = between(end_of(node.left), start_of(node.right), text)
            yield _token_mutant("arithmetic", token, ARITHMETIC[text])
        elif isinstance(node, ast.AugAssign) and type(node.op) in _AST_ARITHMETIC:
            text = _AST_ARITHMETIC[type(node.op)] + "="
            token = between(end_of(node.target), start_of(node.value), text)
            yield _token_mutant("arithmetic", token, AUGMENTED[text])
        elif isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if type(op) in _AST_COMPARISON:
                    text = _AST_COMPARISON[type(op)]
                    token = between(end_of(left), start_of(right), text)
                    yield _token_mutant("comparison", token, COMPARISON[text])
                left = right
        elif isinstance(node, ast.BoolOp):
            text = "and" if isinstance(node.op, ast.And) else "or"
            for left, right in zip(node.values, node.values[1:], strict=False):
                token = between(end_of(left), start_of(right), text)
                yield _token_mutant("boolean", token, BOOLEAN[text])
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            token = between(start_of(node), end_of(node), str(node.value))
            yield _token_mutant("literal", token, LITERAL[str(node.value)])
        elif isinstance(node, ast.Call):
            yield from _python_call(node, rounding_names, start_of, end_of, between)
        elif isinstance(node, ast.Assert) or _is_check_call(node):
            start, end = start_of(node), end_of(node)
            yield _dropped(start, end, _span(lines, start, end))


def _python_call(node: ast.Call, rounding_names, start_of, end_of, between):
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name is None:
        return
    if isinstance(func, ast.Name) and name in EXTREMUM:
        yield _token_mutant("extremum", between(start_of(func), end_of(func), name), EXTREMUM[name])
    elif swapped := _swap_rounding(name, rounding_names):
        token = between(start_of(func), end_of(func), name)
        yield _token_mutant("rounding", token, swapped)


def _is_check_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in CHECK_CALLS
    )


# ---------------------------------------------------------------- applying one


@contextmanager
def applied(path: Path, mutant: Mutant, backup: Path | None = None) -> Iterator[str]:
    """Writes ``mutant`` over ``path`` for the block and always restores the
    original bytes afterwards (on an exception or Ctrl-C too). With ``backup``,
    the original is also kept there while the mutant is in place, so a run
    killed outright can be repaired (``restore_backup``). Yields the mutated text."""
    original = path.read_bytes()
    mutated = mutant.apply(original.decode())
    if backup is not None:
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_bytes(original)
    try:
        path.write_text(mutated)
        yield mutated
    finally:
        path.write_bytes(original)
        if backup is not None:
            backup.unlink(missing_ok=True)


def restore_backup(path: Path, backup: Path) -> bool:
    """Puts back an original left in ``backup`` by an interrupted run; returns
    whether there was one."""
    if not backup.exists():
        return False
    path.write_bytes(backup.read_bytes())
    backup.unlink()
    return True
