"""A plain-Python interpreter of the compiled rule JSON: the test oracle for durable_rules.

It implements exactly the subset the compiler emits, with durable's semantics:
``$mt`` is anchored, ``$imt`` folds ASCII case only, a fact fills at most one
slot of a firing, and every combination of facts is a firing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from kubetriage.compiler import Variant
from kubetriage.evaluation import Firing

Fact = dict[str, Any]
_ORDER = {"$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
          "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
          "$neq": lambda a, b: a != b}


@lru_cache(maxsize=1024)
def _regex(pattern: str, fold: bool) -> re.Pattern[str]:
    """Translate the compiler's dialect ('.*' wildcards, '%x' escapes) to Python."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith(".*", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "%":
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.S | (re.I | re.A if fold else 0))


def _value(rvalue: Any, fact: Fact, bound: dict[str, Fact]) -> Any:
    if isinstance(rvalue, dict):
        ((alias, field),) = rvalue.items()
        return fact.get(field) if alias == "$m" else bound[alias].get(field)
    return rvalue


def matches(cond: dict[str, Any], fact: Fact, bound: dict[str, Fact]) -> bool:
    """Whether ``fact`` satisfies a compiled condition, given the facts bound so far."""
    ((op, body),) = cond.items()
    if op == "$and":
        return all(matches(c, fact, bound) for c in body)
    if op == "$or":
        return any(matches(c, fact, bound) for c in body)
    if op in ("$mt", "$imt"):
        ((field, pattern),) = body.items()
        value = fact.get(field)
        return isinstance(value, str) and bool(_regex(pattern, op == "$imt").fullmatch(value))
    if op in _ORDER:
        ((field, rvalue),) = body.items()
        left, right = fact.get(field), _value(rvalue, fact, bound)
        if left is None or right is None:
            return False
        try:
            return bool(_ORDER[op](left, right))
        except TypeError:
            return False
    return _equal(fact.get(op), _value(body, fact, bound))


def _equal(a: Any, b: Any) -> bool:
    """durable's equality: numbers compare by value, other types only with their own type."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return a is not None and type(a) is type(b) and bool(a == b)


def run_oracle(variants: Sequence[Variant], facts: Sequence[Fact]) -> list[Firing]:
    by_kind: dict[str, list[Fact]] = {}
    for fact in facts:
        by_kind.setdefault(fact["kind"], []).append(fact)
    firings = []
    for variant in variants:
        slots = [next(iter(entry.items())) for entry in variant.json["all"]]
        for bindings in _match(slots, by_kind, {}):
            firings.append(Firing(variant.rule_id, variant.alternative, variant.name, dict(bindings)))
    return sorted(firings, key=Firing.sort_key)


def _match(slots: list[tuple[str, dict[str, Any]]], by_kind: dict[str, list[Fact]],
           bound: dict[str, Fact]) -> Any:
    if not slots:
        yield bound
        return
    (alias, cond), rest = slots[0], slots[1:]
    kind = cond["$and"][0]["kind"]
    used = {id(f) for f in bound.values()}
    for fact in by_kind.get(kind, ()):
        if id(fact) not in used and matches(cond, fact, bound):
            yield from _match(rest, by_kind, {**bound, alias: fact})
