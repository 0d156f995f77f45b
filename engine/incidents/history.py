"""Incident history: when each finding was first seen, last seen, resolved, and how often it flapped.

An embedded SQLite file by default (stdlib ``sqlite3``, WAL so ``kubetriage history`` can read
while ``watch`` writes); one row per finding id, reopened (a flap) when a resolved finding comes
back. The watcher calls ``record`` after every triage, with or without changes: every finding
still open was seen then. Timestamps are stored as fixed-width UTC text, so they sort as text.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubetriage.errors import KubetriageError
from kubetriage.incidents.tracker import Change

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    finding_id  TEXT PRIMARY KEY,
    rule_id     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    title       TEXT NOT NULL,
    finding     TEXT NOT NULL,  -- the finding as in `-o json`, as last seen
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    resolved_at TEXT,           -- NULL while open
    flaps       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS incidents_last_seen ON incidents (last_seen);
"""
_UPSERT = """
INSERT INTO incidents (finding_id, rule_id, severity, title, finding, first_seen, last_seen)
VALUES (:id, :rule_id, :severity, :title, :finding, :at, :at)
ON CONFLICT (finding_id) DO UPDATE SET
    rule_id = excluded.rule_id, severity = excluded.severity, title = excluded.title,
    finding = excluded.finding, last_seen = excluded.last_seen, resolved_at = NULL,
    flaps = flaps + (resolved_at IS NOT NULL)
"""
_COLUMNS = "finding_id, rule_id, severity, title, finding, first_seen, last_seen, resolved_at, flaps"


def default_path() -> Path:
    """``$XDG_STATE_HOME/kubetriage/history.db`` (``~/.local/state`` when unset)."""
    state = os.environ.get("XDG_STATE_HOME") or Path("~/.local/state").expanduser()
    return Path(state) / "kubetriage" / "history.db"


@dataclass(frozen=True)
class Incident:
    """One finding's history."""

    finding_id: str
    rule_id: str
    severity: str
    title: str
    finding: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    flaps: int

    def as_dict(self) -> dict[str, Any]:
        return {"finding_id": self.finding_id, "rule_id": self.rule_id, "severity": self.severity,
                "title": self.title, "first_seen": _text(self.first_seen), "last_seen": _text(self.last_seen),
                "resolved_at": _text(self.resolved_at) if self.resolved_at else None, "flaps": self.flaps,
                "finding": self.finding}


class History:
    """The incident store; safe to share between threads (one connection behind a lock)."""

    def __init__(self, connection: sqlite3.Connection, where: str) -> None:
        self._db, self.where, self._lock = connection, where, threading.Lock()

    @classmethod
    def open(cls, where: str | Path, create: bool = True) -> History:
        """A SQLite file path (or ``sqlite:///PATH``, or ``:memory:``). ``create=False`` refuses
        to make a new, empty database (a reader given a wrong path should say so)."""
        text = str(where)
        if text.startswith(("postgresql://", "postgres://")):  # the URL may hold a password: never echo it
            raise KubetriageError("history: PostgreSQL URLs are not supported yet; give a SQLite file path")
        if "://" in text and not text.startswith("sqlite:///"):
            raise KubetriageError(f"history: {text.split('://')[0]}:// is not a supported database "
                                  "(give a SQLite file path)")
        path = text.removeprefix("sqlite://")
        if path != ":memory:":
            if not create and not Path(path).is_file():
                raise KubetriageError(f"history: no database at {path}")
            if create:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        except sqlite3.Error as exc:
            raise KubetriageError(f"history: cannot open {path}: {exc}") from None
        try:
            _prepare(db, path)
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    def record(self, changes: list[Change], at: datetime) -> None:
        """Store one triage's changes; every finding still open was seen ``at``."""
        stamp = _text(at)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for change in changes:
                f = change.finding
                if change.kind == "resolved":
                    self._db.execute("UPDATE incidents SET resolved_at = ?, finding = ? "
                                     "WHERE finding_id = ? AND resolved_at IS NULL", (stamp, json.dumps(f), f["id"]))
            self._db.execute("UPDATE incidents SET last_seen = ? WHERE resolved_at IS NULL", (stamp,))
            self._db.executemany(_UPSERT, [
                {"id": c.finding["id"], "rule_id": c.finding["rule_id"], "severity": c.finding["severity"],
                 "title": c.finding.get("title", ""), "finding": json.dumps(c.finding), "at": stamp}
                for c in changes if c.kind != "resolved"])

    def recent(self, limit: int = 50) -> list[Incident]:
        """The most recently seen incidents first (the open ones were seen last)."""
        return self._select(f"SELECT {_COLUMNS} FROM incidents ORDER BY last_seen DESC, first_seen DESC LIMIT ?",
                            (limit,))

    def unresolved(self) -> list[dict[str, Any]]:
        """The findings open when the last run stopped (to seed ``Tracker(known=...)``)."""
        return [i.finding for i in self._select(f"SELECT {_COLUMNS} FROM incidents WHERE resolved_at IS NULL", ())]

    def since(self, finding_id: str) -> datetime | None:
        """When this finding was first seen, if ever."""
        with self._lock:
            row = self._db.execute("SELECT first_seen FROM incidents WHERE finding_id = ?", (finding_id,)).fetchone()
        return None if row is None else _time(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _select(self, query: str, args: tuple[Any, ...]) -> list[Incident]:
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [Incident(fid, rule, sev, title, json.loads(finding), _time(first), _time(last),
                         _time(resolved) if resolved else None, flaps)
                for fid, rule, sev, title, finding, first, last, resolved, flaps in rows]


def _prepare(db: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new file; refuse a file that is some other database."""
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == _SCHEMA_VERSION:
            return  # a reader (`kubetriage history`) writes nothing
        if version != 0 or tables:
            raise KubetriageError(f"history: {path} is not a kubetriage history database "
                                  f"(schema {version}, tables {', '.join(sorted(tables)) or 'none'})")
        if path != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
        db.executescript(_SCHEMA + f"PRAGMA user_version = {_SCHEMA_VERSION};")
    except sqlite3.Error as exc:
        raise KubetriageError(f"history: cannot open {path}: {exc}") from None


def _text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"history timestamps must carry a time zone: {at}")
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
