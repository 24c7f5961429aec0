"""Mutation testing: does the titanoboa suite notice a small change to the code?

    python scripts/mutate.py                        # every file of FILES (hours)
    python scripts/mutate.py contracts/modules/ledger.vy fundingkit/rates.py
    python scripts/mutate.py --list fundingkit/rates.py      # the mutants only
    python scripts/mutate.py --sample 10 contracts/modules/ledger.vy   # a quick look

(``make mutate`` and ``make mutate FILE=...`` run it with the project's venv.) A
plain Python script, not an Ape script: it needs no chain.

For each file, ``fundingkit.mutants`` makes its mutants (one small change each).
Every mutant is written over the file, the tests that cover the file run once
(``pytest -x``, Hypothesis profile ``mutation``: few examples, derandomized, no
shrinking, so the first failure ends the run), and the original is put back,
always. Each mutant is then

* killed: a test failed;
* survived: every selected test passed;
* timeout: the tests ran longer than ``TIMEOUT_FACTOR`` times the unmutated run
  (counted as detected: a hang is noticed);
* compile error: a Vyper mutant that does not compile (not counted at all).

The tests that cover a file are ``tests_for(path)``: for a Vyper file, those of
every compiled contract that is it or imports it (``TESTS_BY_CONTRACT``), then the
file's own slower ones (``EXTRA_TESTS``); for a Python file, ``TESTS_BY_MODULE``.
Each list is ordered so that the fast and telling tests come first.

Results are kept per file in docs/mutation-results.json (a run of one file
replaces that file's entry), and rendered into docs/TESTING.md between the
mutation markers, with every survivor; survivors judged equivalent are listed,
with the reason, in docs/mutation-equivalent.toml and do not count against the
score. score = (killed + timeout) / (mutants - compile errors - equivalent).
After judging survivors, ``--report`` writes the table again from the recorded
results and the judgements, running nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Python puts this script's folder first on the path, and it holds Ape scripts
# named like standard modules (inspect.py): import from the project root instead.
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from fundingkit.mutants import Mutant, applied, mutants, restore_backup  # noqa: E402

RESULTS = ROOT / "docs" / "mutation-results.json"
EQUIVALENT = ROOT / "docs" / "mutation-equivalent.toml"
REPORT = ROOT / "docs" / "TESTING.md"
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"
BACKUPS = ROOT / ".build" / "mutation" / "originals"
LOG = ROOT / ".build" / "mutation" / "last-run.log"
# Held while a run goes on: a second run in the same tree would take the first
# one's mutant for an original to restore, and each would test the other's.
LOCK = ROOT / ".build" / "mutation" / "lock"
# The tests run with this HOME, so titanoboa's disk cache of compiled contracts is
# the run's own: each mutant's compilations are deleted after it (COMPILED), and
# the user's cache never fills with mutants.
HOME = ROOT / ".build" / "mutation" / "home"
COMPILED = HOME / ".cache" / "titanoboa"

# A mutant's tests may run this many times as long as the unmutated run (at least
# TIMEOUT_FLOOR seconds) before it is stopped and counted as a timeout.
TIMEOUT_FACTOR, TIMEOUT_FLOOR = 3, 60

FILES = [
    *sorted(f"contracts/{p.name}" for p in (ROOT / "contracts").glob("*.vy")),
    *sorted(f"contracts/modules/{p.name}" for p in (ROOT / "contracts" / "modules").glob("*.vy")),
    "fundingkit/market.py",
    "fundingkit/rates.py",
    "fundingkit/volatility.py",
    "fundingkit/audit.py",
    *sorted(
        f"fundingkit/models/{p.name}"
        for p in (ROOT / "fundingkit" / "models").glob("*.py")
        if p.name != "__init__.py"
    ),
]


def _boa(*names: str) -> list[str]:
    return [f"tests/boa/test_{name}.py" for name in names]


# The market's own tests, fastest and most telling first: every contract and module
# in a FundingMarket is tested by these.
MARKET_TESTS = _boa(
    "mutation_gaps",
    "market_unit",
    "liquidation",
    "boundaries",
    "oracle_unit",
    "token_unit",
    "pool_mode",
    "regressions",
    "smoke_fixture",
    "rate_examples",
    "reentrancy",
    "spike",
    "rate_model_markets",
    "market_stateful",
)
RATE_MODEL_TESTS = _boa("rate_model_markets", "access_control", "market_stateful")
# The tests of each compiled contract (deployables and test harnesses). A module
# is tested by the tests of every contract that imports it, in this order: the
# harnesses' direct tests (fast) first.
TESTS_BY_CONTRACT = {
    "tests/contracts/MathHarness.vy": _boa("math_properties"),
    "tests/contracts/VelocityRateHarness.vy": _boa("rate_models"),
    "tests/contracts/SkewRateHarness.vy": _boa("rate_models"),
    "tests/contracts/ExternalRateHarness.vy": _boa("rate_models"),
    "tests/contracts/VolatilityHarness.vy": _boa("volatility_cap"),
    "tests/contracts/ReentrantToken.vy": _boa("reentrancy"),
    "tests/contracts/ScriptedOracle.vy": _boa("oracle_failures"),
    "contracts/FundingMarket.vy": MARKET_TESTS,
    "contracts/CollateralToken.vy": _boa("token_unit") + MARKET_TESTS,
    "contracts/MockOracle.vy": _boa("oracle_unit", "oracle_failures") + MARKET_TESTS,
    "contracts/VelocityRateModel.vy": RATE_MODEL_TESTS,
    "contracts/SkewRateModel.vy": RATE_MODEL_TESTS,
    "contracts/ExternalRateModel.vy": RATE_MODEL_TESTS,
    "contracts/VolatilityCap.vy": _boa("volatility_market", "access_control", "pause"),
}
# Slower tests about one part of the market, run after the others for that part's
# files only: the role and pause tables, the oracle-failure table, the audit's
# replay, the market under a volatility cap.
EXTRA_TESTS = {
    "contracts/FundingMarket.vy": _boa(
        "access_control", "pause", "oracle_failures", "audit_replay", "volatility_market"
    ),
    "contracts/modules/price_feed.vy": _boa("oracle_failures", "pause"),
    "contracts/modules/funding_accrual.vy": _boa("pause", "volatility_market"),
    "contracts/modules/premium_rate.vy": _boa("volatility_market"),
}
# The tests of each reference module: those that call it directly first, then
# those that compare it with a contract through the market's reference.
TESTS_BY_MODULE = {
    "fundingkit/market.py": _boa("exact_bound", "paths")
    + MARKET_TESTS
    + _boa("access_control", "pause", "oracle_failures", "audit_replay"),
    "fundingkit/rates.py": _boa("rate_examples", "math_properties", "paths", "exact_bound")
    + MARKET_TESTS
    + _boa("lab"),
    "fundingkit/volatility.py": _boa("volatility_cap", "volatility_market"),
    "fundingkit/audit.py": _boa("audit_replay", "volatility_market"),
    "fundingkit/models/deployed.py": _boa("rate_model_markets", "market_stateful"),
}
for _name in ("velocity_rate", "skew_rate", "external_rate"):
    TESTS_BY_MODULE[f"fundingkit/models/{_name}.py"] = _boa(
        "rate_models", "rate_model_markets", "lab", "market_stateful"
    )


# ---------------------------------------------------------------- which tests, which contracts

_IMPORT = re.compile(r"^(?:from\s+([\w.]+)\s+)?import\s+([\w, ]+)", re.MULTILINE)


def vyper_imports(path: Path) -> set[Path]:
    """The project's Vyper files `path` imports directly (snekmate's and the
    compiler's own are not ours)."""
    found = set()
    for package, names in _IMPORT.findall(path.read_text()):
        for name in (n.strip() for n in names.split(",")):
            if package.startswith("."):
                base = path.parent
                for _ in range(len(package) - len(package.lstrip(".")) - 1):
                    base = base.parent
                rest = package.lstrip(".")
                folder = base.joinpath(*rest.split(".")) if rest else base
            else:
                folder = ROOT.joinpath(*package.split("."))
            candidate = folder / f"{name}.vy"
            if candidate.exists():
                found.add(candidate.resolve())
    return found


