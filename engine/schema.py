"""The JSON Schemas shipped with kubetriage, and located validation against them."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
from referencing import Registry, Resource

from kubetriage.errors import Problem
from kubetriage.yamlsource import LocatedDoc

SCHEMAS = ("rule", "fragment", "runbook", "config", "signature", "ruletest", "inventory")


@cache
def schema(name: str) -> dict[str, Any]:
    """``rule`` or ``runbook``: the schema editors can use through ``$schema``."""
    return dict(json.loads(files("kubetriage").joinpath(f"schemas/{name}.v1.json").read_text()))


@cache
def _registry() -> Registry[Any]:
    """The schemas by their ids, so that one can use another's definitions (a fragment's patterns
    are a rule's)."""
    return Registry().with_resources((schema(n)["$id"], Resource.from_contents(schema(n))) for n in SCHEMAS)


def check(doc: LocatedDoc, name: str, code: str, one_of: str = "") -> list[Problem]:
    """Every schema violation of ``doc``, located; unknown keys are reported one by one."""
    problems = []
    for error in jsonschema.Draft202012Validator(schema(name), registry=_registry()).iter_errors(doc.value):
        where = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed)):
                hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
                problems.append(doc.problem(code, f"unknown key {key!r}{hint}", [*where, key], key=True))
        elif error.validator == "oneOf" and "x-one-of" in error.schema:  # the schema says what is wrong
            problems.append(doc.problem(code, error.schema["x-one-of"], where))
        elif error.validator == "oneOf" and one_of:
            problems.append(doc.problem(code, one_of if not where else
                                        "a where value is a scalar, a list of scalars, {ref: alias.field} "
                                        "or {param: name}", where))
        else:
            at = ".".join(str(p) for p in where) or "document"
            problems.append(doc.problem(code, f"{at}: {error.message}", where))
    return problems
