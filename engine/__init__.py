"""kubetriage: rule-based triage of Kubernetes networking incidents.

The public API is small; everything else is internal and may change.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kubetriage")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from kubetriage.errors import KubetriageError

__all__ = ["KubetriageError", "__version__"]
