"""What an evaluator returns, and the choice between the two evaluators.

``durable`` runs the compiled rules on durable_rules (the production engine);
``oracle`` interprets the same JSON in plain Python. The test suite runs every
rule case through both and requires identical firings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kubetriage.compiler import Variant

EngineName = Literal["durable", "oracle"]


@dataclass(frozen=True)
class Firing:
    """One match of one variant: alias -> the fact bound to it."""

    rule_id: str
    alternative: str
    variant: str
    bindings: dict[str, dict[str, Any]]

    def sort_key(self) -> str:
        return json.dumps([self.rule_id, self.variant, self.bindings], sort_keys=True, default=str)


class Evaluator(Protocol):
    def __call__(self, variants: Sequence[Variant], facts: Sequence[dict[str, Any]]) -> list[Firing]:
        """Every firing of every variant over the facts, sorted."""


def evaluator(name: EngineName) -> Evaluator:
    if name == "durable":
        from kubetriage.engine_durable import run_durable
        return run_durable
    from kubetriage.engine_oracle import run_oracle
    return run_oracle
