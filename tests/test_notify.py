"""Notifications, delivered over real HTTP to a local receiver: one POST per change, deduplicated,
retried when the target fails, Slack-escaped, and Alertmanager-shaped."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import prometheus_client
import pytest

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.errors import KubetriageError
from kubetriage.incidents import Change, Tracker
from kubetriage.knowledge import Knowledge
from kubetriage.notify import Delivery, Dispatcher, parse_target, runbook_text
from kubetriage.triage import TriageReport, resolve_now, triage

from .conftest import OUTAGE, ROOT
from .receiver import Receiver

FAST = Delivery(retries=8, backoff=0.02, timeout=5.0)
T0 = datetime(2026, 11, 25, 10, 32, tzinfo=timezone.utc)
SLACK_TOKEN = "T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"


@pytest.fixture(scope="module")
def outage() -> tuple[TriageReport, Knowledge]:
    knowledge = Knowledge.load()
    bundle = SnapshotBundle(OUTAGE)
    return triage(bundle, knowledge, resolve_now(bundle, None)), knowledge


@pytest.fixture
def findings(outage: tuple[TriageReport, Knowledge]) -> list[dict[str, Any]]:
    return [f.as_dict() for f in outage[0].findings]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _count(registry: prometheus_client.CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _roots(findings: list[dict[str, Any]]) -> list[str]:
    return [f["rule_id"] for f in findings if f["root_cause"]]


def test_targets_parse_and_bad_specs_are_named_without_their_secrets() -> None:
    assert parse_target("webhook:http://127.0.0.1:9/x").url == "http://127.0.0.1:9/x"
    assert parse_target("alertmanager:http://am:9093").url == "http://am:9093/api/v2/alerts"
    assert parse_target("alertmanager:http://am:9093/api/v2/alerts").url == "http://am:9093/api/v2/alerts"
    slack = parse_target(f"slack:https://hooks.slack.com/services/{SLACK_TOKEN}")
    assert SLACK_TOKEN not in str(slack) and SLACK_TOKEN not in repr(slack)
    assert str(slack) == "slack:https://hooks.slack.com/…"
    for spec, said in [("pager:http://x", "'pager:http://x'"), ("slack:ftp://h/" + SLACK_TOKEN, "slack:ftp://h/…"),
                       (f"https://user:pw@hooks.slack.com/services/{SLACK_TOKEN}", "https://hooks.slack.com/…"),
                       ("webhook:http://h:99999/", "webhook:<unparsable URL>")]:
        with pytest.raises(KubetriageError) as err:
            parse_target(spec)
        assert said in str(err.value) and SLACK_TOKEN not in str(err.value) and "pw" not in str(err.value)


def test_tracker_announces_root_causes_once_then_changes_reminders_and_resolutions(
        findings: list[dict[str, Any]]) -> None:
    tracker = Tracker(renotify=timedelta(hours=1))
    first = tracker.update(findings, T0)
    assert [(c.kind, c.finding["rule_id"]) for c in first] == [("appeared", r) for r in _roots(findings)]
    assert len(first) < len(findings)  # symptoms travel with their root cause
    assert tracker.update(findings, T0 + timedelta(minutes=59)) == []
    worse = [{**f, "severity": "critical"} if f["rule_id"] == "NET-ING-005" else f for f in findings]
    (changed,) = tracker.update(worse, T0 + timedelta(minutes=59, seconds=30))
    assert (changed.kind, changed.previous_severity, changed.finding["severity"]) == ("changed", "high", "critical")
    reminders = tracker.update(worse, T0 + timedelta(hours=1))
    assert [(c.kind, c.finding["rule_id"]) for c in reminders] == [("reminder", "NET-CNI-001")]
    gone = tracker.update([f for f in worse if f["rule_id"] != "NET-CNI-001"], T0 + timedelta(hours=2))
    assert [(c.kind, c.finding["rule_id"]) for c in gone] == [("resolved", "NET-CNI-001"), ("reminder", "NET-ING-005")]
    assert [f["rule_id"] for f in tracker.open] == ["NET-ING-005"]


def test_tracker_keeps_a_root_cause_that_became_a_symptom_and_resumes_after_a_restart(
        findings: list[dict[str, Any]]) -> None:
    tracker = Tracker(renotify=None)
    tracker.update(findings, T0)
    demoted = [{**f, "root_cause": False} for f in findings]
    assert tracker.update(demoted, T0 + timedelta(hours=9)) == []  # still there: neither resolved nor new
    restarted = Tracker(renotify=timedelta(minutes=5), known=tracker.open)
    assert restarted.update(findings, T0 + timedelta(hours=10)) == []
    assert [c.kind for c in restarted.update(findings, T0 + timedelta(hours=10, minutes=5))] == ["reminder"] * 2
    assert {c.kind for c in restarted.update([], T0 + timedelta(hours=11))} == {"resolved"}
    with pytest.raises(ValueError, match="positive"):
        Tracker(renotify=timedelta(0))


def test_webhook_one_post_per_change_deduplicated_with_runbook_and_resolved(
        receiver: Receiver, outage: tuple[TriageReport, Knowledge], findings: list[dict[str, Any]]) -> None:
    registry = prometheus_client.CollectorRegistry()
    dispatcher = Dispatcher([parse_target(f"webhook:{receiver.url()}")], registry, runbook_text(*outage),
                            cluster="fixture", delivery=FAST)
    tracker = Tracker()
    dispatcher.submit(tracker.update(findings, T0))
    dispatcher.submit(tracker.update(findings, T0 + timedelta(seconds=30)))  # the same findings again
    dispatcher.submit(tracker.update([], T0 + timedelta(minutes=1)))
    dispatcher.close(timeout=20)
    bodies = [r.body for r in receiver.delivered]
    roots = _roots(findings)
    assert [(b["kind"], b["rule_id"]) for b in bodies] == [("appeared", r) for r in roots] + [
        ("resolved", r) for r in roots]
    assert all(r.path == "/hook" and r.headers["Content-Type"] == "application/json" for r in receiver.delivered)
    cni = bodies[0]
    assert cni["status"] == "firing" and cni["cluster"] == "fixture" and cni["severity"] == "critical"
    assert cni["finding"]["subjects"] and cni["finding"]["evidence"] and cni["finding"]["summary"]
    assert cni["runbook"]["id"] == "cni-daemonset-recovery"
    assert "rke2-canal" in cni["runbook"]["text"] and "Diagnosis (read-only)" in cni["runbook"]["text"]
    resolved = bodies[len(roots)]
    assert resolved["status"] == "resolved" and "resolved" in resolved["text"].lower()
    assert _count(registry, "kubetriage_notifications_sent_total", target="webhook", kind="appeared") == len(roots)
    assert _count(registry, "kubetriage_notifications_sent_total", target="webhook", kind="resolved") == len(roots)


def test_a_failing_target_is_retried_counted_and_delivered_once(
        receiver: Receiver, findings: list[dict[str, Any]]) -> None:
    receiver.script = [500, 503, 429]
    registry = prometheus_client.CollectorRegistry()
    dispatcher = Dispatcher([parse_target(f"webhook:{receiver.url()}")], registry, delivery=FAST)
    (change,) = [Change("appeared", f) for f in findings[:1]]
    dispatcher.submit([change])
    (delivered,) = receiver.wait_for(lambda got: len(got) == 1)
    assert delivered.body["finding_id"] == change.finding["id"]
    dispatcher.close(timeout=20)
    assert [r.status for r in receiver.received] == [500, 503, 429, 200]
    assert _count(registry, "kubetriage_notification_retries_total", target="webhook") == 3
    assert _count(registry, "kubetriage_notifications_sent_total", target="webhook", kind="appeared") == 1
    assert _count(registry, "kubetriage_notifications_failed_total", target="webhook", kind="appeared") == 0


def test_a_target_refusing_connections_is_retried_until_it_listens(findings: list[dict[str, Any]]) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = closed.getsockname()[1]
    registry = prometheus_client.CollectorRegistry()
    dispatcher = Dispatcher([parse_target(f"webhook:http://127.0.0.1:{port}/hook")], registry,
                            delivery=Delivery(retries=200, backoff=0.05))
    dispatcher.submit([Change("appeared", findings[0])])
    deadline = time.monotonic() + 20
    while _count(registry, "kubetriage_notification_retries_total", target="webhook") < 2:
        assert time.monotonic() < deadline, "no retry was counted"
        time.sleep(0.01)
    closed.close()
    receiver = Receiver(port=port).start()
    try:
        receiver.wait_for(lambda got: len(got) == 1)
        dispatcher.close(timeout=20)
        assert len(receiver.received) == 1
        assert _count(registry, "kubetriage_notifications_sent_total", target="webhook", kind="appeared") == 1
    finally:
        receiver.stop()


def test_a_permanent_failure_is_counted_never_raised_and_never_logs_the_secret(
        receiver: Receiver, findings: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    receiver.script = [404]
    registry = prometheus_client.CollectorRegistry()
    target = parse_target(f"slack:{receiver.url('/services/' + SLACK_TOKEN)}")

    def broken_runbook(finding: dict[str, Any]) -> str:
        raise RuntimeError("template exploded")

    dispatcher = Dispatcher([target], registry, broken_runbook, delivery=FAST)
    with caplog.at_level(logging.INFO, logger="kubetriage.notify"):
        dispatcher.submit([Change("appeared", findings[0])])
        dispatcher.submit("not a list of changes")  # type: ignore[arg-type]
        dispatcher.close(timeout=20)
    assert [r.status for r in receiver.received] == [404]
    assert "could not be rendered: template exploded" in json.dumps(receiver.received[0].body)
    assert _count(registry, "kubetriage_notifications_failed_total", target="slack", kind="appeared") == 1
    assert _count(registry, "kubetriage_notification_retries_total", target="slack") == 0
    assert "HTTP 404" in caplog.text and SLACK_TOKEN not in caplog.text


def _hostile(findings: list[dict[str, Any]]) -> dict[str, Any]:
    name = "web-<!channel>&<https://evil.example|click here>"
    return {**findings[0], "title": "CNI down for <!here>", "subjects": [f"Pod/shop/{name}"],
            "evidence": [f"pod {name} stuck: ```closed``` <@U123>"], "summary": f"{name} & friends"}


def test_slack_message_is_block_kit_with_cluster_text_escaped(
        receiver: Receiver, findings: list[dict[str, Any]]) -> None:
    registry = prometheus_client.CollectorRegistry()
    dispatcher = Dispatcher([parse_target(f"slack:{receiver.url('/services/' + SLACK_TOKEN)}")], registry,
                            lambda f: "kubectl -n kube-system get ds <name>", cluster="prod<1>", delivery=FAST)
    dispatcher.submit([Change("appeared", _hostile(findings)), Change("resolved", findings[0])])
    dispatcher.close(timeout=20)
    first, resolved = (r.body for r in receiver.delivered)
    assert set(first) == {"text", "blocks"} and isinstance(first["text"], str)
    texts = [first["text"]] + [b["text"]["text"] for b in first["blocks"] if "text" in b] + [
        f["text"] for b in first["blocks"] for f in b.get("fields", [])]
    assert all(b["type"] == "section" for b in first["blocks"])
    assert all(len(t) <= 3000 for t in texts)
    joined = "\n".join(texts)
    for forged in ("<!channel>", "<!here>", "<https://evil", "<@U123>", "prod<1>", "<name>"):
        assert forged not in joined
    assert "web-&lt;!channel&gt;&amp;&lt;https://evil.example|click here&gt;" in joined
    assert "prod&lt;1&gt;" in joined and "get ds &lt;name&gt;" in joined
    assert joined.count("```") == 2  # the evidence's own backticks cannot close its code block
    assert "Resolved" in resolved["text"] and findings[0]["rule_id"] in resolved["text"]


def _check_postable(alerts: Any) -> None:
    """The body Alertmanager's API accepts: its OpenAPI shape, plus what it validates on receipt
    (label names, a label set, start not after end)."""
    schema = json.loads((ROOT / "tests" / "alertmanager_v2_postable_alerts.json").read_text())
    jsonschema.validate(alerts, schema)
    for alert in alerts:
        assert alert["labels"] and all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) for k in alert["labels"])
        starts, ends = (datetime.fromisoformat(alert[k].replace("Z", "+00:00")) for k in ("startsAt", "endsAt"))
        assert starts <= ends


def test_alertmanager_receives_postable_alerts_resent_while_firing_and_resolved(
        receiver: Receiver, outage: tuple[TriageReport, Knowledge], findings: list[dict[str, Any]]) -> None:
    registry = prometheus_client.CollectorRegistry()
    target = parse_target(f"alertmanager:{receiver.url('')}")
    dispatcher = Dispatcher([target], registry, runbook_text(*outage), cluster="fixture",
                            delivery=Delivery(backoff=0.02, resend=timedelta(seconds=0.1)))
    cni = next(f for f in findings if f["rule_id"] == "NET-CNI-001")
    dispatcher.submit([Change("appeared", cni)])
    got = receiver.wait_for(lambda got: len(got) >= 2)  # the alert, then a re-send that keeps it alive
    high = {**cni, "severity": "high"}
    dispatcher.submit([Change("changed", high, "critical"), Change("resolved", high)])
    dispatcher.close(timeout=20)
    got = receiver.delivered
    assert all(r.path == "/api/v2/alerts" for r in got)
    for r in got:
        _check_postable(r.body)
    (alert,) = got[0].body
    assert alert["labels"] == {"alertname": "KubetriageRootCause", "rule_id": "NET-CNI-001",
                               "severity": "critical", "finding_id": cni["id"], "cluster": "fixture"}
    assert alert["annotations"]["summary"] == cni["summary"]
    assert alert["annotations"]["subjects"].split("\n") == cni["subjects"]
    assert "rke2-canal" in alert["annotations"]["runbook"] and alert["annotations"]["evidence"]
    assert datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00")) > datetime.now(timezone.utc)
    refresh = got[1].body
    assert [(a["labels"], a["startsAt"]) for a in refresh] == [(alert["labels"], alert["startsAt"])]
    old, new = next(r.body for r in got if len(r.body) == 2)
    assert (old["labels"]["severity"], new["labels"]["severity"]) == ("critical", "high")
    assert old["startsAt"] == new["startsAt"] == alert["startsAt"] and old["endsAt"] < new["endsAt"]
    (last,) = got[-1].body
    assert last["labels"]["severity"] == "high" and last["startsAt"] == alert["startsAt"]
    assert datetime.fromisoformat(last["endsAt"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    assert _count(registry, "kubetriage_notifications_sent_total", target="alertmanager", kind="refresh") >= 1
