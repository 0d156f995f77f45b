"""When what was collected is too little to judge a cluster (DESIGN §5, exit code 3).

One decision for every command (``triage``, ``collect``): a run that saw nothing must
never look like a healthy one.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The resources nearly every rule needs; with neither (and no node file) nothing can be judged.
ESSENTIAL = ("api/nodes", "api/pods")


def too_little(collected: Iterable[str]) -> str:
    """Why ``collected`` (coverage sources: ``api/pods``, ``nodes/worker-1/kubelet.log``,
    ``logs/...``) is too little to judge the cluster; '' when it is enough."""
    have = set(collected)
    if not have:
        return "nothing could be collected"
    if not have & set(ESSENTIAL) and not any(source.startswith("nodes/") for source in have):
        return "neither nodes nor pods could be listed, and no node file was read"
    return ""