def compiled_contracts() -> list[Path]:
    return [ROOT / name for name in TESTS_BY_CONTRACT]


def dependents(path: Path) -> list[Path]:
    """The compiled contracts that are `path` or import it, directly or not."""
    path = path.resolve()
    result = []
    for contract in compiled_contracts():
        seen, todo = set(), [contract.resolve()]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(vyper_imports(current))
        if path in seen:
            result.append(contract)
    return result


def tests_for(name: str) -> list[str]:
    """The test files that cover one file, in the order they should run."""
    if name.endswith(".vy"):
        lists = [TESTS_BY_CONTRACT[str(c.relative_to(ROOT))] for c in dependents(ROOT / name)]
        lists.append(EXTRA_TESTS.get(name, []))
    else:
        lists = [TESTS_BY_MODULE[name]]
    return list(dict.fromkeys(test for tests in lists for test in tests))


def rounding_names() -> set[str]:
    """Functions a rounding mutant may call instead: every `def` in the Vyper
    sources (a Python file's own names are added by `mutants`)."""
    names = set()
    for folder in (ROOT / "contracts", ROOT / "tests" / "contracts"):
        for path in folder.rglob("*.vy"):
            names |= set(re.findall(r"^def (\w+)\(", path.read_text(), re.MULTILINE))
    return names


