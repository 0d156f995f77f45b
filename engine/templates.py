"""The one Jinja environment for rule and runbook templates: sandboxed, strict and bounded.

Rule packs and runbooks are untrusted input. The sandbox blocks attribute
tricks, StrictUndefined turns a typo into an error (found at lint time, not
at 3 a.m.), and ``shell_quote`` makes cluster-controlled values inert in commands.
Bounds keep a template from eating the machine: no include/import/extends, no
huge repetitions, powers, ranges or widths, a cap on the text produced and on the
time spent. Every failure while rendering becomes a :class:`TemplateFailure`, which
callers locate in the rule or runbook file (an authoring error, not a crash).
"""

from __future__ import annotations

import inspect
import re
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from kubetriage.errors import KubetriageError
from kubetriage.escape import markdown

#: Longest text a template may produce, and the largest size or number it may ask for.
MAX_OUTPUT = 100_000
#: Largest exponent of ``**``.
MAX_EXPONENT = 64
#: Wall-clock budget of one render (enforced in the main thread).
RENDER_SECONDS = 2.0
#: Tags that would read other templates; the environment has no loader.
FORBIDDEN = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_WIDE_FORMAT = re.compile(r"\d{6,}")


class TemplateFailure(KubetriageError):
    """A template failed while rendering: an authoring error in a rule or a runbook."""


def shell_quote(value: Any) -> str:
    """Quote a value for a POSIX shell command line."""
    return shlex.quote(str(value))


def _check_size(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
        raise SecurityError(f"{value} is too large for a template (limit {MAX_OUTPUT})")
    if isinstance(value, str) and _WIDE_FORMAT.search(value) and ("%" in value or "{" in value):
        raise SecurityError("format widths of six digits or more are not allowed in templates")


def _bounded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)  # keeps Jinja's pass_context/pass_environment marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args[1:], *kwargs.values()):
            _check_size(arg)
        return func(*args, **kwargs)
    return checked


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus bounds on repetition, powers and the arguments of calls and filters.

    Intercepting the operators also stops Jinja from folding ``'x' * 10**9`` while compiling."""

    intercepted_binops = frozenset({"*", "**", "%", "//", "/"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large for a template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) \
                        and len(seq) * times > MAX_OUTPUT:
                    raise SecurityError(f"repetition makes more than {MAX_OUTPUT} items")
        if operator == "%":
            _check_size(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values(), getattr(inspect.unwrap(__obj), "__self__", None)):
            _check_size(arg)
        return super().call(__context, __obj, *args, **kwargs)


def _environment(finalize: Callable[[Any], Any] | None = None) -> SandboxedEnvironment:
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                          finalize=finalize)
    env.filters["shell_quote"] = shell_quote
    env.filters = {name: _bounded_filter(f) for name, f in env.filters.items()}
    return env


ENV = _environment()
#: For prose that becomes Markdown: every interpolated value is escaped (the template's own
#: Markdown stays), so a cluster-controlled name cannot add a link, an image or HTML.
_MARKDOWN_ENV = _environment(finalize=lambda value: markdown(str(value)))


def parse(source: str) -> nodes.Template:
    """The template's syntax tree; raises TemplateSyntaxError, also for include/import/extends."""
    ast = ENV.parse(source)
    for node in ast.find_all(FORBIDDEN):
        raise jinja2.TemplateSyntaxError(
            f"'{type(node).__name__.lower()}' is not allowed: a template stands alone", node.lineno)
    return ast


def constant_failures(source: str) -> list[str]:
    """Why expressions that read no variable fail (``1 // 0``, ``range(10**7)``): lint-time checks."""
    failures = []
    for expr in _constant_expressions(parse(source)):
        try:
            _render_bounded(ENV.from_string(nodes.Template([nodes.Output([expr])])), {})
        except TemplateFailure as exc:
            failures.append(str(exc))
    return failures


def _constant_expressions(node: nodes.Node) -> Iterator[nodes.Expr]:
    """The largest computed expressions under ``node`` that read only literals and Jinja's globals."""
    for child in node.iter_child_nodes():
        computed = isinstance(child, nodes.BinExpr | nodes.UnaryExpr | nodes.Call | nodes.Filter)
        names = {n.name for n in child.find_all(nodes.Name)}
        if computed and names <= set(ENV.globals):
            yield child  # type: ignore[misc]
        else:
            yield from _constant_expressions(child)


@lru_cache(maxsize=2048)
def names_used(source: str) -> frozenset[str]:
    """Top-level variables a template reads (raises TemplateSyntaxError)."""
    return frozenset(meta.find_undeclared_variables(parse(source)))


def attributes_used(source: str) -> set[tuple[str, str]]:
    """(variable, attribute) pairs read as ``var.attr`` or ``var['attr']``."""
    found = set()
    for node in parse(source).find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            found.add((node.node.name, node.attr))
        elif isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) \
                and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add((node.node.name, node.arg.value))
    return found


@lru_cache(maxsize=2048)
def _compiled(source: str, for_markdown: bool) -> jinja2.Template:
    return (_MARKDOWN_ENV if for_markdown else ENV).from_string(parse(source))


def render(source: str, context: dict[str, Any], for_markdown: bool = False) -> str:
    """Render under every bound (values escaped for Markdown when asked); raises TemplateFailure
    (the caller adds where the template is)."""
    try:
        template = _compiled(source, for_markdown)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(f"does not parse: {exc.message}") from None
    return _render_bounded(template, context)


class _Expired(Exception):
    pass


def _render_bounded(template: jinja2.Template, context: dict[str, Any]) -> str:
    out: list[str] = []
    size = 0
    try:
        with _deadline(RENDER_SECONDS):
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise SecurityError(f"output passes {MAX_OUTPUT} characters")
                out.append(chunk)
    except _Expired:
        raise TemplateFailure(f"took longer than {RENDER_SECONDS:g} s") from None
    except jinja2.TemplateError as exc:
        raise TemplateFailure(exc.message or type(exc).__name__) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError, MemoryError) as exc:
        raise TemplateFailure(f"{type(exc).__name__}: {exc}") from None
    return "".join(out)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the render after ``seconds``; signals reach only the main thread, so elsewhere
    the other bounds must do."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
