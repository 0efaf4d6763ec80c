"""Loading correlation rules: every type compiles; what cannot compile is refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc.detect.correlation.model import CorrelationType
from soc.detect.rules import load_rules
from tests.unit.correlation._util import base_rule, corr, load, rule_id

SPEC = Path("/work/shared/sigma-specification")


@pytest.mark.parametrize(
    ("kind", "condition"),
    [
        ("event_count", {"gte": 10}),
        ("value_count", {"field": "user", "gt": 5}),
        ("temporal", None),
        ("temporal_ordered", None),
        ("value_sum", {"field": "bytes", "gt": 1000000}),
        ("value_avg", {"field": "bytes", "gt": 500.5}),
        ("value_percentile", {"field": "ms", "percentile": 95, "gte": 1000}),
        ("value_median", {"field": "ms", "gte": 1000}),
    ],
)
def test_every_type_compiles(kind: str, condition: dict | None) -> None:
    ruleset = load(corr(kind, ["a", "b"], condition, group_by=["host"], timespan="90m"), "a", "b")
    assert ruleset.errors == ()
    (correlation,) = ruleset.correlations
    assert correlation.type is CorrelationType(kind)
    assert correlation.rules == (rule_id("a"), rule_id("b"))
    assert correlation.timespan_s == 5400
    assert correlation.group_by == ("host",)
    if condition is None:  # temporal: every rule referenced
        assert correlation.condition.bounds == (("gte", 2.0),)


def test_a_range_is_kept_though_pysigma_takes_one_operator() -> None:
    ruleset = load(corr("event_count", ["a"], {"gt": 100, "lte": 200}), "a")
    assert ruleset.errors == ()
    assert ruleset.correlations[0].condition.bounds == (("gt", 100.0), ("lte", 200.0))
    assert not ruleset.correlations[0].condition.eager


def test_references_by_id_and_name_and_aliases_resolve_to_ids() -> None:
    text = corr("temporal", [rule_id("a"), "b"], group_by=["ip"],
                aliases={"ip": {"a": "src_ip", rule_id("b"): "dst_ip"}})  # fmt: skip
    (correlation,) = load(text, "a", "b").correlations
    assert correlation.rules == (rule_id("a"), rule_id("b"))
    assert correlation.group_fields(rule_id("a")) == ("src_ip",)
    assert correlation.group_fields(rule_id("b")) == ("dst_ip",)


def refused(text: str, *bases: str) -> list[str]:
    ruleset = load(text, *bases)
    assert ruleset.correlations == ()
    assert all(e.path == "rules.yml" for e in ruleset.errors)
    return [e.reason for e in ruleset.errors]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (corr("event_count", ["nope"], {"gte": 2}), "references unknown rule 'nope'"),
        (corr("event_count", ["a"], None), "event_count correlation without condition"),
        (corr("event_count", ["a"], {"gte": 2}, group_by=[]), "without group-by"),
        (corr("value_count", ["a"], {"gte": 2}), "Value count correlation rule without field"),
        (corr("value_sum", ["a"], {"gte": 2, "field": ["x", "y"]}), "takes one field"),
        (corr("value_percentile", ["a"], {"gte": 2, "field": "x"}), "without percentile"),
        (corr("event_count", ["a"], {"gte": 2, "field": "x"}), "takes no field"),
        (corr("event_count", ["a"], {"gte": "many"}), "is no valid Sigma correlation"),
        (corr("event_count", ["a"], {"around": 3}), "exactly one condition item"),
        (corr("event_count", ["a"], {"gte": 2}, timespan="soon"), "Timespan 'soon' is invalid"),
        (corr("temporal", ["a"], aliases={"ip": {"b": "x"}}), "does not reference"),
    ],
)
def test_what_cannot_be_compiled_is_refused_with_its_reason(text: str, reason: str) -> None:
    reasons = refused(text, "a", "b")
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_extended_boolean_conditions_are_refused() -> None:
    text = corr("temporal", ["a", "b"]).replace(
        "  timespan: 1m", "  timespan: 1m\n  condition: a and b"
    )
    assert "not in the Sigma correlation specification" in refused(text, "a", "b")[0]


def test_cycles_and_correlations_over_refused_ones_are_refused() -> None:
    cycle = (
        corr("event_count", ["two"], {"gte": 2}, name="one")
        + "---\n"
        + corr("event_count", ["one"], {"gte": 2}, name="two")
        + "---\n"
        + corr("event_count", ["two"], {"gte": 2}, name="three")
    )
    assert len(refused(cycle)) == 3
    over_refused = (
        corr("event_count", ["nope"], {"gte": 2}, name="bad")
        + "---\n"
        + corr("event_count", ["bad"], {"gte": 2}, name="over")
    )
    reasons = refused(over_refused)
    assert "unknown rule 'nope'" in reasons[0] and "did not load" in reasons[1]


def test_an_ambiguous_name_is_refused() -> None:
    twin = base_rule("a").replace(rule_id("a"), rule_id("twin"))  # another rule named "a"
    text = "\n---\n".join([twin, corr("event_count", ["a"], {"gte": 2})])
    assert "ambiguous" in refused(text, "a")[0]


def test_the_specification_examples_load_beside_their_base_rules(tmp_path: Path) -> None:
    """Its examples reference rules it does not give: with them added, all but one load."""
    names = ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c", "rule_a_id", "website_access",
             "process_creation"]  # fmt: skip
    for name in names:
        (tmp_path / f"{name}.yml").write_text(base_rule(name))
    fail = base_rule("failed").replace(rule_id("failed"), "5638f7c0-ac70-491d-8465-2a65075e0d86")
    (tmp_path / "failed.yml").write_text(fail)
    examples = SPEC / "tests/schema/correlation"
    ruleset = load_rules([tmp_path, *sorted(examples.glob("*.yml"))])
    reasons = sorted(e.reason for e in ruleset.errors)
    assert len(ruleset.correlations) == 6
    assert len(reasons) == 2
    assert "duplicate rule id" in reasons[0]  # event_count_ecs.yml reuses event_count's id
    assert "without percentile" in reasons[1]


def test_the_rule_cache_keeps_names_and_leaves_correlation_files_uncached(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "base.yml").write_text(base_rule("a"))
    (rules / "mr_count.yml").write_text(corr("event_count", ["a"], {"gte": 2}))
    cache = tmp_path / "cache"
    first = load_rules([rules], cache_dir=cache)
    second = load_rules([rules], cache_dir=cache)  # base.yml from the cache, by name
    assert first.errors == second.errors == ()
    assert [r.name for r in second.rules] == ["a"]
    assert len(second.correlations) == 1 and second.correlations[0].rules == (rule_id("a"),)
    assert len(list(cache.rglob("*.json"))) == 1
