"""Telling people: a root cause appeared, changed severity, is still there, or resolved.

Three kinds of target — a generic JSON webhook, a Slack-compatible incoming webhook, and
Alertmanager's alerts API (so routing, silences and dedup stay where teams have them) — fed by
a background ``Dispatcher`` that retries with backoff and never blocks or fails the watcher.
"""

from kubetriage.notify.dispatch import Delivery, Dispatcher
from kubetriage.notify.runbooks import runbook_text
from kubetriage.notify.targets import Target, parse_target

__all__ = ["Delivery", "Dispatcher", "Target", "parse_target", "runbook_text"]
