"""Rule files: strict loading and validation, every problem at once, located.

A rule is YAML (one per file, ``rules/<area>/<ID>.yaml``). Loading checks the
JSON Schema (unknown keys, types), then meaning: fact kinds and fields exist
in the catalog, operators fit field types, joins name earlier aliases and are
equalities (the engine crashes on ordering joins), templates parse and read
only bound names, runbooks exist. Errors read ``path:line:col: CODE message``.

Patterns several rules share are named fragments (``<dir>/fragments/<name>.yaml``): a rule writes
``{use: <name>, join: <alias>}`` where they belong, and they are expanded here, before anything else
sees the rule, so the compiler and both evaluators only ever see plain patterns.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from kubetriage.catalog import CATALOG
from kubetriage.errors import Problem, ValidationError
from kubetriage.schema import check as check_schema
from kubetriage.templates import attributes_used, constant_failures, names_used
from kubetriage.yamlsource import LocatedDoc, load_located

SEVERITIES = ("critical", "high", "medium", "low", "info")
ORDER_OPS = ("lt", "lte", "gt", "gte")
STRING_OPS = ("contains", "icontains", "startswith", "endswith")
OPERATORS = ("eq", "neq", *ORDER_OPS, "in", "not_in", *STRING_OPS)
#: durable_rules errors past 64 simultaneously true sibling tests: bound OR-lists well below.
MAX_ALTERNATIVES = 32
TEMPLATE_GLOBALS = {"params", "firings", "rule", "key"}


@dataclass(frozen=True)
class Ref:
    """``{ref: alias.field}``: the value of a field of an earlier fact (or ``self``)."""

    alias: str
    field: str


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any  # scalar, tuple of scalars, or Ref (params are resolved at compile time)
    param: str = ""  # set when the value came from {param: name}


@dataclass(frozen=True)
class Pattern:
    alias: str
    fact: str
    optional: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Alternative:
    name: str
    patterns: tuple[Pattern, ...]
    group_by: tuple[str, ...]

    @property
    def required(self) -> tuple[Pattern, ...]:
        return tuple(p for p in self.patterns if not p.optional)


@dataclass
class Rule:
    """A validated rule, ready to compile."""

    id: str
    title: str
    description: str
    severity: str
    confidence: str
    tags: list[str]
    references: list[str]
    params: dict[str, Any]
    alternatives: tuple[Alternative, ...]
    summary: str
    evidence: list[str]
    subjects: list[str]
    explains: list[str]
    runbook: str
    path: str
    origin: str = "built-in"
    overrides: str = ""  # path of the rule this one replaced, if any
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def always_bound(self) -> set[str]:
        """Aliases bound in every firing: required in every alternative."""
        sets = [{p.alias for p in alt.required} for alt in self.alternatives]
        return set.intersection(*sets)

    def group_by_for(self, alternative: str) -> tuple[str, ...]:
        return next(a.group_by for a in self.alternatives if a.name == alternative)

    def problem(self, code: str, message: str, keys: Sequence[Any] = ()) -> Problem:
        """A problem located at ``keys`` in this rule's file."""
        return Problem(self.path, *_loc(self, keys), code, message)

    def templates(self) -> list[tuple[tuple[Any, ...], str]]:
        """(location keys, source) of the summary, evidence and subject templates."""
        c = "conclusion"
        return [((c, "summary"), self.summary), *(((c, "evidence", i), t) for i, t in enumerate(self.evidence)),
                *(((c, "subjects", i), t) for i, t in enumerate(self.subjects))]

    def kind_of(self, alias: str) -> str:
        for alt in self.alternatives:
            for p in alt.patterns:
                if p.alias == alias:
                    return p.fact
        raise KeyError(alias)


# -- loading ------------------------------------------------------------------------
def rule_paths(directory: Path) -> list[Path]:
    """Rule files under a directory: ``*.yaml`` except tests, signatures and fragments."""
    return sorted(
        p for p in directory.rglob("*.yaml")
        if not p.name.endswith(".test.yaml") and not {"signatures", "fragments"} & set(p.relative_to(directory).parts)
    )


