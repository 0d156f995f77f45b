"""Every signature matches its real-world lines and none of its near misses."""

from __future__ import annotations

import pytest

from kubetriage.normalize.signatures import SignatureCatalog

CATALOG = SignatureCatalog.load()
EXAMPLES = [
    pytest.param(sig.id, line, expect, id=f"{sig.id}-{'match' if expect else 'no_match'}-{i}")
    for sig in CATALOG.signatures
    for expect, lines in ((True, sig.match_examples), (False, sig.no_match_examples))
    for i, line in enumerate(lines)
]


def test_every_signature_has_examples_both_ways() -> None:
    for sig in CATALOG.signatures:
        assert sig.match_examples and sig.no_match_examples, sig.id
        assert sig.references, sig.id


@pytest.mark.parametrize(("signature", "line", "expect"), EXAMPLES)
def test_signature_examples(signature: str, line: str, expect: bool) -> None:
    assert (signature in CATALOG.classify(line)) is expect


def test_specific_signature_wins_over_the_catch_all() -> None:
    line = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for '
            'sandbox "a1": plugin type="flannel" failed (add): failed to allocate for range 0: '
            'no IP addresses available in range set: 10.42.1.1-10.42.1.254')
    assert CATALOG.classify(line) == ["ip-range-exhausted"]
    assert CATALOG.cni_of(line) == "flannel"
    unknown = 'failed to setup network for sandbox "b2": plugin type="calico" failed (add): brand new error'
    assert CATALOG.classify(unknown) == ["sandbox-network-setup-failed"]


def test_klog_structured_line_with_escaped_quotes() -> None:
    line = (r'E1125 10:31:02.1 1187 kubelet.go:2855] \"Failed to create sandbox\" err=\"plugin '
            r'type=\"calico\" failed (add): stat /var/lib/calico/nodename: no such file or directory\"')
    assert CATALOG.classify(line) == ["calico-node-not-running"]
    assert CATALOG.cni_of(line) == "calico"


@pytest.mark.parametrize(("line", "named"), [
    ('W1104 16:56:04.503448       7 controller.go:1270] Error getting SSL certificate "prod/grafana-tls": local SSL '
     'certificate prod/grafana-tls was not found. Using default certificate', ("Secret", "prod", "grafana-tls")),
    ("using default certificate due to an error reading secret 'ms-some-service-cert' on ingress "
     "'default/ms-some-service': secret \"ms-some-service-cert\" not found",
     ("Secret", "default", "ms-some-service-cert")),
    ('time="2022-03-01T09:48:49Z" level=error msg="Skipping service: no endpoints found" providerName=kubernetes '
     'ingress=vscode serviceName=vscode servicePort="&ServiceBackendPort{Name:,Number:80,}" namespace=default',
     ("Service", "default", "vscode")),
    ('{"caller":"service.go:143","error":"no available IPs","level":"error","msg":"IP allocation failed",'
     '"op":"allocateIPs","ts":"2025-04-28T14:11:38Z"}', ("", "", "")),
])
def test_controller_lines_name_their_object(line: str, named: tuple[str, str, str]) -> None:
    (signature,) = CATALOG.classify(line)
    assert CATALOG.named_object(signature, line) == named
