"""The package installs as one import package with its data, and its engine imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("kubetriage-*.whl")
    return built


def test_wheel_holds_one_import_package_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.startswith("kubetriage-")}
    assert tops == {"kubetriage"}
    for expected in ("kubetriage/rules/cni/NET-CNI-001.yaml", "kubetriage/rules/signatures/cni.yaml",
                     "kubetriage/runbooks/cni-daemonset-recovery.md", "kubetriage/schemas/rule.v1.json",
                     "kubetriage/collectors/snapshot.py", "kubetriage/py.typed"):
        assert expected in names
    shipped = {n.removeprefix("kubetriage/examples/") for n in names if n.startswith("kubetriage/examples/")}
    bundled = {p.relative_to(ROOT / "examples").as_posix() for p in (ROOT / "examples").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == bundled, "the example snapshots ship whole, and nothing else from examples/"


def test_test_support_code_is_not_shipped(wheel: Path) -> None:
    modules = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    support = {p.stem for p in (ROOT / "tests" / "support").glob("*.py")} - {"__init__"}
    assert {"synth", "build_examples"} <= support
    assert not {m for m in modules if Path(m).stem in support or "/tests/" in m}


def test_help_examples_work_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    """The quick start in ``--help`` names only what an installed package has (not a checkout)."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubetriage", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)

    where = subprocess.run([sys.executable, "-c", "import kubetriage; print(kubetriage.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert Path(where.stdout.strip()).is_relative_to(target)
    help_text = run("--help").stdout
    assert "kubetriage demo" in help_text and "examples/" not in help_text
    path = run("demo", "--path").stdout.strip()
    assert Path(path).is_relative_to(target) and (Path(path) / "snapshot.yaml").is_file()
    demo = run("demo", "-o", "json")
    assert demo.returncode == 0, demo.stderr
    assert "NET-CNI-001" in {f["rule_id"] for f in json.loads(demo.stdout)["findings"]}
    triaged = run("triage", "--snapshot", path, "-o", "json", "--fail-on", "critical")
    assert triaged.returncode == 1 and json.loads(triaged.stdout) == json.loads(demo.stdout)
