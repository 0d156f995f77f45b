"""Live collection against an API server that misbehaves the ways real ones and the proxies in
front of them do: every fault ends in a finished report with a coverage entry, within the
configured request timeout. The real ``kubernetes`` client talks HTTPS to the fixture."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from kubetriage.collectors.kube import ApiSettings, LiveBundle, _transport_failure, api_client
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage

from .apiserver import FakeApiServer, Fault

NOW = "2026-11-25T10:32:00Z"
TIMEOUT = 10.0  # --request-timeout of every run here: far beyond an answer on a loaded machine
LOGIN_PAGE = b"<html><head><title>Sign in - Corporate SSO</title></head><body>...</body></html>"


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return Knowledge.load()


def _finished(server: FakeApiServer, tmp: Path, knowledge: Knowledge, **settings: Any) -> dict[str, Any]:
    """A live triage run in a thread; it must finish within a bound derived from the request
    timeout (the worst case of one request and its retries, thrice, plus room for a loaded machine)."""
    api, name = api_client(str(server.kubeconfig(tmp / "kubeconfig")), None, in_cluster=False)
    bundle = LiveBundle(api, name, ApiSettings(**{"timeout": TIMEOUT, **settings}))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = triage(bundle, knowledge, resolve_now(bundle, NOW)).as_dict()
        except BaseException as exc:  # re-raised in the test's thread below
            outcome["error"] = exc
        finally:
            bundle.close()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(3 * (3 * 3 * TIMEOUT + 1.5) + 60)
    assert not worker.is_alive(), "live triage did not finish: it hangs"
    if "error" in outcome:
        raise outcome["error"]
    report: dict[str, Any] = outcome["report"]
    return report


def _errors(report: dict[str, Any]) -> dict[str, str]:
    return {e["target"]: e["message"] for e in report["coverage"]["errors"]}


def _requests(server: FakeApiServer, resource: str) -> int:
    """Lists and gets of ``resource`` (not of its subresources such as pods/log)."""
    return len([r for r in server.requests if r.resource == resource and not r.subresource])


def test_a_login_page_instead_of_json_is_a_coverage_error(cluster: FakeApiServer, tmp_path: Path,
                                                          knowledge: Knowledge) -> None:
    cluster.faults["pods"] = Fault(body=LOGIN_PAGE)
    report = _finished(cluster, tmp_path, knowledge)
    message = _errors(report)["pods"]
    assert message.startswith("response is not JSON (Expecting value at byte 0 of 80; it starts '<html><head>")
    assert message.endswith("an HTML page: a proxy or login page in front of the API server?")
    assert "api/pods" in report["coverage"]["missing"]
    assert _requests(cluster, "pods") == 1  # permanent: a proxy will not change its mind
    assert "NET-CNI-001" in {f["rule_id"] for f in report["findings"]}


def test_a_secret_that_is_not_json_is_a_coverage_error(cluster: FakeApiServer, tmp_path: Path,
                                                       knowledge: Knowledge) -> None:
    cluster.faults["secrets"] = Fault(body=LOGIN_PAGE)
    report = _finished(cluster, tmp_path, knowledge)
    assert _errors(report)["secrets/shop/shop-tls"].startswith("response is not JSON (")
    assert "api/secrets" not in report["coverage"]["collected"]
    assert {"rule_id": "NET-ING-006", "missing": ["api/secrets"]} in report["coverage"]["not_evaluated"]


@pytest.mark.parametrize(("fault", "message"), [
    (Fault(cut="truncate"), "connection failed: ('Connection broken: IncompleteRead("),
    (Fault(cut="reset"), "connection failed: ('Connection "),  # 'broken: ConnectionResetError' or 'aborted.'

])
def test_a_body_cut_short_is_retried_then_reported(cluster: FakeApiServer, tmp_path: Path, knowledge: Knowledge,
                                                   fault: Fault, message: str) -> None:
    cluster.faults["services"] = fault
    report = _finished(cluster, tmp_path, knowledge)
    assert _errors(report)["services"].startswith(message)
    assert _requests(cluster, "services") == 3  # 1 + 2 retries
    assert "api/services" in report["coverage"]["missing"]


def test_one_cut_body_is_absorbed_by_a_retry(cluster: FakeApiServer, tmp_path: Path, knowledge: Knowledge) -> None:
    cluster.faults["services"] = Fault(cut="reset", times=1)
    report = _finished(cluster, tmp_path, knowledge)
    assert report["coverage"]["errors"] == []
    assert "api/services" in report["coverage"]["collected"]


def test_a_page_that_never_ends_is_cut_off_at_the_request_timeout(cluster: FakeApiServer, tmp_path: Path,
                                                                  knowledge: Knowledge) -> None:
    cluster.faults["ingresses"] = Fault(cut="drip")
    report = _finished(cluster, tmp_path, knowledge)
    assert _errors(report)["ingresses"] == "response not complete after 10s (the body never ended)"
    assert _requests(cluster, "ingresses") == 1
    assert "api/ingresses" in report["coverage"]["missing"]


def test_429_retry_after_is_honoured(cluster: FakeApiServer, tmp_path: Path, knowledge: Knowledge) -> None:
    cluster.faults["daemonsets"] = Fault(status=429, retry_after="1", times=1)
    report = _finished(cluster, tmp_path, knowledge)
    assert report["coverage"]["errors"] == []
    first, second = [r.at for r in cluster.requests if r.resource == "daemonsets"]
    assert second - first >= 1.0


def test_429_asking_for_longer_than_the_timeout_is_reported_at_once(cluster: FakeApiServer, tmp_path: Path,
                                                                     knowledge: Knowledge) -> None:
    cluster.faults["daemonsets"] = Fault(status=429, retry_after="3600")
    report = _finished(cluster, tmp_path, knowledge)
    assert _errors(report) == {"daemonsets": "too many requests: injected 429 (the server asks to retry after "
                                             "3600s, more than the 10s request timeout)"}
    assert _requests(cluster, "daemonsets") == 1


def test_a_continue_token_that_always_expires_restarts_a_bounded_number_of_times(
        cluster: FakeApiServer, tmp_path: Path, knowledge: Knowledge) -> None:
    cluster.faults["pods"] = Fault(status=410, on_continue=True)
    report = _finished(cluster, tmp_path, knowledge, chunk_size=4)
    assert _errors(report) == {"pods": "gone (list expired): injected 410 (the list expired 3 times)"}
    assert _requests(cluster, "pods") == 6  # (first page + expired continue) x 3
    assert "api/pods" in report["coverage"]["missing"]


def test_a_server_without_watch_or_paging_serves_everything(cluster: FakeApiServer, tmp_path: Path,
                                                            knowledge: Knowledge) -> None:
    normal = _finished(cluster, tmp_path, knowledge)
    cluster.paging = False
    cluster.requests.clear()
    plain = _finished(cluster, tmp_path, knowledge, chunk_size=2)
    assert plain["coverage"]["errors"] == []
    assert {r.verb for r in cluster.requests} == {"list", "get"}
    assert _requests(cluster, "pods") == 1  # limit ignored: one answer, no continue
    assert plain["findings"] == normal["findings"]


def test_a_failing_list_worker_hands_its_bug_to_the_reader(cluster: FakeApiServer, tmp_path: Path,
                                                           knowledge: Knowledge,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: LiveBundle, resource: str) -> Iterator[list[Any]]:
        raise RuntimeError(f"bug while listing {resource}")
        yield []

    monkeypatch.setattr(LiveBundle, "_pages", broken)
    with pytest.raises(RuntimeError, match="bug while listing nodes"):
        _finished(cluster, tmp_path, knowledge)


def test_a_refused_connection_is_cannot_connect_and_may_be_retried() -> None:
    """urllib3 2 derives NewConnectionError from ConnectTimeoutError: a refused connection must
    not read as a permanent 'timed out'."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(urllib3.exceptions.HTTPError) as raised:
        urllib3.PoolManager(retries=False).request("GET", f"http://127.0.0.1:{port}/", timeout=TIMEOUT)
    failure = _transport_failure(raised.value, TIMEOUT)
    assert str(failure).startswith("cannot connect: ") and not failure.permanent
