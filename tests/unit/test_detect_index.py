"""The candidate index never drops a rule that matches: the indexed engine equals running
every routed rule, on SigmaHQ's Windows rules and real and synthetic events."""

from __future__ import annotations

import gzip
import json
import random
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from soc.detect.engine import Engine
from soc.detect.index import Eq, Has, NumEq, necessary
from soc.detect.ir import And, Exists, Node, Not, Numbers, Or, Strings, rule_condition
from soc.detect.patterns import Kind
from soc.detect.rule import Rule
from soc.detect.rules import load_rules
from soc.detect.scan import AhoCorasickScanner, HyperscanScanner, hyperscan_available
from soc.detect.view import EventView
from soc.ingest.normalize import normalize
from soc.models import Event, LogSource
from tests.conftest import ROOT, SHARED
from tests.unit.test_sigma_compile import rule_yaml

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
DATASET_EVENTS = 5000


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    cache = tmp_path_factory.mktemp("rule-cache")
    ruleset = load_rules([SHARED / "sigma/rules/windows"], cache_dir=cache)
    assert len(ruleset.rules) > 2000
    return Engine.from_ruleset(ruleset)


def naive(engine: Engine, event: Event) -> list[Rule]:
    view = EventView(event.fields)
    return [rule for rule in engine.rules_for(event.logsource) if rule.matches(view)]


def event_of(record: dict[str, Any]) -> Event:
    return normalize(record, tenant="t", source="test", received=RECEIVED)


