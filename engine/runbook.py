"""Runbook templates: Markdown with YAML front-matter, rendered for one finding.

The front-matter (schema ``runbook.v1.json``) lists the rules a runbook serves
and its steps, each with a risk (read-only, disruptive, destructive), a command,
and for changes a verify command and a rollback. The body holds Meaning and
Impact; Diagnosis (read-only steps) and Mitigation (changes, each with verify and
rollback) are generated from the steps, so every runbook has the same shape.

Rendering is two-stage (steps, then body) in the sandboxed, strict environment.
Every value interpolated into a command must go through ``shell_quote``: cluster
object names are attacker-controlled text that ends up in someone's terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from kubetriage.catalog import CATALOG
from kubetriage.errors import Problem, RuleValidationError
from kubetriage.schema import check as check_schema
from kubetriage.templates import ENV, attributes_used, names_used, render
from kubetriage.yamlsource import LocatedDoc, parse_located, read_text

COMMANDS = ("run", "verify", "rollback")
RISKS = ("read-only", "disruptive", "destructive")
#: Names every runbook may use besides the aliases of its rules.
CONTEXT = {"finding", "key", "params", "rule", "cluster", "firings", "title"}


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    risk: str
    where: str
    run: str
    verify: str
    rollback: str

    @property
    def is_change(self) -> bool:
        return self.risk != "read-only"


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    rules: tuple[str, ...]
    references: tuple[str, ...]
    steps: tuple[Step, ...]
    body: str
    path: str
    doc: LocatedDoc

    def templates(self) -> Iterable[tuple[tuple[Any, ...], str, bool]]:
        """(location keys, template, is a command) of every template in the runbook."""
        yield ("title",), self.title, False
        for i, step in enumerate(self.steps):
            yield ("steps", i, "title"), step.title, False
            yield ("steps", i, "where"), step.where, False
            for name in COMMANDS:
                if getattr(step, name):
                    yield ("steps", i, name), getattr(step, name), True

    def render(self, context: dict[str, Any]) -> RenderedRunbook:
        steps = tuple(
            Step(s.id, render(s.title, context), s.risk, render(s.where, context) if s.where else "kubectl",
                 *(render(getattr(s, name), context).strip() for name in COMMANDS))
            for s in self.steps)
        body = render(self.body, {**context, "title": self.title, "steps": steps})
        return RenderedRunbook(self.id, render(self.title, context), body.strip(), steps, self.references)


@dataclass(frozen=True)
class RenderedRunbook:
    """A runbook with the finding's real names filled in."""

    id: str
    title: str
    body: str
    steps: tuple[Step, ...]
    references: tuple[str, ...]

    def markdown(self, level: int = 1) -> str:
        h = "#" * level
        body = "\n".join("#" * (level - 1) + line if line.startswith("#") else line
                         for line in self.body.splitlines())
        out = [f"{h} {self.title}", "", body, ""]
        diagnosis = [s for s in self.steps if not s.is_change]
        changes = [s for s in self.steps if s.is_change]
        if diagnosis:
            out += [f"{h}# Diagnosis (read-only)", ""]
            for n, s in enumerate(diagnosis, 1):
                out += [f"{n}. **{s.title}**{_where(s)}", "", _code(s.run, 3), ""]
        if changes:
            out += [f"{h}# Mitigation (changes: run only what the diagnosis supports)", ""]
            for n, s in enumerate(changes, 1):
                out += [f"{n}. **{s.title}** — risk: {s.risk}{_where(s)}", "", _code(s.run, 3), "",
                        "   Verify:", "", _code(s.verify, 3), "", "   Roll back:", "", _code(s.rollback, 3), ""]
        if self.references:
            out += [f"{h}# References", "", *[f"- {r}" for r in self.references], ""]
        return "\n".join(out)


def _where(step: Step) -> str:
    return "" if step.where == "kubectl" else f" — run on {step.where}"


