"""``kubetriage watch`` against the API-server fixture with real watch semantics, over real HTTPS
with the real ``kubernetes`` client; metrics scraped over HTTP and read with the Prometheus text
parser. Every wait is on a condition, with a generous deadline (a loaded CI machine)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubetriage.bundle import RESOURCES
from kubetriage.collectors.kube import ApiSettings, api_client
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage
from kubetriage.watch import Rules, StatusServer, Timing, Watcher
from kubetriage.watch.mirror import MirrorBundle, slim

from .apiserver import FakeApiServer, Fault
from .conftest import HEALTHY, OUTAGE, ROOT

DEADLINE = 90.0
CNI = ("kube-system", "rke2-canal")
CNI_FINDING = ("NET-CNI-001", "critical", "true")


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return Knowledge.load()


def wait_for(what: str, condition: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """The first truthy value of ``condition()``; fails the test after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {deadline:g}s: {what}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def samples(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Metric samples by name, then by sorted labels."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def findings(base: str) -> dict[tuple[str, str, str], float]:
    return {(dict(labels)["rule_id"], dict(labels)["severity"], dict(labels)["root_cause"]): value
            for labels, value in samples(base).get("kubetriage_findings", {}).items()}


def counter(base: str, name: str, **labels: str) -> float:
    return sum(v for key, v in samples(base).get(name, {}).items() if set(labels.items()) <= set(key))


@dataclass
class Watched:
    api: FakeApiServer
    watcher: Watcher
    url: str

    def set_cni_ready(self, ready: int) -> None:
        ds = self.api.get("daemonsets", *CNI)
        ds["status"].update(numberReady=ready, numberAvailable=ready)
        self.api.put("daemonsets", ds)

    def ready(self) -> None:
        wait_for("/readyz answers 200", lambda: get(f"{self.url}/readyz")[0] == 200)


@contextmanager
def _serve(data: Path, tmp: Path, knowledge: Knowledge, faults: dict[str, Fault] | None = None) -> Iterator[Watched]:
    api = FakeApiServer(data, faults=faults or {}, bookmark_interval=0.2).start(tmp)
    try:
        with _watch(api, tmp, knowledge) as watched:
            yield watched
    finally:
        api.stop()


@contextmanager
def _watch(api: FakeApiServer, tmp: Path, knowledge: Knowledge) -> Iterator[Watched]:
    client, name = api_client(str(api.kubeconfig(tmp / "kubeconfig")), None, in_cluster=False)
    watcher = Watcher(client, name, ApiSettings(timeout=10.0), Rules(knowledge),
                      Timing(debounce=0.2, max_delay=1.0, evidence_every=3600, watch_seconds=30))
    server = StatusServer("127.0.0.1", 0, watcher.endpoints()).start()
    watcher.start()
    try:
        yield Watched(api, watcher, f"http://127.0.0.1:{server.port}")
    finally:
        server.close()
        watcher.close()
        client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def healthy(tmp_path: Path, knowledge: Knowledge) -> Iterator[Watched]:
    data = Path(shutil.copytree(HEALTHY, tmp_path / "cluster"))
    with _serve(data, tmp_path, knowledge) as watched:
        yield watched


def test_cni_daemonset_going_unready_is_found_and_resolved(healthy: Watched) -> None:
    assert get(f"{healthy.url}/readyz")[0] in (200, 503) and get(f"{healthy.url}/healthz") == (200, "ok\n")
    healthy.ready()
    assert CNI_FINDING not in findings(healthy.url)
    healthy.set_cni_ready(1)
    wait_for("NET-CNI-001 on /metrics", lambda: findings(healthy.url).get(CNI_FINDING) == 1)
    scraped = samples(healthy.url)
    assert scraped["kubetriage_triage_duration_seconds_count"][()] >= 2
    assert scraped["kubetriage_last_triage_success_timestamp_seconds"][()] > time.time() - 600
    assert scraped["kubetriage_watch_synced"][(("resource", "daemonsets"),)] == 1
    assert (("resource", "daemonsets"),) in scraped["kubetriage_watch_lag_seconds"]
    assert scraped["kubetriage_change_to_triage_seconds_count"][()] >= 1
    healthy.set_cni_ready(3)
    wait_for("NET-CNI-001 gone from /metrics", lambda: CNI_FINDING not in findings(healthy.url))
    assert counter(healthy.url, "kubetriage_watch_relists_total", reason="gone") == 0  # all seen by watching


def test_nothing_is_missed_across_a_forced_relist(healthy: Watched) -> None:
    healthy.ready()
    pods = counter(healthy.url, "kubetriage_watch_objects", resource="pods")
    victim = healthy.api.items("pods", None)[0]["metadata"]
    with healthy.api.watch_log.changed:  # changed while no watch is open, then the log compacted
        healthy.api.drop_watches()
        healthy.set_cni_ready(0)
        healthy.api.delete("pods", victim["namespace"], victim["name"])
        healthy.api.compact()
    wait_for("NET-CNI-001 after the relist", lambda: findings(healthy.url).get(CNI_FINDING) == 1)
    assert counter(healthy.url, "kubetriage_watch_relists_total", resource="daemonsets", reason="gone") >= 1
    # each resource relists on its own: the pods' relist may land after the daemonsets' one
    wait_for("the deleted pod gone after the relist",
             lambda: counter(healthy.url, "kubetriage_watch_objects", resource="pods") == pods - 1)


def test_a_dropped_watch_resumes_from_its_resource_version(healthy: Watched) -> None:
    def watches() -> int:
        return sum(1 for r in healthy.api.requests if r.verb == "watch" and r.resource == "daemonsets")

    healthy.ready()
    wait_for("a watch of daemonsets", watches)
    opened = watches()
    healthy.api.drop_watches()
    wait_for("a new watch of daemonsets", lambda: watches() > opened)
    healthy.set_cni_ready(2)
    wait_for("NET-CNI-001 after the reconnect", lambda: findings(healthy.url).get(CNI_FINDING) == 1)
    assert counter(healthy.url, "kubetriage_watch_reconnects_total", resource="daemonsets") >= 1
    assert counter(healthy.url, "kubetriage_watch_relists_total", reason="gone") == 0


def test_a_resource_it_may_not_read_is_reported_not_guessed(tmp_path: Path, knowledge: Knowledge) -> None:
    data = Path(shutil.copytree(HEALTHY, tmp_path / "cluster"))
    with _serve(data, tmp_path, knowledge, {"daemonsets": Fault(status=403)}) as watched:
        watched.ready()
        scraped = samples(watched.url)
        assert scraped["kubetriage_watch_synced"][(("resource", "daemonsets"),)] == 0
        assert scraped["kubetriage_collection_errors"][(("source", "api"),)] >= 1
        assert (("rule_id", "NET-CNI-001"),) in scraped["kubetriage_rule_not_evaluated"]
        del watched.api.faults["daemonsets"]  # RBAC fixed: the watcher retries and catches up
        wait_for("daemonsets synced after the fix", lambda: counter(
            watched.url, "kubetriage_watch_synced", resource="daemonsets") == 1)
        watched.set_cni_ready(1)
        wait_for("NET-CNI-001", lambda: findings(watched.url).get(CNI_FINDING) == 1)


def test_tls_secrets_are_read_by_name_and_their_keys_never_kept(cluster: FakeApiServer, tmp_path: Path,
                                                                 knowledge: Knowledge) -> None:
    with _watch(cluster, tmp_path, knowledge) as watched:
        watched.ready()
        wait_for("the expired certificate and the CNI outage", lambda: {
            ("NET-ING-005", "high", "true"), CNI_FINDING} <= set(findings(watched.url)))
        wait_for("canal's logs read", lambda: watched.watcher.evidence.logs)
        secrets = watched.watcher.evidence.secrets
        assert secrets and all(set(s["data"]) == {"tls.crt"} for s in secrets)
        assert "secretstuff" not in repr(secrets) and "secretstuff" not in get(f"{watched.url}/")[1]
        reads = {(r.verb, r.name != "") for r in cluster.requests if r.resource == "secrets"}
        assert reads == {("get", True)}  # never listed or watched: that would carry every tls.key


@pytest.mark.chromium
def test_the_live_page_in_headless_chromium(healthy: Watched, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is installed by `make test` (Debian package chromium)"
    healthy.ready()
    healthy.set_cni_ready(1)
    wait_for("NET-CNI-001", lambda: findings(healthy.url).get(CNI_FINDING) == 1)
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", f"{healthy.url}/"], capture_output=True, text=True,
                         timeout=120).stdout
    assert 'data-ready="true"' in dom  # the inline script ran
    assert "Root cause 1: CNI DaemonSet is not fully ready" in dom
    assert "Runbook:" in dom and "kube-system/rke2-canal" in dom


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class _Receiver:
    """A real local HTTP server that records each JSON POST."""

    bodies: list[dict[str, Any]]
    server: ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@contextmanager
def _receiver() -> Iterator[_Receiver]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield _Receiver(bodies, server)
    finally:
        server.shutdown()
        server.server_close()


def test_the_command_notifies_records_history_and_stops_on_sigterm(
        tmp_path: Path, kubetriage: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    data = Path(shutil.copytree(HEALTHY, tmp_path / "cluster"))
    api = FakeApiServer(data, bookmark_interval=0.2).start(tmp_path)
    port = _free_port()
    url, db = f"http://127.0.0.1:{port}", tmp_path / "history.db"
    with _receiver() as hook:
        proc = subprocess.Popen([sys.executable, "-m", "kubetriage", "watch", "--kubeconfig",
                                 str(api.kubeconfig(tmp_path / "kubeconfig")), "--listen", f"127.0.0.1:{port}",
                                 "--notify", f"webhook:{hook.url}", "--history", str(db),
                                 "--debounce", "0.2", "--max-delay", "1"], stderr=subprocess.PIPE, text=True)
        try:
            wait_for("/readyz answers 200", lambda: get(f"{url}/readyz")[0] == 200)
            ds = api.get("daemonsets", *CNI)
            ds["status"].update(numberReady=0, numberAvailable=0)
            api.put("daemonsets", ds)
            wait_for("NET-CNI-001 on /metrics", lambda: findings(url).get(CNI_FINDING) == 1)
            wait_for("a webhook naming NET-CNI-001", lambda: any("NET-CNI-001" in json.dumps(b) for b in hook.bodies))
            triages = counter(url, "kubetriage_triages_total")
            api.put("pods", api.get("pods", *_first_pod(api)))  # one more change, one more triage
            wait_for("another triage", lambda: counter(url, "kubetriage_triages_total") > triages)
            about = [b for b in hook.bodies if "NET-CNI-001" in json.dumps(b)]
            assert len(about) == 1 and "runbook" in json.dumps(about[0]).lower()
            status, page = get(f"{url}/")
            assert status == 200 and "Recent history" in page and "NET-CNI-001" in page
            ds["status"].update(numberReady=3, numberAvailable=3)
            api.put("daemonsets", ds)
            wait_for("a 'resolved' webhook", lambda: any("resolved" in json.dumps(b) for b in hook.bodies))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
            api.stop()
    assert "watching fixture" in (proc.stderr.read() if proc.stderr else "")
    listed = kubetriage("history", "--db", db, "-o", "json")
    assert listed.returncode == 0 and "NET-CNI-001" in listed.stdout and "resolved_at" in listed.stdout


def _first_pod(api: FakeApiServer) -> tuple[str, str]:
    md = api.items("pods", None)[0]["metadata"]
    return md["namespace"], md["name"]


def test_a_bad_listen_address_or_target_is_a_usage_error(
        kubetriage: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = kubetriage("watch", "--listen", "nowhere")
    assert proc.returncode == 2 and "--listen" in proc.stderr and "HOST:PORT" in proc.stderr
    proc = kubetriage("watch", "--notify", "pager:https://hooks.example/T0/secret-token")
    assert proc.returncode == 2 and "pager" in proc.stderr and "secret-token" not in proc.stderr


SNAPSHOTS = [*sorted(p for p in (ROOT / "tests" / "scenarios").iterdir() if (p / "api").is_dir()), OUTAGE, HEALTHY]


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name)
def test_the_slimmed_mirror_triages_as_the_full_objects_do(snapshot: Path, knowledge: Knowledge) -> None:
    """What the mirror drops (managedFields, env, probes, volumes ...) is never what a rule needs."""
    full = SnapshotBundle(snapshot)
    now = resolve_now(full, None)
    probes = full.probes()
    slimmed = MirrorBundle(full.meta, {r: [slim(o) for o in full.objects(r)] for r in RESOURCES
                                       if full.has_resource(r)},
                           list(full.errors), list(full.pod_logs()), list(full.node_files()),
                           dataclasses.replace(probes, mesh=None if probes.mesh is None else list(probes.mesh)))
    expected = triage(SnapshotBundle(snapshot), knowledge, now).as_dict()
    assert triage(slimmed, knowledge, now).as_dict() == expected