def recorded() -> Iterator[Event]:
    with gzip.open(ROOT / "soc/sample/otrf_lsass_slice.ndjson.gz") as f:
        for line in f:
            yield event_of(json.loads(line))
    zipped = next((SHARED / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(zipped) as z, z.open(z.namelist()[0]) as f:
        for _, line in zip(range(DATASET_EVENTS), f, strict=False):
            yield event_of(json.loads(line))
    for path in sorted((SHARED / "sigma/regression_data").rglob("*.json")):
        yield from map(event_of, json_objects(path.read_text(encoding="utf-8")))


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a file that holds one or more, one after another."""
    decoder, at = json.JSONDecoder(), 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, at = decoder.raw_decode(text, at)
        if isinstance(value, dict) and value:
            yield value


def test_index_equals_naive_on_recorded_events(engine: Engine) -> None:
    events = fired = 0
    for event in recorded():
        indexed = engine.match(event)
        assert indexed == naive(engine, event), f"event {event.id} {event.logsource}"
        events, fired = events + 1, fired + len(indexed)
    assert events > DATASET_EVENTS and fired > 50


def witness(node: Node, fields: dict[str, Any], rng: random.Random) -> None:
    """Fill ``fields`` so as to satisfy ``node`` where a simple choice can."""
    if isinstance(node, And):
        for child in node.children:
            witness(child, fields, rng)
    elif isinstance(node, Or):
        witness(rng.choice(node.children), fields, rng)
    elif isinstance(node, Strings):
        p = rng.choice(node.patterns)
        text = p.text if node.cased or rng.random() < 0.5 else p.text.upper()
        value = {
            Kind.EXACT: text,
            Kind.PREFIX: text + "Tail",
            Kind.SUFFIX: "Head" + text,
            Kind.CONTAINS: "Head" + text + "Tail",
        }.get(p.kind, "x".join(p.literals))
        fields[node.field or f"Keyword{len(fields)}"] = value
    elif isinstance(node, Numbers):
        n = rng.choice(node.values)
        fields[node.field] = n if rng.random() < 0.5 else str(n)
    elif isinstance(node, Exists) and node.exists:
        fields[node.field] = "present"
    elif isinstance(node, Not):
        pass


def test_index_equals_naive_on_events_built_to_match_each_rule(engine: Engine) -> None:
    rng = random.Random(20261124)
    matched = 0
    for rule in engine.rules:
        assert rule.condition is not None
        for _ in range(3):
            fields: dict[str, Any] = {}
            witness(rule.condition, fields, rng)
            ls = rule.logsource
            event = Event(
                id="e", tenant="t", source="test", time=RECEIVED, received=RECEIVED,
                logsource=LogSource(product=ls.product, category=ls.category, service=ls.service),
                raw=fields, fields=fields,
            )  # fmt: skip
            indexed = engine.match(event)
            assert indexed == naive(engine, event), f"{rule.path} on {fields}"
            matched += rule in indexed
    assert matched > len(engine.rules), "the witnesses should match their rules often"


# --- the analysis -----------------------------------------------------------------------


def condition(detection: str) -> Node:
    from sigma.rule import SigmaRule

    return rule_condition(SigmaRule.from_yaml(rule_yaml(detection)))


def test_an_and_is_indexed_on_its_most_selective_part() -> None:
    node = condition(
        "sel:\n    EventID: 10\n    TargetImage|endswith: '\\lsass.exe'\ncondition: sel"
    )
    assert necessary(node) == frozenset({Has("TargetImage", "\\lsass.exe")})
    node = condition(
        "a:\n    Image: 'C:\\X.exe'\nb:\n    CommandLine|contains: ab\ncondition: a and b"
    )
    assert necessary(node) == frozenset({Eq("Image", "c:\\x.exe")})


def test_an_or_needs_every_branch_and_not_is_never_indexed() -> None:
    numbers = necessary(condition("a:\n    EventID: [1, 2]\ncondition: a"))
    assert numbers == frozenset({NumEq("EventID", 1), NumEq("EventID", 2)})
    either = "a:\n    A|contains: xyz\nb:\n    B: 1\ncondition: a or b"
    assert necessary(condition(either)) == frozenset({Has("A", "xyz"), NumEq("B", 1)})
    assert necessary(condition("a:\n    A|contains: xyz\ncondition: not a")) is None
    assert (
        necessary(condition("a:\n    A|contains: x\nb:\n    B|re: 'y'\ncondition: a or b")) is None
    )


def test_keywords_wildcards_and_cased_literals() -> None:
    assert necessary(condition("k:\n    - 'Mimi*Katz'\ncondition: k")) == frozenset(
        {Has(None, "mimi")}
    )
    assert necessary(condition("a:\n    A|cased: 'AbCd'\ncondition: a")) == frozenset(
        {Eq("A", "abcd")}
    )
    cased = necessary(condition("a:\n    A|contains|cased: 'AbC'\ncondition: a"))
    assert cased == frozenset({Has("A", "abc")})
    assert necessary(condition("a:\n    A|contains|cased: 'ΣΑ'\ncondition: a")) is None
    assert necessary(condition("a:\n    A|contains: ''\ncondition: a")) is None


# --- the pieces it relies on ------------------------------------------------------------

TRICKY = ["ΑΣ", "Σ", "ΣΑ", "KELVIN \u212a", "İstanbul", "x\x00Σy", "", "\ud800lone", "ǅ"]


def test_joined_text_lowered_holds_every_lowered_value() -> None:
    rng = random.Random(7)
    for _ in range(500):
        fields: dict[str, Any] = {
            f"f{i}": "".join(rng.choice([*TRICKY, "a", "B", " "]) for _ in range(rng.randint(0, 4)))
            for i in range(rng.randint(1, 5))
        }
        fields["n"] = rng.choice([1, 2.5, True, None, ["ΑΣ", 3, None, {"x": 1}]])
        view = EventView(fields)
        text = view.joined_text().lower()  # what scan_lowered searches
        for name in fields:
            for s in view.lowered(name):
                assert s in text


@pytest.mark.parametrize("kind", ["aho-corasick", "hyperscan"])
def test_scanners_find_exactly_the_literals_that_occur(kind: str) -> None:
    if kind == "hyperscan" and not hyperscan_available():
        pytest.skip("hyperscan is not installed on this platform")
    rng = random.Random(3)
    literals = ["ab", "b", "bab", "\u03c3", "\\lsass.exe", "lsass", "ü", "\x00\x00", "x\x00yy"]
    scanner = HyperscanScanner(literals) if kind == "hyperscan" else AhoCorasickScanner(literals)
    alphabet = ["a", "b", "\u03c3", "ü", "x", "\x00", "y", "\\lsass.exe", "\ud800"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        want = {i for i, lit in enumerate(literals) if lit in text}
        found = set(scanner.scan(text))
        assert want <= found, f"missed in {text!r}"
        extra = {literals[i] for i in found - want}
        if kind == "hyperscan":  # literals with NUL are searched by their longest run
            assert extra <= {"\x00\x00", "x\x00yy"}, text
        elif "\ud800" not in text:  # the Rust binding cannot take a lone surrogate
            assert not extra, text


NON_ASCII_LITERALS = ["lsass.exe", "k", "i\u0307x", "\u03c3", "sekurlsa::", "ab", "\x00b"]
ASCII_LITERALS = ["lsass.exe", "k", "ix", "i", "sekurlsa::", "ab", "\x00b"]


@pytest.mark.parametrize("literals", [NON_ASCII_LITERALS, ASCII_LITERALS])
@pytest.mark.parametrize("kind", ["aho-corasick", "hyperscan"])
def test_scan_lowered_finds_the_literals_of_the_lowered_text(
    kind: str, literals: list[str]
) -> None:
    """A caseless scan of a text as it is (Hyperscan) equals a scan of it lowered, also for
    letters whose lowercase is ASCII (the Kelvin sign) or longer (dotted I), with literals
    all ASCII or not."""
    if kind == "hyperscan" and not hyperscan_available():
        pytest.skip("hyperscan is not installed on this platform")
    rng = random.Random(11)
    scanner = HyperscanScanner(literals) if kind == "hyperscan" else AhoCorasickScanner(literals)
    alphabet = ["LSASS.EXE", "lsass.exe", "LsAsS", ".ExE", "K", "\u212a", "\u0130", "X", "x"]
    alphabet += ["\u03a3", "SEKURLSA::", "A", "b", "\x00", "B", "i", "\u00e9", "\u0307", "I"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        want = {i for i, lit in enumerate(literals) if lit in text.lower()}
        found = set(scanner.scan_lowered(text))
        assert want <= found, f"missed in {text!r}"
        extra = {literals[i] for i in found - want}
        assert extra <= ({"\x00b"} if kind == "hyperscan" else set()), text
