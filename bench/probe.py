"""Mesh-probe orchestration time for 3, 50 and 500 simulated nodes against the API-server fixture.

`python bench/probe.py` prints, per size, the wall time of a whole run (create, wait for the
pods, publish the peer plan, read every pod's JSON lines, delete) and the node pairs probed.
The fixture plays the DaemonSet controller and the agents, so this measures kubetriage's side:
API calls, log reads and parsing, not the network.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubetriage.collectors.kube import api_client
from kubetriage.collectors.probe import MeshProbe, ProbeApi
from kubetriage.probe.plan import ProbeSettings
from tests.apiserver import FakeApiServer
from tests.test_probe_mesh import Cluster


def measure(size: int) -> tuple[float, int, int]:
    work = Path(tempfile.mkdtemp(prefix="kt-probe-bench-"))
    try:
        (work / "cluster" / "api").mkdir(parents=True)
        server = FakeApiServer(work / "cluster").start(work)
        Cluster(server, nodes=[f"node-{i:04d}" for i in range(size)])
        api, _ = api_client(str(server.kubeconfig(work / "kubeconfig")), None, False)
        started = time.perf_counter()
        entries = MeshProbe(ProbeApi(api), ProbeSettings(timeout=600, poll=0.2)).run()
        elapsed = time.perf_counter() - started
        api.close()  # type: ignore[no-untyped-call]
        server.stop()
        pairs = len({(e["from"]["node"], e["to"]["node"]) for e in entries if e["kind"] == "pod-to-pod"})
        return elapsed, pairs, len(entries)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    print(f"{'nodes':>6} {'seconds':>8} {'pairs':>7} {'results':>8}")
    for size in (3, 50, 500):
        elapsed, pairs, entries = measure(size)
        print(f"{size:>6} {elapsed:>8.2f} {pairs:>7} {entries:>8}", flush=True)


if __name__ == "__main__":
    main()
