"""Runbook templates: Markdown with YAML front-matter, rendered for one finding.

The front-matter (schema ``runbook.v1.json``) lists the rules a runbook serves
and its steps, each with a risk (read-only, disruptive, destructive), a command,
and for changes a verify command and a rollback (a command, or ``rollback_note``
prose when undoing is not a command). A step with ``each: node`` is written once per
node the finding names, with that node in ``node_name``. The body holds Meaning and
Impact; Diagnosis (read-only steps) and Mitigation (changes, each with verify and
rollback) are generated from the steps, so every runbook has the same shape.

Rendering is two-stage (steps, then body) in the sandboxed, strict environment.
Every value interpolated into a command must go through ``shell_quote``: cluster
object names are attacker-controlled text that ends up in someone's terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from kubetriage.catalog import CATALOG
from kubetriage.errors import Problem, ValidationError
from kubetriage.escape import markdown, markdown_fence, terminal
from kubetriage.rulefile import Rule
from kubetriage.schema import check as check_schema
from kubetriage.templates import TemplateFailure, attributes_used, constant_failures, names_used, parse, render
from kubetriage.yamlsource import LocatedDoc, parse_located, read_text

COMMANDS = ("run", "verify", "rollback")
_URL = re.compile(r"https?://[^\s<>`\\]+")
RISKS = ("read-only", "disruptive", "destructive")
#: Names every runbook may use besides the aliases of its rules.
CONTEXT = {"finding", "key", "params", "rule", "cluster", "firings", "title", "node_files", "node_name"}
#: Written in a node step when the finding names no node: the reader puts the node's name there.
UNKNOWN_NODE = "NODE"


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    risk: str
    where: str
    run: str
    verify: str
    rollback: str
    rollback_note: str = ""  # prose, for a rollback that is not a command
    each: str = ""  # "node": one step per node the finding names

    @property
    def is_change(self) -> bool:
        return self.risk != "read-only"


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
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
            yield ("steps", i, "rollback_note"), step.rollback_note, False
            for name in COMMANDS:
                if getattr(step, name):
                    yield ("steps", i, name), getattr(step, name), True

    @property
    def body_line(self) -> int:
        """Line of the file where the body (after the closing '---') starts."""
        return self.doc.root.end_mark.line + 3

    def sources(self) -> Iterable[tuple[tuple[Any, ...] | int, str]]:
        """Every template with where it is: location keys, or the body's first line."""
        yield from ((keys, source) for keys, source, _ in self.templates())
        yield self.body_line, self.body

    def render(self, context: dict[str, Any], for_markdown: bool = False) -> RenderedRunbook:
        """Fill in the finding's names; raises TemplateFailure located in the runbook file.
        ``for_markdown``: values in prose (not in commands) are escaped for Markdown."""
        def fill(keys: tuple[Any, ...], source: str, values: dict[str, Any], prose: bool = True) -> str:
            try:
                return render(source, values, for_markdown and prose)
            except TemplateFailure as exc:
                raise TemplateFailure(str(self.doc.problem("E113", f"template failed while rendering: {exc}",
                                                           keys))) from None

        def step(i: int, s: Step, values: dict[str, Any]) -> Step:
            commands = {name: fill(("steps", i, name), getattr(s, name), values, prose=False).strip()
                        for name in COMMANDS}
            return Step(s.id, fill(("steps", i, "title"), s.title, values), s.risk,
                        fill(("steps", i, "where"), s.where, values) if s.where else "kubectl", **commands,
                        rollback_note=fill(("steps", i, "rollback_note"), s.rollback_note, values).strip())

        nodes = _nodes(context)
        steps = tuple(step(i, s, {**context, "node_name": node})
                      for i, s in enumerate(self.steps) for node in (nodes if s.each == "node" else [""]))
        context = {**context, "title": self.title, "steps": steps}
        try:
            body = render(self.body, context, for_markdown)
        except TemplateFailure as exc:
            raise TemplateFailure(str(Problem(self.path, self.body_line, 1, "E113",
                                              f"body template failed while rendering: {exc}"))) from None
        return RenderedRunbook(self.id, fill(("title",), self.title, context), body.strip(), steps, self.references)


@dataclass(frozen=True)
class RenderedRunbook:
    """A runbook with the finding's real names filled in."""

    id: str
    title: str
    body: str
    steps: tuple[Step, ...]
    references: tuple[str, ...]

    def markdown(self, level: int = 1) -> str:
        """The runbook as Markdown; render it ``for_markdown`` so that its values are escaped."""
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
                undo = (["   Roll back:", "", _code(s.rollback, 3)] if s.rollback
                        else ["   Roll back: " + " ".join(s.rollback_note.split())])
                out += [f"{n}. **{s.title}** — risk: {s.risk}{_where(s)}", "", _code(s.run, 3), "",
                        "   Verify:", "", _code(s.verify, 3), "", *undo, ""]
        if self.references:
            out += [f"{h}# References", "", *[f"- {_reference(r)}" for r in self.references], ""]
        return "\n".join(out)


def _nodes(context: dict[str, Any]) -> list[str]:
    """The nodes a finding names (its ``Node/<name>`` subjects), for steps written once per node."""
    names = [s.removeprefix("Node/") for s in context["finding"]["subjects"] if s.startswith("Node/")]
    return [name for name in names if name] or [UNKNOWN_NODE]


def _where(step: Step) -> str:
    return "" if step.where == "kubectl" else f" — run on {step.where}"