def _code(text: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join([f"{pad}```sh", *(pad + line for line in text.splitlines()), f"{pad}```"])


def builtin_runbooks_dir() -> Path:
    return Path(str(files("kubetriage.runbooks")))


def load_runbooks(extra_dirs: Sequence[Path] = ()) -> dict[str, Runbook]:
    """Built-in runbooks, then each extra directory's; a later id replaces an earlier one."""
    problems: list[Problem] = []
    books: dict[str, Runbook] = {}
    for directory in (builtin_runbooks_dir(), *extra_dirs):
        for path in sorted(directory.glob("*.md")):
            book = _load(path, problems)
            if book:
                books[book.id] = book
    if problems:
        raise RuleValidationError(problems)
    return books


def _load(path: Path, problems: list[Problem]) -> Runbook | None:
    text = read_text(path, problems)
    if text is None:
        return None
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        problems.append(Problem(str(path), 1, 1, "E120", "a runbook starts with YAML front-matter between "
                                                         "'---' lines"))
        return None
    head, body = text[4:].split("\n---\n", 1)
    doc = parse_located(head, str(path), problems, first_line=2)
    if doc is None:
        return None
    invalid = check_schema(doc, "runbook", "E120")
    if invalid:
        problems.extend(invalid)
        return None
    front = doc.value
    if front["id"] != path.stem:
        problems.append(doc.problem("E120", f"runbook id {front['id']!r} must match the file name "
                                            f"{path.stem!r}", ("id",)))
        return None
    steps = tuple(Step(s["id"], s["title"], s["risk"], s.get("where", ""), s["run"], s.get("verify", ""),
                       s.get("rollback", "")) for s in front["steps"])
    book = Runbook(id=front["id"], title=front["title"], rules=tuple(front["rules"]),
                   references=tuple(front.get("references") or ()), steps=steps, body=body, path=str(path),
                   doc=doc)
    before = len(problems)
    problems.extend(_check_templates(book, body))
    return book if len(problems) == before else None


def _check_templates(book: Runbook, body: str) -> list[Problem]:
    problems = []
    for i, step in enumerate(book.steps):
        if step.is_change and not (step.verify and step.rollback):
            problems.append(book.doc.problem("E121", f"step {step.id!r} changes the cluster ({step.risk}): it "
                                                     "needs a verify command and a rollback", ("steps", i)))
    for keys, source, command in book.templates():
        try:
            ast = ENV.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(book.doc.problem("E105", f"template does not parse: {exc.message}", keys))
            continue
        if command:
            for expr in _bare_interpolations(ast):
                problems.append(book.doc.problem(
                    "E121", f"'{{{{ {expr} }}}}' goes into a command without '| shell_quote'", keys))
    try:
        ENV.parse(body)
    except jinja2.TemplateSyntaxError as exc:
        problems.append(Problem(book.path, book.doc.root.end_mark.line + 2 + (exc.lineno or 1), 1, "E105",
                                f"body template does not parse: {exc.message}"))
    return problems


def _bare_interpolations(ast: nodes.Template) -> list[str]:
    """Printed expressions whose outermost filter is not shell_quote (literals are fine)."""
    bare = []
    for output in ast.find_all(nodes.Output):
        for expr in output.nodes:
            if isinstance(expr, nodes.TemplateData | nodes.Const):
                continue
            if not (isinstance(expr, nodes.Filter) and expr.name == "shell_quote"):
                bare.append(_describe(expr))
    return bare


def _describe(expr: nodes.Node) -> str:
    if isinstance(expr, nodes.Getattr):
        return f"{_describe(expr.node)}.{expr.attr}"
    if isinstance(expr, nodes.Name):
        return expr.name
    if isinstance(expr, nodes.Filter):
        return f"{_describe(expr.node) if expr.node else ''} | {expr.name}"
    return type(expr).__name__.lower()


def check_runbook_inputs(book: Runbook, rules: dict[str, Any]) -> list[Problem]:
    """Each name a runbook reads is bound in every finding of every rule it serves (E122),
    and each rule it names exists and points back at it."""
    problems = []
    sources = [source for _, source, _ in book.templates()] + [book.body]
    used = set().union(*(names_used(s) for s in sources)) - CONTEXT - {"steps", "loop"}
    attrs = set().union(*(attributes_used(s) for s in sources))
    for i, rule_id in enumerate(book.rules):
        rule = rules.get(rule_id)
        if rule is None:
            problems.append(book.doc.problem("E122", f"rule {rule_id!r} does not exist", ("rules", i)))
            continue
        if rule.runbook != book.id:
            problems.append(book.doc.problem("E122", f"rule {rule_id} names runbook {rule.runbook!r}, not this "
                                                     "one", ("rules", i)))
        unbound = sorted(used - rule.always_bound)
        if unbound:
            problems.append(book.doc.problem(
                "E122", f"reads {unbound}, which {rule_id} does not bind in every finding "
                        f"(always bound: {sorted(rule.always_bound)})", ("rules", i)))
        for var, attr in sorted(attrs):
            if var in rule.always_bound and attr not in _fields(rule, var):
                problems.append(book.doc.problem("E122", f"reads {var}.{attr}: {rule.kind_of(var)} has no "
                                                         f"field {attr!r}", ("rules", i)))
    return problems


def _fields(rule: Any, alias: str) -> set[str]:
    return set(CATALOG[rule.kind_of(alias)].fields)
