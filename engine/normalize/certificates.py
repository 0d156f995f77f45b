"""TLS certificates from the ``tls.crt`` of referenced Secrets; ``tls.key`` is never read."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from cryptography import x509

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import meta, rfc3339
from kubetriage.normalize.scope import Scope


def certificate_facts(
    objects: Iterable[dict[str, Any]], scope: Scope, found: set[tuple[str, str]]
) -> Iterator[dict[str, Any]]:
    """Leaf certificate facts; ``found`` collects the secrets that hold a parsable one."""
    for obj in objects:
        key = meta(obj)
        if key not in scope.tls_refs:
            continue
        encoded = (obj.get("data") or {}).get("tls.crt")
        if not encoded:
            continue
        leaf = _leaf(str(encoded))
        if leaf is None:
            continue
        found.add(key)
        fact = certificate_fact(leaf, key[0], key[1], scope.now)
        scope.cert_sans[key] = fact["sans"]
        scope.cert_leaves[key] = leaf
        yield fact


def _leaf(encoded: str) -> x509.Certificate | None:
    try:
        chain = x509.load_pem_x509_certificates(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return None
    return chain[0] if chain else None


def certificate_fact(cert: x509.Certificate, namespace: str, name: str, now: datetime) -> dict[str, Any]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        sans = []
    not_after = cert.not_valid_after_utc
    return CATALOG["tls_certificate"].make(
        namespace=namespace, secret_name=name,
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        not_before=rfc3339(cert.not_valid_before_utc), not_after=rfc3339(not_after),
        days_left=int((not_after - now).total_seconds() / 86400), expired=not_after < now,
        self_signed=cert.issuer == cert.subject, sans=sans,
    )
