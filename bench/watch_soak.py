"""Soak: ``kubetriage watch`` against the API-server fixture with many pods and steady churn.

    python bench/watch_soak.py [--pods 10000] [--updates-per-min 1000] [--minutes 2] [--marker-every 10]

The fixture (in this process) serves the healthy example plus ``--pods`` pods carrying what real
pods carry (managedFields, env, probes), 100 to a node; a background thread changes ``--updates-per-min`` of them
(a label: MODIFIED events that change no finding). Every ``--marker-every`` seconds the CNI
DaemonSet flips between unready and ready, and the time from that change to ``/metrics`` showing
NET-CNI-001 appear or go is the re-triage latency (p50/p99). The watcher runs as a subprocess
(``kubetriage watch``), so its CPU and RSS, sampled from /proc every 10 s, are its own.
Not a test: it prints numbers for the closing note of a change.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.apiserver import FakeApiServer  # noqa: E402

CNI = ("kube-system", "rke2-canal")
_TICK = os.sysconf("SC_CLK_TCK")


def _cluster(data: Path, count: int) -> None:
    """Add ``count`` pods to the snapshot at ``data``, on nodes added 100 pods to a /24 podCIDR."""
    api = data / "api"
    nodes = json.loads((api / "nodes.json").read_text())
    pods = json.loads((api / "pods.json").read_text())
    node_template, pod_template = nodes["items"][-1], pods["items"][-1]
    fields = [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-11-25T10:00:00Z",
               "fieldsType": "FieldsV1", "fieldsV1": {f"f:{k}": {} for k in range(40)}}]
    env = [{"name": f"SETTING_{k}", "value": "x" * 24} for k in range(12)]
    for n in range((count + 99) // 100):
        node = json.loads(json.dumps(node_template))
        node["metadata"].update(name=f"soak-node-{n}", uid=f"soak-node-{n:05d}")
        node["spec"]["podCIDR"] = f"10.{100 + n // 250}.{n % 250}.0/24"
        node["status"]["addresses"] = [{"type": "InternalIP", "address": f"10.1.{n // 250}.{n % 250 + 1}"}]
        nodes["items"].append(node)
    for i in range(count):
        pod = json.loads(json.dumps(pod_template))
        md, n = pod["metadata"], i // 100
        md.update(name=f"soak-{i}", namespace="soak", uid=f"soak-{i:08d}", managedFields=fields,
                  labels={"app": f"soak-{i % 50}", "soak/rev": "0"})
        md.pop("ownerReferences", None)
        pod["spec"]["containers"][0].update(env=env, livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}})
        pod["spec"]["nodeName"] = f"soak-node-{n}"
        pod["status"]["podIP"] = f"10.{100 + n // 250}.{n % 250}.{i % 100 + 2}"
        pods["items"].append(pod)
    (api / "nodes.json").write_text(json.dumps(nodes))
    (api / "pods.json").write_text(json.dumps(pods))


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kubetriage_findings" and sample.labels["rule_id"] != "NET-CNI-001":
                continue
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _usage(pid: int) -> tuple[float, float]:
    """CPU seconds and RSS MiB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return (int(fields[11]) + int(fields[12])) / _TICK, rss / 1024


def _churn(api: FakeApiServer, pods: int, per_min: int, stop: threading.Event) -> None:
    interval, rev = 60.0 / per_min, 0
    while not stop.wait(interval):
        rev += 1
        pod = api.get("pods", "soak", f"soak-{random.randrange(pods)}")
        pod["metadata"]["labels"]["soak/rev"] = str(rev)
        api.put("pods", pod)


def _flip(api: FakeApiServer, broken: bool) -> None:
    ds = api.get("daemonsets", *CNI)
    ready = 1 if broken else ds["status"]["desiredNumberScheduled"]
    ds["status"].update(numberReady=ready, numberAvailable=ready)
    api.put("daemonsets", ds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--updates-per-min", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--marker-every", type=float, default=10.0, help="seconds between CNI flips")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kubetriage-soak-"))
    data = work / "cluster"
    shutil.copytree(ROOT / "examples" / "healthy", data)
    _cluster(data, args.pods)
    api = FakeApiServer(data, bookmark_interval=30.0).start(work)
    api.get("pods", "soak", "soak-0")  # loads the pods into memory once, not per list page
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    watcher = subprocess.Popen([sys.executable, "-m", "kubetriage", "watch", "--kubeconfig",
                                str(api.kubeconfig(work / "kubeconfig")), "--listen", f"127.0.0.1:{port}",
                                "--logs-every", "1h"], stderr=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        while not _ready(url):
            if watcher.poll() is not None:
                sys.exit("kubetriage watch exited before it was ready")
            time.sleep(0.2)
        print(f"{args.pods} pods: first triage ready after {time.monotonic() - started:.1f}s", flush=True)
        threading.Thread(target=_churn, args=(api, args.pods, args.updates_per_min, stop), daemon=True).start()
        latencies, samples = _run(api, url, watcher.pid, args.minutes * 60, args.marker_every)
    finally:
        stop.set()
        watcher.terminate()
        watcher.wait(timeout=60)
        api.stop()
        shutil.rmtree(work, ignore_errors=True)
    _report(latencies, samples, args)


def _run(api: FakeApiServer, url: str, pid: int, seconds: float, marker_every: float
         ) -> tuple[list[float], list[tuple[float, float, float, float]]]:
    """Flip the CNI DaemonSet and time each flip until /metrics shows it; sample CPU and RSS."""
    latencies: list[float] = []
    samples: list[tuple[float, float, float, float]] = []  # elapsed, cpu %, rss MiB, triages
    begin = time.monotonic()
    cpu0, _ = _usage(pid)
    last_sample, last_cpu = begin, cpu0
    broken = False
    next_flip = begin
    while time.monotonic() - begin < seconds:
        now = time.monotonic()
        if now >= next_flip:
            broken = not broken
            flipped = time.monotonic()
            _flip(api, broken)
            while (_scrape(url).get("kubetriage_findings", 0) > 0) != broken:
                if time.monotonic() - flipped > 600:
                    sys.exit("the watcher did not see a CNI flip within 10 minutes")
                time.sleep(0.05)
            latencies.append(time.monotonic() - flipped)
            next_flip = flipped + marker_every
        if now - last_sample >= 10:
            cpu, rss = _usage(pid)
            triages = _scrape(url).get("kubetriage_triages_total", 0)
            samples.append((now - begin, 100 * (cpu - last_cpu) / (now - last_sample), rss, triages))
            print(f"t={now - begin:5.0f}s  cpu={samples[-1][1]:5.1f}%  rss={rss:6.1f} MiB  triages={triages:.0f}",
                  flush=True)
            last_sample, last_cpu = now, cpu
        time.sleep(0.05)
    return latencies, samples


def _report(latencies: list[float], samples: list[tuple[float, float, float, float]], args: Any) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else float("nan")
    print(f"\n{args.pods} pods, {args.updates_per_min} updates/min, {args.minutes:g} min, "
          f"{len(latencies)} CNI flips")
    print(f"re-triage latency (change -> /metrics): p50 {statistics.median(ordered) if ordered else float('nan'):.2f}s"
          f"  p99 {p99:.2f}s  max {max(ordered, default=float('nan')):.2f}s")
    if samples:
        rss = [s[2] for s in samples]
        print(f"watcher CPU: mean {statistics.mean(s[1] for s in samples):.1f}% of one core; "
              f"RSS first {rss[0]:.0f} MiB, last {rss[-1]:.0f} MiB, max {max(rss):.0f} MiB")


if __name__ == "__main__":
    main()
