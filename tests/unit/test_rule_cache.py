"""The compiled-rule cache: a warm load equals a cold one and skips pySigma; a changed
rule file misses; a corrupt entry is logged and ignored."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

import soc.detect.rules as rules_module
from soc.detect.cache import FORMAT, RuleCache, decode, encode
from soc.detect.engine import Engine
from soc.detect.ir import rule_condition
from soc.detect.rule import RuleSet
from soc.detect.rules import load_rules
from soc.detect.view import EventView
from soc.ingest.normalize import normalize
from soc.models import Event
from tests.conftest import ROOT, SHARED
from tests.unit.test_sigma_compile import GOOD, rule_yaml, write

SAMPLE = ROOT / "soc/sample/otrf_lsass_slice.ndjson.gz"
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
FOLDERS = [ROOT / "soc/detections/rules", SHARED / "sigma/rules/windows/process_access"]


def sample_events() -> list[Event]:
    with gzip.open(SAMPLE) as f:
        return [
            normalize(json.loads(line), tenant="t", source="s", received=RECEIVED) for line in f
        ]


def described(ruleset: RuleSet) -> list[tuple[object, ...]]:
    return [
        (r.id, r.title, r.level, r.tags, r.version, r.path, r.logsource, r.author, r.condition)
        for r in ruleset.rules
    ] + [(e.path, e.reason) for e in ruleset.errors]


def no_pysigma(monkeypatch: pytest.MonkeyPatch) -> None:
    """pySigma may parse only files holding correlation rules (never cached, see cache.py)."""
    parse = rules_module._parse_file

    def refuse(path: Path) -> object:
        if "\ncorrelation:" in path.read_text():
            return parse(path)
        raise AssertionError(f"pySigma parsed {path} on a warm load")

    monkeypatch.setattr(rules_module, "_parse_file", refuse)


def test_a_warm_load_equals_a_cold_one_without_pysigma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "extra", "broken.yml", rule_yaml("sel:\n    A|nosuchmod: x\ncondition: sel"))
    folders = [*FOLDERS, tmp_path / "extra"]
    cold = load_rules(folders, cache_dir=tmp_path / "cache")
    assert len(cold.rules) > 20 and len(cold.errors) == 1
    no_pysigma(monkeypatch)
    warm = load_rules(folders, cache_dir=tmp_path / "cache")
    assert described(warm) == described(cold)
    cold_engine, warm_engine = Engine.from_ruleset(cold), Engine.from_ruleset(warm)
    fired = 0
    for event in sample_events():
        want = [r.id for r in cold_engine.match(event)]
        assert [r.id for r in warm_engine.match(event)] == want
        fired += len(want)
    assert fired > 0


def test_a_changed_rule_file_misses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "rules", "good.yml", GOOD)
    cache = tmp_path / "cache"
    first = load_rules([tmp_path / "rules"], cache_dir=cache).rules[0]
    assert first.matches(EventView({"Image": r"C:\x\mimikatz.exe"}))
    path.write_text(GOOD.replace("mimikatz.exe", "procdump.exe"))
    second = load_rules([tmp_path / "rules"], cache_dir=cache).rules[0]
    assert second.matches(EventView({"Image": r"C:\x\procdump.exe"}))
    assert not second.matches(EventView({"Image": r"C:\x\mimikatz.exe"}))
    no_pysigma(monkeypatch)  # and the new version is cached in turn
    third = load_rules([tmp_path / "rules"], cache_dir=cache).rules[0]
    assert third.condition == second.condition


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not json", b'{"format": 1}', b'{"format": 999, "rules": [], "errors": []}',
     b'{"format": 1, "rules": [{"condition": ["nope"]}], "errors": []}',
     b'{"format": 1, "rules": [], "errors": []}\xff'],
)  # fmt: skip
def test_a_corrupt_entry_is_logged_and_ignored(
    tmp_path: Path, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "rules", "good.yml", GOOD)
    cache = tmp_path / "cache"
    cold = load_rules([tmp_path / "rules"], cache_dir=cache)
    (entry,) = cache.rglob("*.json")
    entry.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="soc.detect.cache"):
        again = load_rules([tmp_path / "rules"], cache_dir=cache)
    assert described(again) == described(cold)
    assert [r.message for r in caplog.records] == ["rule cache entry unusable"]
    assert json.loads(entry.read_bytes())["format"] == FORMAT, "the entry is rewritten"


def test_the_key_covers_pipelines_path_and_bytes(tmp_path: Path) -> None:
    plain, piped = RuleCache(tmp_path), RuleCache(tmp_path, pipelines="sysmon.yml:abc")
    assert plain.key("a.yml", b"x") != piped.key("a.yml", b"x")
    assert plain.key("a.yml", b"x") != plain.key("b.yml", b"x")
    assert plain.key("a.yml", b"x") != plain.key("a.yml", b"y")
    assert plain.key("a.yml", b"x") == RuleCache(tmp_path / "elsewhere").key("a.yml", b"x")


def test_an_unwritable_cache_folder_costs_only_the_cache(tmp_path: Path) -> None:
    write(tmp_path / "rules", "good.yml", GOOD)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    ruleset = load_rules([tmp_path / "rules"], cache_dir=blocker)
    assert len(ruleset.rules) == 1 and ruleset.errors == ()


def test_every_ir_node_survives_json() -> None:
    from sigma.rule import SigmaRule

    detection = r"""
    a:
        A: [x, 'y*', '*z', '*w*', 'v*u', 5, 6.5]
        B|cased: Q
        C: null
        D|exists: true
        E: true
        F|re|i: '^a.c$'
        G|cidr: 10.0.0.0/8
        H|gte: 3
        I|fieldref: A
        J|fieldref|startswith: B
    k:
        - mimikatz
        - '|re': 'x+'
    condition: (a and not k) or 1 of k*
    """
    node = rule_condition(SigmaRule.from_yaml(rule_yaml(detection)))
    assert decode(json.loads(json.dumps(encode(node)))) == node
