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
