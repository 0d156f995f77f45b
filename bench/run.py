"""Benchmark: synthetic snapshots of three sizes, each stage timed, peak memory, and the floor.

    python -m bench.run [--sizes small,medium,large] [--out bench/out]

The floor is a streaming parse of the same JSON files with ijson's C backend,
measured in the same run. Each measurement runs in its own process so peak RSS
is its own. Targets (issue #2): small end to end <= 2 s; large <= 2x floor, <= 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.snapshots import SIZES, generate

FLOOR = """
import ijson, json, resource, sys, time
from pathlib import Path
start = time.perf_counter(); n = 0
for path in sorted(Path(sys.argv[1], "api").glob("*.json")):
    with path.open("rb") as f:
        for _ in ijson.items(f, "items.item", use_float=True):
            n += 1
print(json.dumps({"seconds": time.perf_counter() - start, "objects": n,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

STAGES = """
import json, resource, sys, time
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage
start = time.perf_counter()
knowledge = Knowledge.load()
loaded = time.perf_counter()
bundle = SnapshotBundle(__import__("pathlib").Path(sys.argv[1]))
report = triage(bundle, knowledge, resolve_now(bundle, None))
rendered = time.perf_counter()
text = json.dumps(report.as_dict())
done = time.perf_counter()
print(json.dumps({"load_rules": loaded - start, **report.timings, "render": done - rendered,
                  "facts": len(report.facts.facts), "findings": len(report.findings),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the child's own peak RSS in MiB (wait4), and its stdout."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):  # 1 = findings, which a benchmark snapshot has
            err.seek(0)
            raise SystemExit(f"{' '.join(argv[:4])} failed: {err.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def bench(size_name: str, out: Path) -> dict[str, float | int | str]:
    size = SIZES[size_name]
    root = out / size.name
    marker = root / ".complete"
    if not marker.exists():
        started = time.perf_counter()
        generate(size, root)
        marker.write_text("ok")
        print(f"  generated {size.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    pods_mb = (root / "api" / "pods.json").stat().st_size / 2**20
    floor = json.loads(_run([sys.executable, "-c", FLOOR, str(root)])[2])
    stages = json.loads(_run([sys.executable, "-c", STAGES, str(root)])[2])
    cli = [str(Path(sys.executable).parent / "kubetriage"), "triage", "--snapshot", str(root), "-o", "json"]
    e2e, e2e_rss, _ = _run(cli)
    return {"size": size.name, "nodes": size.nodes, "pods": size.pods, "pods_json_mb": round(pods_mb),
            "floor_s": floor["seconds"], "floor_rss_mb": floor["rss_mb"],
            "normalize_s": stages["normalize"], "evaluate_s": stages["evaluate"],
            "render_s": stages["render"], "facts": stages["facts"], "findings": stages["findings"],
            "e2e_cli_s": e2e, "e2e_rss_mb": e2e_rss, "ratio_to_floor": e2e / floor["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    rows = [bench(name, args.out) for name in args.sizes.split(",")]
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in columns))


if __name__ == "__main__":
    main()
