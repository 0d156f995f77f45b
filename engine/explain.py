"""`kubetriage rules explain`: why a rule fired, or which condition stopped it, for which facts.

Each pattern is replayed in order over the fact base: its candidates (facts of its
kind), the first condition each candidate failed (with the value it had), and, for
patterns that join earlier ones, whether any candidate found a partner. Conditions
are evaluated by the same compiled form and oracle as the rule tests, so the
explanation cannot drift from what the engine does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubetriage.compiler import condition_json
from kubetriage.engine_oracle import matches
from kubetriage.rulefile import Condition, Pattern, Ref, Rule

Fact = dict[str, Any]
_LABEL_FIELDS = ("namespace", "name", "ingress", "service", "secret_name", "node", "network", "signature", "source")


def describe(c: Condition) -> str:
    if isinstance(c.value, Ref):
        return f"{c.field} {c.op} {c.value.alias}.{c.value.field}"
    if isinstance(c.value, tuple):
        op = {"eq": "in", "neq": "not_in"}.get(c.op, f"{c.op} any of")
        return f"{c.field} {op} {list(c.value)}"
    return f"{c.field} {c.op} {c.value!r}"


def label(fact: Fact) -> str:
    return "/".join(str(fact[k]) for k in _LABEL_FIELDS if fact.get(k) not in (None, "")) or fact["kind"]


@dataclass
class PatternTrace:
    pattern: Pattern
    candidates: int = 0
    passed: int = 0
    failed_by: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    join_note: str = ""

    def lines(self) -> list[str]:
        p = self.pattern
        tag = " (optional)" if p.optional else ""
        out = [f"  {p.alias} ({p.fact}){tag}: {self.candidates} candidate(s), {self.passed} passed"]
        out += [f"    ✗ {count} failed `{cond}`" for cond, count in self.failed_by.most_common()]
        out += [f"      e.g. {example}" for example in self.examples]
        if self.join_note:
            out.append(f"    ⨯ {self.join_note}")
        return out


@dataclass
class AlternativeTrace:
    name: str
    patterns: list[PatternTrace]
    firings: int

    def lines(self) -> list[str]:
        head = f"alternative {self.name}" if self.name else "match"
        verdict = f"fires {self.firings} time(s)" if self.firings else "does not fire"
        return [f"{head}: {verdict}"] + [line for p in self.patterns for line in p.lines()]


def explain(rule: Rule, facts: list[Fact], params: dict[str, Any] | None = None) -> list[AlternativeTrace]:
    values = {**rule.params, **(params or {})}
    return [_alternative(alt.name, alt.patterns, facts, values) for alt in rule.alternatives]


def _alternative(name: str, patterns: tuple[Pattern, ...], facts: list[Fact],
                 params: dict[str, Any]) -> AlternativeTrace:
    bindings: list[dict[str, Fact]] = [{}]
    traces = []
    for pattern in patterns:
        trace = PatternTrace(pattern)
        local = [c for c in pattern.conditions if not _is_join(c)]
        joins = [c for c in pattern.conditions if _is_join(c)]
        passing = []
        for fact in (f for f in facts if f["kind"] == pattern.fact):
            trace.candidates += 1
            failed = next((c for c in local if not matches(condition_json(c, params), fact, {})), None)
            if failed is None:
                passing.append(fact)
                continue
            trace.failed_by[describe(failed)] += 1
            if len(trace.examples) < 3:
                trace.examples.append(f"{label(fact)}: {failed.field}={fact.get(failed.field)!r}")
        trace.passed = len(passing)
        joined = [{**b, pattern.alias: f} for b in bindings for f in passing
                  if all(f is not other for other in b.values())
                  and all(matches(condition_json(c, params), f, b) for c in joins)]
        if joins and passing and not joined:
            wanted = ", ".join(describe(c) for c in joins)
            trace.join_note = f"no candidate joins an earlier match ({wanted})"
        traces.append(trace)
        if not pattern.optional:
            bindings = joined
    return AlternativeTrace(name, traces, len(bindings))


def _is_join(c: Condition) -> bool:
    return isinstance(c.value, Ref) and c.value.alias != "self"
