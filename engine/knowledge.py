"""The knowledge base of a run: rules, signatures and runbooks, built-in plus the user's."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubetriage.compiler import check_engine_limits, compile_rules
from kubetriage.errors import KubetriageError, ValidationError
from kubetriage.normalize.signatures import SignatureCatalog
from kubetriage.rulefile import Rule, load_rules
from kubetriage.runbook import Runbook, check_runbook_inputs, load_runbooks


@dataclass
class Knowledge:
    rules: list[Rule]
    signatures: SignatureCatalog
    runbooks: dict[str, Runbook]

    @classmethod
    def load(cls, rule_dirs: Sequence[Path] = (), disabled: Sequence[str] = (),
             runbook_dirs: Sequence[Path] = (), severity: dict[str, str] | None = None) -> Knowledge:
        """Load and validate everything; user directories may add runbooks and signatures.
        ``severity`` overrides a rule's severity by id (from the config file)."""
        try:
            runbooks = load_runbooks([d / "runbooks" for d in rule_dirs if (d / "runbooks").is_dir()]
                                     + list(runbook_dirs))
        except ValidationError as broken:  # report the rules' problems with the runbooks'
            try:
                load_rules(rule_dirs)
            except ValidationError as more:
                raise ValidationError(broken.problems + more.problems) from None
            raise
        rules = load_rules(rule_dirs, runbook_ids=runbooks)
        rules = [dataclasses.replace(r, severity=(severity or {}).get(r.id, r.severity)) for r in rules]
        problems = check_engine_limits(compile_rules(rules))
        for rule in rules:
            if rule.runbook in runbooks:  # a missing one is reported by load_rules
                problems += check_runbook_inputs(runbooks[rule.runbook], rule)
        if problems:
            raise ValidationError(problems)
        return cls(rules, SignatureCatalog.load(rule_dirs), runbooks).without(disabled)

    def without(self, disabled: Sequence[str]) -> Knowledge:
        """The same knowledge minus some rules; naming a rule that does not exist is an error."""
        unknown = sorted(set(disabled) - {r.id for r in self.rules})
        if unknown:
            raise KubetriageError(f"--disable names unknown rule ids: {', '.join(unknown)}")
        return dataclasses.replace(self, rules=[r for r in self.rules if r.id not in set(disabled)])
