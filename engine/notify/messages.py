"""The message each kind of target receives for one change, built from the finding as in ``-o json``.

Every message carries the summary, subjects, evidence and the runbook (rendered text when the
watcher gives it, else its id). All text comes from the cluster or a rule pack: Slack text is
escaped for mrkdwn; every field is bounded (Slack refuses a section over 3,000 characters,
https://api.slack.com/reference/block-kit/blocks#section).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kubetriage.escape import slack as esc
from kubetriage.incidents import Change

ALERTNAME = "KubetriageRootCause"
_MAX_TEXT = 2900  # under Slack's 3,000 per section, with room for a heading
_MAX_LINES = 20
_LABELS = {"appeared": "Root cause found", "changed": "Severity changed", "reminder": "Still failing",
           "resolved": "Resolved"}


@dataclass(frozen=True)
class Notice:
    """A change, ready to send: with its cluster, rendered runbook and time."""

    change: Change
    cluster: str
    runbook: str
    at: datetime

    @property
    def finding(self) -> dict[str, Any]:
        return self.change.finding

    @property
    def headline(self) -> str:
        f, change = self.finding, self.change
        label = _LABELS[change.kind]
        if change.kind == "changed":
            label += f" ({change.previous_severity} → {f['severity']})"
        where = f"[{self.cluster}] " if self.cluster else ""
        return f"{where}{label}: {f.get('title', '')} ({f['rule_id']}, {f['severity']})"


def webhook(notice: Notice) -> dict[str, Any]:
    """A generic JSON body: what happened, and the finding whole."""
    f, change = notice.finding, notice.change
    return {"kind": change.kind, "status": "resolved" if change.kind == "resolved" else "firing",
            "text": notice.headline, "cluster": notice.cluster, "rule_id": f["rule_id"], "finding_id": f["id"],
            "severity": f["severity"], "previous_severity": change.previous_severity, "at": rfc3339(notice.at),
            "finding": f, "runbook": {"id": f.get("runbook", ""), "text": notice.runbook}}


def slack(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook message: a fallback ``text`` and Block Kit sections."""
    f = notice.finding

    def section(heading: str, body: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": f"*{heading}*\n{_clip(body, _MAX_TEXT)}"}}

    def field(name: str, value: str) -> dict[str, str]:
        return {"type": "mrkdwn", "text": f"*{name}*\n{esc(_clip(value, 200))}"}

    evidence = "\n".join(_lines(f.get("evidence", []))).replace("```", "'''")
    blocks = [
        section(esc(_clip(notice.headline, 300)), esc(f.get("summary", ""))),
        {"type": "section", "fields": [field("Severity", f["severity"]), field("Rule", f["rule_id"]),
                                       field("Cluster", notice.cluster or "unknown"), field("Finding", f["id"])]},
        section("Subjects", esc("\n".join(f"• {s}" for s in _lines(f.get("subjects", []))))),
        section("Evidence", f"```{esc(evidence)}```" if evidence else "none"),
        section(f"Runbook {esc(f.get('runbook', ''))}", esc(notice.runbook) or "not rendered"),
    ]
    return {"text": esc(notice.headline), "blocks": blocks}


def alert(notice: Notice, starts_at: datetime, ends_at: datetime, severity: str | None = None) -> dict[str, Any]:
    """One Alertmanager v2 postable alert; its labels identify it (Alertmanager dedups on them),
    so a severity change resolves the old alert (``severity``: the old one) and fires a new one."""
    f = notice.finding
    labels = {"alertname": ALERTNAME, "rule_id": f["rule_id"], "severity": severity or f["severity"],
              "finding_id": f["id"], **({"cluster": notice.cluster} if notice.cluster else {})}
    annotations = {"title": f.get("title", ""), "summary": f.get("summary", ""),
                   "subjects": "\n".join(_lines(f.get("subjects", []))),
                   "evidence": "\n".join(_lines(f.get("evidence", []))),
                   "runbook_id": f.get("runbook", ""), "runbook": notice.runbook}
    return {"labels": labels, "annotations": {k: _clip(v, _MAX_TEXT) for k, v in annotations.items() if v},
            "startsAt": rfc3339(starts_at), "endsAt": rfc3339(ends_at)}


def rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expiry(at: datetime, resend: timedelta) -> datetime:
    """When a firing alert lapses unless sent again: four resend intervals, as Prometheus does
    (Alertmanager resolves an alert whose ``endsAt`` passes without an update)."""
    return at + 4 * resend


def _lines(items: list[Any]) -> list[str]:
    shown = [str(item) for item in items[:_MAX_LINES]]
    return shown + ([f"… and {len(items) - _MAX_LINES} more"] if len(items) > _MAX_LINES else [])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
