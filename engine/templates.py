"""The one Jinja environment for rule and runbook templates: sandboxed and strict.

Rule packs and runbooks are untrusted input. The sandbox blocks attribute
tricks, StrictUndefined turns a typo into an error (found at lint time, not
at 3 a.m.), and ``shell_quote`` makes cluster-controlled values inert in commands.
"""

from __future__ import annotations

import shlex
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment


def shell_quote(value: Any) -> str:
    """Quote a value for a POSIX shell command line."""
    return shlex.quote(str(value))


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                               keep_trailing_newline=True)
    env.filters["shell_quote"] = shell_quote
    return env


ENV = _environment()


@lru_cache(maxsize=2048)
def names_used(source: str) -> frozenset[str]:
    """Top-level variables a template reads (raises TemplateSyntaxError)."""
    return frozenset(meta.find_undeclared_variables(ENV.parse(source)))


def attributes_used(source: str) -> set[tuple[str, str]]:
    """(variable, attribute) pairs read as ``var.attr`` or ``var['attr']``."""
    found = set()
    for node in ENV.parse(source).find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            found.add((node.node.name, node.attr))
        elif isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) \
                and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add((node.node.name, node.arg.value))
    return found


@lru_cache(maxsize=2048)
def _compiled(source: str) -> jinja2.Template:
    return ENV.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    return _compiled(source).render(context)