# ---------------------------------------------------------------- running one mutant


def compile_error(name: str) -> str | None:
    """Why the (mutated) Vyper file does not compile in some contract that
    uses it, else None. Compiling here also fills titanoboa's disk cache, so
    the tests load the mutated contracts without compiling them again."""
    import boa

    boa.interpret.set_cache_dir(str(COMPILED))
    for contract in dependents(ROOT / name):
        try:
            boa.load_partial(str(contract))
        except Exception as error:  # noqa: BLE001 - any compiler failure
            return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return None


@dataclass
class Outcome:
    status: str  # killed, survived, timeout, compile error
    seconds: float
    detail: str = ""  # the first failing test, or the compiler's complaint


_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def run_tests(tests: list[str], timeout: float, forked: bool = False) -> Outcome:
    """Runs pytest on `tests`: in a new process, or, with `forked`, in a fork
    of this one (see `preload_suite`)."""
    args = ["-x", "-q", "-p", "no:ape_test", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    HOME.mkdir(parents=True, exist_ok=True)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("w") as log:
        pid = _fork_pytest(args, log) if forked else _spawn_pytest(args, log)
        code = _wait(pid, timeout)
    seconds = time.monotonic() - started
    if code is None:
        return Outcome("timeout", seconds)
    if code == 0:
        return Outcome("survived", seconds)
    if code in (1, 2):  # tests failed, or an import (collection) failed
        failed = _FAILED.search(LOG.read_text())
        return Outcome("killed", seconds, failed.group(1) if failed else f"exit {code}")
    raise RuntimeError(f"pytest exited {code} (see {LOG.relative_to(ROOT)})")


def _test_environment() -> dict[str, str]:
    return dict(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        HYPOTHESIS_PROFILE="mutation",
        # A mutant of a .py file keeps its size and may keep its mtime's second:
        # a bytecode cache written for it could be taken for the original's later.
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(HOME),
    )


def _spawn_pytest(args: list[str], log) -> int:
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env=dict(os.environ, **_test_environment()),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process.pid


def _fork_pytest(args: list[str], log) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 3  # the child: runs the tests, then exits without returning
    try:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        import pytest

        code = int(pytest.main(args))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    """The exit code of the process `pid` (a session leader), or None once it
    ran `timeout` seconds: then it is killed with everything it started."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
    except BaseException:
        _kill(pid)
        raise
    _kill(pid)
    return None


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


_preloaded = False


def preload_suite() -> None:
    """Loads, in this process, what every test run starts with and a Python
    mutant cannot change: pytest, titanoboa, Ape (which `fundingkit` imports) and
    the contracts the suite compiles (tests/boa/deployers.py: Vyper's front end
    runs even on a cache hit). Together about half a minute per test process.
    Each mutant of a .py file then runs in a fork of this process
    (`run_tests(forked=True)`). The suite's conftest is imported here to load all
    that, then every module of this project except deployers is dropped again, so
    a fork imports `fundingkit`, `oracles` and the tests afresh, from the mutated
    file. Vyper mutants cannot use it: their contracts must be compiled again,
    so they run in a new process."""
    global _preloaded
    if _preloaded:
        return
    os.environ.update(_test_environment())
    sys.dont_write_bytecode = True
    import boa
    import pytest  # noqa: F401

    boa.interpret.set_cache_dir(str(COMPILED))
    sys.path.insert(0, str(ROOT / "tests" / "boa"))
    import conftest  # noqa: F401

    for name, module in list(sys.modules.items()):
        origin = str(getattr(module, "__file__", None) or "")
        if origin.startswith(str(ROOT)) and name not in ("__main__", "deployers"):
            del sys.modules[name]
    _preloaded = True


def test_one(name: str, mutant: Mutant, tests: list[str], timeout: float) -> Outcome:
    path = ROOT / name
    if name.endswith(".py"):
        preload_suite()  # before the mutant is in place
    started = time.time()
    try:
        with applied(path, mutant, backup=BACKUPS / name):
            if name.endswith(".vy"):
                error = compile_error(name)
                if error:
                    return Outcome("compile error", time.time() - started, error)
                return run_tests(tests, timeout)
            return run_tests(tests, timeout, forked=True)
    finally:
        forget_compiled(since=started)


def forget_compiled(since: float) -> None:
    """Deletes what was compiled since `since`: the mutant's contracts (the
    unmutated ones were compiled by the unmutated run before)."""
    for entry in COMPILED.rglob("*.pickle"):
        if entry.stat().st_mtime >= since - 1:
            entry.unlink(missing_ok=True)


# ---------------------------------------------------------------- equivalent mutants


def equivalents() -> list[dict]:
    """Survivors judged equivalent: file, code (the line, stripped), mutant,
    reason, and `column` (in the stripped code) where one line has two alike."""
    if not EQUIVALENT.exists():
        return []
    return tomllib.loads(EQUIVALENT.read_text()).get("equivalent", [])


def equivalent_reason(name: str, survivor: dict, judged: list[dict]) -> str | None:
    for entry in judged:
        if (entry["file"], entry["code"], entry["mutant"]) == (
            name,
            survivor["code"],
            survivor["mutant"],
        ) and _same_column(entry, survivor):
            return entry["reason"]
    return None


def _same_column(entry: dict, survivor: dict) -> bool:
    """An entry without a column matches either of two alike changes on a line
    (and so does a survivor recorded without one)."""
    if "column" not in entry or "column" not in survivor:
        return True
    return entry["column"] == survivor["column"]


def judge(results: dict[str, dict]) -> dict[str, dict]:
    """The results with each survivor's `equivalent` reason (or None) and each
    file's count of equivalent survivors, from docs/mutation-equivalent.toml."""
    judged = equivalents()
    out = {}
    for name, entry in results.items():
        survivors = [
            dict(survivor, equivalent=equivalent_reason(name, survivor, judged))
            for survivor in entry["survivors"]
        ]
        equivalent = sum(1 for survivor in survivors if survivor["equivalent"])
        out[name] = dict(entry, survivors=survivors, equivalent=equivalent)
    return out


