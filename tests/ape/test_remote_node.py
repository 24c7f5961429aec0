"""The scripts against a node reached by URL, as they would reach a remote one.

The test starts its own anvil on a free loopback port (bounded by ``timeout`` where it
exists, and always stopped in a ``finally``), and every script connects to it with
``--network http://127.0.0.1:PORT`` -- Ape's ``custom`` network over its node provider,
so nothing is started or stopped by Ape, and the chain outlives each command: deploy,
then simulate with ``--no-time-travel`` (prices pushed at the node's own time), inspect,
and the audit when ``scripts/audit.py`` is there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APE = str(Path(sys.executable).parent / "ape")
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
NODE_LIFETIME = 300  # seconds: the node stops by itself even if this process dies
RUN_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"anvil exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"anvil did not listen on port {port} in {seconds} s")


@pytest.fixture
def remote_node():
    """The URL of an anvil this test started; stopped afterwards."""
    anvil = str(ANVIL) if ANVIL.exists() else shutil.which("anvil")
    if anvil is None:
        pytest.skip("anvil is not installed (make node)")
    port = free_port()
    command = [anvil, "--port", str(port), "--silent"]
    if shutil.which("timeout"):
        command = ["timeout", str(NODE_LIFETIME), *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ape_run(deployments: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["FUNDINGKIT_DEPLOYMENTS"] = str(deployments)
    tools = [str(Path(sys.executable).parent), str(ROOT / "node_modules" / ".bin")]
    env["PATH"] = os.pathsep.join([*tools, env.get("PATH", "")])
    return subprocess.run(
        [APE, "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_deploy_simulate_inspect_audit_on_a_node_by_url(remote_node, tmp_path):
    network = ("--network", remote_node)

    deployed = ape_run(tmp_path, "deploy", *network)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    record = json.loads((tmp_path / "custom-31337.json").read_text())
    assert record["network"] == "custom-31337" and record["chain_id"] == 31337
    assert not (tmp_path / "custom-31337.state").exists()  # the node keeps its own chain

    simulated = ape_run(
        tmp_path,
        "simulate",
        *network,
        "--no-time-travel",
        "--days",
        "0.25",
        "--traders",
        "3",
        "--no-progress",
    )
    text = simulated.stdout + simulated.stderr
    assert simulated.returncode == 0, text
    assert "at the node's own time" in text
    assert "reference check: the chain matches the reference" in text

    inspected = ape_run(tmp_path, "inspect", *network)
    text = inspected.stdout + inspected.stderr
    assert inspected.returncode == 0, text
    assert "accounts (3)" in text  # the simulation's traders, found in the market's events

    if (ROOT / "scripts" / "audit.py").exists():
        audited = ape_run(tmp_path, "audit", *network, "--report-dir", str(tmp_path / "report"))
        text = audited.stdout + audited.stderr
        assert audited.returncode == 0, text
        assert "PASS" in text, text
