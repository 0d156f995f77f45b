"""`kubetriage rules new DIR/NAME`: a rule, its test cases and its runbook that work as generated.

The example detects an Ingress backend whose port the Service does not define, a
real failure, so the author starts from something that lints, passes its cases and
renders, and edits from there.
"""

from __future__ import annotations

import re
from pathlib import Path

from kubetriage.errors import KubetriageError
from kubetriage.rulefile import builtin_rules_dir, rule_paths
from kubetriage.schema import schema

RULE = """\
# yaml-language-server: $schema=https://kubetriage.dev/schemas/rule.v1.json
# Print the schema with `kubetriage schema rule`; see the facts with `kubetriage facts -o catalog`.
id: __ID__
title: Ingress routes to a port its Service does not define (__NAME__)
description: >-
  Replace with why this matters: what breaks for users, and what usually causes it.
severity: high            # critical | high | medium | low | info
confidence: medium        # high | medium | low: how specific the evidence is
tags: [ingress]
references:
  - https://kubernetes.io/docs/concepts/services-networking/ingress/
match:
  - as: backend
    fact: ingress_backend
    where:
      service_exists: true
      port_defined: false
conclusion:
  group_by: [backend.namespace, backend.ingress, backend.service]
  summary: >-
    Ingress {{ backend.namespace }}/{{ backend.ingress }} sends {{ backend.host }}{{ backend.path }} to port
    {{ backend.port }} of Service {{ backend.service }}, which does not define it.
  evidence:
    - "Ingress {{ backend.namespace }}/{{ backend.ingress }}: {{ backend.host }}{{ backend.path }} -> {{ backend.service }}:{{ backend.port }}"
  subjects:
    - "Ingress/{{ backend.namespace }}/{{ backend.ingress }}"
    - "Service/{{ backend.namespace }}/{{ backend.service }}"
  runbook: __NAME__
"""

TESTS = """\
rule: __ID__
cases:
  - name: backend port missing from the Service
    expect: fire
    facts:
      - {kind: ingress_backend, namespace: shop, ingress: storefront, host: shop.example.com, path: /,
         service: web, port: "8080", service_exists: true, port_defined: false}
    findings:
      - summary_contains: "to port 8080 of Service web"
        subjects: [Ingress/shop/storefront, Service/shop/web]
  - name: backend port defined
    expect: ok
    facts:
      - {kind: ingress_backend, namespace: shop, ingress: storefront, service: web, port: http,
         service_exists: true, port_defined: true}
"""

RUNBOOK = """\
---
id: __NAME__
title: Fix the backend port of Ingress {{ backend.namespace }}/{{ backend.ingress }}
steps:
  - id: service-ports
    title: See the ports the Service defines
    risk: read-only
    run: kubectl -n {{ backend.namespace | shell_quote }} get service {{ backend.service | shell_quote }} -o wide
  - id: fix-port
    title: Point the Ingress at a port the Service defines
    risk: disruptive
    run: kubectl -n {{ backend.namespace | shell_quote }} edit ingress {{ backend.ingress | shell_quote }}
    verify: kubectl -n {{ backend.namespace | shell_quote }} describe ingress {{ backend.ingress | shell_quote }}
    rollback: Re-apply the previous Ingress manifest from version control
---
## Meaning
{{ finding.summary }}

## Impact
Requests for this path get 503 from the ingress controller.
"""


def scaffold(target: Path, rule_id: str = "") -> list[Path]:
    """Write the three files under ``target.parent``; refuses to overwrite anything."""
    directory, name = target.parent, target.name
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise KubetriageError(f"{name!r}: the name is a lower-case slug such as ingress-wrong-port")
    taken = {p.stem for p in rule_paths(builtin_rules_dir())}
    taken |= {p.stem for p in rule_paths(directory)} if directory.is_dir() else set()
    if not rule_id:
        rule_id = next(f"NET-CUSTOM-{n:03d}" for n in range(1, 1000) if f"NET-CUSTOM-{n:03d}" not in taken)
    elif not re.fullmatch(schema("rule")["properties"]["id"]["pattern"], rule_id):
        raise KubetriageError(f"{rule_id!r}: a rule id looks like NET-<AREA>-<NNN>, e.g. NET-TEAM-001")
    elif rule_id in taken:
        raise KubetriageError(f"{rule_id} is already a rule: pick a new id, or override it by copying its file "
                              f"(`kubetriage rules show {rule_id}`) into {directory}")
    files = {directory / f"{rule_id}.yaml": RULE, directory / f"{rule_id}.test.yaml": TESTS,
             directory / "runbooks" / f"{name}.md": RUNBOOK}
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise KubetriageError(f"will not overwrite {', '.join(existing)}")
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.replace("__ID__", rule_id).replace("__NAME__", name), encoding="utf-8")
    return list(files)