@dataclass(frozen=True)
class Fragment:
    """Named patterns rules share; ``{ref: join.field}`` in them reads the alias the rule names."""

    id: str
    patterns: list[dict[str, Any]]
    path: str


def load_fragments(directories: Sequence[Path], problems: list[Problem]) -> dict[str, Fragment]:
    """``fragments/*.yaml`` of each directory; a later directory's fragment replaces an earlier one."""
    fragments: dict[str, Fragment] = {}
    for directory in directories:
        for path in sorted((directory / "fragments").glob("*.yaml")):
            doc = load_located(path, problems)
            if doc is None:
                continue
            invalid = check_schema(doc, "fragment", "E100")
            if not invalid and doc.value["id"] != path.stem:
                invalid = [doc.problem("E112", f"fragment id {doc.value['id']!r} must match the file name "
                                                f"{path.stem!r}", ("id",))]
            if not invalid and any("use" in item for item in doc.value["match"]):
                invalid = [doc.problem("E112", "a fragment cannot use another fragment", ("match",))]
            problems.extend(invalid)
            if not invalid:
                fragments[path.stem] = Fragment(path.stem, doc.value["match"], str(path))
    return fragments


def builtin_rules_dir() -> Path:
    return Path(str(files("kubetriage.rules")))


def load_rules(
    extra_dirs: Sequence[Path] = (),
    runbook_ids: Iterable[str] | None = None,
    include_builtin: bool = True,
) -> list[Rule]:
    """Load built-in rules then each extra directory; a later rule with an id replaces an
    earlier one. Raises ValidationError with every problem found."""
    problems: list[Problem] = []
    rules: dict[str, Rule] = {}
    sources = ([("built-in", builtin_rules_dir())] if include_builtin else []) + [
        ("user", d) for d in extra_dirs
    ]
    fragments = load_fragments([d for _, d in sources if d.is_dir()], problems)
    for origin, directory in sources:
        if not directory.is_dir():
            problems.append(Problem(str(directory), 1, 1, "E100", "rule directory does not exist"))
            continue
        seen_here: dict[str, str] = {}
        for path in rule_paths(directory):
            rule = load_rule_file(path, problems, fragments)
            if rule is None:
                continue
            rule.origin = origin
            if rule.id in seen_here:
                problems.append(Problem(rule.path, *_loc(rule, ("id",)), "E108",
                                        f"duplicate rule id {rule.id} (also in {seen_here[rule.id]})"))
                continue
            seen_here[rule.id] = rule.path
            if rule.id in rules:
                rule.overrides = rules[rule.id].path
            rules[rule.id] = rule
    problems += check_rule_set(list(rules.values()), runbook_ids)
    if problems:
        raise ValidationError(problems)
    return list(rules.values())


def check_rule_set(rules: list[Rule], runbook_ids: Iterable[str] | None) -> list[Problem]:
    """Checks across rules: explained rule ids exist, runbooks exist."""
    problems = []
    ids = {r.id for r in rules}
    known_runbooks = set(runbook_ids) if runbook_ids is not None else None
    for rule in rules:
        for i, target in enumerate(rule.explains):
            if target not in ids:
                problems.append(Problem(rule.path, *_loc(rule, ("conclusion", "explains", i)),
                                        "E111", f"explains unknown rule {target!r}"))
        if _reaches(rule.id, rule.id, {r.id: r.explains for r in rules}, set()):
            problems.append(Problem(rule.path, *_loc(rule, ("conclusion", "explains")), "E111",
                                    f"explains forms a cycle back to {rule.id}: a symptom cannot cause its cause"))
        if known_runbooks is not None and rule.runbook not in known_runbooks:
            problems.append(Problem(rule.path, *_loc(rule, ("conclusion", "runbook")), "E107",
                                    f"runbook {rule.runbook!r} does not exist"))
    return problems


