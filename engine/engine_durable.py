"""Run compiled rules on durable_rules, designed around its verified hazards.

* one fresh Host per run, under one process-wide lock (the engine is not thread-safe);
* facts asserted one by one: an unconsumed fact raises MessageNotHandled, which is fine;
* facts are de-duplicated upstream, so "already observed" can only be a 32-bit
  hash collision: re-assert with a salt, never lose a fact;
* exceptions in actions are swallowed into the ruleset state: checked after the run;
* actions take exactly ``(c)``, so they are made by a factory, not default arguments;
* the Host is let go after the run: no timers, its ruleset freed (``_Host``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from durable import engine as durable_engine

from kubetriage.compiler import Variant
from kubetriage.errors import RuleEngineError
from kubetriage.evaluation import Firing

_LOCK = threading.Lock()
_RULESET = "kubetriage"
_SID = "triage"
_SALT_FIELD = "_salt"
#: The C core's exception type (it says only "error code: NNN"), and its code for "no such session".
_ENGINE_ERROR = durable_engine.durable_rules_engine.error
_NO_SESSION = "error code: 309"


def _collector(variant: Variant, sink: list[Firing]) -> Callable[[Any], None]:
    def action(c: Any) -> None:
        bindings = {
            alias: {k: v for k, v in fact.items() if k not in ("sid", "id", _SALT_FIELD)}
            for alias, fact in c._m.items()
        }
        sink.append(Firing(variant.rule_id, variant.alternative, variant.name, bindings))
    return action


def run_durable(variants: Sequence[Variant], facts: Sequence[dict[str, Any]]) -> list[Firing]:
    if not variants:
        return []
    firings: list[Firing] = []
    ruleset = {v.name: {**v.json, "run": _collector(v, firings)} for v in variants}
    with _LOCK:
        host = _Host()
        try:
            try:
                host.register_rulesets({_RULESET: ruleset})
            except _ENGINE_ERROR as exc:  # the C core only says "error code: NNN"
                raise RuleEngineError(f"durable_rules rejected the compiled ruleset: {exc}") from exc
            for fact in facts:
                _assert(host, fact)
            state = _state(host)
        finally:
            host.close()
    if state.get("exception"):
        raise RuleEngineError(f"a rule action failed inside durable_rules: {state['exception']}")
    return sorted(firings, key=Firing.sort_key)


class _Host(durable_engine.Host):  # type: ignore[misc]
    """A Host that can be let go. durable_rules' Host starts two timer chains that re-arm
    forever (they dispatch queued messages and timed rules, which compiled rules never use:
    actions run inside ``assert_fact``), and nothing frees a ruleset's C memory or handle
    (131,072 at most). Harmless once per process, not in a process that triages all day. (The
    session's own memory, ~1 MB a run, stays: ``delete_state`` crashes the C core on some rules.)"""

    def _run(self) -> None:
        pass  # no timers

    def close(self) -> None:
        for ruleset in self._ruleset_list:
            durable_engine.durable_rules_engine.delete_ruleset(ruleset._handle)


def _state(host: Any) -> dict[str, Any]:
    """The session state, where durable_rules leaves the exceptions it swallowed in actions."""
    try:
        return dict(host.get_state(_RULESET, _SID))
    except _ENGINE_ERROR as exc:
        if _NO_SESSION in str(exc):  # no fact reached the session: there is no state to inspect
            return {}
        raise RuleEngineError(f"durable_rules state unreadable: {exc}") from exc


def _assert(host: Any, fact: dict[str, Any]) -> None:
    message = {**fact, "sid": _SID}
    for salt in range(1, 9):
        try:
            host.assert_fact(_RULESET, message)
            return
        except durable_engine.MessageNotHandledException:
            return
        except durable_engine.MessageObservedException:
            message = {**fact, "sid": _SID, _SALT_FIELD: salt}
    raise RuleEngineError(f"durable_rules refused a distinct fact 8 times: {fact}")
