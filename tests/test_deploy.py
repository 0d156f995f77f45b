"""deploy/: the manifests parse, the kustomize base lists them, the watcher runs locked down, its
RBAC grants every list and watch it makes (computed from the collector's table, and checked
against the requests of a real watch), and the example alerts use metrics the watcher exports."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from kubetriage.collectors.kube import API_RESOURCES
from kubetriage.knowledge import Knowledge
from kubetriage.watch.loop import WATCHED

from .conftest import HEALTHY, ROOT
from .test_watch import CNI_FINDING, _serve, findings, get, samples, wait_for

DEPLOY = ROOT / "deploy"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if d]


def _base() -> list[dict[str, Any]]:
    kustomization = _docs("kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in _docs(name)]


def _granted() -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for doc in _base() if doc["kind"] == "ClusterRole"
            for rule in doc["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


def test_every_manifest_parses_and_the_base_lists_the_watcher() -> None:
    for path in DEPLOY.glob("*.yaml"):
        assert _docs(path.name), path
    kinds = {doc["kind"] for doc in _base()}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
            "ServiceMonitor", "PrometheusRule"} <= kinds


def test_the_watcher_runs_unprivileged_on_a_read_only_root_with_resources() -> None:
    (deployment,) = [d for d in _base() if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    assert container["args"][0] == "watch" and "--in-cluster" in container["args"]
    assert {p["httpGet"]["path"] for p in (container["readinessProbe"], container["livenessProbe"])} == \
        {"/readyz", "/healthz"}
    (service,) = [d for d in _base() if d["kind"] == "Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_rbac_grants_list_and_watch_of_every_watched_resource() -> None:
    granted = _granted()
    for resource in (*WATCHED, "endpoints"):
        prefix, plural, _ = API_RESOURCES[resource]
        group = "" if prefix == "/api/v1" else prefix.split("/")[2]
        assert {(group, plural, "list"), (group, plural, "watch")} <= granted, resource
    assert ("", "secrets", "get") in granted
    assert not {g for g in granted if g[1] == "secrets" and g[2] != "get"}  # never list/watch: private keys
    assert all(verb in ("get", "list", "watch") for _, _, verb in granted)  # read-only


def test_a_real_watch_uses_only_what_rbac_grants_and_exports_what_the_alerts_use(tmp_path: Path) -> None:
    (rule,) = [d for d in _base() if d["kind"] == "PrometheusRule"]
    exprs = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    metrics = {m for expr in exprs for m in re.findall(r"\bkubetriage_[a-z_]+", expr)}
    assert any('severity="critical"' in e and 'root_cause="true"' in e for e in exprs)
    data = Path(shutil.copytree(HEALTHY, tmp_path / "cluster"))
    with _serve(data, tmp_path, Knowledge.load()) as watched:
        watched.ready()
        watched.set_cni_ready(0)
        wait_for("NET-CNI-001", lambda: findings(watched.url).get(CNI_FINDING) == 1)
        wait_for("every resource watched", lambda: {r.resource for r in watched.api.requests if r.verb == "watch"}
                 >= {API_RESOURCES[r][1] for r in WATCHED})
        exported = set(samples(watched.url))
        assert get(f"{watched.url}/nope")[0] == 404
        used = {(r.group, r.resource + (f"/{r.subresource}" if r.subresource else ""), r.verb)
                for r in watched.api.requests}
    assert used <= _granted()
    assert metrics and metrics <= exported
