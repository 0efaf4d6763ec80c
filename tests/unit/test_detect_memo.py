"""The memo (soc.detect.memo) never changes what fires: an engine that remembers the outcome
of its field-bound rules equals one that evaluates every event, on SigmaHQ's Windows rules
over recorded events (with a budget small enough to forget many times), on values that are
equal in Python but not to Sigma, and beside keyword rules that read every field."""

from __future__ import annotations

import itertools
import random
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from soc.detect.engine import Engine
from soc.detect.memo import fields_read
from soc.detect.rules import load_rule_text, load_rules
from soc.models import Event, LogSource
from tests.conftest import SHARED
from tests.unit.test_detect_index import recorded

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
LOGSOURCE = LogSource(product="windows", category="process_creation")


def event(fields: dict[str, Any], logsource: LogSource = LOGSOURCE) -> Event:
    return Event(
        id="e", tenant="t", source="test", time=RECEIVED, received=RECEIVED,
        logsource=logsource, raw=fields, fields=fields,
    )  # fmt: skip


def rules_of(*detections: str) -> list[Any]:
    """One rule per detection, all for Windows process creation."""
    text = "\n---\n".join(
        f"title: rule {i}\nid: 00000000-0000-4000-8000-{i:012d}\n"
        "logsource:\n    product: windows\n    category: process_creation\n"
        f"detection:\n{textwrap.indent(textwrap.dedent(d).strip(), '    ')}\n"
        for i, d in enumerate(detections)
    )
    ruleset = load_rule_text(text, name="memo.yml")
    assert not ruleset.errors, ruleset.errors
    return list(ruleset.rules)


def test_recorded_events_fire_alike_with_and_without_the_memo(tmp_path: Any) -> None:
    ruleset = load_rules([SHARED / "sigma/rules/windows"], cache_dir=tmp_path)
    plain = Engine.from_ruleset(ruleset)
    plain_off = Engine(ruleset.rules, memo_bytes=0)
    small = Engine(ruleset.rules, memo_bytes=256 * 1024)  # forgets many times over the run
    events = fired = 0
    for e in itertools.chain(recorded(), recorded()):  # twice: the second pass mostly hits
        want = plain_off.match(e)
        assert plain.match(e) == want, f"event {e.id} {e.logsource}"
        assert small.match(e) == want, f"event {e.id} {e.logsource} (small budget)"
        events, fired = events + 1, fired + len(want)
    assert fired > 100
    stats, tight = plain.memo_stats(), small.memo_stats()
    assert plain_off.memo_stats() == {"lookups": 0, "hits": 0, "keys": 0, "bytes": 0}
    assert stats["hits"] > events // 4, stats  # real logs repeat themselves
    assert 0 < tight["bytes"] <= 256 * 1024 and tight["keys"] < stats["keys"], tight


# values Python holds equal (or hashes alike) that Sigma tells apart
VALUES: list[Any] = [1, True, "1", "true", 1.0, -0.0, 0.0, 0, False, "", None, [1], ["1", 2]]


@pytest.mark.parametrize("seed", range(3))
def test_values_equal_in_python_but_not_to_sigma_are_not_confused(seed: int) -> None:
    rules = rules_of(
        "sel:\n    F: 1\ncondition: sel",
        "sel:\n    F: 'true'\ncondition: sel",
        "sel:\n    F: '1'\ncondition: sel",
        "sel:\n    F|startswith: '-0'\ncondition: sel",
        "sel:\n    F: null\ncondition: sel",
        "sel:\n    F|exists: false\ncondition: sel",
        "sel:\n    F|gt: 0\ncondition: sel",
        "sel:\n    F: ''\ncondition: sel",
    )
    memo, plain = Engine(rules), Engine(rules, memo_bytes=0)
    cases = [{"F": v} for v in VALUES] + [{}]
    random.Random(seed).shuffle(cases)
    for fields in cases * 2:
        assert memo.match(event(fields)) == plain.match(event(fields)), fields
    assert memo.memo_stats()["hits"] > 0


def test_keyword_rules_are_evaluated_per_event_beside_memoized_ones() -> None:
    rules = rules_of(
        "sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel",
        "keywords:\n    - 'mimikatz'\ncondition: keywords",
        "sel:\n    Image|endswith: '\\cmd.exe'\nkw:\n    - 'sekurlsa'\ncondition: sel and kw",
    )
    assert [fields_read(r.condition) for r in rules] == [frozenset({"Image"}), None, None]
    engine = Engine(rules)
    same = {"Image": r"C:\Windows\System32\cmd.exe"}
    quiet = engine.match(event({**same, "CommandLine": "cmd /c dir"}))
    loud = engine.match(event({**same, "CommandLine": "MIMIKATZ sekurlsa::logonpasswords"}))
    assert [r.title for r in quiet] == ["rule 0"]
    assert [r.title for r in loud] == ["rule 0", "rule 1", "rule 2"]  # in the rules' order
    assert engine.memo_stats()["hits"] == 1  # the second event's Image was remembered


def test_field_references_read_both_fields() -> None:
    (rule,) = rules_of("sel:\n    User|fieldref: TargetUser\ncondition: sel")
    assert fields_read(rule.condition) == frozenset({"User", "TargetUser"})
    engine = Engine([rule])
    assert engine.match(event({"User": "a", "TargetUser": "a"})) == [rule]
    assert engine.match(event({"User": "a", "TargetUser": "b"})) == []
    assert engine.match(event({"User": "a", "TargetUser": "A"})) == [rule]


def test_the_setting_sizes_the_memo_of_the_engine_loaded() -> None:
    from soc.detect.load import load_engine
    from soc.settings import DetectSettings

    same = event({"Image": r"C:\Windows\System32\cmd.exe", "CommandLine": "cmd /c dir"})
    for memo_mb, lookups, hits in ((0, 0, 0), (1, 20, 19)):
        engine = load_engine(DetectSettings(cache_dir=None, memo_mb=memo_mb))
        for _ in range(20):
            engine.match(same)
        stats = engine.memo_stats()
        assert (stats["lookups"], stats["hits"]) == (lookups, hits), (memo_mb, stats)