# ---------------------------------------------------------------- a file


def mutate_file(
    name: str, sample: int | None, names: set[str], only_lines: list[int] | None = None
) -> dict | None:
    path = ROOT / name
    source = path.read_text()
    found = mutants(path, source, names)
    if only_lines:
        found = [m for m in found if m.line in only_lines]
    if sample is not None and sample < len(found):
        found = sorted(random.Random(0).sample(found, sample), key=lambda m: m.start)
    tests = tests_for(name)
    print(f"==> {name}: {len(found)} mutants, {len(tests)} test files", flush=True)
    baseline = run_tests(tests, timeout=3_600)
    if baseline.status != "survived":
        print(
            f"    the unmutated tests fail ({baseline.detail}; {LOG.relative_to(ROOT)}): "
            f"{name} skipped",
            flush=True,
        )
        return None
    timeout = max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * baseline.seconds)
    print(f"    unmutated {baseline.seconds:.1f}s; timeout per mutant {timeout:.0f}s", flush=True)

    lines = source.splitlines()
    counts = dict.fromkeys(("killed", "survived", "timeout", "compile error"), 0)
    survivors = []
    started = time.monotonic()
    for number, mutant in enumerate(found, 1):
        outcome = test_one(name, mutant, tests, timeout)
        counts[outcome.status] += 1
        detail = f" ({outcome.detail})" if outcome.detail else ""
        print(
            f"[{number}/{len(found)}] {path.name}:{mutant.line} {mutant.describe()} "
            f"{outcome.status} {outcome.seconds:.1f}s{detail}",
            flush=True,
        )
        if outcome.status == "survived":
            code = lines[mutant.line - 1].strip()
            column = mutant.start[1] - (len(lines[mutant.line - 1]) - len(code))
            survivors.append(
                dict(line=mutant.line, column=column, mutant=mutant.describe(), code=code)
            )
    return dict(
        file=name,
        mutants=len(found),
        **{key.replace(" ", "_"): value for key, value in counts.items()},
        survivors=survivors,
        tests=tests,
        unmutated_seconds=round(baseline.seconds, 1),
        wall_seconds=round(time.monotonic() - started, 1),
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        commit=_commit(),
    )


