"""The user contracts in docs/ say what the code does: every path a snapshot holds and every key
`-o json` prints is described, nothing described is missing, and no text points at a document
users do not have."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kubetriage.bundle import NODE_DIRS, NODE_LOGS, RESOURCES
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.collectors.writer import write_snapshot
from kubetriage.config import Exclusion
from kubetriage.distros import IPAM_DIR, LAYOUTS
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage

from .conftest import OUTAGE, ROOT

SNAPSHOT_DOC = (ROOT / "docs" / "snapshot-format.md").read_text(encoding="utf-8")
FINDINGS_DOC = (ROOT / "docs" / "findings-json.md").read_text(encoding="utf-8")
#: Documents that live outside the repository (design notes, other checkouts).
_ELSEWHERE = re.compile(r"DESIGN(?:\.md| ?§)|\.\./shared/|/work/shared")


def test_nothing_points_at_a_document_users_do_not_have() -> None:
    texts = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for top in ("engine", "collectors", "rules", "runbooks", "docs", "tests", "bench", "examples", "deploy"):
        texts += [p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".md", ".yaml", ".j2", ".json", ".sh")
                  and "scenarios" not in p.parts and "cases" not in p.parts]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in texts if p != Path(__file__)
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if _ELSEWHERE.search(line)]
    assert not found


def _shape(rel: Path) -> str:
    """A written path as the format names it: ``nodes/worker-2/cni/10-canal.conflist`` ->
    ``nodes/<node>/cni/<file>``."""
    parts = rel.parts
    if parts[0] == "nodes":
        inner = {"cni": "cni/<file>", "ipam": "ipam/<network>"}.get(parts[2], parts[2])
        return f"nodes/<node>/{inner}"
    if parts[0] == "logs":
        return "logs/<namespace>/<pod>/<container>" + (".previous.log" if rel.name.endswith(".previous.log")
                                                      else ".log")
    return rel.as_posix()


def test_snapshot_format_describes_every_path_collect_writes(outage_copy: Path, tmp_path: Path) -> None:
    node = outage_copy / "nodes" / "worker-1"
    for name in NODE_LOGS:
        (node / name).write_text("a line\n", encoding="utf-8")
    for name in NODE_DIRS:
        (node / name).mkdir(exist_ok=True)
        (node / name / "entry").write_text("10.42.1.5\n", encoding="utf-8")
    pod = outage_copy / "logs" / "kube-system" / "rke2-canal-x7k2p"
    pod.mkdir(parents=True)
    for name in ("calico-node.log", "calico-node.previous.log"):
        (pod / name).write_text("a line\n", encoding="utf-8")
    out = tmp_path / "written"
    write_snapshot(SnapshotBundle(outage_copy), out)
    written = {_shape(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {s for s in written if not s.startswith("api/")} == {
        "snapshot.yaml", *(f"nodes/<node>/{name}" for name in NODE_LOGS), "nodes/<node>/cni/<file>",
        "nodes/<node>/ipam/<network>", "logs/<namespace>/<pod>/<container>.log",
        "logs/<namespace>/<pod>/<container>.previous.log"}
    assert not {s for s in written if s not in SNAPSHOT_DOC}
    documented = set(re.findall(r"`api/(\w+)\.json`", SNAPSHOT_DOC))
    assert documented == set(RESOURCES), "the doc names exactly the resources a snapshot may hold"


def test_snapshot_format_describes_the_metadata_collect_writes(tmp_path: Path) -> None:
    write_snapshot(SnapshotBundle(OUTAGE), tmp_path)
    meta = (tmp_path / "snapshot.yaml").read_text(encoding="utf-8")
    keys = re.findall(r"^(\w+):", meta, re.MULTILINE)
    assert keys == ["format", "cluster", "collected_at", "errors"]
    block = SNAPSHOT_DOC.split("## snapshot.yaml", 1)[1].split("```")[1]
    assert re.findall(r"^(\w+):", block, re.MULTILINE) == keys
    assert "{source: api, target: api/secrets, message:" in block


def _keys(value: Any, path: str = "") -> set[str]:
    """Every key of a JSON document as ``parent.key`` (list items as ``parent[]``)."""
    if isinstance(value, dict):
        return {k for key, item in value.items() for k in {f"{path}{key}", *_keys(item, f"{path}{key}.")}}
    if isinstance(value, list):
        return {k for item in value for k in _keys(item, path.removesuffix(".") + "[].")}
    return set()


def _documented_keys() -> set[str]:
    """Keys as findings-json.md lists them: table rows under each heading, ``{a, b}`` under lists."""
    keys: set[str] = set()
    for section in re.split(r"^## ", FINDINGS_DOC, flags=re.MULTILINE)[1:]:
        heading = section.split("\n", 1)[0].strip()
        prefix = {"Top level": "", "findings[]": "findings[].", "coverage": "coverage.",
                  "suppressed[]": "suppressed[].", "resolved_earlier[]": "resolved_earlier[]."}.get(heading)
        if prefix is None:
            continue
        rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|(.*)$", section, re.MULTILINE)
        keys |= {prefix + key for key, _, _ in rows}
        for key, type_, meaning in rows:  # a list of objects names its items' keys: each `{a, b}`
            if type_ == "list of objects":
                keys |= {f"{prefix}{key}[].{k.strip()}" for k in _braced(meaning)}
        if not rows:
            keys |= {prefix + k.strip() for k in _braced(section)}
    return keys


def _braced(text: str) -> list[str]:
    return [k for listed in re.findall(r"`\{([\w, ]+)\}`", text) for k in listed.split(",")]


def test_findings_json_describes_every_key_a_triage_prints_and_no_other(outage_copy: Path) -> None:
    (outage_copy / "api" / "networkpolicies.json").unlink()  # rules needing it are not evaluated
    (outage_copy / "api" / "events.json").write_text("{", encoding="utf-8")  # a located error
    knowledge = Knowledge.load()
    printed: set[str] = set()
    for snapshot in (outage_copy, ROOT / "tests" / "scenarios" / "healthy-rke2"):  # old events: resolved
        bundle = SnapshotBundle(snapshot)
        report = triage(bundle, knowledge, resolve_now(bundle, None),
                        exclusions=[Exclusion("", "Ingress/shop/storefront", (), "owned by the web team")])
        printed |= _keys(report.as_dict())
    assert {"suppressed[].reason", "resolved_earlier[].why", "coverage.not_evaluated[].missing",
            "coverage.errors[].message", "findings[].explained_by"} <= printed
    assert printed == _documented_keys()


def test_snapshot_format_gives_each_distributions_node_paths_from_the_table() -> None:
    """The doc's table says what the collector's table says (engine/distros.py)."""
    rows = {line.split("|")[1].strip().lower(): line for line in SNAPSHOT_DOC.splitlines()
            if line.startswith("| ") and line.count("|") == 5}
    for name, layout in LAYOUTS.items():
        for source in (layout.kubelet, layout.containerd, *layout.cni_dirs):
            shown = ("journalctl " + " ".join(f"-u {u}" for u in source[8:].split(","))
                     if source.startswith("journal:") else source)
            assert f"`{shown}`" in rows[name], (name, shown)
    assert f"`{IPAM_DIR}/<network>/`" in SNAPSHOT_DOC
