"""Hostile rule packs, runbooks and config files: a located error, never a hang or a traceback.

Each case writes a small pack into a temporary directory and runs the real CLI under a
timeout; the table says what kubetriage must answer instead of crashing or expanding.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from kubetriage import escape, yamlsource
from kubetriage.collectors.ssh import load_inventory
from kubetriage.distros import LAYOUTS
from kubetriage.errors import Problem, ValidationError
from kubetriage.normalize.signatures import SignatureCatalog
from kubetriage.schema import schema

from .conftest import OUTAGE, Run, cni_rule_copy

ROOT = Path(__file__).resolve().parent.parent
RULE = (ROOT / "rules" / "ingress" / "NET-ING-001.yaml").read_text(encoding="utf-8")

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(("text", "message"), [
    (LAUGHS, "aliases expand to more than 100000 values"),
    ("a: &a [1, *a]\n", "alias *a is inside the collection it names"),
    ("[" * 200 + "]" * 200, "nested deeper than 64 levels"),
    ("x: !!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
], ids=["billion-laughs", "recursive-alias", "deep-nesting", "python-tag"])
def test_bounded_loader_refuses(text: str, message: str) -> None:
    with pytest.raises(yaml.YAMLError, match=message.replace("*", r"\*")):
        yamlsource.safe_load(text)
    problems: list[Problem] = []
    assert yamlsource.parse_located(text, "f.yaml", problems) is None
    assert len(problems) == 1 and problems[0].code == "E100" and message in problems[0].message


def test_bounded_loader_keeps_ordinary_aliases() -> None:
    assert yamlsource.safe_load("a: &x {b: 1}\nc: *x\n") == {"a": {"b": 1}, "c": {"b": 1}}


@pytest.mark.parametrize("where", ["rule", "config", "runbook"])
def test_alias_bomb_in_every_authored_file_is_a_located_error(where: str, tmp_path: Path,
                                                               kubetriage: Run) -> None:
    pack = tmp_path / "pack"
    (pack / "runbooks").mkdir(parents=True)
    args: list[str | Path] = ["rules", "lint", pack]
    if where == "rule":
        target = pack / "NET-X-001.yaml"
        target.write_text(LAUGHS, encoding="utf-8")
    elif where == "config":
        target = tmp_path / "kubetriage.yaml"
        target.write_text(LAUGHS, encoding="utf-8")
        args = ["rules", "lint", "--config", target]
    else:
        target = pack / "runbooks" / "bomb.md"
        target.write_text("---\n" + LAUGHS + "---\nbody\n", encoding="utf-8")
    proc = kubetriage(*args)
    assert proc.returncode == 1, proc.stderr
    assert f"{target}:" in proc.stdout and "E100 invalid YAML: aliases expand" in proc.stdout
    assert len(proc.stdout) < 2000 and "Traceback" not in proc.stderr


def test_runbook_that_is_not_utf8_is_located(tmp_path: Path, kubetriage: Run) -> None:
    books = tmp_path / "pack" / "runbooks"
    books.mkdir(parents=True)
    (books / "bad.md").write_bytes(b"---\nid: bad\ntitle: \xff\xfe broken\n---\n")
    proc = kubetriage("rules", "lint", books.parent)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{books / 'bad.md'}:3:8: E100 not UTF-8 text: byte 0xff" in proc.stdout


SUMMARY = "CNI DaemonSet {{ ds.namespace }}/{{ ds.name }} has {{ ds.ready }} of {{ ds.desired }}"


@pytest.mark.parametrize(("template", "message"), [
    ("{{ range(10**7) | list | length }}", "10000000 is too large for a template"),
    ("{{ 'x' * 10**9 }}", "repetition makes more than 100000 items"),
    ("{{ 1 // 0 }}", "ZeroDivisionError"),
    ("{{ 2 ** 100000000 }}", "exponent 100000000 is too large"),
    ("{{ 'x' | center(10**8) }}", "100000000 is too large"),
    ("{{ '{:>999999999}'.format(1) }}", "format widths of six digits"),
    ("{% include 'x.html' %}", "'include' is not allowed"),
    ("{% import 'x.html' as x %}", "'import' is not allowed"),
    ("{% extends 'x.html' %}", "'extends' is not allowed"),
], ids=["range", "repeat", "zero-division", "power", "filter-width", "format-width", "include", "import",
        "extends"])
def test_hostile_templates_fail_lint_in_rules_and_runbooks(template: str, message: str, tmp_path: Path,
                                                          kubetriage: Run) -> None:
    pack = tmp_path / "pack"
    (pack / "runbooks").mkdir(parents=True)
    rule = cni_rule_copy(pack, "NET-TEAM-001", "team-book", {SUMMARY: SUMMARY + template})
    book = pack / "runbooks" / "team-book.md"
    book.write_text("---\nid: team-book\ntitle: Fix {{ ds.name }}\nsteps:\n  - id: look\n    title: Look\n"
                    "    risk: read-only\n    run: kubectl get ds\n---\n## Meaning\n" + template + "\n",
                    encoding="utf-8")
    proc = kubetriage("rules", "lint", pack)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    problems = proc.stdout.splitlines()
    assert [p.split(":")[0] for p in problems] == [str(rule), str(book)]
    assert all(" E105 " in p and message in p for p in problems), problems


def test_template_failing_on_real_facts_is_a_located_error(tmp_path: Path, kubetriage: Run) -> None:
    """Lint cannot see a division by a field that is zero in the cluster: triage names the template."""
    pack = tmp_path / "pack"
    pack.mkdir()
    rule = cni_rule_copy(pack, "NET-CNI-001", "cni-daemonset-recovery",
                         {SUMMARY: SUMMARY + " {{ ds.desired // (ds.ready - ds.ready) }}"})
    proc = kubetriage("triage", "--snapshot", OUTAGE, "--rules", pack)
    assert proc.returncode == 2 and "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"kubetriage: error: {rule}:")
    assert "E113 template failed while rendering: ZeroDivisionError" in proc.stderr


def test_runbook_failing_on_real_facts_is_reported_in_the_incident(tmp_path: Path, kubetriage: Run) -> None:
    pack = tmp_path / "pack"
    (pack / "runbooks").mkdir(parents=True)
    cni_rule_copy(pack, "NET-CNI-001", "my-cni")
    book = pack / "runbooks" / "my-cni.md"
    book.write_text("---\nid: my-cni\ntitle: Fix {{ ds.name }}\nsteps:\n  - id: look\n    title: Look\n"
                    "    risk: read-only\n    run: kubectl get ds\n---\n{{ ds.desired // (ds.ready - ds.ready) }}\n",
                    encoding="utf-8")
    proc = kubetriage("runbook", "--snapshot", OUTAGE, "--rules", pack)
    assert proc.returncode == 0, proc.stderr
    assert escape.markdown(f"runbook my-cni failed to render: {book}:10:1: E113 body template failed while "
                           "rendering: ZeroDivisionError") in proc.stdout


def _signature_pack(tmp_path: Path, entry: str) -> Path:
    pack = tmp_path / "pack"
    (pack / "signatures").mkdir(parents=True)
    (pack / "signatures" / "team.yaml").write_text("signatures:\n" + entry, encoding="utf-8")
    return pack


def _entry(sig_id: str = "team-error", patterns: str = "['team error']", match: str = "['a team error']",
           extra: str = "") -> str:
    return f"  - id: {sig_id}\n    patterns: {patterns}\n    tests: {{match: {match}}}\n{extra}"


@pytest.mark.parametrize(("entry", "message"), [
    (_entry(patterns='"xyz"', match="['xyz']"), "E100 signatures.0.patterns: 'xyz' is not of type 'array'"),
    (_entry(extra="    colour: red\n"), "E100 unknown key 'colour'"),
    (_entry(match="['nothing like it']"), "E114 the match example does not match the signature's patterns"),
    (_entry(match="['a team error'], no_match: ['team error!']"),
     "E114 the no_match example matches the signature's patterns"),
    (_entry(patterns="['(unclosed']"), "E104 regex does not compile"),
    (_entry(patterns="['(x+x+)+y']", match="['xxy']"), "E104 regex backtracks catastrophically"),
    (_entry(sig_id="cni-config-uninitialized"), "E115 signature id 'cni-config-uninitialized' is already defined"),
    (_entry(extra="    overrides: true\n"), "E115 'overrides: true' but no earlier signature has the id"),
    (_entry() + _entry(), "E115 duplicate signature id 'team-error'"),
    (_entry(extra="    recovers: [no-such-signature]\n"), "E100 recovers names no signature 'no-such-signature'"),
    (_entry(patterns=r"['lost (?P<object>\\S+)']", match="['lost shop/tls']"),
     "E100 named groups must be ['name', 'namespace', 'object'] and need object_kind"),
], ids=["patterns-string", "unknown-key", "match-contradicts", "no-match-contradicts", "bad-regex",
        "catastrophic", "reused-builtin-id", "override-of-nothing", "duplicate", "recovers-nothing",
        "groups-without-kind"])
def test_signature_file_mistakes_fail_lint(entry: str, message: str, tmp_path: Path, kubetriage: Run) -> None:
    pack = _signature_pack(tmp_path, entry)
    proc = kubetriage("rules", "lint", pack)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{pack / 'signatures' / 'team.yaml'}:" in proc.stdout and message in proc.stdout, proc.stdout


def test_declared_override_replaces_a_builtin_signature(tmp_path: Path) -> None:
    pack = _signature_pack(tmp_path, _entry(sig_id="cni-config-uninitialized", extra="    overrides: true\n"))
    catalog = SignatureCatalog.load([pack])
    assert catalog.classify("a team error") == ["cni-config-uninitialized"]
    assert catalog.classify("cni config uninitialized") == []


@pytest.mark.parametrize("patterns", ["['team (?i)error']", "['(?P<name>team) error', 'other (?P<name>x)']"],
                         ids=["inline-flag-mid-pattern", "duplicate-group-name"])
def test_patterns_that_broke_the_combined_prefilter(patterns: str, tmp_path: Path, kubetriage: Run) -> None:
    pack = _signature_pack(tmp_path, _entry(patterns=patterns, extra="    object_kind: Service\n"))
    assert kubetriage("rules", "lint", pack).returncode == 0
    catalog = SignatureCatalog.load([pack])
    assert catalog.classify("A TEAM ERROR here") == ["team-error"]


def test_a_pattern_slow_on_a_real_line_is_skipped_and_reported(outage_copy: Path, tmp_path: Path,
                                                               kubetriage: Run) -> None:
    """Lint's probes cannot foresee every line: at run time the pattern is cut off and named in coverage."""
    pack = _signature_pack(tmp_path, _entry(patterns="['((ab)+(ab)+)+c']", match="['ababc']"))
    kubelet = outage_copy / "nodes" / "worker-2" / "kubelet.log"
    kubelet.write_text(kubelet.read_text() + "ab" * 2500 + "\n", encoding="utf-8")
    data = json.loads(kubetriage("triage", "--snapshot", outage_copy, "--rules", pack, "-o", "json",
                                 "--fail-on", "never").stdout)
    errors = [e for e in data["coverage"]["errors"] if e["source"] == "signatures"]
    assert errors == [{"source": "signatures", "target": "team-error", "message": (
        "a pattern took longer than 0.25 s on 1 line(s); they were not classified by this signature")}]
    assert {f["rule_id"] for f in data["findings"]} >= {"NET-CNI-001", "NET-ING-005"}


