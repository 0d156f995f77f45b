"""Root causes that appear, change severity, resolve, or stay long enough to deserve a reminder.

A triage every few seconds finds the same root causes again and again; people want to hear
about each once (deduplicated by the stable finding id), again when its severity changes or
the re-notify interval has passed, and once more when it is gone. Only root causes are
announced: their symptoms travel inside the runbook and evidence. A root cause that becomes a
symptom of a newer one stays tracked (it is still there) until it disappears.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

ChangeKind = Literal["appeared", "changed", "resolved", "reminder"]
#: Alertmanager's default ``repeat_interval``: the cadence teams already page at.
DEFAULT_RENOTIFY = timedelta(hours=4)


@dataclass(frozen=True)
class Change:
    """One thing worth telling people about one finding (as in ``-o json``)."""

    kind: ChangeKind
    finding: dict[str, Any]
    previous_severity: str | None = None


@dataclass
class _Tracked:
    finding: dict[str, Any]
    notified_at: datetime | None  # None: known from before a restart, not yet told in this run


class Tracker:
    """Turns successive triages' findings into changes (not thread-safe: one watcher calls it)."""

    def __init__(self, renotify: timedelta | None = DEFAULT_RENOTIFY, known: Iterable[dict[str, Any]] = ()) -> None:
        """``known``: the findings still open when the last run stopped (``History.unresolved``),
        so a restart neither announces them again nor forgets to resolve them."""
        if renotify is not None and renotify <= timedelta(0):
            raise ValueError(f"the re-notify interval must be positive, not {renotify}")
        self.renotify = renotify
        self._tracked = {f["id"]: _Tracked(f, None) for f in known}

    def update(self, findings: list[dict[str, Any]], at: datetime) -> list[Change]:
        """The changes since the previous call: resolutions first, then by the findings' order."""
        present = {f["id"]: f for f in findings}
        changes = [Change("resolved", t.finding) for fid, t in self._tracked.items() if fid not in present]
        for fid in [fid for fid in self._tracked if fid not in present]:
            del self._tracked[fid]
        for fid, finding in present.items():
            tracked = self._tracked.get(fid)
            if tracked is None:
                if finding.get("root_cause"):
                    self._tracked[fid] = _Tracked(finding, at)
                    changes.append(Change("appeared", finding))
                continue
            previous, tracked.finding = tracked.finding, finding
            if finding["severity"] != previous["severity"]:
                tracked.notified_at = at
                changes.append(Change("changed", finding, previous["severity"]))
            elif tracked.notified_at is None:
                tracked.notified_at = at  # the reminder clock of a finding carried over a restart
            elif self.renotify is not None and at - tracked.notified_at >= self.renotify:
                tracked.notified_at = at
                changes.append(Change("reminder", finding))
        return changes

    @property
    def open(self) -> list[dict[str, Any]]:
        """The findings being tracked now (announced and not resolved)."""
        return [t.finding for t in self._tracked.values()]
