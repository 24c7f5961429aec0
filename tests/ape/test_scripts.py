"""The Ape scripts, run as a user runs them: ``ape run NAME ...`` in a subprocess.

Each ``ape run`` starts its own anvil (``foundry: host: auto``) and stops it at the end;
the deployment saves that anvil's chain next to its record, so the later scripts find
the market. Records go to a temporary folder (``$FUNDINGKIT_DEPLOYMENTS``), never into
the repository. Failure paths must end with exactly one line, ``Error: ...``, no
traceback, and a non-zero status. Independent runs go two at a time (2-core machines).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from fundingkit.deployment import ConfigError, MarketConfig, read_market_config
from fundingkit.scripting import retrying

ROOT = Path(__file__).resolve().parents[2]
APE = str(Path(sys.executable).parent / "ape")
RUN_TIMEOUT = 120  # seconds, per `ape run`


def environment(deployments: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FUNDINGKIT_DEPLOYMENTS"] = str(deployments)
    tools = [str(Path(sys.executable).parent), str(ROOT / "node_modules" / ".bin")]
    env["PATH"] = os.pathsep.join([*tools, env.get("PATH", "")])
    env.setdefault("APE_DATA_FOLDER", str(ROOT / ".ape"))
    env.setdefault("VVM_BINARY_PATH", str(ROOT / ".ape" / "vvm"))
    return env


def ape_run(deployments: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [APE, "run", *args],
        cwd=ROOT,
        env=environment(deployments),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def assert_one_line_error(result: subprocess.CompletedProcess, *phrases: str) -> str:
    text = output(result)
    lines = [line for line in text.splitlines() if line.strip()]
    assert result.returncode != 0, text
    assert "Traceback" not in text, text
    assert len(lines) == 1, text
    assert lines[0].startswith("Error: "), text
    for phrase in phrases:
        assert phrase in lines[0], text
    return lines[0]


@pytest.fixture(scope="module")
def deployments(tmp_path_factory) -> Path:
    """A deployments folder holding one market, deployed by `ape run deploy`."""
    folder = tmp_path_factory.mktemp("deployments")
    result = ape_run(folder, "deploy")
    assert result.returncode == 0, output(result)
    assert "recorded in" in result.stdout
    return folder


def test_shipped_configuration_is_the_default():
    assert read_market_config(ROOT / "config" / "market.toml") == MarketConfig()


def test_configuration_values_and_refusals(tmp_path):
    config = tmp_path / "market.toml"
    config.write_text(
        '[rates]\ninterval = "1h"\ninterest = 0\ncap = "4%"\n'
        '[risk]\nmax_age = 120\nprice_band = "0.5%"\n[feeds]\nindex_price = "61234.5"\n'
    )
    assert read_market_config(config) == MarketConfig(
        interval=3_600,
        interest=0,
        cap=4 * 10**16,
        max_age=120,
        price_band=5 * 10**15,
        index_answer=6_123_450 * 10**6,
    )
    for text, reason in (
        ('[rates]\ncap = "4.5%"', "premium_rate: cap outside 0.01 %..4 %"),
        ('[risk]\nmax_age = "30s"', "market: max age outside 60 s..3 days"),
        ("[rates]\nspeed = 1", "unknown key 'speed' in [rates]"),
        ("[feeds]\nmark_price = 50000.5", 'write 50000.5 as a string, e.g. "50000.5"'),
    ):
        config.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(reason)):
            read_market_config(config)


def test_deploy_records_the_market_and_keeps_it(deployments, tmp_path):
    record = json.loads((deployments / "local.json").read_text())
    assert record["network"] == "local" and record["chain_id"] == 31337
    assert set(record["roles"]) == {"owner", "operator", "feeder"}
    assert record["roles"]["owner"] == record["roles"]["feeder"] != record["roles"]["operator"]
    assert {name: int(v) for name, v in record["parameters"].items()} == MarketConfig().to_dict()
    assert (deployments / "local.state").stat().st_size > 0  # the anvil's chain

    bad_config = tmp_path / "market.toml"
    bad_config.write_text('[rates]\ncap = "5%"\n')
    with ThreadPoolExecutor(2) as pool:
        again = pool.submit(ape_run, deployments, "deploy")
        refused = pool.submit(ape_run, deployments, "deploy", "--config", str(bad_config))
    assert_one_line_error(again.result(), "already recorded", "--force")
    assert_one_line_error(refused.result(), "cap outside 0.01 %..4 %")
    assert json.loads((deployments / "local.json").read_text()) == record  # untouched


def test_simulate_inspect_and_keeper(deployments):
    with ThreadPoolExecutor(2) as pool:
        simulated = pool.submit(
            ape_run,
            deployments,
            "simulate",
            "--regime",
            "negative",
            "--days",
            "2",
            "--traders",
            "4",
            "--seed",
            "3",
            "--no-progress",
        )
        inspected = pool.submit(
            ape_run,
            deployments,
            "inspect",
            "--account",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        )
    result = simulated.result()
    text = output(result)
    assert result.returncode == 0, text
    assert "reference check: the chain matches the reference" in text
    assert "throughput:" in text and "tx/s" in text
    assert "funding paid" in text and "rates seen" in text
    assert "FAILED" not in text and "MISMATCH" not in text

    result = inspected.result()
    text = output(result)
    assert result.returncode == 0, text
    for heading in ("prices", "rates", "funding and books", "accounts (1)"):
        assert heading in text, text
    assert "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" in text

    result = ape_run(deployments, "keeper", "--every", "1", "--max-runs", "2")
    text = output(result)
    assert result.returncode == 0, text
    assert text.count("accrual ") == 2 and "funding index" in text, text
    assert "keeper stopped after 2 accruals" in text


def test_keeper_stops_cleanly_on_ctrl_c(deployments):
    process = subprocess.Popen(
        [APE, "run", "keeper", "--every", "1"],
        cwd=ROOT,
        env=environment(deployments),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if line.startswith("accrual 1:") or not line:
                break
        assert lines[-1].startswith("accrual 1:"), "".join(lines)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(lines) + rest
    assert "Traceback" not in text, text
    assert process.returncode == 0, text
    assert "keeper stopped after" in text.splitlines()[-1], text


def test_user_errors_end_with_one_line(deployments, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "local.json").write_text((deployments / "local.json").read_text())  # no chain
    runs = {
        "no record": (empty, "simulate", "--days", "1"),
        "no node": (deployments, "inspect", "--network", "ethereum:local:http://127.0.0.1:9"),
        "no node by URL": (deployments, "keeper", "--network", "http://127.0.0.1:9"),
        "bad parameter": (deployments, "simulate", "--days", "-1"),
        "unknown regime": (deployments, "simulate", "--regime", "sideways", "--days", "1"),
        "stopped anvil": (stale, "inspect"),
    }
    with ThreadPoolExecutor(2) as pool:
        results = {name: pool.submit(ape_run, *args) for name, args in runs.items()}
    assert_one_line_error(
        results["no record"].result(),
        "no fundingkit market recorded for network 'ethereum:local'",
        "ape run deploy",
    )
    assert_one_line_error(results["no node"].result(), "cannot reach a node", "127.0.0.1:9")
    assert_one_line_error(results["no node by URL"].result(), "cannot reach a node")
    assert_one_line_error(results["bad parameter"].result(), "--days", "-1")
    assert_one_line_error(
        results["unknown regime"].result(), "unknown regime 'sideways'", "negative"
    )
    assert_one_line_error(results["stopped anvil"].result(), "deploy --force")


def test_run_simulation_in_process(deployment, chain):
    """What a demo calls: ``run_simulation`` on a ``Deployment`` in this process."""
    from fundingkit.simulation import run_simulation
    from oracles.synthetic import synthetic_path

    path = synthetic_path("flip", days=3, seed=5, start_time=0)
    snapshot = chain.snapshot()
    try:
        summary = run_simulation(
            deployment, path, traders=4, trade_every=3 * 3600, seed=5, progress=False
        )
    finally:
        chain.restore(snapshot)
    assert summary.ok, (summary.failures, summary.mismatches)
    assert summary.compared == 9 + 3 * 4
    assert summary.price_updates == 2 * len(path) and summary.accruals == len(path)
    assert summary.end - summary.start == path[-1].time - path[0].time + 1
    assert sum(trader.trades for trader in summary.traders) == 2 * summary.trades > 0
    assert summary.rate_min <= summary.rate_mean <= summary.rate_max
    assert summary.transactions > 0 and summary.tx_per_second > 0


def test_retrying_retries_transient_errors_only():
    pauses, attempts = [], []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise requests.exceptions.ConnectionError("connection reset by peer")
        return "accrued"

    assert retrying(flaky, retries=5, what="accrue", sleep=pauses.append) == "accrued"
    assert pauses == [1.0, 2.0]

    def refused():
        raise ValueError("market: caller is not the operator")

    with pytest.raises(ValueError):
        retrying(refused, retries=5, what="trade", sleep=pauses.append)
    assert pauses == [1.0, 2.0]  # not retried

    def down():
        raise requests.exceptions.Timeout("read timed out")

    with pytest.raises(requests.exceptions.Timeout):
        retrying(down, retries=6, what="accrue", sleep=pauses.append)
    assert pauses[2:] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
