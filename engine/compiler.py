"""Compile validated rules to durable_rules JSON, the engine-neutral form both evaluators run.

A rule becomes one durable rule per *variant*: for each alternative, its
required patterns alone, plus the required patterns with each optional one.
Firings of all variants are grouped in Python, so an optional pattern only
enriches a finding and never decides whether it exists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from kubetriage.errors import Problem
from kubetriage.rulefile import Alternative, Condition, Pattern, Ref, Rule

#: Characters durable's pattern dialect treats specially; escaped with '%'.
_SPECIAL = set(".|?*+()[]{}%")
#: durable_rules fails once more than 64 sibling tests can be true for one fact.
MAX_PATTERNS_PER_KIND = 64


@dataclass(frozen=True)
class Variant:
    """One durable rule: which rule and alternative it came from, and its JSON."""

    name: str
    rule_id: str
    alternative: str
    aliases: tuple[str, ...]
    json: dict[str, Any]


def escape(text: str) -> str:
    """Escape a literal for durable's anchored ``$mt`` dialect."""
    return "".join(f"%{ch}" if ch in _SPECIAL else ch for ch in text)


def compile_rules(rules: list[Rule], params: dict[str, dict[str, Any]] | None = None
                  ) -> list[Variant]:
    """All variants of all rules; ``params`` overrides rule params by rule id."""
    out = []
    for rule in rules:
        values = {**rule.params, **(params or {}).get(rule.id, {})}
        for alt in rule.alternatives:
            for index, patterns in enumerate(_variants(alt)):
                suffix = f"{alt.name or 'main'}.{index}"
                out.append(Variant(
                    name=f"{rule.id}#{suffix}",
                    rule_id=rule.id,
                    alternative=alt.name,
                    aliases=tuple(p.alias for p in patterns),
                    json={"all": [{p.alias: _pattern(p, values)} for p in patterns]},
                ))
    return out


def check_engine_limits(variants: list[Variant]) -> list[Problem]:
    """Engine limits a ruleset can hit only in aggregate (see MAX_PATTERNS_PER_KIND)."""
    distinct: Counter[str] = Counter()
    seen = set()
    for v in variants:
        for entry in v.json["all"]:
            (cond,) = entry.values()
            key = repr(cond)
            if key not in seen:
                seen.add(key)
                distinct[cond["$and"][0]["kind"]] += 1
    return [
        Problem("<ruleset>", 1, 1, "E110",
                f"{count} distinct patterns on fact kind {kind!r} exceed the engine limit "
                f"of {MAX_PATTERNS_PER_KIND}")
        for kind, count in sorted(distinct.items()) if count > MAX_PATTERNS_PER_KIND
    ]


def _variants(alt: Alternative) -> list[tuple[Pattern, ...]]:
    required = alt.required
    optional = [p for p in alt.patterns if p.optional]
    return [required] + [
        tuple(p for p in alt.patterns if not p.optional or p is extra) for extra in optional
    ]


def _pattern(pattern: Pattern, params: dict[str, Any]) -> dict[str, Any]:
    tests: list[dict[str, Any]] = [{"kind": pattern.fact}]
    tests += [condition_json(c, params) for c in pattern.conditions]
    return {"$and": tests}


def condition_json(c: Condition, params: dict[str, Any]) -> dict[str, Any]:
    """One condition in durable JSON (also what `rules explain` evaluates)."""
    value = params[c.param] if c.param else c.value
    if isinstance(value, Ref):
        rvalue: dict[str, str] = {"$m": value.field} if value.alias == "self" else {value.alias: value.field}
        return {c.field: rvalue} if c.op == "eq" else {f"${c.op}": {c.field: rvalue}}
    if c.op == "in":
        return _any([{c.field: v} for v in value])
    if c.op == "not_in":
        return _all([{"$neq": {c.field: v}} for v in value])
    values = value if isinstance(value, tuple) else (value,)
    return _any([_single(c.field, c.op, v) for v in values])


def _single(field: str, op: str, value: Any) -> dict[str, Any]:
    if op == "eq":
        return {field: value}
    if op in ("contains", "icontains"):
        pattern = f".*{escape(value)}.*"
    elif op == "startswith":
        pattern = f"{escape(value)}.*"
    elif op == "endswith":
        pattern = f".*{escape(value)}"
    else:
        return {f"${op}": {field: value}}
    return {"$imt" if op == "icontains" else "$mt": {field: pattern}}


def _any(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return tests[0] if len(tests) == 1 else {"$or": tests}


def _all(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return tests[0] if len(tests) == 1 else {"$and": tests}