def _code(text: str, indent: int) -> str:
    """A fenced block no line of ``text`` can close (a value may hold a newline and backticks)."""
    pad, fence = " " * indent, markdown_fence(text)
    return "\n".join([f"{pad}{fence}sh", *(pad + terminal(line) for line in text.splitlines()), f"{pad}{fence}"])


def _reference(text: str) -> str:
    """An http(s) URL as a link; anything else (``javascript:``...) as plain text."""
    return f"<{text}>" if _URL.fullmatch(text) else markdown(text)


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
        raise ValidationError(problems)
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
                       s.get("rollback", ""), s.get("rollback_note", ""), s.get("each", ""))
                  for s in front["steps"])
    book = Runbook(id=front["id"], title=front["title"],
                   references=tuple(front.get("references") or ()), steps=steps, body=body, path=str(path),
                   doc=doc)
    before = len(problems)
    problems.extend(_check_templates(book, body))
    return book if len(problems) == before else None


def _check_templates(book: Runbook, body: str) -> list[Problem]:
    problems = []
    for i, step in enumerate(book.steps):
        if step.is_change and not (step.verify and (step.rollback or step.rollback_note)):
            problems.append(book.doc.problem("E121", f"step {step.id!r} changes the cluster ({step.risk}): it "
                                                     "needs a verify command and a rollback (or rollback_note)",
                                             ("steps", i)))
    for keys, source, command in book.templates():
        try:
            ast = parse(source)
            failures = constant_failures(source)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(book.doc.problem("E105", f"template does not parse: {exc.message}", keys))
            continue
        problems += [book.doc.problem("E105", f"template fails whatever the facts: {f}", keys) for f in failures]
        if "node_name" in names_used(source) and not (keys[0] == "steps" and book.steps[keys[1]].each == "node"):
            problems.append(book.doc.problem("E105", "reads 'node_name', which only a step with 'each: node' has",
                                             keys))
        if command:
            for expr in _bare_interpolations(ast):
                problems.append(book.doc.problem(
                    "E121", f"'{{{{ {expr} }}}}' goes into a command without '| shell_quote'", keys))
    try:
        failures = constant_failures(body)
    except jinja2.TemplateSyntaxError as exc:
        problems.append(Problem(book.path, book.body_line - 1 + (exc.lineno or 1), 1, "E105",
                                f"body template does not parse: {exc.message}"))
        return problems
    problems += [Problem(book.path, book.body_line, 1, "E105", f"body template fails whatever the facts: {f}")
                 for f in failures]
    return problems


def _bare_interpolations(ast: nodes.Template) -> list[str]:
    """Printed expressions whose outermost filter is not shell_quote (literals, and the commands
    of kubetriage's own node-file table, ``node_files.*``, are fine)."""
    bare = []
    for output in ast.find_all(nodes.Output):
        for expr in output.nodes:
            if isinstance(expr, nodes.TemplateData | nodes.Const) or _is_node_file_command(expr):
                continue
            if not (isinstance(expr, nodes.Filter) and expr.name == "shell_quote"):
                bare.append(_describe(expr))
    return bare


def _is_node_file_command(expr: nodes.Node) -> bool:
    """``node_files.<name>`` exactly: a command from kubetriage's table, not a value."""
    return isinstance(expr, nodes.Getattr) and isinstance(expr.node, nodes.Name) and expr.node.name == "node_files"


def _describe(expr: nodes.Node) -> str:
    if isinstance(expr, nodes.Getattr):
        return f"{_describe(expr.node)}.{expr.attr}"
    if isinstance(expr, nodes.Name):
        return expr.name
    if isinstance(expr, nodes.Filter):
        return f"{_describe(expr.node) if expr.node else ''} | {expr.name}"
    return type(expr).__name__.lower()


def check_runbook_inputs(book: Runbook, rule: Rule) -> list[Problem]:
    """Each name the runbook reads is bound in every finding of a rule that names it (E122).

    The rule holds the link (``conclusion.runbook``); a mismatch is blamed on the user's side of
    the pair: the runbook where it reads the name, unless the runbook is built-in and the rule is not."""
    problems = []
    blame_rule = rule.origin == "user" and Path(book.path).is_relative_to(builtin_runbooks_dir())
    for keys, source in book.sources():
        unbound = sorted(names_used(source) - CONTEXT - {"steps", "loop"} - rule.always_bound)
        wrong = sorted(f"{var}.{attr}" for var, attr in attributes_used(source)
                       if var in rule.always_bound and attr not in CATALOG[rule.kind_of(var)].fields)
        messages = ([f"reads {unbound}, which {rule.id} does not bind in every finding (always bound: "
                     f"{sorted(rule.always_bound)})"] if unbound else []) + [
            f"reads {name}: {rule.kind_of(name.split('.')[0])} has no field {name.split('.')[1]!r}"
            for name in wrong]
        for message in messages:
            if blame_rule:
                line = keys if isinstance(keys, int) else book.doc.locate(keys)[0]
                problems.append(rule.problem("E122", f"runbook {book.id} ({book.path}:{line}) {message}",
                                             ("conclusion", "runbook")))
            elif isinstance(keys, int):
                problems.append(Problem(book.path, keys, 1, "E122", f"body {message} ({rule.path})"))
            else:
                problems.append(book.doc.problem("E122", f"{message} ({rule.path})", keys))
    return problems


