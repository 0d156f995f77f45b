"""Everyday rough edges of the command line: each gives a clear message, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import OUTAGE, Run


def test_closed_pipe_is_quiet() -> None:
    """`kubetriage rules list | head -1`: the reader went away (here: before the first write)."""
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run([sys.executable, "-m", "kubetriage", "rules", "list"], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.returncode == 1 and proc.stderr == ""


def test_runbook_into_a_missing_directory_is_a_usage_error(tmp_path: Path, kubetriage: Run) -> None:
    target = tmp_path / "missing" / "dir" / "x.md"
    proc = kubetriage("triage", "--snapshot", OUTAGE, "--runbook", target)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"Invalid value for --runbook: directory {target.parent} does not exist" in proc.stderr
    assert proc.stdout == ""  # refused before the triage ran


def test_missing_kubeconfig_messages_name_the_path_and_the_snapshot_way(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubetriage", "triage", *args], capture_output=True,
                              text=True, timeout=120, env={**env, **extra})

    default, explicit = run(), run("--kubeconfig", str(tmp_path / "nope.yaml"))
    listed = run(KUBECONFIG=f"{tmp_path}/a:{tmp_path}/b")
    assert default.stderr == (f"kubetriage: error: no kubeconfig found ({tmp_path}/.kube/config does not exist); "
                              "pass --kubeconfig FILE or --in-cluster, or to triage without a cluster, use "
                              "--snapshot DIR\n")
    assert explicit.stderr == (f"kubetriage: error: --kubeconfig {tmp_path}/nope.yaml: no such file (to triage "
                               "without a cluster, use --snapshot DIR)\n")
    assert f"(KUBECONFIG={tmp_path}/a:{tmp_path}/b does not exist)" in listed.stderr
    assert {default.returncode, explicit.returncode, listed.returncode} == {2}


def test_kubectl_plugin_defaults_to_triage() -> None:
    plugin = Path(sys.executable).parent / "kubectl-triage"
    proc = subprocess.run([plugin, "--snapshot", OUTAGE, "-o", "json", "--fail-on", "never"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["findings"][0]["rule_id"] == "NET-CNI-001"
    listed = subprocess.run([plugin, "rules", "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stdout.startswith("NET-")
    helped = subprocess.run([plugin, "--help"], capture_output=True, text=True, timeout=120)
    assert "Usage: kubectl triage [OPTIONS] COMMAND" in helped.stdout


def test_rules_test_on_a_directory_without_rules_fails(tmp_path: Path, kubetriage: Run) -> None:
    proc = kubetriage("rules", "test", tmp_path)
    assert proc.returncode == 2 and "PASS" not in proc.stdout
    assert proc.stderr == f"kubetriage: error: no rule files in {tmp_path} (a rule is <ID>.yaml, its cases " \
                          "<ID>.test.yaml beside it)\n"
    assert "names no rule under test: NET-NOPE-001" in kubetriage("rules", "test", "--rule", "NET-NOPE-001").stderr


def test_rules_new_refuses_an_existing_id(tmp_path: Path, kubetriage: Run) -> None:
    proc = kubetriage("rules", "new", tmp_path / "pack" / "mine", "--id", "NET-CNI-001")
    assert proc.returncode == 2 and "NET-CNI-001 is already a rule" in proc.stderr
    assert not (tmp_path / "pack").exists()
    assert "a rule id looks like NET-<AREA>-<NNN>" in kubetriage("rules", "new", tmp_path / "x", "--id", "x").stderr
    made = kubetriage("rules", "new", tmp_path / "pack" / "mine", "--id", "NET-TEAM-001")
    assert made.returncode == 0 and kubetriage("rules", "test", tmp_path / "pack").returncode == 0
