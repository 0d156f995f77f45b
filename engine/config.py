"""``kubetriage.yaml``: a team's rule directories, overrides, thresholds and exclusions.

Looked up as ``--config FILE``, then ``./kubetriage.yaml``, then
``~/.config/kubetriage/kubetriage.yaml``. Validated strictly like rules (schema
``config.v1.json``, located errors); every value remembers where it came from,
which ``kubetriage config show`` prints.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetriage.errors import Problem, ValidationError
from kubetriage.normalize.currency import DEFAULT_WINDOW_MINUTES, EvidenceWindow
from kubetriage.schema import check as check_schema
from kubetriage.yamlsource import LocatedDoc, load_located

CONFIG_NAME = "kubetriage.yaml"
#: Named thresholds -> the rule param they set (in every rule that declares it).
THRESHOLD_PARAMS = {"ip_use_percent": "ip_use_percent", "cert_warning_days": "warning_days"}


def search_path() -> list[Path]:
    return [Path.cwd() / CONFIG_NAME, Path("~/.config/kubetriage").expanduser() / CONFIG_NAME]


@dataclass(frozen=True)
class Exclusion:
    """Suppress findings about a namespace or one object; the reason is kept in the report."""

    namespace: str
    subject: str
    rules: tuple[str, ...]
    reason: str

    def matches(self, rule_id: str, subjects: Sequence[str]) -> bool:
        """A finding matches by its primary subject (the first one: what it is about)."""
        if not subjects or (self.rules and rule_id not in self.rules):
            return False
        primary = subjects[0]
        if self.subject:
            return primary == self.subject
        parts = primary.split("/")
        return len(parts) == 3 and parts[1] == self.namespace


@dataclass
class Config:
    path: Path | None = None
    rule_dirs: list[Path] = field(default_factory=list)
    runbook_dirs: list[Path] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    exclude: list[Exclusion] = field(default_factory=list)
    ssh: dict[str, Any] = field(default_factory=dict)
    window: EvidenceWindow = field(default_factory=EvidenceWindow)
    origins: dict[str, str] = field(default_factory=dict)
    doc: LocatedDoc | None = None

    def rule_params(self, declared: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per-rule param overrides: thresholds for every rule declaring that param, then
        explicit ``params``. ``declared``: rule id -> its params with defaults."""
        out: dict[str, dict[str, Any]] = {}
        for rule_id, defaults in declared.items():
            for threshold, param in THRESHOLD_PARAMS.items():
                if threshold in self.thresholds and param in defaults:
                    out.setdefault(rule_id, {})[param] = self.thresholds[threshold]
            out.setdefault(rule_id, {}).update(self.params.get(rule_id, {}))
        return {k: v for k, v in out.items() if v}

    def check_against(self, declared: dict[str, dict[str, Any]], signatures: Collection[str] = ()
                      ) -> list[Problem]:
        """Overrides must name rules, params and signatures that exist, with values of the default's type."""
        if self.doc is None:
            return []
        problems = [self.doc.problem("E140", f"evidence_window: no signature {sig!r}",
                                     ("evidence_window", "signatures", sig), key=True)
                    for sig in self.window.signatures if sig not in signatures]
        for section in ("severity", "params"):
            for rule_id in getattr(self, section):
                if rule_id not in declared:
                    problems.append(self.doc.problem("E140", f"{section}: no rule {rule_id!r}", (section, rule_id),
                                                     key=True))
        for i, rule_id in enumerate(self.disable):
            if rule_id not in declared:
                problems.append(self.doc.problem("E140", f"disable: no rule {rule_id!r}", ("disable", i)))
        for rule_id, values in self.params.items():
            for name, value in values.items():
                defaults = declared.get(rule_id, {})
                if rule_id in declared and name not in defaults:
                    problems.append(self.doc.problem(
                        "E140", f"params: {rule_id} has no param {name!r} (has: {', '.join(defaults) or 'none'})",
                        ("params", rule_id, name), key=True))
                elif name in defaults and type(value) is not type(defaults[name]):
                    problems.append(self.doc.problem(
                        "E140", f"params: {rule_id}.{name} must be {type(defaults[name]).__name__}",
                        ("params", rule_id, name)))
        return problems


def load_config(explicit: Path | None = None) -> Config:
    """The effective config: the explicit file, else the first one found, else defaults."""
    path = explicit or next((p for p in search_path() if p.is_file()), None)
    if path is None:
        return Config()
    problems: list[Problem] = []
    doc = load_located(path, problems)
    if doc is not None:
        problems += check_schema(doc, "config", "E140")
    if problems or doc is None:
        raise ValidationError(problems)
    v: dict[str, Any] = doc.value or {}
    here = path.parent

    def origin(key: str) -> str:
        line, _ = doc.locate((key,), key=True)
        return f"{path}:{line}"

    config = Config(
        path=path, doc=doc,
        rule_dirs=[(here / d).resolve() for d in v.get("rules", [])],
        runbook_dirs=[(here / d).resolve() for d in v.get("runbooks", [])],
        disable=list(v.get("disable", [])), severity=dict(v.get("severity", {})),
        params={k: dict(p) for k, p in v.get("params", {}).items()}, thresholds=dict(v.get("thresholds", {})),
        exclude=[Exclusion(e.get("namespace", ""), e.get("subject", ""), tuple(e.get("rules", [])), e["reason"])
                 for e in v.get("exclude", [])],
        ssh={k: (str(here / Path(val).expanduser()) if k in ("key", "known_hosts", "inventory") else val)
             for k, val in v.get("ssh", {}).items()},
        window=EvidenceWindow(int(v.get("evidence_window", {}).get("minutes", DEFAULT_WINDOW_MINUTES)),
                              dict(v.get("evidence_window", {}).get("signatures", {}))),
        origins={key: origin(key) for key in v},
    )
    return config
