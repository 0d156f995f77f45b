"""Runbooks render for every rule's fire cases, hostile names stay inert, the HTML page works."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from kubetriage import escape
from kubetriage.catalog import CATALOG
from kubetriage.distros import layout
from kubetriage.errors import ValidationError
from kubetriage.facts import FactBase
from kubetriage.findings import Finding
from kubetriage.incident import runbook_context
from kubetriage.knowledge import Knowledge
from kubetriage.ruletests import cases_path, complete
from kubetriage.triage import TriageReport, run_rules

from .conftest import OUTAGE, ROOT, RULE_COUNT, Run, cni_rule_copy

KNOWLEDGE = Knowledge.load()
GOLDEN = Path(__file__).parent / "golden" / "runbooks"
UPDATE = os.environ.get("KUBETRIAGE_UPDATE_GOLDEN") == "1"


def _fire_cases() -> list[Any]:
    return [pytest.param(rule, case, i, id=f"{rule.id}-{i}")
            for rule in KNOWLEDGE.rules for i, case in enumerate(_fire_cases_of(rule))]


def _fire_cases_of(rule: Any) -> list[dict[str, Any]]:
    import yaml

    return [c for c in yaml.safe_load(cases_path(rule).read_text())["cases"] if c["expect"] == "fire"]


def _findings(rule: Any, facts: list[dict[str, Any]]) -> list[Finding]:
    return run_rules([rule], [complete(f, "case") for f in facts])


def _report(findings: list[Finding], facts: list[dict[str, Any]] | None = None) -> TriageReport:
    base = FactBase(facts=[complete(f, "case") for f in facts or []])
    return TriageReport(base, findings, [], [])


@pytest.mark.parametrize(("rule", "case", "index"), _fire_cases())
def test_every_runbook_renders_for_every_fire_case(rule: Any, case: dict[str, Any], index: int) -> None:
    book = KNOWLEDGE.runbooks[rule.runbook]
    for finding in _findings(rule, case["facts"]):
        rendered = book.render(runbook_context(finding, _report([finding])), for_markdown=True)
        text = rendered.markdown()
        assert escape.markdown(finding.summary) in text and "{{" not in text
        if index == 0:  # the first fire case of each rule is pinned as a golden file
            golden = GOLDEN / f"{book.id}.{rule.id}.md"
            if UPDATE:
                golden.parent.mkdir(parents=True, exist_ok=True)
                golden.write_text(text)
            assert text == golden.read_text(), f"{golden} is stale: run `make regen`"


def test_every_golden_runbook_belongs_to_a_rule() -> None:
    pinned = {f"{rule.runbook}.{rule.id}.md" for rule in KNOWLEDGE.rules}
    assert {p.name for p in GOLDEN.glob("*.md")} <= pinned, "a golden file outlived its rule: delete it"


HOSTILE = {"namespace": "ns'; touch /tmp/kt-pwned-1 #", "name": "$(touch /tmp/kt-pwned-2)\nrm -rf /",
           "node": "`touch /tmp/kt-pwned-3`"}


def test_hostile_names_are_quoted_and_inert(tmp_path: Path) -> None:
    """Every command of every built-in runbook, rendered with hostile names, is run by bash
    against a fake kubectl: nothing but the intended argv happens."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "argv.jsonl"
    for tool in ("kubectl", "grep", "openssl", "base64", "crictl", "journalctl", "systemctl", "tail", "ls", "ssh"):
        (fake / tool).write_text(f"#!{sys.executable}\nimport json, sys\n"
                                 f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
        (fake / tool).chmod(0o755)
    # every alias any rule binds, every text field hostile (rotating through the three)
    bound: dict[str, dict[str, Any]] = {}
    values = list(HOSTILE.values())
    for rule in KNOWLEDGE.rules:
        for alt in rule.alternatives:
            for pattern in alt.patterns:
                spec = CATALOG[pattern.fact]
                fields = {name: values[i % 3] if f.type is str else [values[i % 3]] if f.type is list else None
                          for i, (name, f) in enumerate(spec.fields.items())}
                bound.setdefault(pattern.alias, spec.filled(**{k: v for k, v in fields.items() if v is not None}))
    finding = Finding(id="x", rule_id="NET-X-001", severity="high", confidence="high", title="t",
                      summary="s", subjects=[f"Pod/{HOSTILE['namespace']}/{HOSTILE['name']}",
                                             f"Node/{HOSTILE['node']}"], evidence=[],
                      runbook="", matches=1, key=list(HOSTILE.values()),
                      context={**bound, "key": list(HOSTILE.values()), "params": {}, "rule": {},
                               "firings": [bound]})
    ran = 0
    for book in KNOWLEDGE.runbooks.values():
        for step in book.render(runbook_context(finding, _report([finding]))).steps:
            for command in (step.run, step.verify):
                if not command or "<" in command:  # placeholders for the human (e.g. <leaked-ip>)
                    continue
                subprocess.run(["/bin/bash", "-c", command], env={"PATH": str(fake)}, capture_output=True,
                               timeout=30, check=False)
                ran += 1
    assert ran > 10
    assert not list(Path("/tmp").glob("kt-pwned-*"))
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(c[:2] == ["-n", HOSTILE["namespace"]] and "describe" in c for c in calls)
    assert any(HOSTILE["node"] in " ".join(c) for c in calls)


def _user_runbook(tmp_path: Path, front: str, body: str = "## Meaning\n{{ finding.summary }}\n") -> Path:
    rules = tmp_path / "rules"
    (rules / "runbooks").mkdir(parents=True)
    (rules / "NET-ING-002.yaml").write_text((ROOT / "rules" / "ingress" / "NET-ING-002.yaml").read_text())
    (rules / "runbooks" / "ingress-backend-missing.md").write_text(f"---\n{front}---\n{body}")
    return rules


BASE = ("id: ingress-backend-missing\ntitle: Fix it\nsteps:\n"
        "  - id: look\n    title: Look\n    risk: read-only\n")


@pytest.mark.parametrize(("front", "body", "message"), [
    (BASE + "    run: kubectl describe ingress {{ backend.ingress }}\n", "x",
     "ingress-backend-missing.md:8:10: E121 '{{ backend.ingress }}' goes into a command without '| shell_quote'"),
    (BASE + "    run: kubectl get svc {{ backend.servce | shell_quote }}\n", "x",
     "E122 reads backend.servce: ingress_backend has no field 'servce'"),
    (BASE + "    run: kubectl get svc {{ pod.name | shell_quote }}\n", "x",
     "E122 reads ['pod'], which NET-ING-002 does not bind in every finding"),
    (BASE.replace("read-only", "disruptive") + "    run: kubectl delete svc x\n", "x",
     "ingress-backend-missing.md:5:5: E121 step 'look' changes the cluster (disruptive): it needs a verify "
     "command and a rollback"),
    (BASE + "    run: kubectl get svc\n    sudo: true\n", "x", "E120 unknown key 'sudo'"),
    (BASE + "    run: kubectl describe node {{ node_name | shell_quote }}\n", "x",
     "ingress-backend-missing.md:8:10: E105 reads 'node_name', which only a step with 'each: node' has"),
    (BASE + "    run: kubectl get svc {{ node_files.cni_config | upper }}\n", "x",
     "E121 '{{ node_files.cni_config | upper }}' goes into a command without '| shell_quote'"),
    (BASE + "    run: kubectl get svc\n", "{{ finding.summary ", "E105 body template does not parse"),
])
def test_runbook_mistakes_fail_at_lint_time(tmp_path: Path, front: str, body: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Knowledge.load([_user_runbook(tmp_path, front, body)])
    assert message in str(raised.value)


def test_rule_naming_a_runbook_that_reads_other_names_fails_lint(tmp_path: Path, kubetriage: Run) -> None:
    """The link lives in the rule alone: every rule is checked against the runbook it names."""
    pack = tmp_path / "pack"
    pack.mkdir()
    rule = cni_rule_copy(pack, "NET-TEAM-001", "networkpolicy-admit-ingress")
    proc = kubetriage("rules", "lint", pack)
    assert proc.returncode == 1
    line = next(n for n, text in enumerate(rule.read_text().splitlines(), 1) if "runbook:" in text)
    assert proc.stdout.startswith(f"{rule}:{line}:12: E122 runbook networkpolicy-admit-ingress (")
    assert "reads ['iso'], which NET-TEAM-001 does not bind in every finding" in proc.stdout


def test_overriding_a_builtin_rule_with_its_own_runbook_blames_the_users_file(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    (pack / "runbooks").mkdir(parents=True)
    cni_rule_copy(pack, "NET-CNI-001", "my-cni")
    book = pack / "runbooks" / "my-cni.md"
    front = "id: my-cni\ntitle: Fix {{ ds.name }}\nsteps:\n  - id: look\n    title: Look\n    risk: read-only\n"
    book.write_text(f"---\n{front}    run: kubectl get ds {{{{ ds.name | shell_quote }}}}\n---\nbody\n")
    knowledge = Knowledge.load([pack])
    assert next(r for r in knowledge.rules if r.id == "NET-CNI-001").runbook == "my-cni"
    book.write_text(f"---\n{front}    run: kubectl get svc {{{{ backend.service | shell_quote }}}}\n---\nbody\n")
    with pytest.raises(ValidationError) as raised:
        Knowledge.load([pack])
    assert [str(p).split(": E")[0] for p in raised.value.problems] == [f"{book}:8:10"]


def test_user_runbook_overrides_builtin(tmp_path: Path) -> None:
    rules = _user_runbook(tmp_path, BASE + "    run: kubectl -n {{ key[0] | shell_quote }} get svc\n")
    assert Knowledge.load([rules]).runbooks["ingress-backend-missing"].title == "Fix it"


def test_triage_writes_incident_runbook_and_junit(tmp_path: Path, kubetriage: Run) -> None:
    incident = tmp_path / "incident.md"
    proc = kubetriage("triage", "--snapshot", OUTAGE, "--runbook", incident, "-o", "junit")
    assert proc.returncode == 1
    suite = ET.fromstring(proc.stdout)
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (str(RULE_COUNT), "5", "0")
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {"NET-CNI-001", "NET-CNI-002", "NET-ING-005", "NET-SVC-002", "NET-ING-003"}
    text = incident.read_text()
    assert text.startswith("# Incident: CNI DaemonSet is not fully ready (and 1 more root cause)")
    assert "Blast radius: 1 DaemonSet, 1 Ingress, 1 Node, 3 Pods, 1 Secret" in text
    # read-only diagnosis before changes; the changes with verify and rollback; RKE2 paths
    assert text.index("Diagnosis (read-only)") < text.index("Mitigation (changes")
    assert "kubectl -n kube-system rollout undo daemonset/rke2-canal" in text
    assert "/var/lib/rancher/rke2/agent/logs/kubelet.log" in text
    assert "openssl x509 -noout -dates" in text
    assert text.rstrip().endswith("Everything was collected.")


def test_runbook_json_and_show(kubetriage: Run) -> None:
    data = json.loads(kubetriage("runbook", "--snapshot", OUTAGE, "-o", "json").stdout)
    assert [c["rule_id"] for c in data["root_causes"]] == ["NET-CNI-001", "NET-ING-005"]
    assert data["root_causes"][0]["symptoms"][0]["rule_id"] == "NET-CNI-002"
    risks = [s["risk"] for s in data["root_causes"][0]["runbook"]["steps"]]
    assert "disruptive" in risks
    shown = kubetriage("runbook", "show", "cni-daemonset-recovery")
    assert shown.returncode == 0 and "inputs from NET-CNI-001: ds (workload)" in shown.stdout
    assert kubetriage("runbook", "show", "nope").returncode == 2


@pytest.mark.chromium
def test_html_report_in_headless_chromium(tmp_path: Path, kubetriage: Run) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is installed by `make test` (Debian package chromium)"
    page = tmp_path / "incident.html"
    page.write_text(kubetriage("runbook", "--snapshot", OUTAGE, "-o", "html").stdout)
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html.split("<body")[0]
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-ready="true"' in dom  # the inline script ran
    assert "Root cause 1: CNI DaemonSet is not fully ready" in dom
    assert "Root cause 2: Ingress TLS certificate has expired" in dom
    assert dom.count('class="copy"') == dom.count("<pre>") > 5
    shot = tmp_path / "incident.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_html_escapes_cluster_controlled_text() -> None:
    from kubetriage.incident import build_incident, incident_html

    evil = "<script>alert('x')</script>"
    finding = Finding(id="f", rule_id="NET-ING-001", severity="high", confidence="high", title="t",
                      summary=f"Service {evil}", subjects=[f"Service/a/{evil}"], evidence=[evil],
                      runbook="nope", matches=1, key=[evil], context={})
    html = incident_html(build_incident(_report([finding]), KNOWLEDGE))
    assert evil not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "runbook &#39;nope&#39; is not installed" in html


def test_node_steps_name_each_node_and_pods_are_read_by_name() -> None:
    """A step for "each affected node" is written once per node, as an SRE would type it; the
    agent's logs come from the failing pods themselves, not from daemonset/<name>."""
    book = KNOWLEDGE.runbooks["cni-daemonset-recovery"]
    ds = CATALOG["workload"].filled(namespace="kube-system", name="rke2-canal", type="DaemonSet")
    agents = [CATALOG["pod"].filled(namespace="kube-system", name=f"rke2-canal-{n}", node=f"worker-{n}")
              for n in (2, 3)]
    finding = Finding(id="x", rule_id="NET-CNI-001", severity="critical", confidence="high", title="t",
                      summary="s", subjects=["DaemonSet/kube-system/rke2-canal", "Node/worker-2", "Node/worker 3"],
                      evidence=[], runbook=book.id, matches=2, key=["kube-system", "rke2-canal"],
                      context={"ds": ds, "agent": agents[0], "key": [], "params": {}, "rule": {},
                               "firings": [{"ds": ds, "agent": a} for a in agents]})
    steps = book.render(runbook_context(finding, _report([finding]))).steps
    (logs,) = [s for s in steps if s.id == "agent-logs"]
    assert "kubectl -n kube-system logs rke2-canal-3 --all-containers --previous --tail=100" in logs.run
    assert "daemonset/" not in logs.run
    nodes = [s for s in steps if s.id == "node-cni-dir"]
    assert [s.title for s in nodes] == ["Check the CNI config and kubelet log on worker-2",
                                        "Check the CNI config and kubelet log on worker 3"]
    assert nodes[1].run.splitlines()[-1] == "kubectl describe node 'worker 3'"
    assert nodes[0].run.startswith("ssh worker-2 'ls -l /etc/cni/net.d/'")
    nameless = dataclasses.replace(finding, subjects=["DaemonSet/kube-system/rke2-canal"])
    (unknown,) = [s for s in book.render(runbook_context(nameless, _report([nameless]))).steps
                  if s.id == "node-cni-dir"]
    assert unknown.title.endswith("on NODE")


def test_node_commands_follow_the_clusters_distribution() -> None:
    """One table says where each distribution keeps node files: the SSH collector reads there and
    the runbooks tell the SRE to look there."""
    book = KNOWLEDGE.runbooks["cni-node-failure"]
    (rule,) = [r for r in KNOWLEDGE.rules if r.id == "NET-CNI-003"]
    (finding,) = _findings(rule, _fire_cases_of(rule)[0]["facts"])
    for distro, expected in (("rke2", "tail -n 300 /var/lib/rancher/rke2/agent/logs/kubelet.log"),
                             ("k3s", "journalctl -u k3s -u k3s-agent --since -30min --no-pager"),
                             ("kubeadm", "journalctl -u kubelet --since -30min --no-pager")):
        report = _report([finding], [{"kind": "cluster", "distro": distro}])
        (files,) = [s for s in book.render(runbook_context(finding, report)).steps if s.id == "node-files"]
        assert expected == layout(distro).commands()["kubelet_log"]
        assert f"{expected} | grep" in files.run


def test_a_prose_rollback_is_prose() -> None:
    (rule,) = [r for r in KNOWLEDGE.rules if r.id == "NET-CNI-002"]
    (finding,) = _findings(rule, _fire_cases_of(rule)[0]["facts"])
    text = KNOWLEDGE.runbooks[rule.runbook].render(runbook_context(finding, _report([finding])),
                                                   for_markdown=True).markdown()
    assert "   Roll back: Nothing to undo;" in text
    assert "```sh\n   Nothing" not in text
