"""Incident history in a real SQLite file: first/last seen, resolutions, flaps, across restarts."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kubetriage.errors import KubetriageError
from kubetriage.incidents import History, Tracker

from .conftest import OUTAGE, Run, triage_json

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def _finding(rule_id: str, severity: str = "critical", root_cause: bool = True) -> dict[str, Any]:
    return {"id": f"{rule_id}-0123456789", "rule_id": rule_id, "severity": severity, "title": f"{rule_id} broke",
            "summary": "s", "root_cause": root_cause, "subjects": ["Node/n1"], "evidence": ["e"], "runbook": "r"}


CNI, ING = _finding("NET-CNI-001"), _finding("NET-ING-005", "high")


def _watch(history: History, tracker: Tracker, findings: list[dict[str, Any]], at: datetime) -> None:
    history.record(tracker.update(findings, at), at)


def test_history_survives_a_restart_and_counts_flaps(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.db"
    history, tracker = History.open(db), Tracker()
    _watch(history, tracker, [CNI], T0)
    _watch(history, tracker, [CNI, ING], T0 + timedelta(minutes=1))
    _watch(history, tracker, [ING], T0 + timedelta(minutes=2))  # CNI resolved
    history.close()

    history = History.open(f"sqlite://{db}", create=False)  # the watcher restarted
    assert history.unresolved() == [ING]
    tracker = Tracker(known=history.unresolved())
    _watch(history, tracker, [CNI, ING], T0 + timedelta(minutes=3))  # CNI is back: a flap
    worse = {**ING, "severity": "critical"}
    _watch(history, tracker, [CNI, worse], T0 + timedelta(minutes=4))
    _watch(history, tracker, [worse], T0 + timedelta(minutes=5))
    by_rule = {i.rule_id: i for i in history.recent()}
    cni, ing = by_rule["NET-CNI-001"], by_rule["NET-ING-005"]
    assert (cni.first_seen, cni.last_seen, cni.resolved_at, cni.flaps) == (
        T0, T0 + timedelta(minutes=4), T0 + timedelta(minutes=5), 1)
    assert (ing.first_seen, ing.last_seen, ing.resolved_at, ing.flaps) == (
        T0 + timedelta(minutes=1), T0 + timedelta(minutes=5), None, 0)
    assert ing.severity == "critical" and ing.finding["severity"] == "critical"
    assert [i.rule_id for i in history.recent()] == ["NET-ING-005", "NET-CNI-001"]
    assert [i.rule_id for i in history.recent(limit=1)] == ["NET-ING-005"]
    assert history.since(CNI["id"]) == T0 and history.since("NET-XYZ-000-nothing") is None
    assert cni.as_dict()["resolved_at"] == "2026-11-25T10:05:00.000000Z"
    history.close()


def test_history_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(KubetriageError, match="no database at"):
        History.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(KubetriageError) as err:
        History.open("postgresql://kt:hunter2@db.example/kt")
    assert "not supported yet" in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(KubetriageError, match="mysql:// is not a supported database"):
        History.open("mysql://db/kt")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(KubetriageError, match=f"cannot open {garbage}"):
        History.open(garbage)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (x)")
    with pytest.raises(KubetriageError, match="not a kubetriage history database"):
        History.open(other)
    history = History.open(":memory:")
    with pytest.raises(ValueError, match="time zone"):
        history.record([], datetime(2026, 1, 1))
    history.close()


def test_history_command_lists_recent_incidents(tmp_path: Path, kubetriage: Run) -> None:
    db = tmp_path / "history.db"
    hostile = {**_finding("NET-DNS-001"), "title": "DNS \x1b]0;pwned\x07 down"}
    with History.open(db) as history:
        tracker = Tracker()
        _watch(history, tracker, [CNI, hostile], T0)
        _watch(history, tracker, [hostile], T0 + timedelta(minutes=7))
    table = kubetriage("history", "--db", db)
    assert table.returncode == 0, table.stderr
    header, dns, *_, cni = [line for line in table.stdout.splitlines() if not line.startswith(" ")]
    assert header.split() == ["STATUS", "SEVERITY", "RULE", "FIRST", "SEEN", "LAST", "SEEN", "RESOLVED", "FLAPS",
                              "INCIDENT"]
    assert dns.split()[:3] == ["OPEN", "critical", "NET-DNS-001"] and "\x1b" not in table.stdout
    assert dns.split()[3:9] == ["2026-11-25", "10:00:00Z", "2026-11-25", "10:07:00Z", "—", "0"]
    assert "\\x1b]0;pwned" in table.stdout  # the escape shown as text, never sent to the terminal
    assert cni.split()[:3] == ["resolved", "critical", "NET-CNI-001"] and "2026-11-25 10:07:00Z" in cni
    listed = json.loads(kubetriage("history", "--db", db, "-o", "json", "--limit", "1").stdout)["incidents"]
    assert [(i["rule_id"], i["first_seen"], i["resolved_at"], i["flaps"]) for i in listed] == [
        ("NET-DNS-001", "2026-11-25T10:00:00.000000Z", None, 0)]
    missing = kubetriage("history", "--db", tmp_path / "nope.db")
    assert missing.returncode == 2 and "no database at" in missing.stderr
    assert not (tmp_path / "nope.db").exists()


def test_incident_report_says_since_when_the_history_first_saw_it(tmp_path: Path, kubetriage: Run) -> None:
    findings = triage_json(kubetriage, OUTAGE)["findings"]
    db = tmp_path / "history.db"
    with History.open(db) as history:
        _watch(history, Tracker(), findings, T0 - timedelta(days=2))
    report = kubetriage("runbook", "--snapshot", OUTAGE, "--history", db)
    assert report.returncode == 0, report.stderr
    assert "- Since: 2026-11-23T10:00:00Z" in report.stdout
    data = json.loads(kubetriage("runbook", "--snapshot", OUTAGE, "--history", db, "-o", "json").stdout)
    assert data["since"] == "2026-11-23T10:00:00Z"
    without = json.loads(kubetriage("runbook", "--snapshot", OUTAGE, "-o", "json").stdout)
    assert without["since"] != data["since"]
