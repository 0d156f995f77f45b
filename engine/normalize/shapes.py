"""The shape of what the normalizers read, checked once per object before they see it.

Normalizers read Kubernetes objects as plain dicts and trust the types of the
fields they read. An object that breaks that trust (``status`` a list,
``restartCount: "lots"``, a podIP ``999.1.1.1/xx``, a name with a space or an
escape sequence) is skipped here with a located coverage error naming the
field, and the triage goes on: one guard at the boundary instead of checks
sprinkled through every normalizer. Only fields a normalizer reads are
declared, and a normalizer that starts reading a field declares it here.
A field that is absent or null is always acceptable (normalizers default it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from kubetriage.bundle import CollectionError, ItemErrors


@dataclass(frozen=True)
class Check:
    """A scalar shape: what it is called in a message, and the test."""

    name: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class MapOf:
    """A mapping with any keys whose values all have one shape (labels, annotations)."""

    values: Shape


Shape: TypeAlias = Check | MapOf | dict[str, "Shape"] | list["Shape"]


def _is_ip(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return not value or bool(ipaddress.ip_address(value))
    except ValueError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


_NAME = re.compile(r"[^\s/]{0,253}")

ANY = Check("anything", lambda v: True)
STR = Check("a string", lambda v: isinstance(v, str))
BOOL = Check("a boolean", lambda v: isinstance(v, bool))
INT = Check("an integer", _is_int)
INT_OR_STR = Check("an integer or a string", lambda v: isinstance(v, str) or _is_int(v))
#: An object name as Kind/namespace/name subjects need it: no whitespace, no '/', printable.
NAME = Check("a name (no spaces, '/' or control characters)",
             lambda v: isinstance(v, str) and _NAME.fullmatch(v) is not None and v.isprintable())
IP = Check("an IP address", _is_ip)
LABELS = MapOf(STR)

_CONDITIONS: Shape = [{"type": STR, "status": STR, "reason": STR, "message": STR,
                "lastTransitionTime": STR, "lastHeartbeatTime": STR}]
_META: Shape = {"name": NAME, "namespace": NAME, "labels": LABELS, "annotations": LABELS,
         "creationTimestamp": STR, "ownerReferences": [{"kind": STR, "name": NAME, "controller": BOOL}]}
_CONTAINERS: Shape = [{"name": STR, "image": STR, "ports": [{"name": STR}]}]
_CONTAINER_STATUSES: Shape = [{"restartCount": INT, "state": {"waiting": {"reason": STR, "message": STR}}}]
_WORKLOAD: Shape = {"metadata": _META,
             "spec": {"replicas": INT, "template": {"spec": {"containers": _CONTAINERS}}},
             "status": {k: INT for k in ("desiredNumberScheduled", "numberReady", "numberAvailable",
                                         "readyReplicas", "availableReplicas")}}
_BACKEND: Shape = {"service": {"name": NAME, "port": {"number": INT, "name": STR}}}
_SELECTOR: Shape = {"matchLabels": LABELS, "matchExpressions": [ANY]}
_REFERENCE: Shape = {"kind": STR, "namespace": NAME, "name": NAME}

#: Per resource: the fields normalizers read and their shapes.
SHAPES: dict[str, Shape] = {
    "nodes": {"metadata": _META,
              "spec": {"podCIDR": STR, "unschedulable": BOOL, "providerID": STR},
              "status": {"conditions": _CONDITIONS, "addresses": [{"type": STR, "address": STR}],
                         "nodeInfo": {"kubeletVersion": STR}}},
    "pods": {"metadata": _META,
             "spec": {"nodeName": NAME, "hostNetwork": BOOL, "containers": _CONTAINERS},
             "status": {"phase": STR, "podIP": IP, "conditions": _CONDITIONS,
                        "containerStatuses": _CONTAINER_STATUSES,
                        "initContainerStatuses": _CONTAINER_STATUSES}},
    "services": {"metadata": _META,
                 "spec": {"type": STR, "selector": LABELS, "loadBalancerClass": STR,
                          "ports": [{"name": STR, "port": INT, "protocol": STR, "targetPort": INT_OR_STR}]},
                 "status": {"loadBalancer": {"ingress": [{"ip": STR, "hostname": STR}]}}},
    "daemonsets": _WORKLOAD,
    "deployments": _WORKLOAD,
    "endpointslices": {"metadata": _META,
                       "endpoints": [{"addresses": [STR], "conditions": {"ready": BOOL}}]},
    "endpoints": {"metadata": _META, "subsets": [{"addresses": [ANY], "notReadyAddresses": [ANY]}]},
    "ingressclasses": {"metadata": _META},
    "ingresses": {"metadata": _META,
                  "spec": {"ingressClassName": STR, "defaultBackend": _BACKEND, "backend": _BACKEND,
                           "rules": [{"host": STR, "http": {"paths": [{"path": STR, "backend": _BACKEND}]}}],
                           "tls": [{"secretName": NAME, "hosts": [STR]}]}},
    "secrets": {"metadata": _META, "data": {"tls.crt": STR}},
    "events": {"metadata": _META, "type": STR, "reason": STR, "message": STR, "note": STR, "count": INT,
               "involvedObject": _REFERENCE, "regarding": _REFERENCE,
               "series": {"count": INT, "lastObservedTime": STR}, "source": {"host": STR},
               "reportingInstance": STR, "lastTimestamp": STR, "eventTime": STR, "firstTimestamp": STR},
    "networkpolicies": {"metadata": _META,
                        "spec": {"podSelector": _SELECTOR, "policyTypes": [STR],
                                 "ingress": [{"from": [{"ipBlock": ANY, "namespaceSelector": _SELECTOR,
                                                        "podSelector": _SELECTOR}]}]}},
}


def misfit(resource: str, obj: Any) -> str:
    """Where ``obj`` does not have the shape normalizers expect of a ``resource`` ('' when it does):
    'status.containerStatuses[0].restartCount: expected an integer, found the string "lots"'."""
    if not isinstance(obj, dict):
        return f"expected an object, found {_found(obj)}"
    wrong = _CHECKERS.get(resource, _CHECK_DEFAULT)(obj)
    if wrong is None:
        return ""
    return f"{''.join(reversed(wrong.path)).lstrip('.')}: expected {wrong.expected}, found {_found(wrong.value)}"


@dataclass
class _Wrong:
    expected: str
    value: Any
    path: list[str]  # innermost first: appended while unwinding, joined only for the message


_Checker = Callable[[Any], "_Wrong | None"]


def _compile(shape: Shape) -> _Checker:
    """A checker for ``shape``; the path of a fault is built only when there is one."""
    if isinstance(shape, dict):
        fields = [(key, _compile(sub)) for key, sub in shape.items()]

        def mapping(value: Any) -> _Wrong | None:
            if not isinstance(value, dict):
                return _Wrong("a mapping", value, [])
            for key, check in fields:
                found = value.get(key)
                wrong = None if found is None else check(found)
                if wrong is not None:
                    wrong.path.append(f".{key}")
                    return wrong
            return None
        return mapping
    if isinstance(shape, (list, MapOf)):
        check = _compile(shape[0] if isinstance(shape, list) else shape.values)
        expected, container = ("a list", list) if isinstance(shape, list) else ("a mapping", dict)

        def items(value: Any) -> _Wrong | None:
            if not isinstance(value, container):
                return _Wrong(expected, value, [])
            for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
                wrong = check(item)
                if wrong is not None:
                    wrong.path.append(f"[{key!a}]")
                    return wrong
            return None
        return items
    test, name = shape.test, shape.name
    return lambda value: None if test(value) else _Wrong(name, value, [])


_CHECKERS = {resource: _compile(shape) for resource, shape in SHAPES.items()}
_CHECK_DEFAULT = _compile({"metadata": _META})


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    kind = {str: "string", bool: "boolean"}.get(type(value), "number")
    huge = isinstance(value, int) and value.bit_length() > 64
    text = "(very large)" if huge else ascii(value) if isinstance(value, str) else repr(value)
    return f"the {kind} {text[:60]}" + ("…" if len(text) > 60 else "")


def checked(objects: Iterable[Any], resource: str, errors: list[CollectionError]) -> Iterator[dict[str, Any]]:
    """The objects that fit the shape of ``resource``; each other one is a located error in ``errors``."""
    skipped = ItemErrors(errors, "api", f"api/{resource}")
    try:
        for index, obj in enumerate(objects):
            problem = misfit(resource, obj)
            if problem:
                skipped.add(f"item {index}{_who(obj)}: {problem}: object skipped")
            else:
                yield obj
    finally:
        skipped.close()


def _who(obj: Any) -> str:
    md = obj.get("metadata") if isinstance(obj, dict) else None
    parts = [md.get(k) for k in ("namespace", "name")] if isinstance(md, dict) else []
    named = "/".join(p for p in parts if isinstance(p, str) and p)
    return f" ({ascii(named)[1:-1][:120]})" if named else ""
