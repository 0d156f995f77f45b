"""durable_rules and the plain-Python oracle agree, and the engine's hazards are handled."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from durable import engine as durable_engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetriage import engine_durable, evaluation
from kubetriage.compiler import compile_rules, escape
from kubetriage.engine_durable import run_durable
from kubetriage.engine_oracle import run_oracle
from kubetriage.errors import RuleEngineError
from kubetriage.knowledge import Knowledge
from kubetriage.ruletests import complete

RULES = Knowledge.load().rules
VARIANTS = compile_rules(RULES)

NODES = st.sampled_from(["worker-1", "worker-2", ""])
TEXT = st.sampled_from(["", "cni", "a.b*c", "100%", "Ünïcode", "x(y)", "ContainerCreating"])
FACTS = st.one_of(
    st.builds(lambda n, r, d, rd: {"kind": "workload", "type": "DaemonSet", "namespace": "kube-system",
                                   "name": n, "role": r, "desired": d, "ready": rd,
                                   "not_ready": max(d - rd, 0)},
              st.sampled_from(["canal", "calico-node"]), st.sampled_from(["cni", "dns", ""]),
              st.integers(0, 3), st.integers(0, 3)),
    st.builds(lambda ns, name, node, reason, owner, ready: {
        "kind": "pod", "namespace": ns, "name": name, "node": node, "phase": "Pending",
        "waiting_reason": reason, "owner_kind": "DaemonSet" if owner else "ReplicaSet",
        "owner_name": owner or "web", "ready": ready},
        st.sampled_from(["kube-system", "shop"]), st.sampled_from(["p1", "p2", "p3"]), NODES,
        st.sampled_from(["ContainerCreating", "CrashLoopBackOff", ""]),
        st.sampled_from(["canal", "calico-node", ""]), st.booleans()),
    st.builds(lambda node, sig, count: {"kind": "signature_hit", "node": node, "signature": sig,
                                        "source": "kubelet-log", "count": count},
              NODES, st.sampled_from(["cni-config-uninitialized", "ip-range-exhausted", "other"]),
              st.integers(1, 3)),
    st.builds(lambda name, pct, cap: {"kind": "node", "name": name, "ip_use_percent": pct,
                                      "pod_ip_capacity": cap},
              NODES, st.sampled_from([0, 94, 95, 100]), st.sampled_from([0, 253])),
    st.builds(lambda ns, svc, exists: {"kind": "ingress_backend", "namespace": ns, "ingress": "i",
                                       "service": svc, "service_exists": exists},
              st.sampled_from(["a", "b"]), TEXT, st.booleans()),
)


def _distinct(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out, seen = [], set()
    for fact in (complete(f, "generated") for f in facts):
        key = repr(sorted(fact.items()))
        if key not in seen:
            seen.add(key)
            out.append(fact)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FACTS, max_size=12))
def test_durable_and_oracle_agree_on_random_facts(facts: list[dict[str, Any]]) -> None:
    facts = _distinct(facts)
    assert run_durable(VARIANTS, facts) == run_oracle(VARIANTS, facts)


@pytest.mark.parametrize("literal", ["a.b", "x|y", "q?", "*", "1+1", "(x)", "[x]", "{x}", "100%",
                                     "back\\slash", 'quote"d', "plain", "Ünï"])
def test_contains_escapes_durable_metacharacters(literal: str) -> None:
    rule = next(r for r in RULES if r.id == "NET-ING-001")
    variant = compile_rules([rule])[0]
    variant.json["all"][0]["backend"]["$and"].append({"$mt": {"service": f".*{escape(literal)}.*"}})
    hit = complete({"kind": "ingress_backend", "service": f"pre{literal}post"}, "t")
    near = "pre" + literal[:-1] + "post"
    miss = complete({"kind": "ingress_backend", "service": near, "ingress": "x"}, "t")
    for facts, expected in (([hit], 1), ([miss], 0)):
        assert len(run_durable([variant], facts)) == len(run_oracle([variant], facts)) == expected


def test_twin_fact_is_salted_not_lost() -> None:
    """A rejected 'already observed' fact is re-asserted with a salt (hash collisions)."""
    rule = next(r for r in RULES if r.id == "NET-ING-001")
    fact = complete({"kind": "ingress_backend", "namespace": "a", "service": "s"}, "t")
    assert len(run_durable(compile_rules([rule]), [fact, dict(fact)])) == 2


def test_an_exception_inside_an_action_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(engine_durable, "Firing", broken)
    fact = complete({"kind": "ingress_backend", "service": "s"}, "t")
    with pytest.raises(RuleEngineError, match="boom"):
        run_durable(VARIANTS, [fact])


def test_a_rejected_ruleset_keeps_the_engine_error_as_cause() -> None:
    variant = dataclasses.replace(VARIANTS[0], json={"all": [{"m": {"$ex": 5}}]})
    with pytest.raises(RuleEngineError, match="rejected the compiled ruleset") as raised:
        run_durable([variant], [])
    assert isinstance(raised.value.__cause__, durable_engine.durable_rules_engine.error)


def test_only_a_missing_session_means_no_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the state is the only check for exceptions swallowed in actions: it may not fail silently."""
    def unreadable(*args: Any) -> None:
        raise durable_engine.durable_rules_engine.error("Could not get state, error code: 101")

    monkeypatch.setattr(durable_engine.Host, "get_state", unreadable)
    with pytest.raises(RuleEngineError, match="state unreadable"):
        run_durable(VARIANTS, [])


def test_a_fact_fills_one_slot_only() -> None:
    """durable never binds the same fact to two patterns of one rule; the oracle agrees."""
    pod = complete({"kind": "pod", "namespace": "kube-system", "name": "canal-1", "node": "w",
                    "owner_kind": "DaemonSet", "owner_name": "canal", "waiting_reason": "ContainerCreating",
                    "role": ""}, "t")
    ds = complete({"kind": "workload", "type": "DaemonSet", "namespace": "kube-system", "name": "canal",
                   "role": "cni", "desired": 2, "ready": 1, "not_ready": 1}, "t")
    rule = [r for r in RULES if r.id == "NET-CNI-001"]
    firings = run_durable(compile_rules(rule), [ds, pod])
    assert firings == run_oracle(compile_rules(rule), [ds, pod])
    assert all("stuck" not in f.bindings for f in firings)


def test_evaluator_lookup() -> None:
    assert evaluation.evaluator("durable") is run_durable
    assert evaluation.evaluator("oracle") is run_oracle
