"""One root exception for everything kubetriage raises on purpose (httpx style).

Callers catch :class:`KubetriageError`; the CLI maps it to exit code 2 with a
one-line message. Third-party exceptions are translated at the boundary where
they occur, so nothing above that boundary imports ``ijson`` or ``durable``.
"""

from __future__ import annotations

from dataclasses import dataclass


class KubetriageError(Exception):
    """Base class: a problem kubetriage can explain to the user."""


class SnapshotError(KubetriageError):
    """A snapshot directory is missing, unrecognised or holds a malformed file."""


class RuleEngineError(KubetriageError):
    """The rule engine failed while evaluating rules (not a problem in the input)."""


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in something the user wrote: ``path:line:col: CODE message``, with a
    code from docs/errors.md (E1xx) so that tools and people can tell the kinds apart."""

    path: str
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


class ValidationError(KubetriageError):
    """Input the user wrote (rule packs, signatures, runbooks, rule tests, the SSH inventory, the
    config file) failed validation; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