def _reaches(start: str, target: str, graph: dict[str, list[str]], seen: set[str]) -> bool:
    """Whether following ``explains`` links from ``start`` comes back to ``target``."""
    for nxt in graph.get(start, []):
        if nxt == target:
            return True
        if nxt not in seen:
            seen.add(nxt)
            if _reaches(nxt, target, graph, seen):
                return True
    return False


def _loc(rule: Rule, keys: Sequence[Any]) -> tuple[int, int]:
    doc: LocatedDoc | None = rule.raw.get("__doc__")
    return doc.locate(keys) if doc else (1, 1)


def load_rule_file(path: Path, problems: list[Problem], fragments: dict[str, Fragment]) -> Rule | None:
    """Parse and validate one rule file (using ``fragments``); append problems, return None when invalid."""
    doc = load_located(path, problems)
    if doc is None:
        return None
    invalid = check_schema(doc, "rule", "E100", one_of="a rule needs exactly one of 'match' or 'any_of'")
    if invalid:
        problems.extend(invalid)
        return None
    return _RuleBuilder(doc, problems, fragments).build()


class _RuleBuilder:
    """Semantic validation of a schema-valid rule document."""

    def __init__(self, doc: LocatedDoc, problems: list[Problem], fragments: dict[str, Fragment]) -> None:
        self.doc, self.problems, self.v, self.fragments = doc, problems, doc.value, fragments
        self.via = ""  # while checking a fragment's patterns: which one, for the messages
        self.params: dict[str, Any] = dict(self.v.get("params") or {})
        self.start = len(problems)

    def error(self, code: str, message: str, keys: Sequence[Any], key: bool = False) -> None:
        self.problems.append(self.doc.problem(code, message + self.via, keys, key))

    def build(self) -> Rule | None:
        v = self.v
        c = v["conclusion"]
        default = c.get("group_by")
        if "match" in v:
            alternatives = [self._alternative("", v["match"], default, ("match",),
                                              ("conclusion", "group_by"))]
        else:
            alternatives = [
                self._alternative(alt["name"], alt["match"], alt.get("group_by", default),
                                  ("any_of", i, "match"),
                                  ("any_of", i, "group_by") if "group_by" in alt
                                  else ("conclusion", "group_by"))
                for i, alt in enumerate(v["any_of"])
            ]
        if len({len(a.group_by) for a in alternatives}) > 1:
            self.error("E106", "every alternative must group by the same number of fields",
                       ("any_of",))
        rule = Rule(
            id=v["id"], title=v["title"], description=" ".join(str(v.get("description", "")).split()),
            severity=v["severity"], confidence=v["confidence"], tags=list(v.get("tags") or []),
            references=list(v["references"]), params=self.params,
            alternatives=tuple(alternatives), summary=c["summary"], evidence=list(c["evidence"]),
            subjects=list(c["subjects"]), explains=list(c.get("explains") or []),
            runbook=c["runbook"], path=self.doc.path, raw={"__doc__": self.doc},
        )
        self._check_conclusion(rule)
        return rule if len(self.problems) == self.start else None

    def _alternative(self, name: str, items: list[dict[str, Any]], group_by: list[str] | None,
                     at: tuple[Any, ...], group_at: tuple[Any, ...]) -> Alternative:
        patterns = self._patterns(items, at)
        if not group_by:
            self.error("E106", "group_by is required (in conclusion, or in each alternative)", at)
            return Alternative(name, patterns, ())
        kinds = {p.alias: p.fact for p in patterns}
        required = {p.alias for p in patterns if not p.optional}
        for i, path in enumerate(group_by):
            alias, _, field_name = path.partition(".")
            if alias not in required:
                why = "optional" if alias in kinds else "not bound"
                self.error("E106", f"group_by {path!r}: alias {alias!r} is {why}", (*group_at, i))
            elif field_name not in CATALOG[kinds[alias]].fields:
                self.error("E101", f"group_by {path!r}: {kinds[alias]} has no field "
                           f"{field_name!r}", (*group_at, i))
        return Alternative(name, patterns, tuple(group_by))

    def _patterns(self, items: list[dict[str, Any]], at: tuple[Any, ...]) -> tuple[Pattern, ...]:
        bound: dict[str, str] = {}
        self.optional: set[str] = set()
        out = []
        for here, item in self._expanded(items, at, bound):
            alias, kind = item["as"], item["fact"]
            if alias in bound or alias == "self":
                self.error("E103", f"alias {alias!r} is already bound", (*here, "as"))
            if kind not in CATALOG:
                self.error("E101", f"unknown fact kind {kind!r}{_did_you_mean(kind, CATALOG)}"
                           " (`kubetriage facts` lists them)", (*here, "fact"))
                continue
            optional = bool(item.get("optional", False))
            conditions = tuple(
                c for key, value in (item.get("where") or {}).items()
                if (c := self._condition(key, value, kind, bound, optional, (*here, "where", key)))
            )
            bound[alias] = kind
            if optional:
                self.optional.add(alias)
            out.append(Pattern(alias, kind, optional, conditions))
        if out and all(p.optional for p in out):
            self.error("E103", "at least one pattern must be required (not optional)", at)
        return tuple(out)

    def _expanded(self, items: list[dict[str, Any]], at: tuple[Any, ...], bound: dict[str, str]
                  ) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        """Each pattern with its location; a fragment's patterns stand at its ``use`` (where their
        problems are reported), their ``join.field`` refs renamed to the alias the rule names."""
        for i, item in enumerate(items):
            if "use" not in item:
                yield (*at, i), item
                continue
            fragment = self.fragments.get(item["use"])
            if fragment is None:
                known = ", ".join(sorted(self.fragments)) or "none"
                self.error("E112", f"no fragment {item['use']!r} (known: {known})", (*at, i, "use"))
            elif item["join"] not in bound:  # patterns before the use are bound by now
                self.error("E112", f"fragment {item['use']!r} joins {item['join']!r}: no such alias before it",
                           (*at, i, "join"))
            else:
                self.via = f" (in fragment {fragment.id!r}, {fragment.path})"
                for pattern in fragment.patterns:
                    yield (*at, i), _rebound(pattern, item["join"])
                self.via = ""

    def _condition(self, key: str, value: Any, kind: str, bound: dict[str, str], optional: bool,
                   here: tuple[Any, ...]) -> Condition | None:
        name, _, op = key.partition("|")
        op = op or "eq"
        fields = CATALOG[kind].fields
        if name not in fields:
            self.error("E101", f"fact kind {kind!r} has no field {name!r} "
                       f"(fields: {', '.join(sorted(fields))})", here, key=True)
            return None
        spec = fields[name]
        if not spec.matchable:
            self.error("E101", f"{kind}.{name} is a list and can only be used in templates",
                       here, key=True)
            return None
        if op not in OPERATORS:
            self.error("E102", f"unknown operator {op!r} (one of: {', '.join(OPERATORS)})", here,
                       key=True)
            return None
        param = ""
        if isinstance(value, dict) and "param" in value:
            param = value["param"]
            if param not in self.params:
                self.error("E109", f"unknown param {param!r} (declared: "
                           f"{', '.join(sorted(self.params)) or 'none'})", here)
                return None
            value = self.params[param]
        if isinstance(value, dict):
            return self._ref_condition(name, op, value["ref"], kind, bound, optional, here)
        values = value if isinstance(value, list) else [value]
        if op in ("in", "not_in") and not isinstance(value, list):
            self.error("E102", f"operator {op!r} takes a list", here)
            return None
        if len(values) > MAX_ALTERNATIVES:
            self.error("E110", f"{len(values)} values exceed the engine limit of "
                       f"{MAX_ALTERNATIVES}; classify into a signature instead", here)
            return None
        for item in values:
            if not _fits(spec.type, op, item):
                self.error("E102", f"{kind}.{name} is {spec.type.__name__}; "
                           f"{op} {item!r} can never match", here)
                return None
        stored = tuple(values) if isinstance(value, list) else value
        return Condition(name, op, stored, param)

    def _ref_condition(self, name: str, op: str, ref: str, kind: str, bound: dict[str, str],
                       optional: bool, here: tuple[Any, ...]) -> Condition | None:
        alias, _, other = ref.partition(".")
        other_kind = kind if alias == "self" else bound.get(alias)
        if other_kind is None:
            self.error("E103", f"ref {ref!r} names alias {alias!r} not matched earlier "
                       f"(known: {', '.join(sorted(bound)) or 'none'})", here)
            return None
        if other not in CATALOG[other_kind].fields:
            self.error("E101", f"fact kind {other_kind!r} has no field {other!r}", here)
            return None
        if alias in self.optional:
            self.error("E103", f"ref {ref!r} names optional alias {alias!r}; joins may only "
                       "name required aliases", here)
            return None
        if alias != "self" and op != "eq":
            self.error("E103", f"joins between facts must be equalities ('{op}' join to "
                       f"{alias!r} is not supported by the engine)", here, key=True)
            return None
        if alias == "self" and op not in ("eq", "neq", *ORDER_OPS):
            self.error("E102", f"operator {op!r} cannot compare two fields", here, key=True)
            return None
        return Condition(name, op, Ref(alias, other))

    def _check_conclusion(self, rule: Rule) -> None:
        kinds = {p.alias: p.fact for alt in rule.alternatives for p in alt.patterns}
        optional = {p.alias for alt in rule.alternatives for p in alt.patterns} - rule.always_bound
        for keys, source in rule.templates():
            may_use_optional = keys[1] != "summary"
            self._check_template(source, keys, kinds, optional, may_use_optional, rule.params)

    def _check_template(self, source: str, keys: tuple[Any, ...], kinds: dict[str, str],
                        optional: set[str], may_use_optional: bool, params: dict[str, Any]) -> None:
        try:
            used = names_used(source)
            attrs = attributes_used(source)
            failures = constant_failures(source)
        except jinja2.TemplateSyntaxError as exc:
            self.error("E105", f"template does not parse: {exc.message} (template line {exc.lineno})",
                       keys)
            return
        for failure in failures:
            self.error("E105", f"template fails whatever the facts: {failure}", keys)
        unknown = used - set(kinds) - TEMPLATE_GLOBALS
        if unknown:
            self.error("E105", f"template uses unbound names {sorted(unknown)} "
                       f"(bound: {sorted(set(kinds) | TEMPLATE_GLOBALS)})", keys)
        if not may_use_optional and used & optional:
            self.error("E105", f"the summary may only use aliases bound in every firing; "
                       f"{sorted(used & optional)} may be unbound (use them in evidence)", keys)
        for var, attr in sorted(attrs):
            if var in kinds and attr not in CATALOG[kinds[var]].fields:
                self.error("E105", f"template reads {var}.{attr}: {kinds[var]} has no field "
                           f"{attr!r}", keys)
            elif var == "params" and attr not in params:
                self.error("E105", f"template reads params.{attr}, which is not declared", keys)


def _rebound(pattern: dict[str, Any], alias: str) -> dict[str, Any]:
    """A fragment's pattern with its ``{ref: join.field}`` joins reading ``alias`` instead."""
    def value(v: Any) -> Any:
        if isinstance(v, dict) and str(v.get("ref", "")).startswith("join."):
            return {"ref": alias + v["ref"][4:]}
        return v
    return {**pattern, "where": {k: value(v) for k, v in (pattern.get("where") or {}).items()}}


def _fits(kind: type, op: str, value: Any) -> bool:
    """Whether comparing a field of type ``kind`` with ``value`` via ``op`` is meaningful."""
    if op in STRING_OPS:
        return kind is str and isinstance(value, str)
    if kind is bool:
        return isinstance(value, bool) and op in ("eq", "neq", "in", "not_in")
    if kind is int:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