def test_config_log_window_pattern_is_linear(tmp_path: Path, kubetriage: Run) -> None:
    """The schema's own pattern took 59 s on 27 characters."""
    config = tmp_path / "kubetriage.yaml"
    config.write_text("thresholds: {log_window: '" + "1" * 40 + "x'}\n", encoding="utf-8")
    proc = kubetriage("config", "show", "--config", config)
    assert proc.returncode == 2 and "E140 thresholds.log_window" in proc.stderr


@pytest.mark.parametrize(("cases", "message"), [
    ('"abc"', "E100 cases: 'abc' is not of type 'array'"),
    ("[{name: x, expect: fire, facts: []}, {name: y, expect: maybe, facts: []}]",
     "E100 cases.1.expect: 'maybe' is not one of ['fire', 'ok']"),
    ("[{name: x, expect: fire, facts: []}, {name: y, expect: ok, facts: [], findings: [{summary: z}]}]",
     "E100 unknown key 'summary'"),
], ids=["cases-string", "bad-expect", "unknown-assertion"])
def test_rule_test_files_follow_their_schema(cases: str, message: str, tmp_path: Path, kubetriage: Run) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    cni_rule_copy(pack, "NET-TEAM-001", "cni-daemonset-recovery")
    tests = pack / "NET-TEAM-001.test.yaml"
    tests.write_text(f"rule: NET-TEAM-001\ncases: {cases}\n", encoding="utf-8")
    proc = kubetriage("rules", "test", pack)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{tests}:" in proc.stdout and message in proc.stdout, proc.stdout


@pytest.mark.parametrize(("inventory", "message"), [
    ("nodes: abc\n", "E130 nodes: 'abc' is not of type 'object'"),
    ("nodes: {w1: {port: '22x'}}\n", "E130 nodes.w1.port: '22x' is not of type 'integer'"),
    ("defaults: {distro: gentoo}\nnodes: {w1: }\n", "E130 defaults.distro: 'gentoo' is not one of"),
], ids=["nodes-string", "port-string", "unknown-distro"])
def test_ssh_inventory_follows_its_schema(inventory: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "nodes.yaml"
    path.write_text(inventory, encoding="utf-8")
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_inventory(path)


def test_inventory_schema_knows_every_distro_profile() -> None:
    assert schema("inventory")["$defs"]["target"]["properties"]["distro"]["enum"] == ["auto", *LAYOUTS]
