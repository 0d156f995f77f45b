"""What changed between triages, and the record of it: the part of watching that decides what
is worth telling people (``Tracker``) and remembers it across restarts (``History``)."""

from kubetriage.incidents.history import History, Incident
from kubetriage.incidents.tracker import Change, Tracker

__all__ = ["Change", "History", "Incident", "Tracker"]