def _commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip()


# ---------------------------------------------------------------- the report


def score(entry: dict) -> float | None:
    judged = entry["mutants"] - entry["compile_error"] - entry["equivalent"]
    return (entry["killed"] + entry["timeout"]) / judged if judged else None


def render(results: dict[str, dict]) -> str:
    rows = [
        "| file | mutants | killed | survived | timeout | compile error | equivalent "
        "| score | wall time | run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in FILES:
        entry = results.get(name)
        if entry is None:
            rows.append(f"| `{name}` | not run yet | | | | | | | | |")
            continue
        value = score(entry)
        rows.append(
            f"| `{name}` | {entry['mutants']} | {entry['killed']} | {entry['survived']} "
            f"| {entry['timeout']} | {entry['compile_error']} | {entry['equivalent']} "
            f"| {'-' if value is None else f'{value:.0%}'} "
            f"| {_minutes(entry['wall_seconds'])} | {entry['date']}, {entry['commit']} |"
        )
    parts = [BEGIN, "", *rows, ""]
    for name in FILES:
        entry = results.get(name)
        if not entry or not entry["survivors"]:
            continue
        parts.append(f"Survivors in `{name}`:")
        parts.append("")
        for survivor in entry["survivors"]:
            verdict = f" Equivalent: {survivor['equivalent']}" if survivor["equivalent"] else ""
            parts.append(
                f"- line {survivor['line']}, {survivor['mutant']} in `{survivor['code']}`.{verdict}"
            )
        parts.append("")
    parts.append(END)
    return "\n".join(parts)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def write_report(results: dict[str, dict]) -> None:
    """Records the results (without judgements: those are docs/mutation-equivalent.toml's)
    and writes the table."""
    recorded = {
        name: dict(
            {key: value for key, value in entry.items() if key != "equivalent"},
            survivors=[
                {key: value for key, value in survivor.items() if key != "equivalent"}
                for survivor in entry["survivors"]
            ],
        )
        for name, entry in results.items()
    }
    RESULTS.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    text = REPORT.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    REPORT.write_text(text[:start] + render(judge(recorded)) + text[end:])


# ---------------------------------------------------------------- main


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="files to mutate (default: every one of FILES)")
    parser.add_argument("--sample", type=int, help="only N mutants per file; nothing recorded")
    # --line too records nothing: a partial run never replaces a file's table.
    parser.add_argument("--line", type=int, action="append", help="only the mutants of line N")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--report", action="store_true", help="write the table again from the results, run nothing"
    )
    args = parser.parse_args()
    files = [str(Path(f)) for f in args.files] or FILES
    for name in files:
        if name not in FILES:
            parser.error(f"{name} is not one of the mutated files: {', '.join(FILES)}")
    signal.signal(signal.SIGTERM, _interrupt)
    os.chdir(ROOT)
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = LOCK.open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        parser.exit(1, "another mutation run is going on in this tree; wait for it\n")

    for name in FILES:  # a run killed outright left a mutant in place
        if restore_backup(ROOT / name, BACKUPS / name):
            print(f"restored {name} from the original an interrupted run left", flush=True)

    names = rounding_names()
    if args.list:
        for name in files:
            for mutant in mutants(ROOT / name, (ROOT / name).read_text(), names):
                print(f"{name}:{mutant.line} {mutant.kind} {mutant.describe()}")
        return 0

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.report:
        write_report(results)
        return 0
    started = time.monotonic()
    for name in files:
        entry = mutate_file(name, args.sample, names, args.line)
        if entry is None:
            return 1
        entry = judge({name: entry})[name]
        value = score(entry)
        print(
            f"    {name}: {entry['killed']} killed, {entry['survived']} survived "
            f"({entry['equivalent']} equivalent), {entry['timeout']} timeout, "
            f"{entry['compile_error']} compile error; score "
            f"{'-' if value is None else f'{value:.0%}'}; {_minutes(entry['wall_seconds'])}",
            flush=True,
        )
        if args.sample is None and not args.line:
            results[name] = entry
            write_report(results)
    print(f"==> done in {_minutes(time.monotonic() - started)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
