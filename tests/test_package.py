"""The package installs as one import package with its data, and its engine imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import kubetriage
from kubetriage.rulefile import builtin_rules_dir, rule_paths
from kubetriage.runbook import builtin_runbooks_dir

from .conftest import ROOT


def test_the_vendored_durable_rules_loads_and_fires() -> None:
    # The PyPI release builds on Python 3.13+ but cannot load there; pip reports success either way.
    assert version("durable_rules") == "2.0.28+kubetriage.1"
    proc = subprocess.run([sys.executable, str(ROOT / "third_party/durable_rules/selfcheck.py")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "durable_rules 2.0.28+kubetriage.1 fires rules\n"


def test_builtin_data_ships_with_the_package() -> None:
    assert {p.stem for p in rule_paths(builtin_rules_dir())} >= {
        "NET-CNI-001", "NET-CNI-002", "NET-CNI-004", "NET-ING-001", "NET-ING-005", "NET-LB-001"}
    assert (builtin_rules_dir() / "signatures" / "cni.yaml").is_file()
    assert (builtin_runbooks_dir() / "cni-daemonset-recovery.md").is_file()


def test_console_scripts_and_version() -> None:
    for script in ("kubetriage", "kubectl-triage"):
        path = shutil.which(script) or str(Path(sys.executable).parent / script)
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == f"kubetriage, version {kubetriage.__version__}"


def test_wheel_holds_one_import_package_with_its_data(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("kubetriage-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.startswith("kubetriage-")}
    assert tops == {"kubetriage"}
    for expected in ("kubetriage/rules/cni/NET-CNI-001.yaml", "kubetriage/rules/signatures/cni.yaml",
                     "kubetriage/runbooks/cni-daemonset-recovery.md", "kubetriage/schemas/rule.v1.json",
                     "kubetriage/collectors/snapshot.py", "kubetriage/py.typed"):
        assert expected in names
