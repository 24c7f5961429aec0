"""The audit on anvil, through Ape: it passes on the real market, it fails on a wrong one,
and its report renders in a browser.

(a) A market deployed with ``fundingkit.deployment`` runs a short scenario (deposits,
    trades, time over interval boundaries, price moves with a stale stretch, a change of
    rate parameters, settlements); the audit passes with a plausible number of checks,
    and so does ``ape run audit`` finding the market from a deployment record.
(b) The audit can fail: the contracts are copied to a temporary directory, one thing is
    broken (funding rounded down instead of up; the dampener left out of the rate), the
    copy is compiled with the installed vyper and deployed through Ape, the same scenario
    runs, and the audit names the wrong quantity; ``ape run audit --market ...`` (a
    separate process, on this anvil) prints the mismatches and exits with status 1.
(c) The report opens in headless Chromium (installed with apt-get if it is missing, else
    the test is skipped) into a screenshot that is not blank, and every image it shows is
    a PNG next to it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from fundingkit.audit import audit_market
from fundingkit.deployment import (
    FEED_DECIMALS,
    TOKEN_DECIMALS,
    deploy,
    load_deployment,
    record_deployment,
)
from fundingkit.rates import LINEAR, PREMIUM_ONLY
from fundingkit.report import PLOTS, write_report

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600
WAD = 10**18
TOKEN = 10**TOKEN_DECIMALS
ANSWER = 10**FEED_DECIMALS  # one USD in the feeds' decimals
MAX_UINT = 2**256 - 1

# Deliberately wrong copies of the contracts: (file, the correct text, the broken text).
BREAKS = {
    "rounding": (
        "modules/ledger.vy",
        "fixed_point._mul_div_ceil(position, index - snapshot, fixed_point.WAD)",
        "fixed_point._mul_div_floor(position, index - snapshot, fixed_point.WAD)",
    ),
    "dampener": (
        "modules/premium_rate.vy",
        "rate = average_premium + min(max(interest - average_premium, -dampener), dampener)",
        "rate = average_premium",
    ),
}


# ---------------------------------------------------------------- helpers


def load_script():
    """scripts/audit.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("audit_script", ROOT / "scripts" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scenario(chain, token, index_oracle, mark_oracle, market, owner, operator, actors) -> int:
    """Deposits, trades, two interval boundaries, a stale stretch, new rate parameters and
    settlements on ``market``; returns the number of market transactions sent."""
    trader, counterparty, keeper = actors
    feeder = owner
    sent = 0

    def send(method, *args, sender):
        nonlocal sent
        getattr(market, method)(*args, sender=sender)
        sent += 1

    for account in (trader, counterparty):
        token.mint(account, 100_000 * TOKEN, sender=owner)
        token.approve(market, MAX_UINT, sender=account)
        send("deposit", 20_000 * TOKEN, sender=account)
    mark = mark_oracle.latestRoundData()[1] * 10 ** (18 - FEED_DECIMALS)
    send("trade", trader, counterparty, WAD // 3, mark, sender=operator)

    chain.pending_timestamp += 9 * HOUR  # over the first 8-hour boundary
    index_oracle.submit(49_900 * ANSWER, sender=feeder)
    mark_oracle.submit(49_700 * ANSWER, sender=feeder)  # a discount: shorts pay
    send("accrue", sender=keeper)
    send("settle", trader, sender=keeper)
    send("settle", counterparty, sender=keeper)

    chain.pending_timestamp += 2 * HOUR  # stale: the answers are older than max_age
    send("accrue", sender=keeper)
    send("settle", trader, sender=keeper)

    chain.pending_timestamp += HOUR
    index_oracle.submit(49_950 * ANSWER, sender=feeder)
    mark_oracle.submit(50_200 * ANSWER, sender=feeder)  # a premium: longs pay
    send("withdraw", 1_000 * TOKEN, sender=trader)
    send("set_rate_parameters", 4 * HOUR, 10**14, 2 * 10**14, 10**16, sender=owner)

    chain.pending_timestamp += 20 * HOUR  # several whole intervals in one gap
    index_oracle.submit(50_100 * ANSWER, sender=feeder)
    mark_oracle.submit(50_150 * ANSWER, sender=feeder)
    send("trade", counterparty, trader, WAD // 7, 50_150 * WAD, sender=operator)
    chain.pending_timestamp += 3 * HOUR
    send("settle", trader, sender=keeper)
    send("settle", counterparty, sender=keeper)
    return sent


def compile_broken(tmp_path: Path, name: str) -> tuple[list, str]:
    """The contracts, copied and broken as ``BREAKS[name]`` says, compiled with vyper."""
    contracts = tmp_path / "contracts"
    shutil.copytree(ROOT / "contracts", contracts)
    relative, correct, broken = BREAKS[name]
    source = contracts / relative
    text = source.read_text()
    assert text.count(correct) == 1, f"{relative} changed: update the test's break"
    source.write_text(text.replace(correct, broken))
    vyper = Path(sys.executable).with_name("vyper")
    out = subprocess.run(
        [
            str(vyper),
            "-f",
            "abi,bytecode",
            "-p",
            str(contracts),
            str(contracts / "FundingMarket.vy"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    abi_line, bytecode = out.stdout.strip().splitlines()
    return json.loads(abi_line), bytecode.strip()


class ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.external.append(tag)
        for value in attributes.values():
            if value and value.startswith(("http:", "https:", "//")):
                self.external.append(value)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def actors(accounts):
    """trader, counterparty, keeper."""
    return accounts[2], accounts[3], accounts[5]


@pytest.fixture(scope="module")
def honest(chain, deployment, actors, tmp_path_factory):
    """The project's market after the scenario, its audit and its report."""
    snapshot = chain.snapshot()
    d = deployment
    sent = scenario(
        chain, d.token, d.index_oracle, d.mark_oracle, d.market, d.deployer, d.operator, actors
    )
    result = audit_market(str(d.market.address), from_block=d.block)
    report = write_report(result, tmp_path_factory.mktemp("report"))
    yield d, sent, result, report
    chain.restore(snapshot)


# ---------------------------------------------------------------- (a) an honest market passes


def test_the_audit_passes_on_the_market(honest):
    d, sent, result, _ = honest
    assert result.mismatches == [] and result.passed, [m.line() for m in result.mismatches]
    assert result.transactions == sent + 1  # and the deployment
    assert result.accounts == 2 and result.final_state_compared
    assert result.calls["trade"] == 2 and result.calls["accrue"] == 2
    assert result.calls["settle"] >= 4 and result.calls["set_rate_parameters"] == 1
    # Per event at least one comparison, plus the final state (2 accounts x 3, 17 totals).
    assert result.checks >= result.events + 6 + 17
    assert 20 <= result.events <= 60
    assert any(point.stale for point in result.accruals.items())
    assert result.accruals.last.funding_index == d.market.funding_index() != 0
    assert result.first_block == d.block


def test_ape_run_audit_finds_the_recorded_market(honest, chain, tmp_path, monkeypatch):
    d, _, result, _ = honest
    script = load_script()
    records = tmp_path / "deployments"
    asked = []

    def load_from_tmp(network=None, **_):
        asked.append(network)
        return load_deployment(network, directory=records)

    monkeypatch.setattr(script, "load_deployment", load_from_tmp)
    runner = CliRunner()
    # On this anvil, reached by its URL (this process's anvil stays the test's).
    network = ["--network", chain.provider.uri]
    missing = runner.invoke(script.cli, network)
    assert missing.exit_code == 1 and asked
    assert "no fundingkit deployment recorded" in missing.output

    record_deployment(d, network=asked[0], directory=records)
    out = runner.invoke(script.cli, [*network, "--report-dir", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert lines[-2].startswith(f"PASS: {result.events} events, {result.transactions} transactions")
    assert lines[-2].endswith("events/s")
    assert lines[-1] == f"report: {tmp_path / 'report' / 'index.html'}"

    bad = runner.invoke(script.cli, [*network, "--market", "0x1234"])
    assert bad.exit_code == 1 and "is not an address" in bad.output


def liquidation_epilogue(chain, token, index_oracle, mark_oracle, market, owner, operator, actors):
    """A thin long, a small insurance fund, a crash: the liquidation's shortfall is
    covered partly by the insurance account and the rest socialised to the shorts."""
    trader, counterparty, keeper = actors
    thin = keeper  # holds no position until now
    token.mint(thin, 2_000 * TOKEN, sender=owner)
    token.approve(market, MAX_UINT, sender=thin)
    market.deposit(2_000 * TOKEN, sender=thin)
    index_oracle.submit(50_100 * ANSWER, sender=owner)  # fresh answers to trade on
    mark_oracle.submit(50_150 * ANSWER, sender=owner)
    market.trade(thin, counterparty, WAD // 10, 50_150 * WAD, sender=operator)
    market.fund_insurance(10 * TOKEN, sender=counterparty)
    chain.pending_timestamp += HOUR
    index_oracle.submit(30_000 * ANSWER, sender=owner)
    mark_oracle.submit(30_000 * ANSWER, sender=owner)
    market.liquidate(thin, sender=trader)
    chain.pending_timestamp += 8 * HOUR
    for account in (trader, counterparty):
        market.settle(account, sender=trader)


@pytest.mark.parametrize("formula", [LINEAR, PREMIUM_ONLY])
def test_the_audit_passes_for_every_formula_with_a_liquidation(
    formula, honest, chain, deployment, actors
):
    """Each formula option, deployed through Ape and run through the same scenario plus
    a liquidation with insurance cover and socialisation: the audit, which takes the
    formula from the deployment's event, passes; the index differs from the default's."""
    snapshot = chain.snapshot()
    try:
        d = deployment
        other = deploy(d.deployer, replace(d.config, formula=formula), operator=d.operator)
        parts = (other.token, other.index_oracle, other.mark_oracle, other.market)
        scenario(chain, *parts, d.deployer, d.operator, actors)
        index_before_crash = other.market.funding_index()
        liquidation_epilogue(chain, *parts, d.deployer, d.operator, actors)
        result = audit_market(str(other.market.address), from_block=other.block)
        assert result.passed, [m.line() for m in result.mismatches]
        assert result.calls["liquidate"] == 1 and result.calls["fund_insurance"] == 1
        assert other.market.socialised_losses()[1] > 0  # the shorts took the rest
        assert index_before_crash != honest[2].accruals.last.funding_index
    finally:
        chain.restore(snapshot)


# ---------------------------------------------------------------- (b) a wrong market fails


@pytest.mark.parametrize(
    "name, quantity", [("rounding", "FundingSettled.owed"), ("dampener", "Accrued.funding_index")]
)
def test_the_audit_fails_on_a_wrong_market(
    name, quantity, chain, deployment, actors, tmp_path, project
):
    from ape.contracts import ContractContainer
    from ethpm_types import ContractType

    abi, bytecode = compile_broken(tmp_path, name)
    container = ContractContainer(
        ContractType(
            contractName="FundingMarket", abi=abi, deploymentBytecode={"bytecode": bytecode}
        )
    )
    snapshot = chain.snapshot()
    try:
        d = deployment
        wrong = deploy(d.deployer, d.config, operator=d.operator, market_container=container)
        token, index_oracle, mark_oracle, market = (
            wrong.token,
            wrong.index_oracle,
            wrong.mark_oracle,
            wrong.market,
        )
        block = wrong.block
        scenario(chain, token, index_oracle, mark_oracle, market, d.deployer, d.operator, actors)

        result = audit_market(str(market.address), from_block=block)
        assert not result.passed and result.mismatch_count > 0
        first = result.mismatches[0]
        assert first.quantity == quantity, [m.line() for m in result.mismatches[:5]]
        if name == "rounding":
            # The market charged a wei less than the reference: floor instead of ceil.
            assert first.expected - first.actual == 1
            assert first.account is not None

            # The command, in its own process, on this anvil: mismatches, FAIL, status 1.
            env = dict(
                os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
            )
            run = subprocess.run(
                [
                    str(Path(sys.executable).with_name("ape")),
                    "run",
                    "audit",
                    "--network",
                    chain.provider.uri,
                    "--market",
                    str(market.address),
                    "--report-dir",
                    str(tmp_path / "report"),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 1, run.stdout + run.stderr
            lines = run.stdout.strip().splitlines()
            assert any(line.startswith("MISMATCH") and quantity in line for line in lines)
            assert any(line.startswith("FAIL: ") for line in lines)
            assert (tmp_path / "report" / "index.html").is_file()
    finally:
        chain.restore(snapshot)


# ---------------------------------------------------------------- (c) the report renders


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; installed with apt-get (as root) when missing."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and apt-get cannot install it here (needs root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    errors = []
    for steps in ([install], [["apt-get", "update", "-q"], install]):
        try:
            for step in steps:
                subprocess.run(step, env=env, capture_output=True, timeout=900, check=True)
            break
        except (subprocess.SubprocessError, OSError) as error:
            errors.append(str(error)[-300:])
    if not os.access("/usr/bin/chromium", os.X_OK):
        pytest.skip(f"chromium could not be installed with apt-get: {'; '.join(errors)}")
    return "/usr/bin/chromium"


def test_the_report_renders(honest, chromium, tmp_path):
    _, _, _, report = honest
    parser = ImageSources()
    parser.feed(report.read_text())
    assert parser.external == []  # self-contained: no script, stylesheet or remote link
    assert sorted(parser.images) == sorted(PLOTS)
    for source in parser.images:
        image = report.parent / source
        assert not Path(source).is_absolute() and image.is_file(), source
        assert image.stat().st_size > 1_000 and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1200,2000",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000

    import matplotlib.image

    pixels = matplotlib.image.imread(str(screenshot))[..., :3]
    assert pixels.std() > 0.05  # not one flat colour
    colours = {tuple(row) for row in (pixels[::8, ::8].reshape(-1, 3) * 255).astype(int).tolist()}
    assert len(colours) > 50
    # The PASS badge's green is on screen.
    green = (abs(pixels[..., 0] - 0x1A / 255) < 0.05) & (abs(pixels[..., 1] - 0x7F / 255) < 0.05)
    assert green.sum() > 200
