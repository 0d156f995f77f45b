"""Fail loudly unless durable_rules' C engine loads and fires a rule.

pip reports success even when the compiled extension cannot load (durable_rules 2.0.28 from PyPI
builds on Python 3.13 and then fails at import), so installs and tests run this.
"""

from importlib.metadata import version

from durable.lang import assert_fact, m, ruleset, when_all

fired: list[str] = []

with ruleset("selfcheck"):

    @when_all(m.kind == "probe")  # type: ignore[untyped-decorator]
    def _fire(c: object) -> None:
        fired.append("probe")


assert_fact("selfcheck", {"kind": "probe"})
if fired != ["probe"]:
    raise SystemExit(f"durable_rules loaded but did not fire its rule: {fired}")
print(f"durable_rules {version('durable_rules')} fires rules")
