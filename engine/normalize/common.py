"""Small pure helpers shared by the normalizers."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, timezone
from typing import Any

_MAX_TEXT = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ISO_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_KLOG_PREFIX = re.compile(r"^(?:\S+\s+\S+\s+\S+\[\d+\]:\s+)?[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_SYSLOG_PREFIX = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clip(text: str, limit: int = _MAX_TEXT) -> str:
    """One printable line of at most ``limit`` characters (control characters become '?': log
    lines and messages are untrusted). The middle goes: a log line's prefix says who and when,
    its end says what failed."""
    flat = _CONTROL.sub("?", " ".join(str(text).split()))
    if len(flat) <= limit:
        return flat
    head = limit // 4
    return flat[:head] + " … " + flat[len(flat) - (limit - head - 3):]


def parse_time(value: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp(value: Any) -> str:
    """An API timestamp as RFC 3339 UTC, or '' when absent or malformed."""
    moment = parse_time(str(value or ""))
    return rfc3339(moment) if moment else ""


def line_time(line: str, now: datetime) -> str:
    """The timestamp a log line starts with (journald short-iso, syslog or klog), RFC 3339, or ''.
    Syslog and klog stamps have no year or zone: UTC, in the latest year that does not put the
    line after ``now`` (a journal read in January holds December's lines)."""
    iso = _ISO_PREFIX.match(line)
    if iso:
        return timestamp(iso.group(1))
    syslog = _SYSLOG_PREFIX.match(line)
    if syslog:
        month, *rest = syslog.groups()
        return _yearless(now, _MONTHS.index(month) + 1, *map(int, rest))
    klog = _KLOG_PREFIX.match(line)
    if klog:
        return _yearless(now, *map(int, klog.groups()))
    return ""


def _yearless(now: datetime, month: int, day: int, hour: int, minute: int, second: int) -> str:
    for year in (now.year, now.year - 1):
        try:
            moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:  # 29 February of another year, or no such date
            continue
        if moment <= now + timedelta(days=1):  # a day of slack for nodes whose clock runs ahead
            return rfc3339(moment)
    return ""


def pod_ip_capacity(cidr: str) -> int:
    """Usable pod IPs in a node podCIDR: network, broadcast and gateway excluded."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return 0
    reserved = 3 if net.version == 4 else 2
    return max(min(net.num_addresses, 1 << 20) - reserved, 0)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """The status condition of type ``kind``, or {}."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def meta(obj: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object."""
    md = obj.get("metadata") or {}
    return str(md.get("namespace") or ""), str(md.get("name") or "")


def controller_owner(obj: dict[str, Any]) -> tuple[str, str]:
    """(kind, name) of the controlling owner reference, or ('', '')."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    for ref in refs:
        if ref.get("controller"):
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    if refs:
        return str(refs[0].get("kind", "")), str(refs[0].get("name", ""))
    return "", ""
